// Shared steps of the pattern estimators (core/methods/*.cpp): softmax of the last queries of one head,
// top-k with a fixed tie rule, ceil division. Internal to core/methods.
#pragma once

#include "core/tensor.h"

#include <cstdint>
#include <vector>

namespace tsa::methods {

inline Index ceilDiv(Index a, Index b) {
    return (a + b - 1) / b;
}

// p [rows, L]: causal softmax (in fp64) of the last `rows` queries of one head against all keys, logits
// scaled by `scale`: row r is query L - rows + r and sees keys 0 .. L - rows + r; zero beyond.
// q, k: [L, D] of one head (k the query head's kv head). O(rows * L * D).
void lastRowsSoftmax(const float* q, const float* k, Index L, Index D, Index rows, double scale,
                     std::vector<double>& p);

// Indices of the `count` largest values, largest first; equal values in ascending index order (torch's
// topk leaves that order unspecified: the project fixes one). count is clamped to values.size().
std::vector<std::int32_t> topIndices(const std::vector<double>& values, Index count);

} // namespace tsa::methods
