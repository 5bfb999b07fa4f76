// XAttention (Xu et al. 2025) as the Token Sparse Attention authors ran it:
// ../shared/reference/official-tsa/sparse_attn/xattention/xattention.py (xattn_estimate, torch path,
// select_mode "inverse") and utils.py (find_blocks_chunked). Procedure in docs/methods.md.
#pragma once

#include "core/methods/pattern.h"
#include "core/status.h"
#include "core/tensor.h"

#include <string>

namespace tsa {

struct XAttentionConfig {
    Index blockSize = 128;  // query and key block (main.py --block_size)
    Index stride = 16;      // antidiagonal stride (main.py --xattention_stride)
    double threshold = 0.9; // share of each query block's estimated mass to keep (main.py)
    double norm = 1.0;      // logits / sqrt(D) / stride / norm (xattn_estimate's default)
    std::string validate() const;
};

// q [Hq, n, D], k [Hkv, n, D] post-RoPE. Blocks: a tile mask of blockSize tiles.
Result<Pattern> xattentionPattern(ConstView3 q, ConstView3 k, const XAttentionConfig& config);

} // namespace tsa
