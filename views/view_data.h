// Plain value types the views take through their setters. The explorer's controller fills them from core
// results on a worker thread and hands them to the GUI thread; large arrays travel as shared_ptr<const>
// so handing over never copies a 128K-token layer (alias into a LayerRunResult with
// std::shared_ptr<const tsa::Selection>(result, &result->selection)).
//
// Layer arguments of setters and signals are row indices into the data's layer list (the capture's layer
// position, as Capture::layer(index) takes); labels show the model layer id stored next to each row.
#pragma once

#include "core/analysis/metrics.h"
#include "core/methods/tsa_selection.h"

#include <QString>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tsa::views {

// Short reason a layer runs dense, for banners, legends and tooltips ("not a sparse layer", ...).
QString denseReasonLabel(tsa::DenseReason reason);

// ---- OverviewView: layers x heads grid of one metric.
enum class OverviewMetric { KeptFraction, ErrorP95, RetainedMass };

struct OverviewLayer {
    int layerId = 0;                 // model layer index (axis label)
    bool sparse = false;             // selection dropped tokens in this layer
    QString denseReason;             // why dense; empty when sparse
    std::vector<float> keptFraction; // [Hq] |S_h| / L; NaN = not known yet
    std::vector<float> errorP95;     // [Hq] p95 per-row output error of kept rows; NaN = not computed yet
    std::vector<float> retainedMass; // [Hq] median retained attention mass of kept rows; NaN = not computed
    // The two metrics above are an estimate from sampled rows (exact ones follow), with these intervals
    // ([Hq] each; hi = +inf where the sample cannot bound it).
    bool estimate = false;
    std::vector<float> errorP95Lo, errorP95Hi, retainedMassLo, retainedMassHi;
};

struct OverviewData {
    int qHeads = 0;
    int kvHeads = 0;
    std::vector<OverviewLayer> layers;
};

// ---- SelectionMapView: one layer, heads x token positions.
struct SelectionMapData {
    int layerId = -1;
    std::shared_ptr<const tsa::Selection> selection; // indices [Hq, kept]; empty indices when dense
    std::shared_ptr<const tsa::LayerScores> scores;  // headNorm [Hq, P]; null/empty when not scored
    int groupSize = 1;                               // Hq / Hkv: heads per kv head
    std::shared_ptr<const std::vector<std::string>> tokenStrings; // optional, [L]
};

// ---- DepthView: one head across layers.
struct DepthLayer {
    int layerId = 0;
    bool sparse = false;
    QString denseReason;
    std::vector<std::int32_t> kept; // sorted kept positions of the head; ignored when !sparse (all kept)
};

struct DepthData {
    int head = 0;
    qint64 tokens = 0;
    std::vector<DepthLayer> layers;
    // [layers x layers] Jaccard overlap of the head's kept sets (dense layers count as all positions).
    // Empty: not computed (buildDepthData fills it).
    std::vector<double> jaccard;
};

// ---- CoverageView: cumulative dropped mass against tokens dropped.
struct CoverageData {
    int layerId = -1;
    double tau = 0.005;
    qint64 prefix = 0;                     // P: the x range
    bool sparse = false;                   // false: the layer stays dense; the budget marker is not drawn
    tsa::CoverageCurve layer;              // G
    std::vector<tsa::CoverageCurve> heads; // n_h per head
};

// ---- ErrorView: per layer/head error statistics and per-row traces.
enum class ErrorMetric { RowErrorMedian, RowErrorP95, LastWindowError, RetainedMassMedian, DroppedRows };

struct ErrorData {
    int qHeads = 0;
    qint64 window = 0;         // W, for labels
    std::vector<int> layerIds; // rows
    // Per row; null = not computed yet ("computing..."). Rows fill in progressively via
    // ErrorView::setLayerMetrics.
    std::vector<std::shared_ptr<const tsa::LayerMetrics>> metrics;
    // Per row: the layer dropped tokens. Optional; when empty a layer counts as sparse when any head
    // dropped rows.
    std::vector<bool> sparse;
    // Per row: the metrics are of earlier parameters (tau changed; the new ones are being computed). Shown
    // washed out with "updating", never blanked. Optional; empty means all current.
    std::vector<bool> stale;
};

// ---- AttentionMapView: block-aggregated causal attention of one head.
struct AttentionBlocks {
    int layerId = -1;
    int head = 0;
    qint64 tokens = 0;    // L
    qint64 blockSize = 0; // tokens per block (the last block may be shorter)
    int blocks = 0;       // B = ceil(L / blockSize)
    // [B x B] row-major, drawn as given: the share of a query row's dense attention that falls on key block
    // c, averaged over the sampled rows of query block r (core's AttentionMap::mass; each row sums to 1, zero
    // above the diagonal).
    std::vector<float> share;
    std::vector<qint64> sampledRows; // [B]: query rows averaged per row block (all its rows, or a sample)
    bool sparse = false;
    std::vector<std::int32_t> kept; // sorted kept positions of the head (ignored when !sparse)
};

// ---- SparsityView: kept fraction per layer.
struct SparsityLayer {
    int layerId = 0;
    bool sparse = false;
    double keptFraction = 1.0;
    QString denseReason;
};

struct SparsityData {
    double tau = 0.005;
    qint64 tokens = 0;
    std::vector<SparsityLayer> layers;
};

// ---- HowItWorksPanel: the algorithm step by step on one head of the loaded data.
struct HowItWorksData {
    int layerId = -1;
    int head = 0;
    int groupSize = 1;
    tsa::TsaParams params;
    std::shared_ptr<const tsa::LayerScores> scores; // raw, smoothed, headNorm, layer cumulative
    std::shared_ptr<const tsa::Selection> selection;
    int firstSparseLayerId = -1; // model id of the first sparse layer, for "jump" on a dense one; -1: none
};

// ---- TextView: the capture's tokens as running text, coloured by a measure of the current head.
struct TextViewData {
    int layerId = -1;
    int head = 0;
    int groupSize = 1;
    qint64 tokens = 0;                                            // L
    std::shared_ptr<const std::vector<std::string>> tokenStrings; // optional [L]; else ids, else positions
    std::shared_ptr<const std::vector<std::int32_t>> tokenIds;    // optional [L]
    std::shared_ptr<const tsa::Selection> selection;              // current layer; null = not selected yet
    std::shared_ptr<const tsa::LayerScores> scores;               // current layer; n_h, G, head ranks
    // Every layer of the file (rows), for persistence across layers and the tooltip's list; null entries
    // are layers not selected yet.
    std::vector<int> layerIds;
    std::vector<std::shared_ptr<const tsa::Selection>> layers;
};

// ---- Builders: core results -> view data (cheap except buildDepthData's Jaccard matrix; call on a worker).
OverviewLayer makeOverviewLayer(int layerId, const tsa::Selection& selection,
                                const tsa::LayerMetrics* metrics);
SparsityLayer makeSparsityLayer(int layerId, const tsa::Selection& selection);
// Kept positions of one head across layers plus their Jaccard matrix (tsa::jaccard).
DepthData buildDepthData(int head, const std::vector<int>& layerIds,
                         const std::vector<std::shared_ptr<const tsa::Selection>>& selections);

} // namespace tsa::views
