// Tile products for the block-sparse kernel (core/kernels/block_sparse_attention.cpp), one table per
// instruction set that has them (chosen at run time, core/kernels/cpu_isa.h: AVX-512 today), for head
// dimensions that are multiples of 16. See the .cpp for why and the cost.
#pragma once

#include "core/tensor.h"

namespace tsa::detail {

struct TileProducts {
    // Key panels of one head: keys [n, D] row-major -> panels [ceil(n / 16), D, 16] (panel p holds keys
    // 16p .. 16p+15, dimension-major), zero padded past n. Panels first .. last-1 only (the caller splits the
    // work across threads).
    void (*packKeyPanels)(const float* keys, Index n, Index dim, Index firstPanel, Index lastPanel,
                          float* panels);
    // s[m, n] = alpha * q[m, D] k^T for n keys (a multiple of 16) whose panels start at `panels` (the panel
    // of the first key: keys must start on a multiple of 16). Row-major q (leading dimension ldq) and s
    // (lds).
    void (*scoresFromPanels)(Index m, Index n, Index dim, float alpha, const float* q, Index ldq,
                             const float* panels, float* s, Index lds);
    // o[m, D] += p[m, n] v[n, D], row-major with leading dimensions; V rows are read in place (no packing).
    void (*accumulateProbabilities)(Index m, Index n, Index dim, const float* p, Index ldp, const float* v,
                                    Index ldv, float* o, Index ldo);
};

// The products of activeIsa() for head dimension dim, or null where there are none (AVX2 and portable paths,
// dim not a multiple of 16 or above 512): the caller then uses the OpenBLAS products.
const TileProducts* tileProducts(Index dim);

} // namespace tsa::detail
