// FlexPrefill (Lai et al. 2025) as the Token Sparse Attention authors ran it:
// ../shared/reference/official-tsa/sparse_attn/flexprefill/flexprefill.py (Flexprefill_prefill,
// get_active_blocks) with the hijack's arguments. Procedure in docs/methods.md.
#pragma once

#include "core/methods/pattern.h"
#include "core/status.h"
#include "core/tensor.h"

#include <string>

namespace tsa {

struct FlexPrefillConfig {
    Index blockSize = 128;    // query and key block (main.py --block_size)
    double gamma = 0.95;      // attention mass to cover (main.py --gamma)
    double tau = 0.1;         // sqrt-JS threshold: below it a head is query-aware (main.py --tau)
    Index minBudget = 1024;   // tokens; ceil(/ block) blocks at least (the hijack's min_budget)
    Index maxBudget = 0;      // tokens; 0: none (the hijack passes none)
    Index coverDivisor = 128; // score_cover_topk(...) // 128 + 1: the reference divides token counts by a
                              // literal 128 whatever the block size
    std::string validate() const;
};

// Per head: which branch ran (true: query-aware) and the sqrt-JS divergence that decided it.
struct FlexPrefillHeads {
    std::vector<bool> queryAware;
    std::vector<double> divergence;
};

// q [Hq, n, D], k [Hkv, n, D] post-RoPE. The pattern's blocks are a tile mask of blockSize tiles (empty
// pattern: the sequence is too short and runs dense, as Flexprefill_prefill falls back to flash
// attention). vertical / slash hold the chosen vertical blocks and slash block offsets per head.
Result<Pattern> flexprefillPattern(ConstView3 q, ConstView3 k, const FlexPrefillConfig& config,
                                   FlexPrefillHeads* heads = nullptr);

} // namespace tsa
