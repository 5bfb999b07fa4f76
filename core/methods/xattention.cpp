// XAttention pattern estimation, per query head (n tokens, stride s, block b, R = ceil(n / s)):
//   1. Antidiagonal scoring: reshaped query r = [q(rs + s - 1), q(rs + s - 2), ..., q(rs)], reshaped key
//      r' = [k(r's), ..., k(r's + s - 1)] (zero rows past n), so their dot product sums one antidiagonal
//      of the s x s tile. Logits / sqrt(D) / s / norm, causal in reshaped space (r' <= r), softmax per row.
//   2. Block sums: A[B, C] = sum of the probabilities of reshaped rows in query block B (b / s rows) and
//      columns in key block C.
//   3. Per query block B: blocks 0 and B forced; the others in descending A order are kept while the sum
//      of what is already kept (forced included) stays below threshold * sum_C A[B, C]; then causal
//      (C <= B).
// This is xattn_estimate's torch path with the chunking removed: its chunks only pad Q/K with zero rows
// that are masked, so the result does not depend on the chunk size (see docs/methods.md for the one case
// where the reference's masking differs). Cost per head: n^2 D / (2 s) for the scores (one GEMM per query
// chunk of query blocks), R^2 exponentials, O(nb^2 log nb) for the selection. Heads run in parallel.
#include "core/methods/xattention.h"

#include "core/kernels/attention_gemm.h"
#include "core/methods/method_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tsa {

std::string XAttentionConfig::validate() const {
    if (stride < 1) return "xattention.stride must be >= 1, got " + std::to_string(stride);
    if (blockSize < 1 || blockSize % stride != 0)
        return "xattention.block_size must be a positive multiple of the stride (" + std::to_string(stride) +
               "), got " + std::to_string(blockSize);
    if (!(threshold > 0.0 && threshold <= 1.0))
        return "xattention.threshold must be in (0, 1], got " + std::to_string(threshold);
    if (!(norm > 0.0 && std::isfinite(norm)))
        return "xattention.norm must be > 0, got " + std::to_string(norm);
    return {};
}

namespace {

std::vector<std::uint8_t> estimateHead(const float* q, const float* k, Index n, Index D,
                                       const XAttentionConfig& c) {
    const Index s = c.stride, R = methods::ceilDiv(n, s), rb = c.blockSize / s;
    const Index nb = methods::ceilDiv(n, c.blockSize);
    const Index width = s * D;
    // Reshaped keys are the key rows reinterpreted as [R, s * D] (zero-padded); queries reversed per group.
    std::vector<float> kr(static_cast<std::size_t>(R * width), 0.0f),
        qr(static_cast<std::size_t>(R * width), 0.0f);
    std::copy(k, k + n * D, kr.begin());
    for (Index r = 0; r < R; ++r)
        for (Index j = 0; j < s; ++j) {
            const Index src = r * s + s - 1 - j;
            if (src < n) std::copy(q + src * D, q + src * D + D, qr.begin() + r * width + j * D);
        }
    const float scale = float(1.0 / std::sqrt(double(D)) / double(s) / c.norm);
    std::vector<double> sums(static_cast<std::size_t>(nb * nb), 0.0);
    // Query blocks in chunks, so each score GEMM has a few hundred rows (one block has only b / s = 8).
    const Index chunkBlocks = std::max<Index>(1, 256 / rb);
    std::vector<float> scores;
    for (Index B0 = 0; B0 < nb; B0 += chunkBlocks) {
        const Index r0 = B0 * rb;
        if (r0 >= R) break;
        const Index rows = std::min(chunkBlocks * rb, R - r0);
        const Index cols = r0 + rows; // causal: r' <= r
        scores.resize(static_cast<std::size_t>(rows * cols));
        detail::gemmScaledNT(rows, cols, width, 1.0f, qr.data() + r0 * width, width, kr.data(), width,
                             scores.data(), cols);
        for (Index r = 0; r < rows; ++r) {
            const float* row = scores.data() + r * cols;
            const Index valid = r0 + r + 1;
            double* blockSums = sums.data() + ((r0 + r) / rb) * nb;
            double mx = -std::numeric_limits<double>::infinity();
            for (Index j = 0; j < valid; ++j)
                mx = std::max(mx, double(row[j]) * scale);
            double total = 0.0;
            for (Index j = 0; j < valid; ++j)
                total += std::exp(double(row[j]) * scale - mx);
            const double inv = 1.0 / total;
            for (Index j = 0; j < valid; ++j)
                blockSums[j / rb] += std::exp(double(row[j]) * scale - mx) * inv;
        }
    }
    std::vector<std::uint8_t> tiles(static_cast<std::size_t>(nb * nb), 0);
    std::vector<double> others;
    std::vector<Index> order;
    for (Index B = 0; B < nb; ++B) {
        const double* a = sums.data() + B * nb;
        double total = 0.0;
        for (Index C = 0; C < nb; ++C)
            total += a[C];
        const double required = total * c.threshold;
        double kept = a[0] + (B != 0 ? a[B] : 0.0);
        tiles[B * nb] = 1;
        tiles[B * nb + B] = 1;
        order.clear();
        for (Index C = 1; C < B; ++C)
            order.push_back(C);
        std::stable_sort(order.begin(), order.end(), [&](Index x, Index y) { return a[x] > a[y]; });
        for (Index C : order) {
            if (!(kept < required)) break;
            tiles[B * nb + C] = 1;
            kept += a[C];
        }
    }
    return tiles;
}

} // namespace

Result<Pattern> xattentionPattern(ConstView3 q, ConstView3 k, const XAttentionConfig& config) {
    if (std::string bad = config.validate(); !bad.empty())
        return Status::error(ErrorCode::InvalidArgument, bad);
    if (k.heads <= 0 || q.heads % k.heads != 0 || q.tokens != k.tokens || q.dim != k.dim)
        return Status::error(ErrorCode::Shape, "xattention: q and k do not match");
    const Index H = q.heads, n = q.tokens, D = q.dim, group = q.heads / k.heads;
    const Index nb = methods::ceilDiv(n, config.blockSize);
    Pattern pattern;
    pattern.method = "xattention";
    pattern.params = {{"block_size", double(config.blockSize)},
                      {"stride", double(config.stride)},
                      {"threshold", config.threshold},
                      {"norm", config.norm}};
    pattern.qHeads = H;
    pattern.tokens = n;
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(H * nb * nb));
    detail::prepareTileGemmThreads();
#pragma omp parallel for schedule(dynamic, 1)
    for (Index h = 0; h < H; ++h) {
        const auto tiles = estimateHead(q.row(h, 0), k.row(h / group, 0), n, D, config);
        std::copy(tiles.begin(), tiles.end(), mask.begin() + h * nb * nb);
    }
    pattern.blocks = blockPatternFromMask(mask.data(), H, n, config.blockSize, config.blockSize);
    return pattern;
}

} // namespace tsa
