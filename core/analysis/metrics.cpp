// Section 7 quantities. Row errors and retained mass are O(Hq * L * D) from outputs and logsumexps the
// attention kernels already produced: the retained mass of kept row i is exp(lse_kept(i) - lse_dense(i)),
// because the compact attention of row i sees exactly the kept keys j <= i.
#include "core/analysis/metrics.h"

#include "core/names.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tsa {

Distribution summarise(std::vector<double> values) {
    values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
                 values.end());
    Distribution d;
    d.count = Index(values.size());
    if (values.empty()) return d;
    // Order statistics by selection, O(n) each instead of a sort: the explorer summarises every head of a
    // layer on each tau step.
    auto order = [&](std::size_t k) {
        std::nth_element(values.begin(), values.begin() + std::ptrdiff_t(k), values.end());
        return values[k];
    };
    auto quantile = [&](double q) {
        const double pos = q * double(values.size() - 1);
        const std::size_t lo = std::size_t(std::floor(pos));
        const std::size_t hi = std::min(lo + 1, values.size() - 1);
        const double a = order(lo);
        const double b =
            hi == lo ? a : *std::min_element(values.begin() + std::ptrdiff_t(lo) + 1, values.end());
        return a + (pos - double(lo)) * (b - a);
    };
    d.median = quantile(0.5);
    d.p95 = quantile(0.95);
    d.max = *std::max_element(values.begin(), values.end());
    double sum = 0.0;
    for (double v : values)
        sum += v;
    d.mean = sum / double(values.size());
    return d;
}

namespace {

constexpr NamedValue<LayerMeasure> kMeasureNames[] = {{LayerMeasure::KeptFraction, "kept"},
                                                      {LayerMeasure::ErrorP95, "error-p95"},
                                                      {LayerMeasure::RetainedMass, "retained-mass"}};

} // namespace

const char* layerMeasureName(LayerMeasure measure) {
    return nameIn(kMeasureNames, measure);
}

std::optional<LayerMeasure> layerMeasureFromName(std::string_view name) {
    return valueNamed(kMeasureNames, name);
}

std::string layerMeasureChoices() {
    return choicesIn(kMeasureNames);
}

std::vector<LayerMeasure> layerMeasures() {
    std::vector<LayerMeasure> all;
    for (const auto& entry : kMeasureNames)
        all.push_back(entry.value);
    return all;
}

LayerMetricsBuilder::LayerMetricsBuilder(const Selection& selection, Index qHeads, Index tokens)
    : m_selection(selection) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    m_metrics.qHeads = qHeads;
    m_metrics.tokens = tokens;
    m_metrics.heads.resize(std::size_t(qHeads));
    m_metrics.rowError.assign(std::size_t(qHeads * tokens), nan);
    m_metrics.retainedMass.assign(std::size_t(qHeads * tokens), nan);
}

void LayerMetricsBuilder::addHead(Index h, const float* denseRows, const float* sparseRows, Index dim,
                                  const float* denseLse, const float* sparseLse) {
    const Index tokens = m_metrics.tokens;
    std::vector<double> diff2(static_cast<std::size_t>(tokens)), ref2(diff2.size()),
        retained(diff2.size(), 1.0);
    for (Index i = 0; i < tokens; ++i) {
        const float* d = denseRows + i * dim;
        const float* s = sparseRows + i * dim;
        double diff = 0.0, ref = 0.0;
        for (Index c = 0; c < dim; ++c) {
            const double e = double(s[c]) - double(d[c]);
            diff += e * e;
            ref += double(d[c]) * double(d[c]);
        }
        diff2[std::size_t(i)] = diff;
        ref2[std::size_t(i)] = ref;
        if (m_selection.sparse && denseLse && sparseLse)
            retained[std::size_t(i)] = std::exp(double(sparseLse[i]) - double(denseLse[i]));
    }
    addHeadRows(h, diff2.data(), ref2.data(), retained.data());
}

void LayerMetricsBuilder::addHeadRows(Index h, const double* diff2, const double* ref2,
                                      const double* retainedMass) {
    const Index tokens = m_metrics.tokens;
    const Index window = std::min(m_selection.window > 0 ? m_selection.window : tokens, tokens);
    std::vector<unsigned char> kept(static_cast<std::size_t>(tokens), m_selection.sparse ? 0 : 1);
    if (m_selection.sparse) {
        const std::int32_t* idx = m_selection.head(h);
        for (Index r = 0; r < m_selection.kept; ++r)
            kept[idx[r]] = 1;
    }
    HeadMetrics& hm = m_metrics.heads[h];
    std::vector<double> errors, mass;
    errors.reserve(std::size_t(tokens));
    mass.reserve(std::size_t(tokens));
    double winDiff = 0.0, winRef = 0.0;
    Index dropped = 0;
    for (Index i = 0; i < tokens; ++i) {
        if (!kept[i]) {
            ++dropped;
            continue;
        }
        const double diff = diff2[i], ref = ref2[i];
        const double err = ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
        errors.push_back(err);
        m_metrics.rowError[h * tokens + i] = float(err);
        if (i >= tokens - window) {
            winDiff += diff;
            winRef += ref;
        }
        double retained = m_selection.sparse ? retainedMass[i] : 1.0;
        retained = std::min(retained, 1.0); // rounding can exceed 1 by an ulp when nothing was dropped
        mass.push_back(retained);
        m_metrics.retainedMass[h * tokens + i] = float(retained);
    }
    hm.keptFraction = double(tokens - dropped) / double(std::max<Index>(tokens, 1));
    hm.droppedRows = dropped;
    hm.lastWindowError = winRef > 0 ? std::sqrt(winDiff / winRef) : std::sqrt(winDiff);
    m_errors.insert(m_errors.end(), errors.begin(), errors.end());
    m_mass.insert(m_mass.end(), mass.begin(), mass.end());
    m_windowDiff += winDiff;
    m_windowRef += winRef;
    hm.rowError = summarise(std::move(errors));
    hm.retainedMass = summarise(std::move(mass));
    m_metrics.layer.droppedRows += dropped;
}

LayerMetrics LayerMetricsBuilder::finish() {
    m_metrics.layer.keptFraction = m_selection.keptFraction();
    m_metrics.layer.rowError = summarise(std::move(m_errors));
    m_metrics.layer.retainedMass = summarise(std::move(m_mass));
    m_metrics.layer.lastWindowError =
        m_windowRef > 0 ? std::sqrt(m_windowDiff / m_windowRef) : std::sqrt(m_windowDiff);
    return std::move(m_metrics);
}

LayerMetrics computeLayerMetrics(const Selection& selection, ConstView3 dense, ConstView3 sparse,
                                 const float* denseLse, const float* sparseLse) {
    LayerMetricsBuilder builder(selection, dense.heads, dense.tokens);
    for (Index h = 0; h < dense.heads; ++h)
        builder.addHead(h, dense.row(h, 0), sparse.row(h, 0), dense.dim,
                        denseLse ? denseLse + h * dense.tokens : nullptr,
                        sparseLse ? sparseLse + h * dense.tokens : nullptr);
    return builder.finish();
}

LayerMetrics denseLayerMetrics(const Selection& selection) {
    LayerMetrics m;
    if (selection.sparse) return m;
    const Index heads = selection.qHeads, tokens = selection.tokens;
    m.qHeads = heads;
    m.tokens = tokens;
    m.rowError.assign(std::size_t(heads * tokens), 0.0f);
    m.retainedMass.assign(std::size_t(heads * tokens), 1.0f);
    // The same summaries as a computed layer: one value per kept row, here every row.
    auto constant = [](double value, Index count) {
        Distribution d;
        d.count = count;
        if (count > 0) d.median = d.p95 = d.max = d.mean = value;
        return d;
    };
    HeadMetrics head;
    head.keptFraction = 1.0;
    head.rowError = constant(0.0, tokens);
    head.retainedMass = constant(1.0, tokens);
    m.heads.assign(std::size_t(heads), head);
    m.layer = head;
    m.layer.keptFraction = selection.keptFraction();
    m.layer.rowError = constant(0.0, heads * tokens);
    m.layer.retainedMass = constant(1.0, heads * tokens);
    return m;
}

CoverageCurve coverageCurve(const LayerScores& scores, Index head, double tau, Index maxPoints) {
    CoverageCurve curve;
    const Index prefix = scores.prefix;
    if (prefix <= 0) return curve;
    std::vector<double> cumulative(static_cast<std::size_t>(prefix));
    if (head < 0) {
        cumulative = scores.layerCumulative;
    } else {
        std::vector<float> sorted(scores.headScores(head), scores.headScores(head) + prefix);
        std::sort(sorted.begin(), sorted.end());
        double c = 0.0;
        for (Index t = 0; t < prefix; ++t) {
            c += sorted[t];
            cumulative[t] = c;
        }
    }
    const Index n =
        Index(std::lower_bound(scores.layerCumulative.begin(), scores.layerCumulative.end(), tau) -
              scores.layerCumulative.begin());
    curve.budgetDropped = n > 0 ? n + 1 : 0;
    // x = t tokens dropped, y = mass they cover; x = 0 has y = 0.
    const Index points = std::max<Index>(2, std::min(maxPoints, prefix + 1));
    curve.dropped.reserve(std::size_t(points));
    curve.cumulative.reserve(std::size_t(points));
    Index previous = -1;
    for (Index p = 0; p < points; ++p) {
        const Index t = Index(std::llround(double(p) * double(prefix) / double(points - 1)));
        if (t == previous) continue;
        previous = t;
        curve.dropped.push_back(double(t));
        curve.cumulative.push_back(t == 0 ? 0.0 : cumulative[std::size_t(t - 1)]);
    }
    return curve;
}

double jaccard(const std::int32_t* a, Index na, const std::int32_t* b, Index nb) {
    if (na == 0 && nb == 0) return 1.0;
    Index i = 0, j = 0, both = 0;
    while (i < na && j < nb) {
        if (a[i] == b[j]) {
            ++both;
            ++i;
            ++j;
        } else if (a[i] < b[j]) {
            ++i;
        } else {
            ++j;
        }
    }
    return double(both) / double(na + nb - both);
}

} // namespace tsa
