// Tile products of the block-sparse kernel: S = alpha Q K^T from key panels, and O += P V.
//
// Why: a block-sparse pattern visits scattered 128 x 128 tiles, one GEMM pair per tile and query block, and
// OpenBLAS packs both operands of every call; with 128-row query blocks (the methods' block size) that costs
// 1.6x the packing per flop of the dense kernel's 512-row tiles (perf: 20% of the time in sgemm_*copy vs 14%
// for dense, docs/benchmarks.md). Here K is packed once per kv head into panels [ceil(L / 16), D, 16] that
// every query block reuses.
// AVX-512: register tiles of up to 6 query rows x 64 keys (scores: per D step 4 panel loads, 6 broadcasts,
// 24 FMAs) and 6 rows x 64 output columns (P V: per key 4 V-row loads, 6 broadcasts, 24 FMAs), 24 zmm
// accumulators; V rows are read in place.
// AVX2 + FMA (16 ymm registers): 6 rows x 16 keys / 16 output columns (2 loads, 6 broadcasts, 12 FMAs, 12
// accumulators), one panel or one 16-column slice of V at a time, so its 8 KB stay in L1 while every row
// group streams past (the next one is prefetched meanwhile). V is packed too, once per kv head, into
// 16-column slices [D / 16, L, 16]: read in place, the 128 rows of one slice sit 512 bytes apart and map to 8
// of L1's 64 sets, so they kept evicting each other (P V took 1.2x the scores' time; with slices the two are
// even). Both ISAs honour a causal reach (row r needs keys < r + reach), so a segment crossing the diagonal
// costs only the row groups' staircase instead of whole 64-key tiles. Shapes: q [m, D], panels for n keys (n
// a multiple of 16), s [m, n]; p [m, n], v [n, D] or its slices, o [m, D]; D a multiple of 16. Cost: 2 m n D
// flops each (less under a reach), no scratch; packing one head's panels (and AVX2's value slices) is O(L D).
// The arithmetic per element is one fp32 FMA chain over D (scores) or n (P V) in index order, so results
// differ from OpenBLAS's only by rounding. Inside the target regions no header template is instantiated
// (plain arrays, no std::min): such a copy could be the one the linker keeps for the whole program
// (core/kernels/simd_target.h).
#include "core/kernels/attention_tiles.h"

#include "core/kernels/cpu_isa.h"
#include "core/kernels/simd_target.h"

namespace tsa::detail {

#if defined(TSA_X86_KERNELS)

namespace {

using ScoresFn = void (*)(Index, float, const float*, Index, const float*, float*, Index);
using AccumulateFn = void (*)(Index, const float*, Index, const float*, Index, Index, float*, Index);

// Rows [first, first + rows) need keys < first + rows - 1 + reach: the causal bound of a row group. Plain
// arithmetic outside the target regions, shared by both instruction sets' products.
inline Index keysNeeded(Index first, Index rows, Index reach, Index n) {
    const Index need = first + rows - 1 + reach;
    return need < n ? need : n;
}

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
void accumulateTile(Index n, const float* p, Index ldp, const float* v, Index ldv, Index sliceStride,
                    float* o, Index ldo) {
    __m512 acc[R][NC];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < NC; ++c)
            acc[r][c] = _mm512_loadu_ps(o + r * ldo + c * 16);
    for (Index j = 0; j < n; ++j) {
        __m512 b[NC];
        for (int c = 0; c < NC; ++c)
            b[c] = _mm512_loadu_ps(v + j * ldv + c * sliceStride);
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
                      const float* panels, float* s, Index lds, Index reach) {
    for (Index i = 0; i < m; i += 6) {
        const Index rows = m - i < 6 ? m - i : 6;
        const Index keys = (keysNeeded(i, rows, reach, n) + 15) / 16 * 16; // whole panels to the causal bound
        for (Index j0 = 0; j0 < keys; j0 += 64) {
            const Index chunks = (keys - j0) / 16 < 4 ? (keys - j0) / 16 : 4;
            kScores[rows - 1][chunks - 1](dim, alpha, q + i * ldq, ldq, panels + (j0 / 16) * dim * 16,
                                          s + i * lds + j0, lds);
        }
    }
}

void accumulateProbabilities(Index m, Index n, Index dim, const float* p, Index ldp, const float* v,
                             Index ldv, Index sliceStride, float* o, Index ldo, Index reach) {
    for (Index i = 0; i < m; i += 6) {
        const Index rows = m - i < 6 ? m - i : 6;
        const Index need = keysNeeded(i, rows, reach, n);
        for (Index d0 = 0; d0 < dim; d0 += 64) {
            const Index chunks = (dim - d0) / 16 < 4 ? (dim - d0) / 16 : 4;
            kAccumulate[rows - 1][chunks - 1](need, p + i * ldp, ldp, v + (d0 / 16) * sliceStride, ldv,
                                              sliceStride, o + i * ldo + d0, ldo);
        }
    }
}

} // namespace
} // namespace avx512

TSA_TARGET_END

TSA_TARGET_AVX2_BEGIN

namespace avx2 {
namespace {

// The loops over r below are unrolled by pragma, not left to the optimiser: GCC otherwise keeps the
// accumulator array in memory and stores all 12 registers on every step (the 60 GFLOP/s of the first AVX2
// attempt, docs/benchmarks.md).
// s[R, 16] for one panel: per D step 2 panel loads (one cache line), R broadcasts, 2 R FMAs; 12 accumulators
// + 2 operands + 1 broadcast fit AVX2's 16 ymm registers.
template <int R>
void scoresTile(Index dim, float alpha, const float* q, Index ldq, const float* panel, float* s, Index lds) {
    __m256 acc0[R], acc1[R];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r)
        acc0[r] = acc1[r] = _mm256_setzero_ps();
    for (Index d = 0; d < dim; ++d) {
        const __m256 b0 = _mm256_loadu_ps(panel + d * 16);
        const __m256 b1 = _mm256_loadu_ps(panel + d * 16 + 8);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m256 a = _mm256_broadcast_ss(q + r * ldq + d);
            acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);
        }
    }
    const __m256 scale = _mm256_set1_ps(alpha);
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
        _mm256_storeu_ps(s + r * lds, _mm256_mul_ps(scale, acc0[r]));
        _mm256_storeu_ps(s + r * lds + 8, _mm256_mul_ps(scale, acc1[r]));
    }
}

// o[R, 16] += p[R, n] v[n, 16]: per key 2 loads of one V row (one cache line when ldv is a multiple of 16),
// R broadcasts, 2 R FMAs.
template <int R>
void accumulateTile(Index n, const float* p, Index ldp, const float* v, Index ldv, float* o, Index ldo) {
    __m256 acc0[R], acc1[R];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
        acc0[r] = _mm256_loadu_ps(o + r * ldo);
        acc1[r] = _mm256_loadu_ps(o + r * ldo + 8);
    }
    for (Index j = 0; j < n; ++j) {
        const __m256 b0 = _mm256_loadu_ps(v + j * ldv);
        const __m256 b1 = _mm256_loadu_ps(v + j * ldv + 8);
#pragma GCC unroll 6
        for (int r = 0; r < R; ++r) {
            const __m256 a = _mm256_broadcast_ss(p + r * ldp + j);
            acc0[r] = _mm256_fmadd_ps(a, b0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(a, b1, acc1[r]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
        _mm256_storeu_ps(o + r * ldo, acc0[r]);
        _mm256_storeu_ps(o + r * ldo + 8, acc1[r]);
    }
}

// [rows - 1] of the 6 x 16 tiles above.
constexpr ScoresFn kScores[6] = {scoresTile<1>, scoresTile<2>, scoresTile<3>,
                                 scoresTile<4>, scoresTile<5>, scoresTile<6>};
using SliceAccumulateFn = void (*)(Index, const float*, Index, const float*, Index, float*, Index);
constexpr SliceAccumulateFn kAccumulate[6] = {accumulateTile<1>, accumulateTile<2>, accumulateTile<3>,
                                              accumulateTile<4>, accumulateTile<5>, accumulateTile<6>};

void packKeyPanels(const float* keys, Index n, Index dim, Index firstPanel, Index lastPanel, float* panels) {
    const __m256i rowOffsets =
        _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(int(dim)));
    for (Index p = firstPanel; p < lastPanel; ++p) {
        float* dst = panels + p * dim * 16;
        const float* src = keys + p * 16 * dim;
        const Index present = n - p * 16 < 16 ? n - p * 16 : 16;
        if (present == 16) {
            for (Index d = 0; d < dim; ++d) {
                _mm256_storeu_ps(dst + d * 16, _mm256_i32gather_ps(src + d, rowOffsets, 4));
                _mm256_storeu_ps(dst + d * 16 + 8, _mm256_i32gather_ps(src + 8 * dim + d, rowOffsets, 4));
            }
        } else {
            for (Index d = 0; d < dim; ++d)
                for (Index j = 0; j < 16; ++j)
                    dst[d * 16 + j] = j < present ? src[j * dim + d] : 0.0f;
        }
    }
}

// 64-byte copies, key by key: each row is read once, in order, into its dim / 16 slices.
void packValueSlices(const float* values, Index n, Index dim, Index firstKey, Index lastKey, float* slices) {
    for (Index j = firstKey; j < lastKey; ++j)
        for (Index c = 0; c < dim / 16; ++c) {
            const float* src = values + j * dim + c * 16;
            float* dst = slices + (c * n + j) * 16;
            _mm256_storeu_ps(dst, _mm256_loadu_ps(src));
            _mm256_storeu_ps(dst + 8, _mm256_loadu_ps(src + 8));
        }
}

// Six-row groups, except that a remainder of 1 or 2 rows is merged with the group before it and split in
// two (6 + 2 -> 4 + 4): a 2-row tile runs at about half the FMA rate of a 6-row one.
inline Index groupRows(Index i, Index m) {
    const Index left = m - i;
    if (left >= 9 || left <= 6) return left < 6 ? left : 6;
    return left / 2; // 7 -> 3 (+ 4), 8 -> 4 (+ 4)
}

// One panel (16 keys, 8 KB at D = 128) outer, row groups inner: the panel stays in L1 while the rows of q
// stream past it; each row group also prefetches its share of the next panel's cache lines. Row groups whose
// causal bound ends before the panel skip it.
void scoresFromPanels(Index m, Index n, Index dim, float alpha, const float* q, Index ldq,
                      const float* panels, float* s, Index lds, Index reach) {
    const Index groups = (m + 5) / 6;
    const Index share = (dim + groups - 1) / groups; // dim cache lines per panel
    for (Index j0 = 0; j0 < n; j0 += 16) {
        const float* panel = panels + (j0 / 16) * dim * 16;
        const float* next = j0 + 16 < n ? panel + dim * 16 : nullptr;
        Index g = 0;
        for (Index i = 0; i < m; ++g) {
            const Index rows = groupRows(i, m);
            if (next)
                for (Index l = g * share; l < (g + 1) * share && l < dim; ++l)
                    _mm_prefetch(reinterpret_cast<const char*>(next + l * 16), _MM_HINT_T0);
            if (keysNeeded(i, rows, reach, n) > j0)
                kScores[rows - 1](dim, alpha, q + i * ldq, ldq, panel, s + i * lds + j0, lds);
            i += rows;
        }
    }
}

// 16 output columns outer, row groups inner: that n x 16 slice of V stays in L1 while the rows of p stream;
// each row group prefetches its share of the next slice's rows and stops at its causal bound.
void accumulateProbabilities(Index m, Index n, Index dim, const float* p, Index ldp, const float* v,
                             Index ldv, Index sliceStride, float* o, Index ldo, Index reach) {
    const Index groups = (m + 5) / 6;
    const Index share = (n + groups - 1) / groups;
    for (Index d0 = 0; d0 < dim; d0 += 16) {
        const bool prefetch = d0 + 16 < dim;
        Index g = 0;
        for (Index i = 0; i < m; ++g) {
            const Index rows = groupRows(i, m);
            if (prefetch)
                for (Index j = g * share; j < (g + 1) * share && j < n; ++j)
                    _mm_prefetch(reinterpret_cast<const char*>(v + (d0 / 16 + 1) * sliceStride + j * ldv),
                                 _MM_HINT_T0);
            kAccumulate[rows - 1](keysNeeded(i, rows, reach, n), p + i * ldp, ldp,
                                  v + (d0 / 16) * sliceStride, ldv, o + i * ldo + d0, ldo);
            i += rows;
        }
    }
}

} // namespace
} // namespace avx2

TSA_TARGET_END

const TileProducts* tileProducts(Index dim) {
    static const TileProducts avx512Products{avx512::packKeyPanels, avx512::scoresFromPanels, nullptr,
                                             avx512::accumulateProbabilities};
    static const TileProducts avx2Products{avx2::packKeyPanels, avx2::scoresFromPanels, avx2::packValueSlices,
                                           avx2::accumulateProbabilities};
    if (dim <= 0 || dim % 16 != 0 || dim > 512) return nullptr;
    if (activeIsa() == Isa::Avx512) return &avx512Products;
    if (activeIsa() == Isa::Avx2) return &avx2Products;
    return nullptr;
}

#else

const TileProducts* tileProducts(Index) {
    return nullptr;
}

#endif

} // namespace tsa::detail
