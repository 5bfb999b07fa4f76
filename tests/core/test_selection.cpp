// Selection and pipeline against a plain fp64 restatement of spec sections 2-4, plus the properties the
// method guarantees and hand-worked examples of the budget arithmetic.
#include "core/analysis/metrics.h"
#include "core/methods/tsa_pipeline.h"
#include "core/methods/tsa_selection.h"
#include "tsa_test_data.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>
#include <numeric>
#include <set>

using namespace tsa;

namespace {

struct RefScores {
    std::vector<std::vector<double>> headNorm; // [Hq][P]
    std::vector<double> layerNorm;             // [P]
};

// fp64 restatement of spec section 3 steps 1-4.
RefScores referenceScores(const LayerQkv& l, Index window, Index kernel) {
    const Index hq = l.qHeads(), tokens = l.tokens(), dim = l.headDim(), group = l.groupSize();
    const Index prefix = tokens - window, r = kernel / 2;
    RefScores out;
    std::vector<std::vector<double>> smoothed(hq, std::vector<double>(prefix));
    for (Index h = 0; h < hq; ++h) {
        std::vector<double> a(prefix, 0.0);
        for (Index i = prefix; i < tokens; ++i) {
            std::vector<double> logits(i + 1);
            double mx = -INFINITY;
            for (Index j = 0; j <= i; ++j) {
                double dot = 0;
                for (Index c = 0; c < dim; ++c)
                    dot += double(l.q.row(h, i)[c]) * double(l.k.row(h / group, j)[c]);
                logits[j] = dot / std::sqrt(double(dim));
                mx = std::max(mx, logits[j]);
            }
            double sum = 0;
            for (auto& x : logits)
                sum += (x = std::exp(x - mx));
            for (Index j = 0; j < prefix; ++j)
                a[j] += logits[j] / sum / double(window);
        }
        for (Index j = 0; j < prefix; ++j) {
            double s = 0;
            for (Index t = -r; t <= r; ++t)
                if (j + t >= 0 && j + t < prefix) s += a[j + t];
            smoothed[h][j] = s / double(kernel);
        }
    }
    out.headNorm.assign(hq, std::vector<double>(prefix));
    out.layerNorm.assign(prefix, 0.0);
    for (Index h = 0; h < hq; ++h) {
        const double total = std::accumulate(smoothed[h].begin(), smoothed[h].end(), 0.0);
        for (Index j = 0; j < prefix; ++j) {
            out.headNorm[h][j] = smoothed[h][j] / (total + 1e-8);
            out.layerNorm[j] += smoothed[h][j] / double(hq);
        }
    }
    const double g = std::accumulate(out.layerNorm.begin(), out.layerNorm.end(), 0.0);
    for (auto& x : out.layerNorm)
        x /= (g + 1e-8);
    return out;
}

struct RefSelection {
    bool sparse = false;
    Index capacity = 0;
    std::vector<std::vector<std::int32_t>> indices;
};

// Spec section 3 steps 5-6 in fp64.
RefSelection referenceSelect(const RefScores& s, Index tokens, const TsaParams& p) {
    RefSelection out;
    const Index prefix = tokens - p.window;
    if (tokens <= p.minTokens + p.window || p.tau == 0.0) return out;
    std::vector<double> sorted = s.layerNorm;
    std::sort(sorted.begin(), sorted.end());
    double c = 0;
    Index n = 0;
    for (double g : sorted) {
        c += g;
        if (c < p.tau) ++n;
    }
    if (n == 0) return out;
    out.sparse = true;
    out.capacity = std::max(p.minTokens, prefix - (n + 1));
    for (const auto& scores : s.headNorm) {
        std::vector<std::int32_t> order(prefix);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });
        std::vector<std::int32_t> kept(order.begin(), order.begin() + out.capacity);
        for (Index j = prefix; j < tokens; ++j)
            kept.push_back(std::int32_t(j));
        std::sort(kept.begin(), kept.end());
        out.indices.push_back(kept);
    }
    return out;
}

// Kept sets may differ only where fp32 and fp64 scores tie within rounding at the capacity boundary.
void expectSameSelection(const Selection& got, const RefSelection& ref, const RefScores& scores) {
    ASSERT_EQ(got.sparse, ref.sparse);
    if (!ref.sparse) return;
    ASSERT_EQ(got.capacity, ref.capacity);
    for (Index h = 0; h < got.qHeads; ++h) {
        std::vector<std::int32_t> g(got.head(h), got.head(h) + got.kept);
        ASSERT_TRUE(std::is_sorted(g.begin(), g.end()));
        if (g == ref.indices[h]) continue;
        std::vector<std::int32_t> diff;
        std::set_symmetric_difference(g.begin(), g.end(), ref.indices[h].begin(), ref.indices[h].end(),
                                      std::back_inserter(diff));
        std::vector<double> kept;
        for (auto j : ref.indices[h])
            if (j < got.prefix) kept.push_back(scores.headNorm[h][j]);
        const double boundary = *std::min_element(kept.begin(), kept.end());
        for (auto j : diff)
            EXPECT_NEAR(scores.headNorm[h][j], boundary, 1e-6 * boundary + 1e-12)
                << "head " << h << " pos " << j;
    }
}

Result<LayerScores> score(const LayerQkv& l, Index window = 16, Index kernel = 7, int threads = 0) {
    ScoringConfig c;
    c.window = window;
    c.poolKernel = kernel;
    c.threads = threads;
    return scoreLayer(l, c);
}

TsaParams smallParams(double tau = 0.05) {
    TsaParams p;
    p.tau = tau;
    p.window = 16;
    p.poolKernel = 7;
    p.minTokens = 32;
    return p;
}

} // namespace

TEST(Selection, ScoresMatchFp64Reference) {
    const auto l = testdata::structuredLayer(4, 2, 200, 16, 11);
    auto s = score(l);
    ASSERT_TRUE(s.ok()) << s.error();
    const auto ref = referenceScores(l, 16, 7);
    ASSERT_EQ(s->prefix, 184);
    for (Index h = 0; h < 4; ++h)
        for (Index j = 0; j < s->prefix; ++j)
            EXPECT_NEAR(s->headScores(h)[j], ref.headNorm[h][j], 1e-5 * ref.headNorm[h][j] + 1e-9);
    for (Index j = 0; j < s->prefix; ++j)
        EXPECT_NEAR(s->layerNorm[j], ref.layerNorm[j], 1e-5 * ref.layerNorm[j] + 1e-9);
}

TEST(Selection, SelectionMatchesFp64ReferenceAcrossTaus) {
    for (std::uint64_t seed : {1u, 2u, 3u}) {
        const auto l = testdata::structuredLayer(6, 3, 300, 16, seed);
        auto s = score(l);
        ASSERT_TRUE(s.ok());
        const auto ref = referenceScores(l, 16, 7);
        int sparseCount = 0;
        for (double tau : {0.0, 0.001, 0.005, 0.02, 0.1, 0.3}) {
            const auto p = smallParams(tau);
            SCOPED_TRACE("seed " + std::to_string(seed) + " tau " + std::to_string(tau));
            const auto sel = selectTokens(*s, 6, 300, p);
            expectSameSelection(sel, referenceSelect(ref, 300, p), ref);
            sparseCount += sel.sparse;
        }
        EXPECT_GE(sparseCount, 3); // the comparison must cover real selections, not only dense layers
    }
}

TEST(Selection, SmoothingDampsBothEndsWithZeroPadding) {
    // Q = 0 makes every causal softmax row uniform, so every prefix key gets the same raw score a.
    LayerQkv l{Tensor3(1, 40, 4), Tensor3(1, 40, 4), Tensor3(1, 40, 4)};
    testdata::fillNormal(l.k, 5, 1.0f);
    auto s = score(l, 8, 7);
    ASSERT_TRUE(s.ok());
    const Index P = 32;
    double a = 0;
    for (Index i = P; i < 40; ++i)
        a += 1.0 / double(i + 1);
    a /= 8.0;
    for (Index j = 0; j < P; ++j)
        EXPECT_NEAR(s->raw[j], a, 1e-6);
    // k = 7, r = 3: ends see 4, 5, 6 of the 7 taps; the divisor stays 7.
    const double expect[] = {4.0 / 7, 5.0 / 7, 6.0 / 7, 1.0};
    for (int t = 0; t < 4; ++t) {
        EXPECT_NEAR(s->smoothed[t], a * expect[t], 1e-6);
        EXPECT_NEAR(s->smoothed[P - 1 - t], a * expect[t], 1e-6);
    }
}

TEST(Selection, BudgetDropsNPlusOneTokens) {
    // Hand-built scores: G sorted ascending is 0.001, 0.002, 0.003, 0.004, 0.99; with tau = 0.0055,
    // c = 0.001, 0.003, 0.006, ... so n = 2 and the budget drops n + 1 = 3 tokens: capacity = P - 3.
    LayerScores s;
    s.qHeads = 1;
    s.window = 2;
    s.prefix = 5;
    s.tokens = 7;
    s.layerNorm = {0.99f, 0.003f, 0.001f, 0.004f, 0.002f};
    s.layerAscending = {2, 4, 1, 3, 0};
    s.layerCumulative = {0.001, 0.003, 0.006, 0.010, 1.0};
    s.headNorm = {0.5f, 0.1f, 0.05f, 0.3f, 0.05f};
    s.headRank = {0, 3, 1, 2, 4}; // ties (positions 2 and 4) broken towards the lower position
    TsaParams p;
    p.tau = 0.0055;
    p.window = 2;
    p.minTokens = 1;
    const Selection sel = selectTokens(s, 1, 7, p);
    ASSERT_TRUE(sel.sparse);
    EXPECT_EQ(sel.budgetCount, 2);
    EXPECT_EQ(sel.capacity, 2);
    EXPECT_EQ(sel.kept, 4);
    EXPECT_EQ(std::vector<std::int32_t>(sel.head(0), sel.head(0) + 4),
              (std::vector<std::int32_t>{0, 3, 5, 6}));

    p.minTokens = 4; // min_tokens wins over the budget
    const Selection floored = selectTokens(s, 1, 7, p);
    EXPECT_EQ(floored.capacity, 4);
    EXPECT_EQ(std::vector<std::int32_t>(floored.head(0), floored.head(0) + 6),
              (std::vector<std::int32_t>{0, 1, 2, 3, 5, 6}));

    p.minTokens = 1;
    p.tau = 0.001; // c_1 = 0.001 is not < 0.001: n = 0, the layer stays dense
    const Selection dense = selectTokens(s, 1, 7, p);
    EXPECT_FALSE(dense.sparse);
    EXPECT_EQ(dense.denseReason, DenseReason::BudgetEmpty);
    EXPECT_EQ(dense.kept, 7);
}

TEST(Selection, ShortLayersAndTauZeroStayDense) {
    TsaParams p;
    DenseReason r;
    EXPECT_TRUE(layerStaysDense(1024 + 128, p, &r));
    EXPECT_EQ(r, DenseReason::TooShort);
    EXPECT_FALSE(layerStaysDense(1024 + 129, p, &r));
    p.tau = 0;
    EXPECT_TRUE(layerStaysDense(4096, p, &r));
    EXPECT_EQ(r, DenseReason::TauZero);
}

TEST(Selection, KeptCountNeverGrowsWithTau) {
    const auto l = testdata::structuredLayer(4, 4, 400, 16, 21);
    auto s = score(l);
    ASSERT_TRUE(s.ok());
    Index previous = 400;
    for (double tau = 1e-4; tau < 0.9; tau *= 1.5) {
        const auto sel = selectTokens(*s, 4, 400, smallParams(tau));
        EXPECT_LE(sel.kept, previous) << "tau " << tau;
        previous = sel.kept;
    }
    EXPECT_LT(previous, 400);
}

TEST(Selection, UnrankedScoresSelectTheSameTokens) {
    // tsa run scores without the per-head sort and picks the top-capacity set by selection instead.
    const auto l = testdata::structuredLayer(6, 2, 500, 16, 51);
    ScoringConfig ranked;
    ranked.window = 16;
    ScoringConfig unranked = ranked;
    unranked.rankHeads = false;
    auto a = scoreLayer(l, ranked);
    auto b = scoreLayer(l, unranked);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_TRUE(b->headRank.empty());
    int sparse = 0;
    for (double tau : {0.001, 0.01, 0.05, 0.2}) {
        const auto x = selectTokens(*a, 6, 500, smallParams(tau));
        const auto y = selectTokens(*b, 6, 500, smallParams(tau));
        EXPECT_EQ(x.capacity, y.capacity);
        EXPECT_EQ(x.indices, y.indices) << "tau " << tau;
        sparse += x.sparse;
    }
    EXPECT_GE(sparse, 2);
}

TEST(Selection, ThreadCountDoesNotChangeScores) {
    const auto l = testdata::structuredLayer(8, 2, 260, 16, 31);
    auto one = score(l, 16, 7, 1);
    auto three = score(l, 16, 7, 3);
    ASSERT_TRUE(one.ok() && three.ok());
    EXPECT_EQ(one->headNorm, three->headNorm);
    EXPECT_EQ(one->layerNorm, three->layerNorm);
    EXPECT_EQ(one->headRank, three->headRank);
}

TEST(Selection, RejectsBadConfig) {
    const auto l = testdata::structuredLayer(2, 2, 50, 8, 1);
    EXPECT_FALSE(score(l, 16, 4).ok()); // even kernel
    EXPECT_FALSE(score(l, 60, 7).ok()); // window longer than the layer
    const auto bad = testdata::structuredLayer(3, 2, 50, 8, 1);
    EXPECT_FALSE(score(bad, 16, 7).ok()); // 3 query heads over 2 kv heads
}

TEST(Selection, JaccardOfSortedSets) {
    const std::int32_t a[] = {1, 2, 3, 4};
    const std::int32_t b[] = {3, 4, 5};
    EXPECT_DOUBLE_EQ(jaccard(a, 4, b, 3), 2.0 / 5.0);
    EXPECT_DOUBLE_EQ(jaccard(a, 4, a, 4), 1.0);
    EXPECT_DOUBLE_EQ(jaccard(a, 0, b, 0), 1.0);
}

TEST(Selection, CoverageCurveCrossesTauAtTheBudget) {
    const auto l = testdata::structuredLayer(4, 2, 300, 16, 41);
    auto s = score(l);
    ASSERT_TRUE(s.ok());
    const double tau = 0.02;
    const auto curve = coverageCurve(*s, -1, tau, 100000);
    const auto sel = selectTokens(*s, 4, 300, smallParams(tau));
    ASSERT_TRUE(sel.sparse);
    EXPECT_EQ(curve.budgetDropped, sel.budgetCount + 1);
    ASSERT_EQ(curve.dropped.size(), std::size_t(s->prefix + 1));
    EXPECT_LT(curve.cumulative[sel.budgetCount], tau);
    EXPECT_GE(curve.cumulative[sel.budgetCount + 1], tau);
    EXPECT_NEAR(curve.cumulative.back(), 1.0, 1e-5);
    const auto small = coverageCurve(*s, 2, tau, 50);
    EXPECT_LE(small.dropped.size(), 50u);
    EXPECT_TRUE(std::is_sorted(small.cumulative.begin(), small.cumulative.end()));
}
