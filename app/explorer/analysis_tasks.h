// The explorer's task kinds: each a function that computes one value from inputs given by value (a shared
// capture, parameters, earlier results), with a cancel flag, and touches nothing else. Applying the value
// to the ResultStore is separate (AnalysisController::apply), as in KDAB Hotspot's jobtracker.h, so
// these run on a worker without reaching back into the controller.
#pragma once

#include "app/explorer/result_store.h"
#include "core/analysis/attention_map.h"
#include "core/analysis/dropped_sums.h"
#include "core/analysis/metrics_estimate.h"
#include "core/io/capture.h"

#include <QString>
#include <atomic>
#include <memory>
#include <utility>
#include <vector>

namespace tsa::app {

// What a task produced: the field of its kind, or an error for the user (empty when cancelled).
struct TaskOutput {
    QString error;
    bool cancelled = false;
    std::shared_ptr<const LayerScores> scores;
    std::shared_ptr<const DenseResult> dense;
    std::shared_ptr<const AttentionMap> map;
    std::shared_ptr<const LayerMetrics> metrics;
    std::shared_ptr<DroppedSums> sums; // the partial sums the metrics came from, to keep for the next tau
    std::vector<std::pair<int, std::shared_ptr<const Selection>>> selections;
};

// The layer being worked on: the file, its position in it and the name messages use.
struct LayerRef {
    std::shared_ptr<Capture> capture;
    int layer = -1;
    QString name; // "layer 12"
};

TaskOutput computeScores(const LayerRef& ref, ScoringConfig config, const std::atomic<bool>& cancel);
TaskOutput computeDense(const LayerRef& ref, int threads, const std::atomic<bool>& cancel);
TaskOutput computeAttentionMap(const LayerRef& ref, Index head, std::shared_ptr<const DenseResult> dense,
                               AttentionMapConfig config, const std::atomic<bool>& cancel);
// Exact metrics through the layer's full-row dropped sums, moved in place from the selection they hold
// to this one (filled from zero when empty).
TaskOutput computeExactMetrics(const LayerRef& ref, std::shared_ptr<const Selection> sel,
                               std::shared_ptr<const DenseResult> dense, std::shared_ptr<DroppedSums> sums,
                               int threads, const std::atomic<bool>& cancel);
// The sampled-row estimate (sums over the sample rows; an empty sums object gets config's rows). With
// config.checkpoints and ranked scores, a sparse layer's sums get their checkpoints first (once).
TaskOutput computeEstimate(const LayerRef& ref, std::shared_ptr<const Selection> sel,
                           std::shared_ptr<const DenseResult> dense,
                           std::shared_ptr<const LayerScores> scores, std::shared_ptr<DroppedSums> sums,
                           EstimateConfig config, int threads, const std::atomic<bool>& cancel);
TaskOutput computeSelections(std::vector<std::pair<int, std::shared_ptr<const LayerScores>>> inputs,
                             Index qHeads, Index tokens, TsaParams params, const std::atomic<bool>& cancel);

} // namespace tsa::app
