// Effect files (`tsa-effect/1`, written by tools/tsa_eval.py): what tau does to a real model's answer.
// A safetensors file whose metadata `effect` holds one JSON object with the per-tau measures (KL to the
// dense run, top-1 agreement, perplexity, needle scores, per-layer kept fraction) and whose tensors hold,
// per tau and sparse layer, the kept sets under interleaved execution (`runs.{t}.layers.{l}.kept`) and the
// sets the same selection gives on the dense run's Q/K (`...kept_dense`), both I32 [Hq, n].
//
// readEffect validates everything and reduces the kept sets to their per-head Jaccard overlap
// |A ∩ B| / |A ∪ B| (one sorted merge per head: O(Hq n) per layer and tau), so the result stays small even
// when the file holds 32K-token sets; the indices themselves are not kept.
#pragma once

#include "core/status.h"
#include "core/tensor.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tsa {

constexpr const char* kEffectFormat = "tsa-effect/1";

struct EffectNeedle {
    Index length = 0;
    double depth = 0.0;
    std::string answer;
    std::string expected;
    double exact = 0.0;   // 0 or 1 (NaN when null)
    double overlap = 0.0; // token overlap with the expected answer in [0, 1] (NaN when null)
};

// One model layer under one tau. Fractions and overlaps are NaN where not applicable (dense layers).
struct EffectLayer {
    bool sparse = false;             // in params.layers
    double keptFraction = 1.0;       // layer_kept_fraction from the JSON (true, interleaved)
    double jaccardJson = 0.0;        // jaccard_vs_dense from the JSON (NaN when null or absent)
    bool hasKeptSets = false;        // the kept / kept_dense tensors of this layer are in the file
    Index capacity = 0;              // n of the kept tensors (tokens kept per head), 0 without them
    double jaccard = 0.0;            // mean over heads, computed from the tensors (NaN without them)
    std::vector<double> headJaccard; // per query head, computed from the tensors (empty without them)
    // The best available overlap: computed from the tensors, else the JSON's.
    double bestJaccard() const;
};

struct EffectRun {
    double tau = 0.0;
    double klLast = 0.0; // KL(dense || sparse) at the last position, nats
    double klMean = 0.0; // mean KL over the last last_n positions
    double top1Agreement = 0.0;
    double ppl = 0.0; // NaN when the workload has no text
    double meanKeptFraction = 1.0;
    double prefillMs = 0.0;
    std::vector<EffectLayer> layers; // one per model layer (num_layers)
    std::vector<EffectNeedle> needle;
    // Mean needle overlap / exact score over the cases (NaN without needle cases).
    double needleOverlap() const;
    double needleExact() const;
};

struct EffectData {
    std::string path;
    std::string model;
    std::string modelType;
    std::string device;
    std::string dtype;
    std::string transformersVersion;
    std::string torchVersion;
    int numLayers = 0;
    Index qHeads = 0;
    Index kvHeads = 0;
    Index headDim = 0;
    // params
    Index window = 0;
    Index poolKernel = 0;
    Index minTokens = 0;
    std::string sparseLayers; // all|half|drift|list
    double delta = 0.0;
    std::vector<int> layers; // the sparse layers actually used
    // workload
    std::string workloadKind; // text|prompt|needle
    std::string workloadSource;
    Index lastN = 0;
    Index selectionLength = 0; // L of the selection case (the tokens tensor when present)
    double selectionDepth = 0; // NaN when null
    // dense baseline
    double densePpl = 0.0; // NaN when null
    double densePrefillMs = 0.0;

    std::vector<double> taus;
    std::vector<EffectRun> runs; // same order as taus
    std::vector<std::int32_t> tokens;
    std::vector<std::string> tokenStrings;

    bool hasKeptSets() const;   // any run has kept tensors
    bool hasNeedle() const;     // any run has needle cases
    bool hasPerplexity() const; // any run has a finite ppl
    // Largest |computed - JSON| Jaccard over layers and runs that have both (0 when none).
    double maxJaccardDifference() const;
    // Index of the run whose tau is nearest to tau (log distance for positive taus), -1 when none.
    int runNearestTau(double tau) const;
};

// The needle results of one run laid out as the paper draws them: lengths x depths, NaN where a case is
// missing. Lengths and depths ascending.
struct NeedleGrid {
    std::vector<Index> lengths;
    std::vector<double> depths;
    std::vector<double> values; // [lengths, depths], row-major
    double at(std::size_t li, std::size_t di) const { return values[li * depths.size() + di]; }
    bool empty() const { return lengths.empty() || depths.empty(); }
};
// exact: the 0/1 exact score instead of the token overlap. Repeated (length, depth) cases are averaged.
NeedleGrid needleGrid(const EffectRun& run, bool exact = false);

// Reads and validates an effect file. Errors name the file and the key or tensor at fault: a format other
// than tsa-effect/1, malformed JSON, runs and taus of different lengths, kept tensors of the wrong dtype or
// shape, indices out of [0, L) or not ascending, kept and kept_dense of different n. Warnings report
// computed Jaccard overlaps or kept fractions that disagree with the JSON, and ignored tensors.
Result<EffectData> readEffect(const std::string& path);
// The same on bytes in memory; name stands for the path in messages.
Result<EffectData> parseEffect(const unsigned char* data, std::uint64_t size, const std::string& name);

// True when path is a safetensors file whose metadata `format` is tsa-effect/1 (reads the header only).
// Lets the explorer and `tsa info` tell effect files from captures before opening them.
bool isEffectFile(const std::string& path);

} // namespace tsa
