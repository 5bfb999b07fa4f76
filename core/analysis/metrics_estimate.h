// Error metrics estimated from a sample of query rows, with honest intervals (spec section 7 quantities),
// so the Error view has numbers within moments of a tau change while the exact ones are refined.
//
// Sample: per head, every one of the last W rows (the rows that decide the next token: their error is
// exact, never estimated) and n rows drawn uniformly without replacement from the prefix [0, P), with a
// seed, so the same rows serve every tau. At a given tau the sampled prefix rows that are kept form a
// uniform sample of the head's kept prefix rows. Each sampled row is computed exactly from a DroppedSums
// over the sampled rows (O(moved keys * rows * D) per tau change, rows = W + n instead of L).
// Estimator, stratified (window rows fully observed, kept prefix rows sampled), per head and pooled over
// the layer's heads:
//   CDF  F(x) = (#window <= x + N_p * phat(x)) / N, phat the sampled share <= x, with a Wilson score
//        interval on phat (sampling without replacement only narrows the truth, so it is conservative);
//   quantile q (median, p95; interpolated like numpy, so between the order statistics a and a + 1 with
//        a = floor(q (N - 1)) + 1): point = smallest sampled x with N F(x) >= a; interval = [largest x whose
//        upper CDF bound counts fewer than a rows, smallest x whose lower bound counts a + 1], +infinity
//        when no sampled x is that high;
//   mean: stratified mean +- z * (N_p / N) * s / sqrt(n) * sqrt(1 - n / N_p);
//   max: the largest sampled value is a lower bound, the upper bound is +infinity unless all rows are in.
// Cost: O(Hq * (W + n) * D) after the sums, plus sorting the sample.
#pragma once

#include "core/analysis/dropped_sums.h"
#include "core/analysis/metrics.h"

#include <cstdint>
#include <vector>

namespace tsa {

struct EstimateConfig {
    Index sampleRows = 256; // n: prefix rows per head (the last W rows come on top)
    double confidence = 0.95;
    std::uint64_t seed = 1; // the caller mixes in the layer so layers draw different rows
    // Checkpoints of the sampled sums along the drop order (DroppedSums::buildCheckpoints), so a tau jump
    // moves few keys: at most this many, and no more than checkpointBytes of them (0: none).
    Index checkpoints = 0;
    std::size_t checkpointBytes = 0;
};

// [Hq, rowCount] ascending rows per head: the sample above. rowCount = min(n, P) + W.
std::vector<std::int32_t> estimateRows(Index qHeads, Index tokens, Index window, const EstimateConfig& config,
                                       Index* rowCount);

// The sample's statistics of one set of values, in the stratified design above: window values are all
// observed, prefix values are n of a population of prefixPopulation.
struct SampleSummary {
    Distribution point;
    DistributionBounds bounds;
};
SampleSummary summariseSample(std::vector<double> window, std::vector<double> prefix, Index prefixPopulation,
                              double confidence);

// Metrics of a sparse selection from sums over the rows of estimateRows (estimate = true). The per-row
// arrays hold the sampled kept rows, NaN elsewhere. denseOut/denseLse are not read when the sums hold their
// dense rows (DroppedSums::computeDenseRows), and may be empty then.
LayerMetrics estimateLayerMetrics(const DroppedSums& sampled, const LayerQkvView& qkv, ConstView3 denseOut,
                                  const float* denseLse, const Selection& sel, double confidence);

} // namespace tsa
