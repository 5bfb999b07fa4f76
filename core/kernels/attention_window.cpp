// Window attention mass (one head): raw[j] = mean over the last W queries of their causal softmax
// probability on key j, j < P = L - W. Shapes: queries [W, D], keys [L, D], logits scratch [W, L].
// Pass 1, per key tile (L2-resident): S = (log2 e / sqrt(D)) Q K_tile^T, stored for pass 2, and each query's
// running max and sum of 2^(s - max) (online softmax, masked past the query's own position). Pass 2, per
// prefix key: p = 2^(s - max - log2 sum) summed over the W queries. Cost: 2 W L D flops, 2 W L exp2, one
// write and one read of the W L logits.
// Two implementations, chosen at run time (core/kernels/cpu_isa.h): on AVX-512 CPUs, a micro-kernel on the
// transposed window ([D, W], packed once) that reads K rows in place and writes logits as [L, W] (the
// statistics become element-wise vector operations), compiled in a target region so a baseline build has
// it too; otherwise OpenBLAS/Eigen tile products into [W, L] with the AVX2 or portable row primitives.
#include "core/kernels/attention_window.h"

#include "core/kernels/attention_exp.h"
#include "core/kernels/attention_gemm.h"
#include "core/kernels/simd_target.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tsa {

namespace {
constexpr Index kKeyTile = 512;
constexpr float kLog2e = 1.4426950408889634f;
} // namespace

namespace detail {

void windowAttentionMassGemm(const float* queries, const float* keys, Index tokens, Index window, Index dim,
                             float* raw, std::vector<float>& scratch) {
    const Index W = window, L = tokens, P = tokens - window;
    if (W <= 0 || P <= 0) return;
    // Scratch layout: logits [W, L], a [W, key tile] GEMM target, per row max and log2 of the sum, a
    // column accumulator. The GEMM writes into the L2-resident tile (OpenBLAS first clears its output,
    // a wasted pass over memory if that were the [W, L] buffer); the max/sum pass then copies it out.
    const std::size_t need = std::size_t(W * L + W * kKeyTile + 2 * W + kKeyTile);
    if (scratch.size() < need) scratch.resize(need);
    float* s = scratch.data();
    float* tile = s + W * L;
    float* rowMax = tile + W * kKeyTile;
    float* rowLog = rowMax + W;
    float* column = rowLog + W;
    std::vector<double> rowSum(static_cast<std::size_t>(W), 0.0); // one small allocation per head
    std::fill(rowMax, rowMax + W, -std::numeric_limits<float>::infinity());
    const float scale = kLog2e / std::sqrt(float(dim));
    const RowKernels& rk = rowKernels();

    detail::prepareTileGemmThreads();
    for (Index k0 = 0; k0 < L; k0 += kKeyTile) {
        const Index cols = std::min(kKeyTile, L - k0);
        // Row r (query P+r) sees keys up to P+r: rows before r0 see none of this tile.
        const Index r0 = std::max<Index>(0, k0 - P);
        if (r0 >= W) break;
        detail::gemmScaledNT(W - r0, cols, dim, scale, queries + r0 * dim, dim, keys + k0 * dim, dim,
                             tile + r0 * cols, cols);
        for (Index r = r0; r < W; ++r) {
            const float* row = tile + r * cols;
            const Index valid = std::min(cols, P + r - k0 + 1);
            const float m = std::max(rowMax[r], rk.rowMax(row, valid));
            const float tileSum = rk.exp2SubSum(row, valid, m);
            rowSum[r] = rowSum[r] * double(detail::exp2Scalar(rowMax[r] - m)) + double(tileSum);
            rowMax[r] = m;
            // Only prefix keys are read again (pass 2).
            if (k0 < P) std::copy(row, row + std::min(cols, P - k0), s + r * L + k0);
        }
    }
    for (Index r = 0; r < W; ++r)
        rowLog[r] = rowMax[r] + float(std::log2(rowSum[r]));

    const float invW = 1.0f / float(W);
    for (Index k0 = 0; k0 < P; k0 += kKeyTile) {
        const Index cols = std::min(kKeyTile, P - k0);
        std::fill(column, column + cols, 0.0f);
        for (Index r = 0; r < W; ++r)
            rk.exp2SubAccumulate(s + r * L + k0, cols, rowLog[r], column);
        for (Index j = 0; j < cols; ++j)
            raw[k0 + j] = column[j] * invW;
    }
}

} // namespace detail

} // namespace tsa

#ifdef TSA_X86_KERNELS
TSA_TARGET_AVX512_BEGIN
#include "core/kernels/attention_exp_avx2.h"

namespace tsa {
namespace {

constexpr Index kQueryBlock = 32; // queries per micro-kernel call

// AVX-512 (also on Zen 4, where it is double-pumped): 2 x 16 queries x 8 keys = 16 accumulators, the key
// element broadcast straight from memory inside the FMA; 2 + 8 loads per 16 FMAs keeps it FMA-bound.
constexpr int kKeyBlock = 8;

template <int NK>
inline void logitKernel(const float* qt, Index ldq, const float* keys, Index dim, float scale, float* out,
                        Index ldo) {
    __m512 acc[NK][2];
    for (int kk = 0; kk < NK; ++kk)
        acc[kk][0] = acc[kk][1] = _mm512_setzero_ps();
    for (Index d = 0; d < dim; ++d) {
        const __m512 q0 = _mm512_loadu_ps(qt + d * ldq);
        const __m512 q1 = _mm512_loadu_ps(qt + d * ldq + 16);
        for (int kk = 0; kk < NK; ++kk) {
            const __m512 b = _mm512_set1_ps(keys[kk * dim + d]);
            acc[kk][0] = _mm512_fmadd_ps(q0, b, acc[kk][0]);
            acc[kk][1] = _mm512_fmadd_ps(q1, b, acc[kk][1]);
        }
    }
    const __m512 sv = _mm512_set1_ps(scale);
    for (int kk = 0; kk < NK; ++kk) {
        _mm512_storeu_ps(out + kk * ldo, _mm512_mul_ps(acc[kk][0], sv));
        _mm512_storeu_ps(out + kk * ldo + 16, _mm512_mul_ps(acc[kk][1], sv));
    }
}
// Up to kKeyBlock - 1 remaining keys.
template <int NK = kKeyBlock - 1>
inline void logitTail(Index n, const float* qt, Index ldq, const float* keys, Index dim, float scale,
                      float* out, Index ldo) {
    if constexpr (NK > 0) {
        if (n == NK) return logitKernel<NK>(qt, ldq, keys, dim, scale, out, ldo);
        logitTail<NK - 1>(n, qt, ldq, keys, dim, scale, out, ldo);
    }
}

// Transposed layout: logits are [L, Wp] (one row per key, Wp = W rounded up to 32, padded queries are zero
// and excluded at the end), so the per-query softmax statistics are element-wise vector operations down the
// key rows and each key's mass is one horizontal sum.
void windowMassTransposed(const float* queries, const float* keys, Index tokens, Index window, Index dim,
                          float* raw, std::vector<float>& scratch) {
    const Index W = window, L = tokens, P = tokens - window;
    const Index Wp = (W + kQueryBlock - 1) / kQueryBlock * kQueryBlock;
    const std::size_t need = std::size_t(L * Wp + dim * Wp + 5 * Wp);
    if (scratch.size() < need) scratch.resize(need);
    float* s = scratch.data();     // [L, Wp]
    float* qt = s + L * Wp;        // [D, Wp]
    float* rowMax = qt + dim * Wp; // running max per query
    float* tileMax = rowMax + Wp;
    float* tileSum = tileMax + Wp;
    float* shift = tileSum + Wp; // max + log2(sum) per query, +inf for padding
    std::vector<double> rowSum(static_cast<std::size_t>(Wp), 0.0); // one small allocation per head
    std::fill(qt, qt + dim * Wp, 0.0f);
    for (Index r = 0; r < W; ++r)
        for (Index d = 0; d < dim; ++d)
            qt[d * Wp + r] = queries[r * dim + d];
    std::fill(rowMax, rowMax + Wp, -std::numeric_limits<float>::infinity());
    const float scale = kLog2e / std::sqrt(float(dim));
    const float negInf = -std::numeric_limits<float>::infinity();

    constexpr Index kTile = 256; // keys per statistics step: [256, Wp] logits stay in L2
    for (Index k0 = 0; k0 < L; k0 += kTile) {
        const Index cols = std::min(kTile, L - k0);
        float* tile = s + k0 * Wp;
        for (Index r0 = 0; r0 < Wp; r0 += kQueryBlock) {
            Index j = 0;
            for (; j + kKeyBlock <= cols; j += kKeyBlock)
                logitKernel<kKeyBlock>(qt + r0, Wp, keys + (k0 + j) * dim, dim, scale, tile + j * Wp + r0,
                                       Wp);
            logitTail(cols - j, qt + r0, Wp, keys + (k0 + j) * dim, dim, scale, tile + j * Wp + r0, Wp);
        }
        // Causal mask inside the window: key P+t is visible to queries r >= t only.
        for (Index j = std::max(k0, P); j < k0 + cols; ++j)
            std::fill(tile + (j - k0) * Wp, tile + (j - k0) * Wp + (j - P), negInf);
        std::fill(tileMax, tileMax + Wp, negInf);
        for (Index j = 0; j < cols; ++j)
            for (Index r = 0; r < Wp; r += 8)
                _mm256_storeu_ps(tileMax + r, _mm256_max_ps(_mm256_loadu_ps(tileMax + r),
                                                            _mm256_loadu_ps(tile + j * Wp + r)));
        for (Index r = 0; r < Wp; ++r)
            tileMax[r] = std::max(tileMax[r], rowMax[r]);
        std::fill(tileSum, tileSum + Wp, 0.0f);
        for (Index j = 0; j < cols; ++j)
            for (Index r = 0; r < Wp; r += 8) {
                const __m256 e = detail::exp2Avx2(
                    _mm256_sub_ps(_mm256_loadu_ps(tile + j * Wp + r), _mm256_loadu_ps(tileMax + r)));
                _mm256_storeu_ps(tileSum + r, _mm256_add_ps(_mm256_loadu_ps(tileSum + r), e));
            }
        for (Index r = 0; r < Wp; ++r) {
            rowSum[r] = rowSum[r] * double(detail::exp2Scalar(rowMax[r] - tileMax[r])) + double(tileSum[r]);
            rowMax[r] = tileMax[r];
        }
    }
    for (Index r = 0; r < Wp; ++r)
        shift[r] = r < W ? rowMax[r] + float(std::log2(rowSum[r])) : std::numeric_limits<float>::infinity();

    const float invW = 1.0f / float(W);
    for (Index j = 0; j < P; ++j) {
        const float* row = s + j * Wp;
        __m256 acc = _mm256_setzero_ps();
        for (Index r = 0; r < Wp; r += 8)
            acc = _mm256_add_ps(
                acc, detail::exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(row + r), _mm256_loadu_ps(shift + r))));
        raw[j] = detail::horizontalSum(acc) * invW;
    }
}

} // namespace
} // namespace tsa
TSA_TARGET_END
#endif

namespace tsa {

void windowAttentionMass(const float* queries, const float* keys, Index tokens, Index window, Index dim,
                         float* raw, std::vector<float>& scratch) {
    if (window <= 0 || tokens - window <= 0) return;
        // The transposed micro-kernel measured 15.8 ms against 19.5 for the OpenBLAS tiles at L = 32K (one
        // head, one thread); its AVX2 form (no embedded broadcast, 16 registers) was slower than OpenBLAS.
#ifdef TSA_X86_KERNELS
    if (activeIsa() == Isa::Avx512)
        return windowMassTransposed(queries, keys, tokens, window, dim, raw, scratch);
#endif
    detail::windowAttentionMassGemm(queries, keys, tokens, window, dim, raw, scratch);
}

} // namespace tsa
