// Attention mass that the last W queries put on each key, for one head: the scoring step of Token Sparse
// Attention (spec section 3, steps 1-2), as a tiled GEMM plus vectorised exp2 instead of a scalar loop.
#pragma once

#include "core/tensor.h"

#include <vector>

namespace tsa {

// queries: the W window query rows [W, D] (positions P .. L-1, P = tokens - window); keys: all [tokens, D]
// keys of the head's kv head. Writes raw[j] = (1/W) * sum_r p_{P+r, j} for j < P, where p is the causal
// softmax of query P+r over keys 0 .. P+r (window keys count in the denominator, as in the spec).
// scratch: reused between calls (grows to W * tokens floats). Single-threaded: callers parallelise over
// heads. Cost 2 * W * tokens * D flops plus 2 * W * tokens exp2.
void windowAttentionMass(const float* queries, const float* keys, Index tokens, Index window, Index dim,
                         float* raw, std::vector<float>& scratch);

namespace detail {
// The tile-product implementation (OpenBLAS or Eigen, with the active ISA's row primitives), used where the
// CPU or TSA_ISA rules out the AVX-512 micro-kernel; exposed so tests cover both on any machine.
void windowAttentionMassGemm(const float* queries, const float* keys, Index tokens, Index window, Index dim,
                             float* raw, std::vector<float>& scratch);
} // namespace detail

} // namespace tsa
