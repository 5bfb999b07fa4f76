// AVX-512 tile products for the block-sparse kernel (core/kernels/block_sparse_attention.cpp), used where the
// CPU has AVX-512 (core/kernels/cpu_isa.h) and the head dimension is a multiple of 16. See the .cpp for why
// and the cost.
#pragma once

#include "core/tensor.h"

namespace tsa::detail {

// True when the kernels below may run: activeIsa() is AVX-512 and dim is a multiple of 16 up to 512.
bool avx512TilesAvailable(Index dim);

// Key panels of one head: keys [n, D] row-major -> panels [ceil(n / 16), D, 16] (panel p holds keys
// 16p .. 16p+15, dimension-major), zero padded past n. Panels first .. last-1 only (the caller splits the
// work across threads).
void packKeyPanels(const float* keys, Index n, Index dim, Index firstPanel, Index lastPanel, float* panels);

// s[m, n] = alpha * q[m, D] k^T for n keys (a multiple of 16) whose panels start at `panels` (the panel of
// the first key: keys must start on a multiple of 16). Row-major q (leading dimension ldq) and s (lds).
void scoresFromPanels(Index m, Index n, Index dim, float alpha, const float* q, Index ldq,
                      const float* panels, float* s, Index lds);

// o[m, D] += p[m, n] v[n, D], row-major with leading dimensions; V rows are read in place (no packing).
void accumulateProbabilities(Index m, Index n, Index dim, const float* p, Index ldp, const float* v,
                             Index ldv, float* o, Index ldo);

} // namespace tsa::detail
