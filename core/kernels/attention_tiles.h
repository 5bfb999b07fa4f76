// Tile products for the block-sparse kernel (core/kernels/block_sparse_attention.cpp), one table per
// instruction set that has them (chosen at run time, core/kernels/cpu_isa.h: AVX-512 and AVX2 + FMA), for
// head dimensions that are multiples of 16. See the .cpp for why and the cost.
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
    // (lds). Causal limit: row r needs only keys j < r + reach (pass reach >= n for all); products past it
    // may be skipped, leaving those entries of s unwritten (the softmax masks them).
    void (*scoresFromPanels)(Index m, Index n, Index dim, float alpha, const float* q, Index ldq,
                             const float* panels, float* s, Index lds, Index reach);
    // Value slices of one head, or null where P V reads V's rows in place: values [n, D] row-major -> slices
    // [D / 16, n, 16] (slice c holds columns 16c .. 16c+15 of every key, 64 bytes per key), for keys
    // firstKey .. lastKey-1 only (the caller splits the work across threads).
    void (*packValueSlices)(const float* values, Index n, Index dim, Index firstKey, Index lastKey,
                            float* slices);
    // o[m, D] += p[m, n] v[n, D], row-major p and o with leading dimensions. Columns 16c .. 16c+15 of V's row
    // j are read at v + c * sliceStride + j * ldv: in place (ldv = D, sliceStride = 16) or from value slices
    // (ldv = 16, sliceStride = 16 L). p[r, j] must be zero for j >= r + reach (those terms may be skipped).
    void (*accumulateProbabilities)(Index m, Index n, Index dim, const float* p, Index ldp, const float* v,
                                    Index ldv, Index sliceStride, float* o, Index ldo, Index reach);
};

// The products of activeIsa() for head dimension dim, or null where there are none (portable path, dim not a
// multiple of 16 or above 512): the caller then uses the OpenBLAS products.
const TileProducts* tileProducts(Index dim);

} // namespace tsa::detail
