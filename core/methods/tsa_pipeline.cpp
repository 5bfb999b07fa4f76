// One layer end to end: score (W*L*D per head), select (O(Hq * P)): TSA's pattern, per-head token sets;
// then the pattern executor (core/methods/pattern_attention.cpp) gathers each head's kept rows, runs the
// causal kernel on them and scatters rows back (dropped rows zero, extra memory O(kept * D)); optionally
// the dense reference and the section 7 metrics.
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

    result.output =
        Tensor3::uninitialised(hq, tokens, dim); // runPattern writes every row (zeros when dropped)
    result.lse.assign(std::size_t(hq * tokens), 0.0f);
    // The selection is TSA's pattern: its token sets, no block stage.
    Status st = runPattern(qkv, result.selection, BlockSparsePattern{}, result.output.view(),
                           result.lse.data(), attention, &result.timings);
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
