// Causal attention kernels. All take non-owning views in the [heads, tokens, dim] layout; grouped-query
// attention is expressed by q.heads being a multiple of k.heads (query head h reads kv head h / group).
#pragma once

#include "core/status.h"
#include "core/tensor.h"

#include <atomic>

namespace tsa {

struct AttentionConfig {
    Index queryTile = 0; // rows of Q processed together; 0: automatic (up to 512, fewer for small problems)
    Index keyTile = 128; // keys per online-softmax step
    int threads = 0;     // 0: OpenMP default
    const std::atomic<bool>* cancel = nullptr; // checked between tiles; Status Cancelled when set
};

// Flash-style causal attention: out[h, i] = softmax_j<=i(q_i . k_j / sqrt(D)) v_j, fp32, no L x L matrix.
// lse, when not null, receives [q.heads, L] natural-log softmax denominators of the scaled logits
// (logsumexp_j<=i of q_i.k_j/sqrt(D)), which lets callers compare attention mass between two runs.
Status causalAttention(ConstView3 q, ConstView3 k, ConstView3 v, View3 out, float* lse,
                       const AttentionConfig& config = {});

// Plain fp64 reference: O(L^2 D) time, O(L) extra memory per row. out is [q.heads, L, D] in double,
// lse (optional) [q.heads, L]. For tests and for checking every fast path.
void referenceCausalAttention(ConstView3 q, ConstView3 k, ConstView3 v, double* out, double* lse);

} // namespace tsa
