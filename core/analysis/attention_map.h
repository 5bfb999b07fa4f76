// Block-aggregated causal attention of one query head, for the explorer's attention map: the L x L matrix
// p_ij never exists. Rows are processed block by block (a sample of rows per block on long contexts), each
// row's softmax is normalised with its logsumexp (given, e.g. from the dense kernel, or computed on the
// fly), and probabilities are summed into B column blocks. Cost: O(sampled rows * L * D), memory O(B^2).
#pragma once

#include "core/status.h"
#include "core/tensor.h"

#include <atomic>
#include <vector>

namespace tsa {

struct AttentionMapConfig {
    Index blocks = 128;      // B at most: blocks are ceil(L / B) tokens wide (the last one shorter)
    Index rowsPerBlock = 16; // rows sampled per row block; every row when the block is not larger
    int threads = 0;         // 0: OpenMP default
    const std::atomic<bool>* cancel = nullptr;
};

struct AttentionMap {
    Index head = 0;
    Index tokens = 0;
    Index blocks = 0;
    Index blockSize = 0;            // tokens per block; the last block may be shorter
    std::vector<Index> blockStart;  // [B + 1]: block b covers tokens blockStart[b] .. blockStart[b+1]-1
    std::vector<Index> sampledRows; // [B]: rows that went into each row block's average
    // [B, B] row-major: mean over the sampled rows i of row block r of sum_{j in column block c, j <= i}
    // p_ij. Each row sums to 1 (up to rounding); blocks above the diagonal are 0.
    std::vector<float> mass;

    float at(Index r, Index c) const { return mass[std::size_t(r * blocks + c)]; }
};

// q: [Hq, L, D], k: [Hkv, L, D]; head: query head (reads kv head head / (Hq / Hkv)). lse, when not null, is
// the head's [L] natural-log softmax denominator of the scaled logits; otherwise it is computed per row.
Result<AttentionMap> computeAttentionMap(ConstView3 q, ConstView3 k, Index head, const float* lse,
                                         const AttentionMapConfig& config = {});

} // namespace tsa
