// Hand-made, realistic-looking view data for the view tests and screenshots. Builds core structs
// directly (no core implementation needed): scores with an attention sink at position 0, a recency ramp,
// a few needles and log-normal noise; a selection that follows spec section 3.5-3.6; metrics and
// coverage curves derived from them.
#pragma once

#include "views/view_data.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace tsa::views::fake {

inline std::shared_ptr<tsa::LayerScores> scores(int heads, qint64 tokens, qint64 window, unsigned seed) {
    auto s = std::make_shared<tsa::LayerScores>();
    s->qHeads = heads;
    s->tokens = tokens;
    s->window = window;
    s->prefix = tokens - window;
    s->poolKernel = 7;
    const qint64 P = s->prefix;
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0.0, 1.0);
    s->raw.assign(std::size_t(heads * P), 0.f);
    for (int h = 0; h < heads; ++h) {
        const double recency = 2.0 + 3.0 * ((h * 7 + seed) % 5) / 4.0;
        const double flatness = 0.8 + 0.6 * ((h * 3 + seed) % 4) / 3.0;
        // Correlated log-normal noise (AR(1) in log space) so smoothing keeps long low-score stretches,
        // which is what makes real layers droppable.
        double logv = 0.0;
        for (qint64 j = 0; j < P; ++j) {
            logv = 0.97 * logv + 0.7 * flatness * noise(rng);
            double v = std::exp(logv) * (1.0 + recency * std::pow(double(j) / double(P), 6.0));
            if (j == 0) v += 400.0 + 50.0 * h;
            v *=
                1.0 + 0.8 * std::sin(double(j) / (40.0 + 13.0 * h)) * std::sin(double(j) / (40.0 + 13.0 * h));
            s->raw[std::size_t(h * P + j)] = float(v);
        }
        for (int k = 0; k < 6; ++k)
            s->raw[std::size_t(h * P + (P / 7) * (k + 1) + h * 11 % P)] += 60.f;
        double sum = 0;
        for (qint64 j = 0; j < P; ++j)
            sum += s->raw[std::size_t(h * P + j)];
        for (qint64 j = 0; j < P; ++j)
            s->raw[std::size_t(h * P + j)] = float(s->raw[std::size_t(h * P + j)] / sum * 0.8);
    }
    const qint64 r = s->poolKernel / 2;
    s->smoothed.assign(s->raw.size(), 0.f);
    s->headNorm.assign(s->raw.size(), 0.f);
    for (int h = 0; h < heads; ++h) {
        const float* a = s->raw.data() + h * P;
        float* sm = s->smoothed.data() + h * P;
        double total = 0;
        for (qint64 j = 0; j < P; ++j) {
            double acc = 0;
            for (qint64 t = -r; t <= r; ++t)
                if (j + t >= 0 && j + t < P) acc += a[j + t];
            sm[j] = float(acc / double(s->poolKernel));
            total += sm[j];
        }
        for (qint64 j = 0; j < P; ++j)
            s->headNorm[std::size_t(h * P + j)] = float(sm[j] / (total + 1e-8));
    }
    std::vector<double> g(std::size_t(P), 0.0);
    for (int h = 0; h < heads; ++h)
        for (qint64 j = 0; j < P; ++j)
            g[std::size_t(j)] += s->smoothed[std::size_t(h * P + j)] / heads;
    const double gs = std::accumulate(g.begin(), g.end(), 0.0);
    s->layerNorm.resize(std::size_t(P));
    for (qint64 j = 0; j < P; ++j)
        s->layerNorm[std::size_t(j)] = float(g[std::size_t(j)] / (gs + 1e-8));
    s->layerAscending.resize(std::size_t(P));
    std::iota(s->layerAscending.begin(), s->layerAscending.end(), 0);
    std::stable_sort(s->layerAscending.begin(), s->layerAscending.end(), [&](int x, int y) {
        return s->layerNorm[std::size_t(x)] < s->layerNorm[std::size_t(y)];
    });
    s->layerCumulative.resize(std::size_t(P));
    double c = 0;
    for (qint64 i = 0; i < P; ++i)
        s->layerCumulative[std::size_t(i)] = c +=
            s->layerNorm[std::size_t(s->layerAscending[std::size_t(i)])];
    s->headRank.resize(s->raw.size());
    for (int h = 0; h < heads; ++h) {
        auto* order = s->headRank.data() + h * P;
        std::iota(order, order + P, 0);
        const float* n = s->headNorm.data() + h * P;
        std::stable_sort(order, order + P, [&](int x, int y) { return n[x] > n[y]; });
    }
    return s;
}

inline std::shared_ptr<tsa::Selection> selection(const tsa::LayerScores& s, double tau, qint64 minTokens,
                                                 bool sparseLayer) {
    auto sel = std::make_shared<tsa::Selection>();
    sel->qHeads = s.qHeads;
    sel->tokens = s.tokens;
    sel->window = s.window;
    sel->prefix = s.prefix;
    if (!sparseLayer) {
        sel->denseReason = tsa::DenseReason::NotSparseLayer;
        sel->kept = s.tokens;
        return sel;
    }
    qint64 n = 0;
    while (n < s.prefix && s.layerCumulative[std::size_t(n)] < tau)
        ++n;
    if (n == 0) {
        sel->denseReason = tsa::DenseReason::BudgetEmpty;
        sel->kept = s.tokens;
        return sel;
    }
    sel->sparse = true;
    sel->denseReason = tsa::DenseReason::None;
    sel->budgetCount = n;
    sel->capacity = std::max(minTokens, s.prefix - (n + 1));
    sel->kept = sel->capacity + s.window;
    sel->indices.resize(std::size_t(s.qHeads * sel->kept));
    for (int h = 0; h < s.qHeads; ++h) {
        std::int32_t* out = sel->indices.data() + h * sel->kept;
        std::copy(s.headOrder(h), s.headOrder(h) + sel->capacity, out);
        for (qint64 w = 0; w < s.window; ++w)
            out[sel->capacity + w] = std::int32_t(s.prefix + w);
        std::sort(out, out + sel->kept);
    }
    return sel;
}

inline std::shared_ptr<tsa::LayerMetrics> metrics(const tsa::Selection& sel, unsigned seed) {
    auto m = std::make_shared<tsa::LayerMetrics>();
    m->qHeads = sel.qHeads;
    m->tokens = sel.tokens;
    const qint64 L = sel.tokens;
    m->rowError.assign(std::size_t(sel.qHeads * L), 0.f);
    m->retainedMass.assign(std::size_t(sel.qHeads * L), 1.f);
    std::mt19937 rng(seed);
    std::normal_distribution<double> noise(0.0, 0.6);
    for (int h = 0; h < sel.qHeads; ++h) {
        std::vector<std::uint8_t> kept(std::size_t(L), sel.sparse ? 0 : 1);
        if (sel.sparse)
            for (qint64 i = 0; i < sel.kept; ++i)
                kept[std::size_t(sel.head(h)[i])] = 1;
        tsa::HeadMetrics hm;
        std::vector<double> err, mass;
        for (qint64 i = 0; i < L; ++i) {
            const std::size_t k = std::size_t(h * L + i);
            if (!kept[std::size_t(i)]) {
                m->rowError[k] = NAN;
                m->retainedMass[k] = NAN;
                ++hm.droppedRows;
                continue;
            }
            const double base =
                sel.sparse ? 2e-3 * (1.0 + 0.3 * (h % 5)) * (0.2 + double(i) / double(L)) : 0.0;
            const double e = base * std::exp(noise(rng));
            m->rowError[k] = float(e);
            m->retainedMass[k] = float(sel.sparse ? 1.0 - 0.5 * e : 1.0);
            err.push_back(e);
            mass.push_back(m->retainedMass[k]);
        }
        std::sort(err.begin(), err.end());
        std::sort(mass.begin(), mass.end());
        auto q = [](const std::vector<double>& v, double p) {
            return v.empty() ? 0.0 : v[std::min(v.size() - 1, std::size_t(p * double(v.size() - 1)))];
        };
        hm.keptFraction = sel.keptFraction();
        hm.rowError = {q(err, 0.5), q(err, 0.95), err.empty() ? 0 : err.back(), 0, qint64(err.size())};
        hm.retainedMass = {q(mass, 0.5), q(mass, 0.95), mass.empty() ? 0 : mass.back(), 0,
                           qint64(mass.size())};
        hm.lastWindowError = sel.sparse ? q(err, 0.5) * 1.4 : 0.0;
        m->heads.push_back(hm);
    }
    m->layer = m->heads.empty() ? tsa::HeadMetrics{} : m->heads[0];
    return m;
}

inline tsa::CoverageCurve coverage(const tsa::LayerScores& s, int head, double tau, qint64 maxPoints = 2048) {
    std::vector<double> sorted;
    if (head < 0)
        sorted.assign(s.layerNorm.begin(), s.layerNorm.end());
    else
        sorted.assign(s.headNorm.begin() + head * s.prefix, s.headNorm.begin() + (head + 1) * s.prefix);
    std::sort(sorted.begin(), sorted.end());
    tsa::CoverageCurve c;
    const qint64 P = qint64(sorted.size());
    const qint64 step = std::max<qint64>(1, P / maxPoints);
    double acc = 0;
    qint64 n = 0;
    c.dropped.push_back(0);
    c.cumulative.push_back(0);
    for (qint64 i = 0; i < P; ++i) {
        acc += sorted[std::size_t(i)];
        if (acc < tau) n = i + 1;
        if ((i + 1) % step == 0 || i + 1 == P) {
            c.dropped.push_back(double(i + 1));
            c.cumulative.push_back(acc);
        }
    }
    c.budgetDropped = n > 0 ? n + 1 : 0;
    return c;
}

inline std::shared_ptr<std::vector<std::string>> tokenStrings(qint64 tokens) {
    static const char* words[] = {"The",   " quick", " brown",      " fox",  ",",     " jumps",
                                  " over", " the",   " lazy",       " dog",  ".",     "\n",
                                  " In",   " 1987",  " \"needle\"", " said", " Alice"};
    auto out = std::make_shared<std::vector<std::string>>();
    out->reserve(std::size_t(tokens));
    out->push_back("<s>");
    for (qint64 i = 1; i < tokens; ++i)
        out->push_back(words[(i * 7 + i / 13) % 17]);
    return out;
}

// Per-row shares of one head's causal attention by key block: a sink column, a diagonal band and a faint
// background.
inline AttentionBlocks attentionBlocks(qint64 tokens, qint64 blockSize, const tsa::Selection* sel, int head) {
    AttentionBlocks b;
    b.tokens = tokens;
    b.blockSize = blockSize;
    b.blocks = int((tokens + blockSize - 1) / blockSize);
    b.head = head;
    b.share.assign(std::size_t(b.blocks) * b.blocks, 0.f);
    for (int r = 0; r < b.blocks; ++r) {
        std::vector<double> w(std::size_t(r + 1));
        double sum = 0;
        for (int c = 0; c <= r; ++c) {
            double v = 0.02 + 3.0 * std::exp(-double(r - c) / 1.5) + (c == 0 ? 20.0 : 0.0) +
                       ((c * 37 + head) % 29 == 0 ? 1.5 : 0.0);
            w[std::size_t(c)] = v;
            sum += v;
        }
        for (int c = 0; c <= r; ++c)
            b.share[std::size_t(r) * b.blocks + c] = float(w[std::size_t(c)] / sum);
    }
    if (sel && sel->sparse) {
        b.sparse = true;
        b.kept.assign(sel->head(head), sel->head(head) + sel->kept);
    }
    return b;
}

inline double jaccardOf(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
    qint64 inter = 0, uni = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        inter += a[i] && b[i];
        uni += a[i] || b[i];
    }
    return uni > 0 ? double(inter) / double(uni) : 1.0;
}

// Error view data for layers 0 .. layers-1 of `heads` heads, no metrics yet (the tests add them with
// ErrorView::setLayerMetrics, as the ViewSet does when they arrive).
inline ErrorData errorData(int layers, int heads, qint64 window) {
    ErrorData data;
    data.qHeads = heads;
    data.window = window;
    for (int l = 0; l < layers; ++l)
        data.layerIds.push_back(l);
    return data;
}

// Depth data of one head with the Jaccard matrix computed by hand (no core needed).
inline DepthData depthData(const std::vector<std::shared_ptr<tsa::Selection>>& selections, int head) {
    DepthData d;
    d.head = head;
    std::vector<std::vector<std::uint8_t>> masks;
    for (std::size_t l = 0; l < selections.size(); ++l) {
        const tsa::Selection& s = *selections[l];
        d.tokens = s.tokens;
        DepthLayer layer;
        layer.layerId = int(l);
        layer.sparse = s.sparse;
        layer.denseReason = s.sparse ? QString() : denseReasonLabel(s.denseReason);
        std::vector<std::uint8_t> mask(std::size_t(s.tokens), s.sparse ? 0 : 1);
        if (s.sparse) {
            layer.kept.assign(s.head(head), s.head(head) + s.kept);
            for (auto p : layer.kept)
                mask[std::size_t(p)] = 1;
        }
        masks.push_back(std::move(mask));
        d.layers.push_back(std::move(layer));
    }
    const std::size_t n = masks.size();
    d.jaccard.resize(n * n);
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = 0; b < n; ++b)
            d.jaccard[a * n + b] = jaccardOf(masks[a], masks[b]);
    return d;
}

} // namespace tsa::views::fake
