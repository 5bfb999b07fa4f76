// One layer end to end: score (W*L*D per head), select (O(Hq * P)), then per query head gather the kept
// rows of Q and of its kv head's K/V into compact [kept, D] buffers, run the causal kernel on them (causal
// by rank, since indices are sorted) and scatter rows back; dropped rows are zero. Extra memory is one
// head's compact buffers, O(kept * D), never a copy of the layer.
#include "core/methods/tsa_pipeline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <omp.h>

namespace tsa {

namespace {

using Clock = std::chrono::steady_clock;
double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

} // namespace

Status sparseAttention(const LayerQkvView& qkv, const Selection& selection, View3 out, float* lse,
                       const AttentionConfig& config, StageTimings* timings) {
    const Index hq = qkv.qHeads(), tokens = qkv.tokens(), dim = qkv.headDim();
    if (out.heads != hq || out.tokens != tokens || out.dim != dim)
        return Status::error(ErrorCode::Shape, "sparse attention output has the wrong shape");
    if (!selection.sparse) {
        const auto start = Clock::now();
        Status st = causalAttention(qkv.q, qkv.k, qkv.v, out, lse, config);
        if (timings) timings->attentionMs += msSince(start);
        return st;
    }
    const Index kept = selection.kept;
    const Index group = qkv.groupSize();
    Tensor3 cq(1, kept, dim), ck(1, kept, dim), cv(1, kept, dim), co(1, kept, dim);
    std::vector<float> clse(static_cast<std::size_t>(kept));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
    const std::size_t rowBytes = std::size_t(dim) * sizeof(float);
    // Waking a thread team costs more than copying a few hundred kilobytes.
    const bool parallelCopy = kept * dim >= (Index(1) << 18);
    for (Index h = 0; h < hq; ++h) {
        if (config.cancel && config.cancel->load())
            return Status::error(ErrorCode::Cancelled, "attention cancelled");
        const std::int32_t* idx = selection.head(h);
        const Index g = h / group;
        auto t0 = Clock::now();
#pragma omp parallel for num_threads(threads) schedule(static) if (parallelCopy)
        for (Index r = 0; r < kept; ++r) {
            std::memcpy(cq.row(0, r), qkv.q.row(h, idx[r]), rowBytes);
            std::memcpy(ck.row(0, r), qkv.k.row(g, idx[r]), rowBytes);
            std::memcpy(cv.row(0, r), qkv.v.row(g, idx[r]), rowBytes);
        }
        auto t1 = Clock::now();
        Status st = causalAttention(cq.view(), ck.view(), cv.view(), co.view(), clse.data(), config);
        if (!st.ok()) return st;
        auto t2 = Clock::now();
        // Each output row is written once: kept rows from the compact output, the gaps between them zeroed.
#pragma omp parallel for num_threads(threads) schedule(static) if (parallelCopy)
        for (Index r = 0; r <= kept; ++r) {
            const Index gapStart = r == 0 ? 0 : Index(idx[r - 1]) + 1;
            const Index gapEnd = r == kept ? tokens : Index(idx[r]);
            if (gapEnd > gapStart)
                std::memset(out.row(h, gapStart), 0, std::size_t(gapEnd - gapStart) * rowBytes);
            if (r < kept) std::memcpy(out.row(h, idx[r]), co.row(0, r), rowBytes);
        }
        if (lse) {
            float* hl = lse + h * tokens;
            std::fill(hl, hl + tokens, nan);
            for (Index r = 0; r < kept; ++r)
                hl[idx[r]] = clse[r];
        }
        auto t3 = Clock::now();
        if (timings) {
            timings->gatherMs += std::chrono::duration<double, std::milli>(t1 - t0).count();
            timings->attentionMs += std::chrono::duration<double, std::milli>(t2 - t1).count();
            timings->scatterMs += std::chrono::duration<double, std::milli>(t3 - t2).count();
        }
    }
    return Status::success();
}

Result<LayerRunResult> runLayer(const LayerQkvView& qkv, const LayerRunConfig& config) {
    if (Status st = checkLayerShapes(qkv); !st.ok()) return st;
    LayerRunResult result;
    const Index hq = qkv.qHeads(), tokens = qkv.tokens(), dim = qkv.headDim();
    AttentionConfig attention = config.attention;
    if (!attention.cancel) attention.cancel = config.cancel;

    // Scoring only matters when the layer can be sparse; section 2 decides without scores.
    DenseReason reason = DenseReason::NotSparseLayer;
    const bool mayBeSparse = config.sparseLayer && !layerStaysDense(tokens, config.params, &reason);
    if (mayBeSparse) {
        auto start = Clock::now();
        ScoringConfig sc;
        sc.window = config.params.window;
        sc.poolKernel = config.params.poolKernel;
        sc.threads = attention.threads;
        sc.cancel = attention.cancel;
        sc.rankHeads = false; // one selection only: top-capacity by selection, not by sorting
        auto scores = scoreLayer(qkv, sc);
        if (!scores.ok()) return scores.status();
        result.scores = std::move(scores.value());
        result.timings.scoringMs = msSince(start);
        start = Clock::now();
        result.selection = selectTokens(result.scores, hq, tokens, config.params);
        result.timings.selectionMs = msSince(start);
    } else {
        result.selection = denseSelection(hq, tokens, config.params,
                                          config.sparseLayer ? reason : DenseReason::NotSparseLayer);
    }

    result.output = Tensor3(hq, tokens, dim);
    result.lse.assign(std::size_t(hq * tokens), 0.0f);
    Status st = sparseAttention(qkv, result.selection, result.output.view(), result.lse.data(), attention,
                                &result.timings);
    if (!st.ok()) return st;

    if (config.computeDense) {
        if (!result.selection.sparse) {
            result.denseOutput = result.output; // a dense layer is its own reference
            result.denseLse = result.lse;
        } else {
            auto start = Clock::now();
            result.denseOutput = Tensor3(hq, tokens, dim);
            result.denseLse.assign(std::size_t(hq * tokens), 0.0f);
            st = causalAttention(qkv.q, qkv.k, qkv.v, result.denseOutput.view(), result.denseLse.data(),
                                 attention);
            if (!st.ok()) return st;
            result.timings.denseMs = msSince(start);
        }
    }
    if (config.computeMetrics) {
        if (config.computeDense || !result.selection.sparse) {
            const Tensor3& dense = config.computeDense ? result.denseOutput : result.output;
            const std::vector<float>& denseLse = config.computeDense ? result.denseLse : result.lse;
            result.metrics = computeLayerMetrics(result.selection, dense.view(), result.output.view(),
                                                 denseLse.data(), result.lse.data());
        } else {
            // Dense reference one head at a time: metrics without a dense copy of the layer.
            auto start = Clock::now();
            LayerMetricsBuilder builder(result.selection, hq, tokens);
            Tensor3 denseHead(1, tokens, dim);
            std::vector<float> denseLse(static_cast<std::size_t>(tokens));
            const Index group = qkv.groupSize();
            for (Index h = 0; h < hq; ++h) {
                const ConstView3 q{qkv.q.row(h, 0), 1, tokens, dim};
                const ConstView3 k{qkv.k.row(h / group, 0), 1, tokens, dim};
                const ConstView3 v{qkv.v.row(h / group, 0), 1, tokens, dim};
                st = causalAttention(q, k, v, denseHead.view(), denseLse.data(), attention);
                if (!st.ok()) return st;
                builder.addHead(h, denseHead.data.data(), result.output.row(h, 0), dim, denseLse.data(),
                                result.lse.data() + h * tokens);
            }
            result.metrics = builder.finish();
            result.timings.denseMs = msSince(start);
        }
    }
    if (!config.keepOutput) {
        result.output = Tensor3();
        result.lse.clear();
    }
    return result;
}

} // namespace tsa
