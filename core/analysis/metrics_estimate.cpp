// Sampled-row error estimate with intervals; the estimator and its cost are described in metrics_estimate.h.
#include "core/analysis/metrics_estimate.h"

#include "core/synth/generator_rng.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tsa {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Two-sided normal quantile for the usual confidences (Acklam's rational approximation would be overkill:
// the intervals are conservative already).
double zFor(double confidence) {
    const double tail = (1.0 - confidence) / 2.0;
    // Inverse of the normal upper tail by bisection on erfc: exact enough and dependency free.
    double lo = 0.0, hi = 10.0;
    for (int i = 0; i < 80; ++i) {
        const double mid = 0.5 * (lo + hi);
        (0.5 * std::erfc(mid / std::sqrt(2.0)) > tail ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

struct Wilson {
    double lo, hi;
};
Wilson wilson(Index k, Index n, double z) {
    if (n == 0) return {0.0, 1.0};
    const double p = double(k) / double(n), z2 = z * z, nn = double(n);
    const double centre = (p + z2 / (2 * nn)) / (1 + z2 / nn);
    const double half = z / (1 + z2 / nn) * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    return {std::max(0.0, centre - half), std::min(1.0, centre + half)};
}

} // namespace

std::vector<std::int32_t> estimateRows(Index qHeads, Index tokens, Index window, const EstimateConfig& config,
                                       Index* rowCount) {
    const Index W = std::clamp<Index>(window, 0, tokens), P = tokens - W;
    const Index n = std::clamp<Index>(config.sampleRows, 0, P);
    *rowCount = n + W;
    std::vector<std::int32_t> rows;
    rows.reserve(std::size_t(qHeads * (n + W)));
    std::vector<std::int32_t> pool(static_cast<std::size_t>(P));
    for (Index h = 0; h < qHeads; ++h) {
        // Partial Fisher-Yates: the first n of a seeded shuffle of the prefix.
        std::iota(pool.begin(), pool.end(), 0);
        std::uint64_t state = gen::mixKey(config.seed, std::uint64_t(h));
        for (Index i = 0; i < n; ++i) {
            const Index j = i + Index(gen::splitmix64(state) % std::uint64_t(P - i));
            std::swap(pool[std::size_t(i)], pool[std::size_t(j)]);
        }
        const std::size_t begin = rows.size();
        rows.insert(rows.end(), pool.begin(), pool.begin() + n);
        std::sort(rows.begin() + std::ptrdiff_t(begin), rows.end());
        for (Index i = P; i < tokens; ++i)
            rows.push_back(std::int32_t(i));
    }
    return rows;
}

SampleSummary summariseSample(std::vector<double> window, std::vector<double> prefix, Index prefixPopulation,
                              double confidence) {
    SampleSummary out;
    std::sort(window.begin(), window.end());
    std::sort(prefix.begin(), prefix.end());
    const Index nw = Index(window.size()), n = Index(prefix.size());
    const Index Np = std::max(prefixPopulation, n);
    const double N = double(nw + Np);
    out.point.count = nw + Np;
    if (nw + n == 0) return out;
    const bool complete = n == Np;
    const double z = zFor(confidence);

    // Candidate values in ascending order with the CDF point estimate and its bounds at each.
    std::vector<double> values(window);
    values.insert(values.end(), prefix.begin(), prefix.end());
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    auto cdf = [&](double x, double* lo, double* hi) {
        const Index cw = Index(std::upper_bound(window.begin(), window.end(), x) - window.begin());
        const Index k = Index(std::upper_bound(prefix.begin(), prefix.end(), x) - prefix.begin());
        const double p = n > 0 ? double(k) / double(n) : 0.0;
        const Wilson w = complete ? Wilson{p, p} : wilson(k, n, z);
        *lo = (double(cw) + double(Np) * w.lo) / N;
        *hi = (double(cw) + double(Np) * w.hi) / N;
        return (double(cw) + double(Np) * p) / N;
    };
    // summarise() interpolates like numpy: the exact q-quantile lies between the population's order
    // statistics a and a + 1 (1-based), a = floor(q (N - 1)) + 1. Bound those ranks through the CDF bounds.
    auto quantile = [&](double q, double* point, Interval* bounds) {
        const double a = std::floor(q * (N - 1.0)) + 1.0;
        *point = values.back();
        bounds->lo = -kInf;
        bounds->hi = kInf;
        bool pointSet = false, hiSet = false;
        for (double x : values) {
            double lo, hi;
            const double f = cdf(x, &lo, &hi) * N;
            if (!pointSet && f >= a - 1e-9) {
                *point = x;
                pointSet = true;
            }
            if (hi * N < a - 1e-9) bounds->lo = x; // fewer than a rows are <= x: x is below the quantile
            if (!hiSet && lo * N >= std::min(a + 1.0, N) - 1e-9) {
                bounds->hi = x; // a + 1 rows are <= x: the quantile is not above x
                hiSet = true;
            }
        }
        if (bounds->lo == -kInf) bounds->lo = std::min(0.0, values.front());
    };
    quantile(0.5, &out.point.median, &out.bounds.median);
    quantile(0.95, &out.point.p95, &out.bounds.p95);

    const double sumW = std::accumulate(window.begin(), window.end(), 0.0);
    const double meanP = n > 0 ? std::accumulate(prefix.begin(), prefix.end(), 0.0) / double(n) : 0.0;
    out.point.mean = (sumW + double(Np) * meanP) / N;
    double var = 0.0;
    for (double x : prefix)
        var += (x - meanP) * (x - meanP);
    var = n > 1 ? var / double(n - 1) : (complete ? 0.0 : kInf);
    const double fpc = Np > 0 ? std::max(0.0, 1.0 - double(n) / double(Np)) : 0.0;
    const double se = n > 0 ? double(Np) / N * std::sqrt(var / double(n) * fpc) : kInf;
    out.bounds.mean = {out.point.mean - z * se, out.point.mean + z * se};

    out.point.max = values.back();
    out.bounds.max = {values.back(), complete ? values.back() : kInf};
    return out;
}

LayerMetrics estimateLayerMetrics(const DroppedSums& sampled, const LayerQkvView& qkv, ConstView3 denseOut,
                                  const float* denseLse, const Selection& sel, double confidence) {
    const Index H = sampled.qHeads(), L = sampled.tokens(), R = sampled.rowCount();
    const Index W = std::min(sel.window > 0 ? sel.window : L, L), P = L - W;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    LayerMetrics m;
    m.estimate = true;
    m.confidence = confidence;
    m.qHeads = H;
    m.tokens = L;
    m.heads.resize(std::size_t(H));
    m.rowError.assign(std::size_t(H * L), nan);
    m.retainedMass.assign(std::size_t(H * L), nan);
    const Index keptPrefix = sel.sparse ? sel.capacity : P;
    std::vector<double> allErrW, allErrP, allMassW, allMassP;
    double layerDiff = 0.0, layerRef = 0.0;
    std::vector<unsigned char> kept(static_cast<std::size_t>(L));
    for (Index h = 0; h < H; ++h) {
        std::fill(kept.begin(), kept.end(), sel.sparse ? 0 : 1);
        if (sel.sparse)
            for (Index r = 0; r < sel.kept; ++r)
                kept[std::size_t(sel.head(h)[r])] = 1;
        std::vector<double> errW, errP, massW, massP;
        double winDiff = 0.0, winRef = 0.0;
        for (Index r = 0; r < R; ++r) {
            const Index i = sampled.row(h, r);
            if (!kept[std::size_t(i)]) continue;
            RowError re;
            rowErrorFromSums(sampled, qkv, denseOut, denseLse, sel, h, r, &re);
            const double diff = re.diff2, ref = re.ref2;
            const double err = ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
            const double mass = sel.sparse ? std::min(1.0, re.retained) : 1.0;
            m.rowError[std::size_t(h * L + i)] = float(err);
            m.retainedMass[std::size_t(h * L + i)] = float(mass);
            if (i >= P) {
                errW.push_back(err);
                massW.push_back(mass);
                winDiff += diff;
                winRef += ref;
            } else {
                errP.push_back(err);
                massP.push_back(mass);
            }
        }
        HeadMetrics& hm = m.heads[std::size_t(h)];
        hm.keptFraction = sel.keptFraction();
        hm.droppedRows = L - sel.kept;
        hm.sampledRows = Index(errW.size() + errP.size());
        hm.lastWindowError = winRef > 0 ? std::sqrt(winDiff / winRef) : std::sqrt(winDiff);
        layerDiff += winDiff;
        layerRef += winRef;
        allErrW.insert(allErrW.end(), errW.begin(), errW.end());
        allErrP.insert(allErrP.end(), errP.begin(), errP.end());
        allMassW.insert(allMassW.end(), massW.begin(), massW.end());
        allMassP.insert(allMassP.end(), massP.begin(), massP.end());
        SampleSummary e = summariseSample(std::move(errW), std::move(errP), keptPrefix, confidence);
        SampleSummary k = summariseSample(std::move(massW), std::move(massP), keptPrefix, confidence);
        hm.rowError = e.point;
        hm.rowErrorBounds = e.bounds;
        hm.retainedMass = k.point;
        hm.retainedMassBounds = k.bounds;
        m.layer.droppedRows += hm.droppedRows;
        m.layer.sampledRows += hm.sampledRows;
    }
    // The layer pools the heads' samples: each head's kept prefix rows are one stratum of equal size, and
    // treating the pooled draw as one uniform sample only widens the interval (stratification helps).
    SampleSummary e = summariseSample(allErrW, allErrP, keptPrefix * H, confidence);
    SampleSummary k = summariseSample(allMassW, allMassP, keptPrefix * H, confidence);
    m.layer.keptFraction = sel.keptFraction();
    m.layer.rowError = e.point;
    m.layer.rowErrorBounds = e.bounds;
    m.layer.retainedMass = k.point;
    m.layer.retainedMassBounds = k.bounds;
    m.layer.lastWindowError = layerRef > 0 ? std::sqrt(layerDiff / layerRef) : std::sqrt(layerDiff);
    return m;
}

} // namespace tsa
