// Token Sparse Attention selection (spec sections 2, 3; the layer plan of section 6 is layer_plan.cpp).
// Scoring: per query head h, logits of the last W queries against all L keys [W, L] (tiled GEMM,
// windowAttentionMass), causal softmax per row, mean over the W rows for the P = L - W prefix keys, a k-wide
// zero-padded moving average, per-head and layer normalisation, then the orderings that make every later
// selection O(P) per head. Cost: O(Hq * W * L * D) time, O(W * L) scratch per thread.
// Selection: the tau budget on the layer's sorted cumulative scores and each head's top-capacity set.
#include "core/methods/tsa_selection.h"

#include "core/kernels/attention_window.h"
#include "core/param_rules.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <omp.h>

namespace tsa {

namespace {

bool cancelled(const std::atomic<bool>* flag) {
    return flag && flag->load(std::memory_order_relaxed);
}

// s[j] = (1/k) sum_{t=-r..r} a[j+t] with a = 0 outside [0, P): the divisor stays k at both ends.
void smooth(const float* a, Index prefix, Index kernel, float* s) {
    const Index r = kernel / 2;
    double running = 0.0;
    for (Index j = 0; j < std::min(r, prefix); ++j)
        running += a[j];
    for (Index j = 0; j < prefix; ++j) {
        if (j + r < prefix) running += a[j + r];
        if (j - r - 1 >= 0) running -= a[j - r - 1];
        s[j] = float(running / double(kernel));
    }
}

// Positions ordered by score, ties to the lower position (a stable sort), as one sort of packed 64-bit
// keys: the bit pattern of a non-negative float orders like its value, and the position in the low half
// breaks ties. About three times faster than an indirect stable sort, which matters at 32 heads x 128K.
void packScoreKeys(const float* score, Index n, bool descending, std::vector<std::uint64_t>& keys) {
    keys.resize(static_cast<std::size_t>(n));
    for (Index j = 0; j < n; ++j) {
        std::uint32_t bits;
        std::memcpy(&bits, &score[j], sizeof bits);
        bits &= 0x7FFFFFFFu; // scores are >= 0; -0.0 orders as 0
        if (descending) bits = ~bits;
        keys[j] = (std::uint64_t(bits) << 32) | std::uint32_t(j);
    }
}

void orderByScore(const float* score, Index n, bool descending, std::vector<std::uint64_t>& keys,
                  std::int32_t* order) {
    packScoreKeys(score, n, descending, keys);
    std::sort(keys.begin(), keys.end());
    for (Index t = 0; t < n; ++t)
        order[t] = std::int32_t(keys[t] & 0xFFFFFFFFu);
}

} // namespace

Status checkLayerShapes(const LayerQkvView& qkv, bool needV) {
    auto shape = [](const ConstView3& t) {
        return "[" + std::to_string(t.heads) + ", " + std::to_string(t.tokens) + ", " +
               std::to_string(t.dim) + "]";
    };
    const std::string shapes =
        " (q " + shape(qkv.q) + ", k " + shape(qkv.k) + (needV ? ", v " + shape(qkv.v) : std::string()) + ")";
    const Index hq = qkv.qHeads(), hkv = qkv.kvHeads();
    if (hq <= 0 || qkv.tokens() <= 0 || qkv.headDim() <= 0 || hkv <= 0)
        return Status::error(ErrorCode::Shape, "q and k must have at least one head, token and dim" + shapes);
    if (qkv.k.tokens != qkv.tokens() || qkv.k.dim != qkv.headDim())
        return Status::error(ErrorCode::Shape, "q and k differ in tokens or head dim" + shapes);
    if (needV && (qkv.v.heads != hkv || qkv.v.tokens != qkv.k.tokens || qkv.v.dim != qkv.k.dim))
        return Status::error(ErrorCode::Shape, "k and v differ in shape" + shapes);
    if (hq % hkv != 0)
        return Status::error(ErrorCode::Shape, "query heads " + std::to_string(hq) +
                                                   " are not a multiple of kv heads " + std::to_string(hkv));
    if ((qkv.q.data == nullptr || qkv.k.data == nullptr || (needV && qkv.v.data == nullptr)))
        return Status::error(ErrorCode::InvalidArgument, "null data for a non-empty tensor" + shapes);
    return Status::success();
}

Result<LayerScores> scoreLayer(const LayerQkvView& qkv, const ScoringConfig& config) {
    const Index hq = qkv.qHeads(), hkv = qkv.kvHeads(), tokens = qkv.tokens(), dim = qkv.headDim();
    const Index window = config.window;
    // The one check core keeps: the scores' sizes come from W and k (param_rules.h is their rule).
    std::string bad = windowProblem(window);
    if (bad.empty()) bad = poolKernelProblem(config.poolKernel);
    if (!bad.empty()) return Status::error(ErrorCode::InvalidArgument, bad);
    if (Status st = checkLayerShapes(qkv, /*needV=*/false); !st.ok()) return st;
    if (tokens <= window)
        return Status::error(ErrorCode::InvalidArgument, "layer has " + std::to_string(tokens) +
                                                             " tokens, not more than the window " +
                                                             std::to_string(window));
    const Index prefix = tokens - window;
    const Index group = hq / hkv;

    LayerScores s;
    s.qHeads = hq;
    s.tokens = tokens;
    s.window = window;
    s.prefix = prefix;
    s.poolKernel = config.poolKernel;
    s.raw.assign(std::size_t(hq * prefix), 0.0f);
    s.smoothed.assign(s.raw.size(), 0.0f);
    s.headNorm.assign(s.raw.size(), 0.0f);
    if (config.rankHeads) s.headRank.assign(s.raw.size(), 0);

    bool stopped = false;
    const int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
#pragma omp parallel num_threads(threads)
    {
        std::vector<float> scratch;
        std::vector<std::uint64_t> keys;
#pragma omp for schedule(dynamic, 1)
        for (Index h = 0; h < hq; ++h) {
            if (cancelled(config.cancel)) {
#pragma omp atomic write
                stopped = true;
                continue;
            }
            float* raw = s.raw.data() + h * prefix;
            windowAttentionMass(qkv.q.row(h, prefix), qkv.k.row(h / group, 0), tokens, window, dim, raw,
                                scratch);
            float* sm = s.smoothed.data() + h * prefix;
            smooth(raw, prefix, config.poolKernel, sm);
            double total = 0.0;
            for (Index j = 0; j < prefix; ++j)
                total += sm[j];
            float* norm = s.headNorm.data() + h * prefix;
            const double denom = total + 1e-8;
            for (Index j = 0; j < prefix; ++j)
                norm[j] = float(sm[j] / denom);
            if (config.rankHeads)
                orderByScore(norm, prefix, /*descending=*/true, keys, s.headRank.data() + h * prefix);
        }
    }
    if (stopped) return Status::error(ErrorCode::Cancelled, "scoring cancelled");

    // Layer score: mean over heads of the smoothed scores, then normalised.
    std::vector<double> g(std::size_t(prefix), 0.0);
    for (Index h = 0; h < hq; ++h) {
        const float* sm = s.smoothed.data() + h * prefix;
        for (Index j = 0; j < prefix; ++j)
            g[j] += sm[j];
    }
    double gTotal = 0.0;
    for (Index j = 0; j < prefix; ++j) {
        g[j] /= double(hq);
        gTotal += g[j];
    }
    s.layerNorm.resize(std::size_t(prefix));
    for (Index j = 0; j < prefix; ++j)
        s.layerNorm[j] = float(g[j] / (gTotal + 1e-8));
    s.layerAscending.resize(std::size_t(prefix));
    const float* G = s.layerNorm.data();
    std::vector<std::uint64_t> layerKeys;
    orderByScore(G, prefix, /*descending=*/false, layerKeys, s.layerAscending.data());
    s.layerCumulative.resize(std::size_t(prefix));
    double c = 0.0;
    for (Index t = 0; t < prefix; ++t) {
        c += G[s.layerAscending[t]];
        s.layerCumulative[t] = c;
    }
    return s;
}

const char* denseReasonText(DenseReason reason) {
    switch (reason) {
    case DenseReason::None:
        return "sparse";
    case DenseReason::NotSparseLayer:
        return "not a sparse layer";
    case DenseReason::TooShort:
        return "too short (L <= min_tokens + W)";
    case DenseReason::TauZero:
        return "tau is 0";
    case DenseReason::BudgetEmpty:
        return "no token fits the tau budget";
    }
    return "";
}

bool layerStaysDense(Index tokens, const TsaParams& params, DenseReason* reason) {
    DenseReason r = DenseReason::None;
    if (tokens <= params.minTokens + params.window)
        r = DenseReason::TooShort;
    else if (params.tau == 0.0)
        r = DenseReason::TauZero;
    if (reason) *reason = r;
    return r != DenseReason::None;
}

Selection denseSelection(Index qHeads, Index tokens, const TsaParams& params, DenseReason reason) {
    Selection sel;
    sel.sparse = false;
    sel.denseReason = reason;
    sel.qHeads = qHeads;
    sel.tokens = tokens;
    sel.window = params.window;
    sel.prefix = std::max<Index>(0, tokens - params.window);
    sel.capacity = sel.prefix;
    sel.kept = tokens;
    return sel;
}

Selection selectTokens(const LayerScores& scores, Index qHeads, Index tokens, const TsaParams& params) {
    DenseReason reason;
    if (layerStaysDense(tokens, params, &reason)) return denseSelection(qHeads, tokens, params, reason);
    Selection sel = denseSelection(qHeads, tokens, params, DenseReason::None);
    if (scores.prefix != sel.prefix || scores.qHeads != qHeads || scores.layerCumulative.empty()) {
        // Scores computed for another window or layer: treat as unusable rather than guess.
        sel.denseReason = DenseReason::BudgetEmpty;
        return sel;
    }
    const auto& c = scores.layerCumulative;
    const Index n = Index(std::lower_bound(c.begin(), c.end(), params.tau) - c.begin());
    sel.budgetCount = n;
    if (n == 0) {
        sel.denseReason = DenseReason::BudgetEmpty;
        return sel;
    }
    const Index prefix = sel.prefix;
    sel.sparse = true;
    sel.denseReason = DenseReason::None;
    sel.capacity = std::max(params.minTokens, prefix - (n + 1));
    sel.capacity = std::min(sel.capacity, prefix);
    sel.kept = sel.capacity + params.window;
    sel.indices.resize(std::size_t(qHeads * sel.kept));
    // O(P) per head: mark the top-capacity positions from the precomputed order, then emit in position
    // order, which is already sorted. Heads are independent; the GUI reruns this on every tau change.
    const Index capacity = sel.capacity, kept = sel.kept;
    const bool ranked = !scores.headRank.empty();
#pragma omp parallel if (qHeads * prefix >= (Index(1) << 16))
    {
        std::vector<unsigned char> mark(static_cast<std::size_t>(prefix));
        std::vector<std::uint64_t> keys;
#pragma omp for schedule(static)
        for (Index h = 0; h < qHeads; ++h) {
            std::fill(mark.begin(), mark.end(), 0);
            if (ranked) {
                const std::int32_t* rank = scores.headOrder(h);
                for (Index t = 0; t < capacity; ++t)
                    mark[rank[t]] = 1;
            } else {
                // Same order as the ranked path (descending score, ties to the lower position), but only
                // the top-capacity set is needed: a selection in O(P) instead of a sort.
                packScoreKeys(scores.headScores(h), prefix, /*descending=*/true, keys);
                if (capacity < prefix) std::nth_element(keys.begin(), keys.begin() + capacity, keys.end());
                for (Index t = 0; t < capacity; ++t)
                    mark[keys[t] & 0xFFFFFFFFu] = 1;
            }
            std::int32_t* out = sel.indices.data() + h * kept;
            Index w = 0;
            for (Index j = 0; j < prefix; ++j) {
                out[w] = std::int32_t(j);
                w += mark[j]; // branch-free compaction
            }
            for (Index j = prefix; j < tokens; ++j)
                out[w++] = std::int32_t(j);
        }
    }
    return sel;
}

} // namespace tsa
