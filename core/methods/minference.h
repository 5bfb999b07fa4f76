// MInference vertical-slash (Jiang et al. 2024) as the Token Sparse Attention authors ran it:
// ../shared/reference/official-tsa/sparse_attn/minference/minference.py (Minference_prefill) with the
// index conversion and kernel semantics of MInference's vertical_slash_sparse_attention
// (../shared/reference/minference/pit_sparse_flash_attention_v2.py). Procedure in docs/methods.md.
#pragma once

#include "core/methods/pattern.h"
#include "core/status.h"
#include "core/tensor.h"

#include <string>

namespace tsa {

struct MInferenceConfig {
    double adaptiveBudget = 0.1; // budget = int(n * this); 0: use verticalSize / slashSize (main.py: 0.1)
    double verticalShare = 0.2;  // vertical_size = int(budget * 0.2)
    double slashShare = 0.8;     // slash_size = int(budget * 0.8)
    Index verticalSize = 1000;   // fixed sizes when adaptiveBudget is 0 (Minference_prefill's defaults)
    Index slashSize = 6096;
    Index minVertical = 30;      // vertical_size = min(n, max(vertical_size, 30))
    Index minSlash = 50;         // slash_size = min(n, max(slash_size, 50))
    Index lastQueries = 64;      // the queries whose attention is estimated
    Index forcedColumns = 30;    // first columns always kept
    Index forcedDiagonals = 100; // nearest diagonals always kept
    Index blockRows = 64;        // query rows per block and width of a slash range (the kernel's 64)
    Index scoreHeadDim = 128;    // the estimate divides logits by sqrt(128) whatever the head dim; 0: real D

    // Empty when valid, else a message naming the parameter.
    std::string validate() const;
};

// q [Hq, n, D], k [Hkv, n, D] post-RoPE (query head h uses kv head h / (Hq / Hkv), as repeat_kv does).
// Fills blocks (64-row query blocks, merged slash spans, uncovered vertical columns) and, per head,
// vertical (ascending) and slash offsets (descending).
Result<Pattern> minferencePattern(ConstView3 q, ConstView3 k, const MInferenceConfig& config);

} // namespace tsa
