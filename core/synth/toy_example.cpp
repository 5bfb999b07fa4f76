// The 16-token teaching example (see toy_example.h): fixed Q/K/V [heads, 16, 4], scored and selected by
// the production code, plus the compact and dense causal attention probabilities computed directly
// (16 x 16 x 4 multiply-adds per head: nothing to optimise).
#include "core/synth/toy_example.h"

#include <algorithm>
#include <cmath>

namespace tsa {

namespace {

constexpr Index kTokens = 16;
constexpr Index kDim = 4;
constexpr Index kQHeads = 2;

// Softmax over keys cols[0..i] for query row q: causal by rank in the given index list.
std::vector<double> causalProbabilities(const LayerQkv& qkv, Index head, const std::vector<Index>& rows) {
    const Index n = Index(rows.size());
    std::vector<double> p(std::size_t(n * n), 0.0);
    const double scale = 1.0 / std::sqrt(double(kDim));
    for (Index i = 0; i < n; ++i) {
        const float* q = qkv.q.row(head, rows[std::size_t(i)]);
        std::vector<double> logits(std::size_t(i + 1));
        double peak = -INFINITY;
        for (Index j = 0; j <= i; ++j) {
            const float* k = qkv.k.row(head / kQHeads, rows[std::size_t(j)]);
            double dot = 0.0;
            for (Index d = 0; d < kDim; ++d)
                dot += double(q[d]) * double(k[d]);
            logits[std::size_t(j)] = dot * scale;
            peak = std::max(peak, logits[std::size_t(j)]);
        }
        double sum = 0.0;
        for (double& l : logits)
            sum += (l = std::exp(l - peak));
        for (Index j = 0; j <= i; ++j)
            p[std::size_t(i * n + j)] = logits[std::size_t(j)] / sum;
    }
    return p;
}

} // namespace

Result<ToyExample> buildToyExample(const ToyExampleConfig& config) {
    ToyExample toy;
    toy.params.tau = config.tau;
    toy.params.window = config.window;
    toy.params.poolKernel = config.poolKernel;
    toy.params.minTokens = config.minTokens;
    toy.qkv.q = Tensor3(kQHeads, kTokens, kDim);
    toy.qkv.k = Tensor3(1, kTokens, kDim);
    toy.qkv.v = Tensor3(1, kTokens, kDim);
    // Key dimensions: [sink, topic A, topic B, background].
    for (Index t = 0; t < kTokens; ++t) {
        float* k = toy.qkv.k.row(0, t);
        k[0] = t == 0 ? 3.0f : 0.0f;
        k[1] = (t == 3 || t == 4) ? 2.5f : 0.3f * float(std::sin(double(t)));
        k[2] = (t == 8 || t == 9) ? 2.5f : 0.3f * float(std::cos(double(t)));
        k[3] = 0.5f;
        float* v = toy.qkv.v.row(0, t);
        v[t % kDim] = 1.0f;
        // Head 0 asks about topic A, head 1 about topic B; both also glance at the sink.
        float* q0 = toy.qkv.q.row(0, t);
        float* q1 = toy.qkv.q.row(1, t);
        q0[0] = q1[0] = 1.5f;
        q0[1] = 2.5f;
        q1[2] = 2.5f;
        q0[3] = q1[3] = 0.2f;
    }
    ScoringConfig scoring;
    scoring.window = config.window;
    scoring.poolKernel = config.poolKernel;
    scoring.threads = 1;
    Result<LayerScores> scores = scoreLayer(toy.qkv, scoring);
    if (!scores.ok()) return scores.status();
    toy.scores = std::move(scores.value());
    toy.selection = selectTokens(toy.scores, kQHeads, kTokens, toy.params);
    std::vector<Index> all(static_cast<std::size_t>(kTokens));
    for (Index t = 0; t < kTokens; ++t)
        all[std::size_t(t)] = t;
    for (Index h = 0; h < kQHeads; ++h) {
        toy.denseAttention.push_back(causalProbabilities(toy.qkv, h, all));
        std::vector<Index> kept = all;
        if (toy.selection.sparse)
            kept.assign(toy.selection.head(h), toy.selection.head(h) + toy.selection.kept);
        toy.compactAttention.push_back(causalProbabilities(toy.qkv, h, kept));
    }
    return toy;
}

} // namespace tsa
