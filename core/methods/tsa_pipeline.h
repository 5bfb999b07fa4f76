// One layer of Token Sparse Attention end to end (spec section 4): score and select (TSA's pattern), then
// gather, attend, scatter (the pattern executor, core/methods/pattern_attention.h), optionally with the dense
// reference output and the section 7 metrics, each stage timed.
#pragma once

#include "core/analysis/metrics.h"
#include "core/kernels/attention.h"
#include "core/methods/pattern_attention.h"
#include "core/methods/tsa_selection.h"
#include "core/status.h"
#include "core/tensor.h"

#include <atomic>
#include <functional>

namespace tsa {

struct LayerRunConfig {
    TsaParams params;
    bool sparseLayer = true;   // from planSparseLayers
    bool keepOutput = true;    // keep the (decompressed or dense) output in the result
    bool computeDense = false; // also run and keep the dense output (metrics alone compute it per head)
    bool computeMetrics = false;
    AttentionConfig attention;
    const std::atomic<bool>* cancel = nullptr;
};

struct LayerRunResult {
    LayerScores scores; // empty when the layer is too short to score
    Selection selection;
    Tensor3 output;         // [Hq, L, D], zero rows for dropped tokens
    std::vector<float> lse; // [Hq, L] of output's rows (NaN for dropped rows)
    Tensor3 denseOutput;    // when computeDense
    std::vector<float> denseLse;
    LayerMetrics metrics; // when computeMetrics
    StageTimings timings;
};

Result<LayerRunResult> runLayer(const LayerQkvView& qkv, const LayerRunConfig& config);

// Compress, attend, decompress for a given selection (section 4): the selection's pattern (its token sets,
// no block stage) through the one executor. out [Hq, L, D] is fully written (zero rows for dropped tokens);
// lse [Hq, L] optional. Extra memory is O(kept * D), not a copy of the layer.
inline Status sparseAttention(const LayerQkvView& qkv, const Selection& selection, View3 out, float* lse,
                              const AttentionConfig& config, StageTimings* timings = nullptr) {
    return runPattern(qkv, selection, BlockSparsePattern{}, out, lse, config, timings);
}

} // namespace tsa
