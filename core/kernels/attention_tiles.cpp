// Tile products of the block-sparse kernel: S = alpha Q K^T from key panels, and O += P V.
//
// Why: a block-sparse pattern visits scattered 128 x 128 tiles, one GEMM pair per tile and query block, and
// OpenBLAS packs both operands of every call; with 128-row query blocks (the methods' block size) that costs
// 1.6x the packing per flop of the dense kernel's 512-row tiles (perf: 20% of the time in sgemm_*copy vs 14%
// for dense, docs/benchmarks.md). Here K is packed once per kv head into panels [ceil(L / 16), D, 16] that
// every query block reuses, and V needs no packing at all (its rows are already contiguous along D).
// Register tiles (AVX-512): up to 6 query rows x 64 keys (scores: per D step 4 panel loads, 6 broadcasts,
// 24 FMAs) and 6 rows x 64 output columns (P V: per key 4 V-row loads, 6 broadcasts, 24 FMAs), 24 zmm
// accumulators. AVX2-only CPUs keep OpenBLAS's products (see tileProducts).
// Shapes: q [m, D], panels for n keys (n a multiple of 16), s [m, n]; p [m, n], v [n, D], o [m, D]; D a
// multiple of 16. Cost: 2 m n D flops each, no scratch; packing one head's panels is one gather per 16 keys
// and dimension (O(L D)). The arithmetic per element is one fp32 FMA chain over D (scores) or n (P V) in
// index order, so results differ from OpenBLAS's only by rounding. Inside the target region no header
// template is instantiated (plain arrays, no std::min): such a copy could be the one the linker keeps for the
// whole program (core/kernels/simd_target.h).
#include "core/kernels/attention_tiles.h"

#include "core/kernels/cpu_isa.h"
#include "core/kernels/simd_target.h"

namespace tsa::detail {

#if defined(TSA_X86_KERNELS)

namespace {

using ScoresFn = void (*)(Index, float, const float*, Index, const float*, float*, Index);
using AccumulateFn = void (*)(Index, const float*, Index, const float*, Index, float*, Index);

} // namespace

TSA_TARGET_AVX512_BEGIN

namespace avx512 {
namespace {

template <int R, int NC>
void scoresTile(Index dim, float alpha, const float* q, Index ldq, const float* panels, float* s, Index lds) {
    __m512 acc[R][NC];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < NC; ++c)
            acc[r][c] = _mm512_setzero_ps();
    const Index panelStride = dim * 16;
    for (Index d = 0; d < dim; ++d) {
        __m512 b[NC];
        for (int c = 0; c < NC; ++c)
            b[c] = _mm512_loadu_ps(panels + c * panelStride + d * 16);
        for (int r = 0; r < R; ++r) {
            const __m512 a = _mm512_set1_ps(q[r * ldq + d]);
            for (int c = 0; c < NC; ++c)
                acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
    const __m512 scale = _mm512_set1_ps(alpha);
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < NC; ++c)
            _mm512_storeu_ps(s + r * lds + c * 16, _mm512_mul_ps(scale, acc[r][c]));
}

template <int R, int NC>
void accumulateTile(Index n, const float* p, Index ldp, const float* v, Index ldv, float* o, Index ldo) {
    __m512 acc[R][NC];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < NC; ++c)
            acc[r][c] = _mm512_loadu_ps(o + r * ldo + c * 16);
    for (Index j = 0; j < n; ++j) {
        __m512 b[NC];
        for (int c = 0; c < NC; ++c)
            b[c] = _mm512_loadu_ps(v + j * ldv + c * 16);
        for (int r = 0; r < R; ++r) {
            const __m512 a = _mm512_set1_ps(p[r * ldp + j]);
            for (int c = 0; c < NC; ++c)
                acc[r][c] = _mm512_fmadd_ps(a, b[c], acc[r][c]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < NC; ++c)
            _mm512_storeu_ps(o + r * ldo + c * 16, acc[r][c]);
}

// [rows - 1][16-wide chunks - 1] of the instantiations above.
#define TSA_TILE_ROW(fn, R)                                                                                  \
    { fn<R, 1>, fn<R, 2>, fn<R, 3>, fn<R, 4> }
constexpr ScoresFn kScores[6][4] = {TSA_TILE_ROW(scoresTile, 1), TSA_TILE_ROW(scoresTile, 2),
                                    TSA_TILE_ROW(scoresTile, 3), TSA_TILE_ROW(scoresTile, 4),
                                    TSA_TILE_ROW(scoresTile, 5), TSA_TILE_ROW(scoresTile, 6)};
constexpr AccumulateFn kAccumulate[6][4] = {TSA_TILE_ROW(accumulateTile, 1), TSA_TILE_ROW(accumulateTile, 2),
                                            TSA_TILE_ROW(accumulateTile, 3), TSA_TILE_ROW(accumulateTile, 4),
                                            TSA_TILE_ROW(accumulateTile, 5), TSA_TILE_ROW(accumulateTile, 6)};
#undef TSA_TILE_ROW

// One gather per dimension: 16 keys' d-th elements (rows dim floats apart) into one panel row.
void packKeyPanels(const float* keys, Index n, Index dim, Index firstPanel, Index lastPanel, float* panels) {
    const __m512i rowOffsets = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(int(dim)));
    for (Index p = firstPanel; p < lastPanel; ++p) {
        float* dst = panels + p * dim * 16;
        const float* src = keys + p * 16 * dim;
        const Index present = n - p * 16 < 16 ? n - p * 16 : 16;
        const __mmask16 live = __mmask16((1u << present) - 1u);
        for (Index d = 0; d < dim; ++d)
            _mm512_storeu_ps(dst + d * 16,
                             _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, rowOffsets, src + d, 4));
    }
}

void scoresFromPanels(Index m, Index n, Index dim, float alpha, const float* q, Index ldq,
                      const float* panels, float* s, Index lds) {
    for (Index i = 0; i < m; i += 6) {
        const Index rows = m - i < 6 ? m - i : 6;
        for (Index j0 = 0; j0 < n; j0 += 64) {
            const Index chunks = (n - j0) / 16 < 4 ? (n - j0) / 16 : 4;
            kScores[rows - 1][chunks - 1](dim, alpha, q + i * ldq, ldq, panels + (j0 / 16) * dim * 16,
                                          s + i * lds + j0, lds);
        }
    }
}

void accumulateProbabilities(Index m, Index n, Index dim, const float* p, Index ldp, const float* v,
                             Index ldv, float* o, Index ldo) {
    for (Index i = 0; i < m; i += 6) {
        const Index rows = m - i < 6 ? m - i : 6;
        for (Index d0 = 0; d0 < dim; d0 += 64) {
            const Index chunks = (dim - d0) / 16 < 4 ? (dim - d0) / 16 : 4;
            kAccumulate[rows - 1][chunks - 1](n, p + i * ldp, ldp, v + d0, ldv, o + i * ldo + d0, ldo);
        }
    }
}

} // namespace
} // namespace avx512

TSA_TARGET_END

const TileProducts* tileProducts(Index dim) {
    static const TileProducts avx512Products{avx512::packKeyPanels, avx512::scoresFromPanels,
                                             avx512::accumulateProbabilities};
    if (dim <= 0 || dim % 16 != 0 || dim > 512) return nullptr;
    // AVX2 + FMA keeps OpenBLAS's products: a 6 x 16 ymm tile (12 accumulators, 2 loads and 6 broadcasts per
    // 12 FMAs) ran at 0.54-0.67 of ideal against OpenBLAS Haswell's 0.71-0.93 on random tiles
    // (docs/benchmarks.md); a better AVX2 tile is still to do.
    return activeIsa() == Isa::Avx512 ? &avx512Products : nullptr;
}

#else

const TileProducts* tileProducts(Index) {
    return nullptr;
}

#endif

} // namespace tsa::detail
