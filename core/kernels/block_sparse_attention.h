// Block-sparse causal attention: computes only the key spans and columns a BlockSparsePattern selects,
// with the dense kernel's online softmax (core/kernels/attention.cpp). See the .cpp for the algorithm and
// cost.
#pragma once

#include "core/kernels/attention.h"
#include "core/methods/pattern.h"
#include "core/status.h"
#include "core/tensor.h"

namespace tsa {

// q [Hq, n, D], k/v [Hkv, n, D] (Hq a multiple of Hkv: query head h reads kv head h / (Hq / Hkv)),
// out [Hq, n, D], lse [Hq, n] optional (natural-log denominators over the computed keys; -inf and a zero
// output row for a row that computes no key). pattern.tokens must equal n and pattern.qHeads Hq. An empty
// pattern runs dense. The query tile is pattern.blockRows (config.queryTile is ignored); the key tile is
// config.keyTile. With a full pattern the result is bit-identical to causalAttention with queryTile =
// blockRows and the same keyTile, and so are the rows of every query block that computes all its keys.
Status blockSparseAttention(ConstView3 q, ConstView3 k, ConstView3 v, const BlockSparsePattern& pattern,
                            View3 out, float* lse, const AttentionConfig& config = {});

} // namespace tsa
