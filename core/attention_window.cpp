// Window attention mass (one head): raw[j] = mean over the last W queries of their causal softmax
// probability on key j, j < P = L - W. Shapes: queries [W, D], keys [L, D], logits scratch [W, L].
// Pass 1, per key tile of 512 (L2-resident): S = (log2 e / sqrt(D)) Q K_tile^T by GEMM into the [W, L]
// scratch, then each row's running max and sum of 2^(s - max) (online softmax, masked past the row's own
// position). Pass 2, per prefix key tile: p = 2^(s - max - log2 sum) summed down the W rows into the
// tile's column sums. Cost: 2 W L D flops, 2 W L exp2, two streaming passes over W L floats.
#include "core/attention_window.h"

#include "core/attention_exp.h"
#include "core/attention_gemm.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tsa {

namespace {
constexpr Index kKeyTile = 512;
constexpr float kLog2e = 1.4426950408889634f;
} // namespace

void windowAttentionMass(const float* queries, const float* keys, Index tokens, Index window, Index dim,
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
            const float m = std::max(rowMax[r], detail::rowMax(row, valid));
            const float tileSum = detail::exp2SubSum(row, valid, m);
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
            detail::exp2SubAccumulate(s + r * L + k0, cols, rowLog[r], column);
        for (Index j = 0; j < cols; ++j)
            raw[k0 + j] = column[j] * invW;
    }
}

} // namespace tsa
