// MInference vertical-slash pattern estimation, per query head h (n tokens, D dims):
//   1. p = causal softmax of the last 64 queries (logits / sqrt(128), fp64) against all keys: 64 x n.
//   2. vertical[j] = sum of p over those rows; the first 30 columns forced; the top vertical_size kept.
//   3. slash[o] = sum of p over the diagonal at offset o = query - key; offsets 0..99 forced; the top
//      slash_size kept.
//   4. conversion (convert_vertical_slash_indexes): for every 64-row query block ending at e, each kept
//      offset o < e gives the 64-wide key range [max(e - o, 64) - 64, max(e - o, 64)); ranges are visited
//      in ascending order and merged: a range starting within 64 of the current one extends it by exactly
//      64 keys (so up to 63 keys on no chosen diagonal are computed, as MInference's kernel does); kept
//      columns below the current range and outside every range become single columns; columns at or past
//      the last range are not computed (that range always reaches e, offset 0 being forced).
// Cost per head: 64 * n * D for the scores, O(n log n) for the top-k, O(n / 64 * (slash + vertical)) for
// the conversion. Heads run in parallel (OpenMP).
#include "core/methods/minference.h"

#include "core/kernels/attention_gemm.h"
#include "core/methods/method_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <omp.h>

namespace tsa {

std::string MInferenceConfig::validate() const {
    if (!(adaptiveBudget >= 0.0 && adaptiveBudget <= 1.0))
        return "minference.adaptive_budget must be in [0, 1] (0: fixed sizes), got " +
               std::to_string(adaptiveBudget);
    if (!(verticalShare >= 0.0 && verticalShare <= 1.0))
        return "minference.vertical_share must be in [0, 1], got " + std::to_string(verticalShare);
    if (!(slashShare >= 0.0 && slashShare <= 1.0))
        return "minference.slash_share must be in [0, 1], got " + std::to_string(slashShare);
    if (verticalSize < 0 || slashSize < 0) return "minference.vertical_size and slash_size must be >= 0";
    if (minVertical < 1) return "minference.min_vertical must be >= 1, got " + std::to_string(minVertical);
    if (minSlash < 1) return "minference.min_slash must be >= 1, got " + std::to_string(minSlash);
    if (lastQueries < 1) return "minference.last_queries must be >= 1, got " + std::to_string(lastQueries);
    if (forcedColumns < 0)
        return "minference.forced_columns must be >= 0, got " + std::to_string(forcedColumns);
    if (forcedDiagonals < 1)
        return "minference.forced_diagonals must be >= 1 (offset 0 keeps every row causal), got " +
               std::to_string(forcedDiagonals);
    if (blockRows < 1) return "minference.block_rows must be >= 1, got " + std::to_string(blockRows);
    if (scoreHeadDim < 0)
        return "minference.score_head_dim must be >= 0, got " + std::to_string(scoreHeadDim);
    return {};
}

namespace {

struct HeadChoice {
    std::vector<std::int32_t> vertical; // ascending
    std::vector<std::int32_t> slash;    // offsets, descending
};

HeadChoice chooseHead(const float* q, const float* k, Index n, Index D, const MInferenceConfig& c) {
    Index verticalSize = c.verticalSize, slashSize = c.slashSize;
    if (c.adaptiveBudget > 0.0) {
        // Python's int() of float products, as Minference_prefill computes them.
        const Index budget = Index(double(n) * c.adaptiveBudget);
        verticalSize = Index(double(budget) * c.verticalShare);
        slashSize = Index(double(budget) * c.slashShare);
    }
    verticalSize = std::min(n, std::max(verticalSize, c.minVertical));
    slashSize = std::min(n, std::max(slashSize, c.minSlash));
    const Index lastQ = std::min(c.lastQueries, n);
    const double scale = 1.0 / std::sqrt(double(c.scoreHeadDim > 0 ? c.scoreHeadDim : D));
    std::vector<double> p;
    methods::lastRowsSoftmax(q, k, n, D, lastQ, scale, p);

    std::vector<double> vertical(static_cast<std::size_t>(n), 0.0);
    std::vector<double> slash(static_cast<std::size_t>(n), 0.0); // indexed by offset
    for (Index r = 0; r < lastQ; ++r) {
        const Index i = n - lastQ + r;
        const double* pr = p.data() + r * n;
        for (Index j = 0; j <= i; ++j) {
            vertical[j] += pr[j];
            slash[i - j] += pr[j];
        }
    }
    const double inf = std::numeric_limits<double>::infinity();
    for (Index j = 0; j < std::min(c.forcedColumns, n); ++j)
        vertical[j] = inf;
    for (Index o = 0; o < std::min(c.forcedDiagonals, n); ++o)
        slash[o] = inf;
    HeadChoice choice;
    choice.vertical = methods::topIndices(vertical, verticalSize);
    // The reference ranks diagonals by t = n - 1 - offset: equal scores fall to the lower t, i.e. the
    // larger offset, under our tie rule; rank in that index space so the rule is the same.
    std::vector<double> byT(slash.rbegin(), slash.rend());
    for (std::int32_t t : methods::topIndices(byT, slashSize))
        choice.slash.push_back(std::int32_t(n - 1 - t));
    std::sort(choice.vertical.begin(), choice.vertical.end());
    std::sort(choice.slash.begin(), choice.slash.end(), std::greater<>());
    return choice;
}

// convert_vertical_slash_indexes for one head and one query block ending at `end` (exclusive).
void convertBlock(const HeadChoice& c, Index end, Index B, BlockPatternBuilder& builder) {
    const auto& vs = c.vertical;
    const auto& ss = c.slash;
    std::size_t v = 0, s = 0;
    while (s < ss.size() && ss[s] >= end)
        ++s;
    if (s == ss.size()) { // no diagonal reaches this block: only its columns (not reached with offset 0 kept)
        for (std::int32_t col : vs)
            builder.addColumn(col);
        return;
    }
    Index vIdx = vs.empty() ? end + B : vs[v++];
    Index sIdx = std::max<Index>(end - ss[s++], B);
    Index rangeStart = sIdx - B, rangeEnd = sIdx;
    while (true) {
        if (vIdx < rangeEnd) {
            if (vIdx < rangeStart) builder.addColumn(vIdx);
            vIdx = v < vs.size() ? vs[v++] : end + B;
        } else {
            if (s < ss.size()) {
                sIdx = std::max<Index>(end - ss[s++], B);
            } else {
                builder.addSpan(rangeStart, rangeEnd);
                break;
            }
            if (sIdx > rangeEnd + B) {
                builder.addSpan(rangeStart, rangeEnd);
                rangeStart = sIdx - B;
                rangeEnd = sIdx;
            } else if (sIdx > rangeEnd) {
                rangeEnd += B;
            }
        }
    }
}

} // namespace

Result<Pattern> minferencePattern(ConstView3 q, ConstView3 k, const MInferenceConfig& config) {
    if (std::string bad = config.validate(); !bad.empty())
        return Status::error(ErrorCode::InvalidArgument, bad);
    if (k.heads <= 0 || q.heads % k.heads != 0 || q.tokens != k.tokens || q.dim != k.dim)
        return Status::error(ErrorCode::Shape, "minference: q and k do not match");
    const Index H = q.heads, n = q.tokens, D = q.dim, group = q.heads / std::max<Index>(k.heads, 1);
    std::vector<HeadChoice> heads(static_cast<std::size_t>(H));
    detail::prepareTileGemmThreads(); // the score GEMMs run on the calling OpenMP thread
#pragma omp parallel for schedule(dynamic, 1)
    for (Index h = 0; h < H; ++h)
        heads[h] = chooseHead(q.row(h, 0), k.row(h / group, 0), n, D, config);

    Pattern pattern;
    pattern.method = "minference";
    pattern.params = {{"adaptive_budget", config.adaptiveBudget},
                      {"vertical_share", config.verticalShare},
                      {"slash_share", config.slashShare},
                      {"vertical_size", double(config.verticalSize)},
                      {"slash_size", double(config.slashSize)},
                      {"min_vertical", double(config.minVertical)},
                      {"min_slash", double(config.minSlash)},
                      {"last_queries", double(config.lastQueries)},
                      {"forced_columns", double(config.forcedColumns)},
                      {"forced_diagonals", double(config.forcedDiagonals)},
                      {"block_rows", double(config.blockRows)},
                      {"score_head_dim", double(config.scoreHeadDim)}};
    pattern.qHeads = H;
    pattern.tokens = n;
    BlockPatternBuilder builder(H, n, config.blockRows);
    const Index blocks = methods::ceilDiv(n, config.blockRows);
    for (Index h = 0; h < H; ++h) {
        for (Index b = 0; b < blocks; ++b) {
            convertBlock(heads[h], (b + 1) * config.blockRows, config.blockRows, builder);
            builder.finishBlock();
        }
        pattern.vertical.push_back(std::move(heads[h].vertical));
        pattern.slash.push_back(std::move(heads[h].slash));
    }
    pattern.blocks = builder.finish();
    return pattern;
}

} // namespace tsa
