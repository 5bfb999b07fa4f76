// Attention for a Pattern (core/methods/pattern.h): the one executor every method runs through, Token Sparse
// Attention alone included. See the .cpp for the algorithm and cost.
#pragma once

#include "core/kernels/attention.h"
#include "core/methods/pattern.h"
#include "core/status.h"
#include "core/tensor.h"

namespace tsa {

// Where a method's time goes. Estimation (scoring, selection) is filled by the method's own pipeline; the
// executor adds gather, attention and scatter.
struct StageTimings {
    double scoringMs = 0;
    double selectionMs = 0;
    double gatherMs = 0;
    double attentionMs =
        0; // the attention on the compact tensors (or over the whole layer without token sets)
    double scatterMs = 0;
    double denseMs = 0; // dense reference, when computed
    double overheadMs() const { return scoringMs + selectionMs + gatherMs + scatterMs; }
    double tsaMs() const { return overheadMs() + attentionMs; }
};

// The two stages of a pattern over one layer: q [Hq, L, D], k/v [Hkv, L, D]. out [Hq, L, D] is fully written,
// dropped rows zero; lse [Hq, L] optional (NaN for dropped rows, -inf for rows computing no key). tokenSets
// empty: no compression; blocks empty: dense causal over the (compressed) sequence. With token sets, blocks
// index compressed positions (blocks.tokens == tokenSets.kept). Takes the stages separately so TSA's
// Selection (a TokenSets) runs without copying its indices into a Pattern.
Status runPattern(const LayerQkvView& qkv, const TokenSets& tokenSets, const BlockSparsePattern& blocks,
                  View3 out, float* lse, const AttentionConfig& config = {}, StageTimings* timings = nullptr);

inline Status runPattern(const LayerQkvView& qkv, const Pattern& pattern, View3 out, float* lse,
                         const AttentionConfig& config = {}, StageTimings* timings = nullptr) {
    return runPattern(qkv, pattern.tokenSets, pattern.blocks, out, lse, config, timings);
}

} // namespace tsa
