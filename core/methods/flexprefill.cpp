// FlexPrefill pattern estimation, per query head (n tokens, block b, nb = ceil(n / b) blocks):
//   0. n <= max(2b, ceil(min_budget / b) * b): dense (the reference's fallback).
//   1. p = causal softmax of the last b queries (logits / sqrt(D), fp64): b x n. vertical[j] = mean over
//      rows of p[., j]; slash[o] = sum over rows of p on diagonal o, / b.
//   2. Budgets: count = #(sorted-descending cumulative sum <= gamma) + 1, blocks = count // 128 + 1, for
//      vertical and slash separately, clamped to [ceil(min_budget / b), min(nb, ceil(max_budget / b))].
//   3. Pooled: vertical and slash summed per block (slash in the reference's order t = n - 1 - offset,
//      blocks of t from 0). avg_k = mean of each key block; estimate = softmax over blocks of
//      (mean of the last b scaled queries) . avg_k. sqrt-JS(estimate, pooled vertical) < tau: the head is
//      query-aware and both budgets drop to the minimum.
//   4. Block 0 of the vertical and the last slash block (offset 0) forced; top blocks of each: vertical
//      block v gives tiles (i, v) for i >= v, slash block s gives tiles (i + s, i); tile (0, 0) always.
//   5. Query-aware heads add, from softmax over causal key blocks of (mean query block / sqrt(D)) . avg_k,
//      the tiles in descending order while the running sum over all nb x nb tiles stays <= gamma * nb.
// Cost per head: b * n * D (step 1), nb^2 * D (step 5), O(n log n) sorts. Heads run in parallel.
#include "core/methods/flexprefill.h"

#include "core/kernels/attention_gemm.h"
#include "core/methods/method_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tsa {

std::string FlexPrefillConfig::validate() const {
    if (blockSize < 1) return "flexprefill.block_size must be >= 1, got " + std::to_string(blockSize);
    if (!(gamma > 0.0 && gamma <= 1.0))
        return "flexprefill.gamma must be in (0, 1], got " + std::to_string(gamma);
    if (!(tau >= 0.0 && std::isfinite(tau)))
        return "flexprefill.tau must be >= 0, got " + std::to_string(tau);
    if (minBudget < 0) return "flexprefill.min_budget must be >= 0, got " + std::to_string(minBudget);
    if (maxBudget < 0)
        return "flexprefill.max_budget must be >= 0 (0: none), got " + std::to_string(maxBudget);
    if (coverDivisor < 1)
        return "flexprefill.cover_divisor must be >= 1, got " + std::to_string(coverDivisor);
    return {};
}

namespace {

Index coverCount(std::vector<double> x, double gamma) {
    std::sort(x.begin(), x.end(), std::greater<>());
    double sum = 0.0;
    Index count = 0;
    for (double value : x) {
        sum += value;
        if (sum <= gamma) ++count;
    }
    return count + 1;
}

struct HeadResult {
    std::vector<std::uint8_t> tiles; // [nb, nb]
    std::vector<std::int32_t> vertical, slash;
    bool queryAware = false;
    double divergence = 0.0;
};

HeadResult estimateHead(const float* q, const float* k, Index n, Index D, const FlexPrefillConfig& c) {
    const Index bs = c.blockSize;
    const Index nb = methods::ceilDiv(n, bs);
    const Index minB = methods::ceilDiv(c.minBudget, bs);
    const Index maxB =
        std::min(nb, c.maxBudget > 0 ? methods::ceilDiv(c.maxBudget, bs) : methods::ceilDiv(2147483647, bs));
    const double scale = 1.0 / std::sqrt(double(D));
    std::vector<double> p;
    methods::lastRowsSoftmax(q, k, n, D, bs, scale, p);

    std::vector<double> vertical(static_cast<std::size_t>(n), 0.0), slashT(static_cast<std::size_t>(n), 0.0);
    for (Index r = 0; r < bs; ++r) {
        const Index i = n - bs + r;
        for (Index j = 0; j <= i; ++j) {
            vertical[j] += p[r * n + j];
            slashT[n - 1 - (i - j)] += p[r * n + j]; // t = n - 1 - offset
        }
    }
    for (Index j = 0; j < n; ++j) {
        vertical[j] /= double(bs);
        slashT[j] /= double(bs);
    }
    Index numVertical = coverCount(vertical, c.gamma) / c.coverDivisor + 1;
    Index numSlash = coverCount(slashT, c.gamma) / c.coverDivisor + 1;
    numVertical = std::min(std::max(numVertical, minB), maxB);
    numSlash = std::min(std::max(numSlash, minB), maxB);

    std::vector<double> vPooled(static_cast<std::size_t>(nb), 0.0),
        sPooled(static_cast<std::size_t>(nb), 0.0);
    for (Index j = 0; j < n; ++j) {
        vPooled[j / bs] += vertical[j];
        sPooled[j / bs] += slashT[j];
    }
    // Block means of the keys and of the last block's scaled queries.
    std::vector<double> avgK(static_cast<std::size_t>(nb * D), 0.0), lastQ(static_cast<std::size_t>(D), 0.0);
    for (Index j = 0; j < n; ++j)
        for (Index d = 0; d < D; ++d)
            avgK[(j / bs) * D + d] += k[j * D + d];
    for (Index b = 0; b < nb; ++b) {
        const double count = double(std::min(bs, n - b * bs));
        for (Index d = 0; d < D; ++d)
            avgK[b * D + d] /= count;
    }
    for (Index i = n - bs; i < n; ++i)
        for (Index d = 0; d < D; ++d)
            lastQ[d] += double(q[i * D + d]) * scale / double(bs);
    std::vector<double> estimate(static_cast<std::size_t>(nb));
    double mx = -std::numeric_limits<double>::infinity();
    for (Index b = 0; b < nb; ++b) {
        double dot = 0.0;
        for (Index d = 0; d < D; ++d)
            dot += lastQ[d] * avgK[b * D + d];
        estimate[b] = dot;
        mx = std::max(mx, dot);
    }
    double sum = 0.0;
    for (double& e : estimate)
        sum += (e = std::exp(e - mx));
    for (double& e : estimate)
        e /= sum;
    // sqrt-JS divergence; a zero probability gives 0 * log 0 = NaN as in the reference, and NaN < tau is
    // false (the head stays vertical-slash).
    double js = 0.0;
    for (Index b = 0; b < nb; ++b) {
        const double m = 0.5 * (estimate[b] + vPooled[b]);
        js += 0.5 * estimate[b] * std::log(estimate[b] / m) + 0.5 * vPooled[b] * std::log(vPooled[b] / m);
    }
    HeadResult out;
    out.divergence = std::sqrt(js);
    out.queryAware = out.divergence < c.tau;
    if (out.queryAware) numVertical = numSlash = minB;

    const double inf = std::numeric_limits<double>::infinity();
    vPooled[0] = inf;
    sPooled[nb - 1] = inf;
    out.tiles.assign(static_cast<std::size_t>(nb * nb), 0);
    out.tiles[0] = 1;
    for (std::int32_t j : methods::topIndices(sPooled, numSlash)) {
        const Index s = nb - 1 - j;
        out.slash.push_back(std::int32_t(s));
        for (Index i = 0; i + s < nb; ++i)
            out.tiles[(i + s) * nb + i] = 1;
    }
    for (std::int32_t v : methods::topIndices(vPooled, numVertical)) {
        out.vertical.push_back(v);
        for (Index i = v; i < nb; ++i)
            out.tiles[i * nb + v] = 1;
    }
    std::sort(out.vertical.begin(), out.vertical.end());
    std::sort(out.slash.begin(), out.slash.end(), std::greater<>());

    if (out.queryAware) {
        std::vector<double> attn(static_cast<std::size_t>(nb * nb), 0.0), avgQ(static_cast<std::size_t>(D));
        for (Index b = 0; b < nb; ++b) {
            const Index rows = std::min(bs, n - b * bs);
            std::fill(avgQ.begin(), avgQ.end(), 0.0);
            for (Index i = b * bs; i < b * bs + rows; ++i)
                for (Index d = 0; d < D; ++d)
                    avgQ[d] += q[i * D + d];
            double rowMax = -inf;
            for (Index c2 = 0; c2 <= b; ++c2) {
                double dot = 0.0;
                for (Index d = 0; d < D; ++d)
                    dot += avgQ[d] / double(rows) * scale * avgK[c2 * D + d];
                attn[b * nb + c2] = dot;
                rowMax = std::max(rowMax, dot);
            }
            double rowSum = 0.0;
            for (Index c2 = 0; c2 <= b; ++c2)
                rowSum += (attn[b * nb + c2] = std::exp(attn[b * nb + c2] - rowMax));
            for (Index c2 = 0; c2 <= b; ++c2)
                attn[b * nb + c2] /= rowSum;
        }
        const std::vector<std::int32_t> order = methods::topIndices(attn, nb * nb);
        double running = 0.0;
        for (std::int32_t t : order) {
            running += attn[t];
            if (running > c.gamma * double(nb)) break;
            out.tiles[t] = 1;
        }
    }
    return out;
}

} // namespace

Result<Pattern> flexprefillPattern(ConstView3 q, ConstView3 k, const FlexPrefillConfig& config,
                                   FlexPrefillHeads* headsOut) {
    if (std::string bad = config.validate(); !bad.empty())
        return Status::error(ErrorCode::InvalidArgument, bad);
    if (k.heads <= 0 || q.heads % k.heads != 0 || q.tokens != k.tokens || q.dim != k.dim)
        return Status::error(ErrorCode::Shape, "flexprefill: q and k do not match");
    const Index H = q.heads, n = q.tokens, D = q.dim, group = q.heads / k.heads, bs = config.blockSize;
    Pattern pattern;
    pattern.method = "flexprefill";
    pattern.params = {{"block_size", double(bs)},
                      {"gamma", config.gamma},
                      {"tau", config.tau},
                      {"min_budget", double(config.minBudget)},
                      {"max_budget", double(config.maxBudget)},
                      {"cover_divisor", double(config.coverDivisor)}};
    pattern.qHeads = H;
    pattern.tokens = n;
    if (headsOut) *headsOut = {};
    if (n <= std::max(2 * bs, methods::ceilDiv(config.minBudget, bs) * bs)) return pattern; // dense fallback
    const Index nb = methods::ceilDiv(n, bs);
    std::vector<HeadResult> heads(static_cast<std::size_t>(H));
    detail::prepareTileGemmThreads(); // the score GEMMs run on the calling OpenMP thread
#pragma omp parallel for schedule(dynamic, 1)
    for (Index h = 0; h < H; ++h)
        heads[h] = estimateHead(q.row(h, 0), k.row(h / group, 0), n, D, config);
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(H * nb * nb));
    for (Index h = 0; h < H; ++h) {
        std::copy(heads[h].tiles.begin(), heads[h].tiles.end(), mask.begin() + h * nb * nb);
        pattern.vertical.push_back(heads[h].vertical);
        pattern.slash.push_back(heads[h].slash);
        if (headsOut) {
            headsOut->queryAware.push_back(heads[h].queryAware);
            headsOut->divergence.push_back(heads[h].divergence);
        }
    }
    pattern.blocks = blockPatternFromMask(mask.data(), H, n, bs, bs);
    return pattern;
}

} // namespace tsa
