#include "app/explorer/analysis_tasks.h"

#include "core/kernels/attention.h"

#include <QCoreApplication>

namespace tsa::app {

namespace {

QString fromStd(const std::string& s) {
    return QString::fromStdString(s);
}

// Loads the layer; on failure fills out.error with a message naming the layer and the file.
std::shared_ptr<const LayerQkv> load(const LayerRef& ref, TaskOutput& out) {
    auto r = ref.capture->layer(ref.layer);
    if (r.ok()) return *r;
    out.error = QCoreApplication::translate("AnalysisController", "Cannot read %1 of %2: %3")
                    .arg(ref.name, fromStd(ref.capture->info().path), fromStd(r.error()));
    return nullptr;
}

// A failed status: cancelled, or an error message.
TaskOutput failed(const Status& s) {
    TaskOutput out;
    if (s.code == ErrorCode::Cancelled)
        out.cancelled = true;
    else
        out.error = fromStd(s.message);
    return out;
}

} // namespace

TaskOutput computeScores(const LayerRef& ref, ScoringConfig config, const std::atomic<bool>& cancel) {
    TaskOutput out;
    auto qkv = load(ref, out);
    if (!qkv) return out;
    config.cancel = &cancel;
    auto r = scoreLayer(*qkv, config);
    if (!r.ok()) return failed(r.status());
    out.scores = std::make_shared<const LayerScores>(std::move(r.value()));
    return out;
}

TaskOutput computeDense(const LayerRef& ref, int threads, const std::atomic<bool>& cancel) {
    TaskOutput out;
    auto qkv = load(ref, out);
    if (!qkv) return out;
    auto dense = std::make_shared<DenseResult>();
    dense->output = Tensor3::uninitialised(qkv->qHeads(), qkv->tokens(), qkv->headDim());
    dense->lse.resize(std::size_t(qkv->qHeads() * qkv->tokens()));
    AttentionConfig c;
    c.threads = threads;
    c.cancel = &cancel;
    if (Status s = causalAttention(qkv->q.cview(), qkv->k.cview(), qkv->v.cview(), dense->output.view(),
                                   dense->lse.data(), c);
        !s.ok())
        return failed(s);
    out.dense = std::move(dense);
    return out;
}

TaskOutput computeAttentionMap(const LayerRef& ref, Index head, std::shared_ptr<const DenseResult> dense,
                               AttentionMapConfig config, const std::atomic<bool>& cancel) {
    TaskOutput out;
    auto qkv = load(ref, out);
    if (!qkv) return out;
    config.cancel = &cancel;
    const float* lse = dense ? dense->lse.data() + head * qkv->tokens() : nullptr;
    auto r = computeAttentionMap(qkv->q.cview(), qkv->k.cview(), head, lse, config);
    if (!r.ok()) return failed(r.status());
    out.map = std::make_shared<const AttentionMap>(std::move(r.value()));
    return out;
}

namespace {

// Brings sums to sel and returns the qkv, or fills out (error / cancelled).
std::shared_ptr<const LayerQkv> updateSums(const LayerRef& ref, const Selection& sel,
                                           const DenseResult& dense, DroppedSums& sums, int threads,
                                           const std::atomic<bool>& cancel, TaskOutput& out) {
    auto qkv = load(ref, out);
    if (!qkv) return nullptr;
    AttentionConfig c;
    c.threads = threads;
    c.cancel = &cancel;
    if (Status s = sums.update(*qkv, dense.output.cview(), dense.lse.data(), sel, c); !s.ok()) {
        out = failed(s);
        return nullptr;
    }
    return qkv;
}

} // namespace

TaskOutput computeExactMetrics(const LayerRef& ref, std::shared_ptr<const Selection> sel,
                               std::shared_ptr<const DenseResult> dense, std::shared_ptr<DroppedSums> sums,
                               int threads, const std::atomic<bool>& cancel) {
    TaskOutput out;
    const Tensor3& d = dense->output;
    if (sums->qHeads() == 0) *sums = DroppedSums(d.heads, d.tokens, d.dim, d.tokens - sel->window);
    auto qkv = updateSums(ref, *sel, *dense, *sums, threads, cancel, out);
    if (!qkv) return out;
    out.metrics = std::make_shared<const LayerMetrics>(
        metricsFromDroppedSums(*sums, *qkv, d.cview(), dense->lse.data(), *sel));
    out.sums = std::move(sums);
    return out;
}

TaskOutput computeEstimate(const LayerRef& ref, std::shared_ptr<const Selection> sel,
                           std::shared_ptr<const DenseResult> dense,
                           std::shared_ptr<const LayerScores> scores, std::shared_ptr<DroppedSums> sums,
                           EstimateConfig config, int threads, const std::atomic<bool>& cancel) {
    TaskOutput out;
    auto qkv = load(ref, out);
    if (!qkv) return out;
    const Index H = qkv->qHeads(), L = qkv->tokens(), D = qkv->headDim();
    AttentionConfig c;
    c.threads = threads;
    c.cancel = &cancel;
    if (sums->qHeads() == 0) {
        Index rows = 0;
        std::vector<std::int32_t> list = estimateRows(H, L, sel->window, config, &rows);
        *sums = DroppedSums(H, L, D, L - sel->window, std::move(list), rows);
    }
    // Checkpoints along the drop order make a later tau jump cheap. Built once per sums object, in the same
    // pass that gives the sampled rows their dense reference when the layer's dense pass is not cached.
    const bool ranked = scores && !scores->headRank.empty() && scores->prefix == L - sel->window;
    if (ranked && sel->sparse && config.checkpoints > 0 && sums->checkpointCount() == 0) {
        // The ranks (checkpointBytes(0)) are paid once, then each checkpoint costs the same.
        const std::size_t fixed = sums->checkpointBytes(0), each = sums->checkpointBytes(1) - fixed;
        const std::size_t room = config.checkpointBytes > fixed ? config.checkpointBytes - fixed : 0;
        const Index count = std::min<Index>(config.checkpoints, Index(room / std::max<std::size_t>(each, 1)));
        if (!sums->hasDenseRows() && dense) sums->takeDenseRows(dense->output.cview(), dense->lse.data());
        if (count > 0)
            if (Status s = sums->buildCheckpoints(*qkv, scores->headRank.data(), count, c); !s.ok())
                return failed(s);
    }
    // The dense reference of the sampled rows: from the layer's dense pass when cached, else for these rows
    // alone, so every layer has an estimate long before its dense pass.
    if (!sums->hasDenseRows()) {
        if (dense) {
            sums->takeDenseRows(dense->output.cview(), dense->lse.data());
        } else if (Status s = sums->computeDenseRows(*qkv, c); !s.ok()) {
            return failed(s);
        }
    }
    if (Status s = sums->update(*qkv, {}, nullptr, *sel, c); !s.ok()) return failed(s);
    out.metrics = std::make_shared<const LayerMetrics>(
        estimateLayerMetrics(*sums, *qkv, {}, nullptr, *sel, config.confidence));
    out.sums = std::move(sums);
    return out;
}

TaskOutput computeSelections(std::vector<std::pair<int, std::shared_ptr<const LayerScores>>> inputs,
                             Index qHeads, Index tokens, TsaParams params, const std::atomic<bool>& cancel) {
    TaskOutput out;
    for (const auto& [layer, sc] : inputs) {
        if (cancel.load()) {
            out.cancelled = true;
            return out;
        }
        out.selections.emplace_back(
            layer, std::make_shared<const Selection>(selectTokens(*sc, qHeads, tokens, params)));
    }
    return out;
}

} // namespace tsa::app
