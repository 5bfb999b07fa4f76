// The sampled-row error estimate (core/analysis/metrics_estimate.h): its intervals hold the exact value
// about as often as they claim over many heads, taus and samples (coverage), the last-W error and the
// dropped rows are exact, and a sample that covers every row gives the exact statistics.
#include "core/analysis/dropped_sums.h"
#include "core/analysis/metrics_estimate.h"
#include "tsa_test_data.h"

#include <cmath>
#include <cstdio>
#include <gtest/gtest.h>

using namespace tsa;

namespace {

struct Layer {
    LayerQkv qkv;
    LayerScores scores;
    Tensor3 dense;
    std::vector<float> lse;
};

Layer makeLayer(Index hq, Index tokens, Index dim, Index window, std::uint64_t seed) {
    Layer l;
    l.qkv = testdata::structuredLayer(hq, hq / 2, tokens, dim, seed);
    ScoringConfig sc;
    sc.window = window;
    sc.poolKernel = 5;
    l.scores = scoreLayer(l.qkv, sc).value();
    l.dense = Tensor3(hq, tokens, dim);
    l.lse.resize(std::size_t(hq * tokens));
    EXPECT_TRUE(
        causalAttention(l.qkv.q.cview(), l.qkv.k.cview(), l.qkv.v.cview(), l.dense.view(), l.lse.data(), {})
            .ok());
    return l;
}

Selection select(const Layer& l, double tau, Index window, Index minTokens) {
    return testdata::selectAt(l.scores, l.qkv.qHeads(), l.qkv.tokens(), tau, window, minTokens);
}

struct Coverage {
    int inside = 0, total = 0, finite = 0;
    void add(const Interval& i, double exact) {
        ++total;
        inside += i.contains(exact) ? 1 : 0;
        finite += std::isfinite(i.hi) && std::isfinite(i.lo) ? 1 : 0;
    }
    double rate() const { return total ? double(inside) / total : 0.0; }
};

} // namespace

TEST(MetricsEstimate, IntervalsCoverTheExactValueAsOftenAsClaimed) {
    const Index H = 8, L = 2048, D = 16, W = 64;
    Coverage median, p95, mean, massMedian, massMean;
    int windowExact = 0, cases = 0;
    for (std::uint64_t seed : {3u, 4u, 5u}) {
        const Layer l = makeLayer(H, L, D, W, seed);
        DroppedSums full(H, L, D, L - W);
        for (std::uint64_t s = 0; s < 3; ++s) { // three independent samples per layer
            EstimateConfig ec;
            ec.sampleRows = 160;
            ec.seed = seed * 100 + s;
            Index R = 0;
            std::vector<std::int32_t> rows = estimateRows(H, L, W, ec, &R);
            DroppedSums sampled(H, L, D, L - W, rows, R);
            for (double tau : {0.01, 0.04, 0.1, 0.25}) {
                const Selection sel = select(l, tau, W, 128);
                ASSERT_TRUE(sel.sparse);
                ASSERT_TRUE(full.update(l.qkv, l.dense.cview(), l.lse.data(), sel, {}).ok());
                ASSERT_TRUE(sampled.update(l.qkv, l.dense.cview(), l.lse.data(), sel, {}).ok());
                const LayerMetrics exact =
                    metricsFromDroppedSums(full, l.qkv, l.dense.cview(), l.lse.data(), sel);
                const LayerMetrics est =
                    estimateLayerMetrics(sampled, l.qkv, l.dense.cview(), l.lse.data(), sel, 0.95);
                EXPECT_TRUE(est.estimate);
                for (Index h = 0; h < H; ++h) {
                    const HeadMetrics &e = est.heads[std::size_t(h)], &x = exact.heads[std::size_t(h)];
                    ++cases;
                    windowExact +=
                        std::abs(e.lastWindowError - x.lastWindowError) <= 1e-6 * (1 + x.lastWindowError);
                    EXPECT_EQ(e.droppedRows, x.droppedRows);
                    EXPECT_EQ(e.rowError.count, x.rowError.count);
                    median.add(e.rowErrorBounds.median, x.rowError.median);
                    p95.add(e.rowErrorBounds.p95, x.rowError.p95);
                    mean.add(e.rowErrorBounds.mean, x.rowError.mean);
                    massMedian.add(e.retainedMassBounds.median, x.retainedMass.median);
                    massMean.add(e.retainedMassBounds.mean, x.retainedMass.mean);
                    // The sample max bounds it below (up to the rounding of sums summed in another order).
                    EXPECT_GE(x.rowError.max, e.rowErrorBounds.max.lo * (1 - 1e-5));
                }
                median.add(est.layer.rowErrorBounds.median, exact.layer.rowError.median);
                p95.add(est.layer.rowErrorBounds.p95, exact.layer.rowError.p95);
            }
        }
    }
    std::printf(
        "coverage at 95%%: median %.3f p95 %.3f mean %.3f mass median %.3f mass mean %.3f (%d intervals "
        "each); finite p95 %.3f\n",
        median.rate(), p95.rate(), mean.rate(), massMedian.rate(), massMean.rate(), median.total,
        double(p95.finite) / p95.total);
    EXPECT_EQ(windowExact, cases);
    // 95% nominal: with ~100 cases per statistic, a rate below 0.88 would be a dishonest interval.
    for (const Coverage* c : {&median, &p95, &mean, &massMedian, &massMean})
        EXPECT_GE(c->rate(), 0.88);
    // ... and an interval that is always infinite would be honest but useless.
    EXPECT_GE(double(median.finite) / median.total, 0.95);
    EXPECT_GE(double(p95.finite) / p95.total, 0.5);
}

TEST(MetricsEstimate, SamplingEveryRowGivesTheExactStatistics) {
    const Index H = 2, L = 300, D = 8, W = 16;
    const Layer l = makeLayer(H, L, D, W, 11);
    EstimateConfig ec;
    ec.sampleRows = L; // more than the prefix: every row
    Index R = 0;
    std::vector<std::int32_t> rows = estimateRows(H, L, W, ec, &R);
    ASSERT_EQ(R, L);
    DroppedSums full(H, L, D, L - W), sampled(H, L, D, L - W, rows, R);
    const Selection sel = select(l, 0.08, W, 24);
    ASSERT_TRUE(full.update(l.qkv, l.dense.cview(), l.lse.data(), sel, {}).ok());
    ASSERT_TRUE(sampled.update(l.qkv, l.dense.cview(), l.lse.data(), sel, {}).ok());
    const LayerMetrics exact = metricsFromDroppedSums(full, l.qkv, l.dense.cview(), l.lse.data(), sel);
    const LayerMetrics est = estimateLayerMetrics(sampled, l.qkv, l.dense.cview(), l.lse.data(), sel, 0.95);
    for (Index h = 0; h < H; ++h) {
        const HeadMetrics &e = est.heads[std::size_t(h)], &x = exact.heads[std::size_t(h)];
        EXPECT_NEAR(e.rowError.mean, x.rowError.mean, 1e-6);
        EXPECT_NEAR(e.rowError.max, x.rowError.max, 1e-6);
        EXPECT_NEAR(e.rowErrorBounds.max.hi, x.rowError.max, 1e-6); // nothing unseen
        EXPECT_NEAR(e.rowErrorBounds.mean.hi - e.rowErrorBounds.mean.lo, 0.0, 1e-9);
        EXPECT_TRUE(e.rowErrorBounds.median.contains(x.rowError.median));
        EXPECT_EQ(e.sampledRows, x.rowError.count);
    }
}

TEST(MetricsEstimate, RowsIncludeTheWholeWindowAndAreAscending) {
    EstimateConfig ec;
    ec.sampleRows = 50;
    Index R = 0;
    const std::vector<std::int32_t> rows = estimateRows(3, 1000, 100, ec, &R);
    ASSERT_EQ(R, 150);
    for (Index h = 0; h < 3; ++h) {
        const std::int32_t* r = rows.data() + h * R;
        EXPECT_TRUE(std::is_sorted(r, r + R));
        EXPECT_EQ(std::adjacent_find(r, r + R), r + R); // no repeats
        EXPECT_EQ(r[R - 100], 900);
        EXPECT_EQ(r[R - 1], 999);
        EXPECT_LT(r[49], 900);
    }
    // Heads draw different rows.
    EXPECT_FALSE(std::equal(rows.begin(), rows.begin() + 50, rows.begin() + R));
}
