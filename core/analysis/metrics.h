// Derived quantities of spec section 7: output error of kept rows, retained attention mass, coverage
// curves, kept-set overlap across layers and heads.
#pragma once

#include "core/methods/tsa_selection.h"
#include "core/tensor.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tsa {

struct Distribution {
    double median = 0.0;
    double p95 = 0.0;
    double max = 0.0;
    double mean = 0.0;
    Index count = 0;
};

// Summarises values (NaN entries are ignored). p95 uses linear interpolation like numpy's default.
Distribution summarise(std::vector<double> values);

// A confidence interval of an estimated statistic; hi is +infinity where the sample cannot bound it (the
// maximum of rows not sampled, a p95 above every sampled row).
struct Interval {
    double lo = 0.0;
    double hi = 0.0;
    bool contains(double v) const { return v >= lo && v <= hi; }
};
struct DistributionBounds {
    Interval median, p95, mean, max;
};

struct HeadMetrics {
    double keptFraction = 1.0;
    Distribution rowError;      // ||o_sparse - o_dense|| / ||o_dense|| over kept rows
    double lastWindowError = 0; // same ratio over the last W rows together (Frobenius)
    Distribution retainedMass;  // dense attention mass on kept keys, over kept rows
    Index droppedRows = 0;      // rows that are zero by design
    // Only in an estimate (LayerMetrics::estimate): intervals around rowError and retainedMass, and how
    // many kept rows were computed. lastWindowError, keptFraction and droppedRows are exact in estimates too.
    DistributionBounds rowErrorBounds, retainedMassBounds;
    Index sampledRows = 0;
};

struct LayerMetrics {
    // An estimate from a sample of rows (core/analysis/metrics_estimate.h) rather than every row: the
    // distributions are point estimates with intervals at this confidence, the per-row arrays hold the
    // sampled rows only.
    bool estimate = false;
    double confidence = 0.0;
    Index qHeads = 0;
    Index tokens = 0;
    std::vector<HeadMetrics> heads;
    HeadMetrics layer;               // over all heads' rows together
    std::vector<float> rowError;     // [Hq, L]: per-row error of kept rows, NaN for dropped rows
    std::vector<float> retainedMass; // [Hq, L]: per-row retained mass, NaN for dropped rows
};

// The per-layer summaries a plot across layers can show (the overview's metric), and the one table of
// their names in options, sessions and the controls: "kept" (kept fraction), "error-p95" (p95 row error of
// kept rows), "retained-mass" (median retained attention mass).
enum class LayerMeasure { KeptFraction, ErrorP95, RetainedMass };
const char* layerMeasureName(LayerMeasure measure);
std::optional<LayerMeasure> layerMeasureFromName(std::string_view name);
std::string layerMeasureChoices(); // "kept, error-p95 or retained-mass"
std::vector<LayerMeasure> layerMeasures();

// dense/sparse: [Hq, L, D] decompressed outputs; denseLse/sparseLse: [Hq, L] logsumexps from the attention
// kernels (sparseLse over the kept keys of each kept row, scattered to positions). A dense selection
// yields zero error and full mass.
LayerMetrics computeLayerMetrics(const Selection& selection, ConstView3 dense, ConstView3 sparse,
                                 const float* denseLse, const float* sparseLse);

// The metrics of a layer that runs dense (selection.sparse is false): every row is computed exactly, so
// each row's error is 0 and its retained mass 1, summarised as computeLayerMetrics would; no attention is
// run. A sparse selection is refused with an empty result (qHeads 0): its metrics need the outputs.
LayerMetrics denseLayerMetrics(const Selection& selection);

// Accumulates the metrics one head at a time, so callers can compute the dense reference per head and
// never hold a dense copy of the whole layer. denseRows/sparseRows: [L, D] of one head; lse: [L].
class LayerMetricsBuilder {
public:
    LayerMetricsBuilder(const Selection& selection, Index qHeads, Index tokens);
    void addHead(Index h, const float* denseRows, const float* sparseRows, Index dim, const float* denseLse,
                 const float* sparseLse);
    // The same from per-row quantities [L] (read for kept rows only): ||o_s - o_d||^2, ||o_d||^2 and the
    // retained mass, for callers that have them without the sparse rows (core/analysis/dropped_sums.h).
    void addHeadRows(Index h, const double* diff2, const double* ref2, const double* retainedMass);
    LayerMetrics finish();

private:
    const Selection& m_selection;
    LayerMetrics m_metrics;
    std::vector<double> m_errors, m_mass;
    double m_windowDiff = 0.0, m_windowRef = 0.0;
};

// Coverage curve (section 7): sorted scores ascending, cumulative sum against tokens dropped.
struct CoverageCurve {
    std::vector<double> dropped;    // number of tokens dropped (x), downsampled
    std::vector<double> cumulative; // cumulative mass of the dropped tokens (y)
    Index budgetDropped = 0;        // n + 1 when the budget is used
};
// head < 0: the layer curve (G); else the head's n_h. maxPoints bounds the returned size.
CoverageCurve coverageCurve(const LayerScores& scores, Index head, double tau, Index maxPoints = 2048);

// |A ∩ B| / |A ∪ B| of two sorted index sets.
double jaccard(const std::int32_t* a, Index na, const std::int32_t* b, Index nb);

} // namespace tsa
