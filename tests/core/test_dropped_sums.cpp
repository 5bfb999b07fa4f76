// Incremental exact metrics (core/analysis/dropped_sums.h) against a plain fp64 from-scratch computation:
// random tau sequences with single steps and jumps, repeated taus (no key moves), tau 0 and layers outside
// the plan (dense), min_tokens clamps, a sampled row set, checkpoints along the drop order, and the path
// each update takes.
#include "core/analysis/dropped_sums.h"
#include "core/analysis/metrics_estimate.h"
#include "core/kernels/attention.h"
#include "core/synth/generator_rng.h"
#include "tsa_test_data.h"

#include <cmath>
#include <gtest/gtest.h>

using namespace tsa;

namespace {

struct Fixture {
    LayerQkv layer;
    LayerScores scores;
    Tensor3 dense;
    std::vector<float> lse;
    std::vector<double> refDense, refLse; // fp64 reference of the dense pass
};

Fixture makeFixture(Index hq, Index hkv, Index tokens, Index dim, std::uint64_t seed, Index window) {
    Fixture f;
    f.layer = testdata::structuredLayer(hq, hkv, tokens, dim, seed);
    ScoringConfig sc;
    sc.window = window;
    sc.poolKernel = 5;
    f.scores = scoreLayer(f.layer, sc).value();
    f.dense = Tensor3(hq, tokens, dim);
    f.lse.resize(std::size_t(hq * tokens));
    AttentionConfig ac;
    ac.keyTile = 32;
    EXPECT_TRUE(causalAttention(f.layer.q.cview(), f.layer.k.cview(), f.layer.v.cview(), f.dense.view(),
                                f.lse.data(), ac)
                    .ok());
    f.refDense.resize(std::size_t(hq * tokens * dim));
    f.refLse.resize(std::size_t(hq * tokens));
    referenceCausalAttention(f.layer.q.cview(), f.layer.k.cview(), f.layer.v.cview(), f.refDense.data(),
                             f.refLse.data());
    return f;
}

// From scratch in fp64: per kept row, the error against dense attention and the retained mass.
// sampled: the metrics hold only some kept rows (an estimate), NaN at the others.
void expectMatchesReference(const Fixture& f, const Selection& sel, const LayerMetrics& m,
                            bool sampled = false) {
    const LayerQkv& l = f.layer;
    const Index H = l.qHeads(), L = l.tokens(), D = l.headDim(), group = l.groupSize();
    for (Index h = 0; h < H; ++h) {
        std::vector<bool> kept(std::size_t(L), !sel.sparse);
        if (sel.sparse)
            for (Index r = 0; r < sel.kept; ++r)
                kept[std::size_t(sel.head(h)[r])] = true;
        for (Index i = 0; i < L; ++i) {
            const float err = m.rowError[std::size_t(h * L + i)];
            if (!kept[std::size_t(i)]) {
                EXPECT_TRUE(std::isnan(err));
                continue;
            }
            if (sampled && std::isnan(err)) continue;
            std::vector<double> logits;
            std::vector<Index> keys;
            double mx = -INFINITY;
            for (Index j = 0; j <= i; ++j) {
                if (!kept[std::size_t(j)]) continue;
                double dot = 0;
                for (Index c = 0; c < D; ++c)
                    dot += double(l.q.row(h, i)[c]) * double(l.k.row(h / group, j)[c]);
                logits.push_back(dot / std::sqrt(double(D)));
                keys.push_back(j);
                mx = std::max(mx, logits.back());
            }
            std::vector<double> o(std::size_t(D), 0.0);
            double sum = 0;
            for (std::size_t c = 0; c < keys.size(); ++c) {
                const double p = std::exp(logits[c] - mx);
                sum += p;
                for (Index d = 0; d < D; ++d)
                    o[std::size_t(d)] += p * double(l.v.row(h / group, keys[c])[d]);
            }
            double diff = 0, ref = 0;
            for (Index d = 0; d < D; ++d) {
                const double od = f.refDense[std::size_t((h * L + i) * D + d)];
                diff += std::pow(o[std::size_t(d)] / sum - od, 2);
                ref += od * od;
            }
            if (i % 7 == 0) { // the fallback for rows with most mass dropped, on every seventh row
                std::vector<float> direct(static_cast<std::size_t>(D));
                const double lse = directKeptRow(l, sel, h, i, direct.data());
                EXPECT_NEAR(lse, mx + std::log(sum), 1e-5);
                for (Index d = 0; d < D; ++d)
                    ASSERT_NEAR(direct[std::size_t(d)], o[std::size_t(d)] / sum, 1e-5);
            }
            const double wantErr = std::sqrt(diff / ref);
            const double wantMass = std::exp(mx + std::log(sum) - f.refLse[std::size_t(h * L + i)]);
            ASSERT_NEAR(err, wantErr, 2e-5 + 2e-3 * wantErr) << "head " << h << " row " << i;
            ASSERT_NEAR(m.retainedMass[std::size_t(h * L + i)], std::min(wantMass, 1.0), 2e-5)
                << "head " << h << " row " << i;
        }
    }
}

Selection select(const Fixture& f, double tau, Index minTokens, Index window) {
    return testdata::selectAt(f.scores, f.layer.qHeads(), f.layer.tokens(), tau, window, minTokens);
}

} // namespace

TEST(DroppedSums, RandomTauSequenceMatchesFp64FromScratch) {
    const Index window = 16;
    const Fixture f = makeFixture(4, 2, 384, 16, 21, window);
    DroppedSums state(4, 384, 16, 384 - window);
    std::uint64_t rng = 7;
    double tau = 0.05;
    int incremental = 0;
    Index directTotal = 0;
    for (int step = 0; step < 24; ++step) {
        const std::uint64_t r = gen::splitmix64(rng) % 10;
        if (r < 5) tau *= 1.08; // a slider step
        // r == 5: the same tau, no key moves
        else if (r < 8 && r >= 6)
            tau = 0.002 + double(gen::splitmix64(rng) % 1000) / 1000.0 * 0.3; // a jump
        else if (r < 9)
            tau = 0.0; // dense by tau
        else
            tau = 0.04;
        const Index minTokens = step % 5 == 4 ? 300 : 24; // 300 clamps the capacity near the whole prefix
        const Selection sel = select(f, tau, minTokens, window);
        ASSERT_TRUE(state.update(f.layer, f.dense.cview(), f.lse.data(), sel, {}).ok());
        incremental += state.lastPath() == DroppedSumsPath::Incremental;
        Index direct = 0;
        const LayerMetrics m =
            metricsFromDroppedSums(state, f.layer, f.dense.cview(), f.lse.data(), sel, &direct);
        SCOPED_TRACE("step " + std::to_string(step) + " tau " + std::to_string(tau) + " path " +
                     droppedSumsPathName(state.lastPath()));
        expectMatchesReference(f, sel, m);
        if (!sel.sparse) {
            EXPECT_EQ(m.layer.rowError.max, 0.0);
        }
        directTotal += direct;
    }
    EXPECT_GT(incremental, 8); // most steps reuse the sums
    std::printf("rows taken directly: %lld\n", (long long)directTotal);
}

TEST(DroppedSums, UnchangedSelectionCostsNothingAndDenseLayersHaveNoError) {
    const Index window = 16;
    const Fixture f = makeFixture(2, 1, 200, 8, 5, window);
    DroppedSums state(2, 200, 8, 200 - window);
    const Selection sel = select(f, 0.1, 24, window);
    ASSERT_TRUE(sel.sparse);
    ASSERT_TRUE(state.update(f.layer, f.dense.cview(), f.lse.data(), sel, {}).ok());
    ASSERT_TRUE(state.update(f.layer, f.dense.cview(), f.lse.data(), sel, {}).ok());
    EXPECT_EQ(state.lastPath(), DroppedSumsPath::Incremental);
    EXPECT_EQ(state.lastProducts(), 0.0);
    TsaParams p;
    p.window = window;
    const Selection notSparse = denseSelection(2, 200, p, DenseReason::NotSparseLayer);
    ASSERT_TRUE(state.update(f.layer, f.dense.cview(), f.lse.data(), notSparse, {}).ok());
    const LayerMetrics m = metricsFromDroppedSums(state, f.layer, f.dense.cview(), f.lse.data(), notSparse);
    EXPECT_EQ(m.layer.rowError.max, 0.0);
    EXPECT_EQ(m.layer.retainedMass.median, 1.0);
    EXPECT_EQ(m.layer.droppedRows, 0);
}

TEST(DroppedSums, SampledRowsEqualTheFullStateAtThoseRows) {
    const Index window = 16, L = 300, H = 4;
    const Fixture f = makeFixture(H, 2, L, 16, 33, window);
    std::vector<std::int32_t> rows;
    const Index R = 40;
    for (Index h = 0; h < H; ++h)
        for (Index r = 0; r < R; ++r)
            rows.push_back(std::int32_t(r * 7 + h)); // ascending, window rows included
    DroppedSums full(H, L, 16, L - window), sample(H, L, 16, L - window, rows, R);
    for (double tau : {0.05, 0.06, 0.2, 0.01}) {
        const Selection sel = select(f, tau, 24, window);
        ASSERT_TRUE(full.update(f.layer, f.dense.cview(), f.lse.data(), sel, {}).ok());
        ASSERT_TRUE(sample.update(f.layer, f.dense.cview(), f.lse.data(), sel, {}).ok());
        for (Index h = 0; h < H; ++h)
            for (Index r = 0; r < R; ++r) {
                const Index i = sample.row(h, r);
                EXPECT_NEAR(sample.mass(h, r), full.mass(h, i), 1e-5);
                for (Index d = 0; d < 16; ++d)
                    EXPECT_NEAR(sample.sums(h, r)[d], full.sums(h, i)[d], 1e-4);
            }
    }
}

TEST(DroppedSums, CancelledUpdateLeavesTheStateToBeRebuilt) {
    const Index window = 16;
    const Fixture f = makeFixture(2, 1, 200, 8, 9, window);
    DroppedSums state(2, 200, 8, 200 - window);
    std::atomic<bool> cancel{true};
    AttentionConfig c;
    c.cancel = &cancel;
    const Selection sel = select(f, 0.1, 24, window);
    EXPECT_EQ(state.update(f.layer, f.dense.cview(), f.lse.data(), sel, c).code, ErrorCode::Cancelled);
    EXPECT_FALSE(state.initialised());
    ASSERT_TRUE(state.update(f.layer, f.dense.cview(), f.lse.data(), sel, {}).ok());
    EXPECT_NE(state.lastPath(), DroppedSumsPath::Incremental);
}

TEST(DroppedSums, DenseRowsComputedAloneMatchTheDensePass) {
    // 600 tokens and 150 rows per head: two 128-row tiles and three 256-key tiles, so the online pass
    // rescales across tiles; every thread count must give the fp64 reference.
    const Index window = 16, L = 600, H = 4, D = 16;
    const Fixture f = makeFixture(H, 2, L, D, 41, window);
    std::vector<std::int32_t> rows;
    const Index R = 150;
    for (Index h = 0; h < H; ++h)
        for (Index r = 0; r < R; ++r)
            rows.push_back(std::int32_t(r * 4 + h)); // row 0 included: one key only
    for (int threads : {1, 2, 3}) {
        SCOPED_TRACE("threads " + std::to_string(threads));
        AttentionConfig c;
        c.threads = threads;
        DroppedSums own(H, L, D, L - window, rows, R), gathered(H, L, D, L - window, rows, R);
        ASSERT_TRUE(own.computeDenseRows(f.layer, c).ok());
        gathered.takeDenseRows(f.dense.cview(), f.lse.data());
        for (Index h = 0; h < H; ++h)
            for (Index r = 0; r < R; ++r) {
                EXPECT_NEAR(own.denseLse(h, r), f.refLse[std::size_t(h * L + own.row(h, r))], 1e-4);
                for (Index d = 0; d < D; ++d)
                    ASSERT_NEAR(own.denseRow(h, r)[d],
                                f.refDense[std::size_t((h * L + own.row(h, r)) * D + d)], 1e-4);
            }
        // The sums then need no dense pass of the layer.
        const Selection sel = select(f, 0.1, 24, window);
        ASSERT_TRUE(own.update(f.layer, {}, nullptr, sel, c).ok());
        ASSERT_TRUE(gathered.update(f.layer, {}, nullptr, sel, c).ok());
        for (Index h = 0; h < H; ++h)
            for (Index r = 0; r < R; ++r)
                EXPECT_NEAR(own.mass(h, r), gathered.mass(h, r), 1e-5);
    }
}

TEST(DroppedSums, CheckpointsMatchMovingAndFp64OverTauJumps) {
    const Index window = 16, L = 384, H = 4, D = 16;
    const Fixture f = makeFixture(H, 2, L, D, 57, window);
    EstimateConfig ec;
    ec.sampleRows = 64;
    ec.seed = 3;
    Index R = 0;
    const std::vector<std::int32_t> rows = estimateRows(H, L, window, ec, &R);
    // moved: the sampled state moved from the previous selection (no checkpoints); viaCk: the same rows
    // with checkpoints, built in the pass that also gives their dense rows; full: every row, checkpoints.
    DroppedSums moved(H, L, D, L - window, rows, R), viaCk(H, L, D, L - window, rows, R);
    DroppedSums full(H, L, D, L - window);
    ASSERT_TRUE(moved.computeDenseRows(f.layer, {}).ok());
    ASSERT_TRUE(viaCk.buildCheckpoints(f.layer, f.scores.headRank.data(), 6, {}).ok());
    ASSERT_TRUE(viaCk.hasDenseRows());
    EXPECT_EQ(viaCk.checkpointCount(), 6);
    EXPECT_GT(viaCk.bytes(), viaCk.checkpointBytes(6));
    full.takeDenseRows(f.dense.cview(), f.lse.data());
    ASSERT_TRUE(full.buildCheckpoints(f.layer, f.scores.headRank.data(), 5, {}).ok());
    for (Index h = 0; h < H; ++h)
        for (Index r = 0; r < R; ++r)
            ASSERT_NEAR(viaCk.denseRow(h, r)[3], moved.denseRow(h, r)[3], 1e-5);
    std::uint64_t rng = 11;
    double tau = 0.02;
    int fromCheckpoint = 0, fullFromCheckpoint = 0;
    for (int step = 0; step < 30; ++step) {
        const std::uint64_t r = gen::splitmix64(rng) % 10;
        if (r < 2)
            tau *= 1.05; // a slider step
        else if (r < 7)
            tau = 0.001 + double(gen::splitmix64(rng) % 1000) / 1000.0 * 0.4; // a jump
        else if (r < 8)
            tau = 0.0; // dense by tau
        // r >= 8: the same tau
        const Index minTokens = step % 4 == 3 ? 300 : 24; // 300 clamps the capacity near the whole prefix
        const Selection sel = select(f, tau, minTokens, window);
        SCOPED_TRACE("step " + std::to_string(step) + " tau " + std::to_string(tau));
        ASSERT_TRUE(moved.update(f.layer, {}, nullptr, sel, {}).ok());
        ASSERT_TRUE(viaCk.update(f.layer, {}, nullptr, sel, {}).ok());
        ASSERT_TRUE(full.update(f.layer, f.dense.cview(), f.lse.data(), sel, {}).ok());
        fromCheckpoint += viaCk.lastPath() == DroppedSumsPath::FromCheckpoint;
        fullFromCheckpoint += full.lastPath() == DroppedSumsPath::FromCheckpoint;
        for (Index h = 0; h < H; ++h)
            for (Index q = 0; q < R; ++q) {
                ASSERT_NEAR(viaCk.mass(h, q), moved.mass(h, q), 1e-5) << "head " << h << " row " << q;
                for (Index d = 0; d < D; ++d)
                    ASSERT_NEAR(viaCk.sums(h, q)[d], moved.sums(h, q)[d], 1e-4);
            }
        const LayerMetrics a = estimateLayerMetrics(viaCk, f.layer, {}, nullptr, sel, 0.95);
        const LayerMetrics b = estimateLayerMetrics(moved, f.layer, {}, nullptr, sel, 0.95);
        ASSERT_EQ(a.rowError.size(), b.rowError.size());
        for (std::size_t i = 0; i < a.rowError.size(); ++i) {
            ASSERT_EQ(std::isnan(a.rowError[i]), std::isnan(b.rowError[i]));
            if (!std::isnan(a.rowError[i]))
                ASSERT_NEAR(a.rowError[i], b.rowError[i], 1e-5 + 1e-4 * b.rowError[i]);
        }
        EXPECT_NEAR(a.layer.rowError.p95, b.layer.rowError.p95, 1e-5 + 1e-4 * b.layer.rowError.p95);
        expectMatchesReference(f, sel, a, /*sampled=*/true);
        expectMatchesReference(f, sel,
                               metricsFromDroppedSums(full, f.layer, f.dense.cview(), f.lse.data(), sel));
    }
    EXPECT_GT(fromCheckpoint, 4); // jumps start from a checkpoint
    EXPECT_GT(fullFromCheckpoint, 4);
}
