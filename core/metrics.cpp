// Section 7 quantities. Row errors and retained mass are O(Hq * L * D) from outputs and logsumexps the
// attention kernels already produced: the retained mass of kept row i is exp(lse_kept(i) - lse_dense(i)),
// because the compact attention of row i sees exactly the kept keys j <= i.
#include "core/metrics.h"

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
    std::sort(values.begin(), values.end());
    auto quantile = [&](double q) {
        const double pos = q * double(values.size() - 1);
        const std::size_t lo = std::size_t(std::floor(pos));
        const std::size_t hi = std::min(lo + 1, values.size() - 1);
        return values[lo] + (pos - double(lo)) * (values[hi] - values[lo]);
    };
    d.median = quantile(0.5);
    d.p95 = quantile(0.95);
    d.max = values.back();
    double sum = 0.0;
    for (double v : values) sum += v;
    d.mean = sum / double(values.size());
    return d;
}

LayerMetrics computeLayerMetrics(const Selection& selection, ConstView3 dense, ConstView3 sparse,
                                 const float* denseLse, const float* sparseLse) {
    const Index hq = dense.heads, tokens = dense.tokens, dim = dense.dim;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    LayerMetrics m;
    m.qHeads = hq;
    m.tokens = tokens;
    m.heads.resize(std::size_t(hq));
    m.rowError.assign(std::size_t(hq * tokens), nan);
    m.retainedMass.assign(std::size_t(hq * tokens), nan);
    const Index window = std::min(selection.window > 0 ? selection.window : tokens, tokens);

    std::vector<double> allErrors, allMass;
    double allWinDiff = 0.0, allWinRef = 0.0;
    std::vector<unsigned char> kept(static_cast<std::size_t>(tokens));
    for (Index h = 0; h < hq; ++h) {
        if (selection.sparse) {
            std::fill(kept.begin(), kept.end(), 0);
            const std::int32_t* idx = selection.head(h);
            for (Index r = 0; r < selection.kept; ++r) kept[idx[r]] = 1;
        } else {
            std::fill(kept.begin(), kept.end(), 1);
        }
        HeadMetrics& hm = m.heads[h];
        std::vector<double> errors, mass;
        double winDiff = 0.0, winRef = 0.0;
        Index dropped = 0;
        for (Index i = 0; i < tokens; ++i) {
            if (!kept[i]) {
                ++dropped;
                continue;
            }
            const float* d = dense.row(h, i);
            const float* s = sparse.row(h, i);
            double diff = 0.0, ref = 0.0;
            for (Index c = 0; c < dim; ++c) {
                const double e = double(s[c]) - double(d[c]);
                diff += e * e;
                ref += double(d[c]) * double(d[c]);
            }
            const double err = ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
            errors.push_back(err);
            m.rowError[h * tokens + i] = float(err);
            if (i >= tokens - window) {
                winDiff += diff;
                winRef += ref;
            }
            double retained = 1.0;
            if (selection.sparse && denseLse && sparseLse)
                retained = std::exp(double(sparseLse[h * tokens + i]) - double(denseLse[h * tokens + i]));
            retained = std::min(retained, 1.0); // rounding can exceed 1 by an ulp when nothing was dropped
            mass.push_back(retained);
            m.retainedMass[h * tokens + i] = float(retained);
        }
        hm.keptFraction = double(tokens - dropped) / double(std::max<Index>(tokens, 1));
        hm.droppedRows = dropped;
        hm.lastWindowError = winRef > 0 ? std::sqrt(winDiff / winRef) : std::sqrt(winDiff);
        allErrors.insert(allErrors.end(), errors.begin(), errors.end());
        allMass.insert(allMass.end(), mass.begin(), mass.end());
        allWinDiff += winDiff;
        allWinRef += winRef;
        hm.rowError = summarise(std::move(errors));
        hm.retainedMass = summarise(std::move(mass));
        m.layer.droppedRows += dropped;
    }
    m.layer.keptFraction = selection.keptFraction();
    m.layer.rowError = summarise(std::move(allErrors));
    m.layer.retainedMass = summarise(std::move(allMass));
    m.layer.lastWindowError = allWinRef > 0 ? std::sqrt(allWinDiff / allWinRef) : std::sqrt(allWinDiff);
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
    const Index n = Index(std::lower_bound(scores.layerCumulative.begin(), scores.layerCumulative.end(), tau) -
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
