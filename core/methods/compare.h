// Measures of a method on one layer against dense attention (issue 11): density, retained attention
// mass, row error (all rows, kept rows, last W rows), recall against the oracle at equal budget, and
// measured CPU time (estimation included) against our dense kernel.
#pragma once

#include "core/analysis/metrics.h"
#include "core/methods/methods.h"
#include "core/methods/oracle.h"

#include <string>
#include <vector>

namespace tsa {

struct MethodHeadMeasures {
    double density = 1.0;       // computed causal pairs / L (L + 1) / 2
    double retainedMass = 1.0;  // mean over computed rows of the dense attention mass on computed keys
    Distribution errorAll;      // ||o - o_dense|| / ||o_dense|| per row, dropped rows count 1
    Distribution errorKept;     // the same over computed rows
    double errorLastWindow = 0; // Frobenius ratio over the last W rows together
    double oracleRecall = 1.0;  // mass on computed pairs / the most mass any as many pairs can hold (<= 1)
};

struct MethodMeasures {
    std::string method;
    std::vector<std::pair<std::string, double>> params;
    MethodHeadMeasures layer; // every head's rows together (density and recall: pair- and mass-weighted)
    std::vector<MethodHeadMeasures> heads;
    double estimateMs = 0;  // pattern estimation (scoring, pooling, search)
    double attentionMs = 0; // gather + block-sparse attention + scatter
    double timeMs() const { return estimateMs + attentionMs; }
};

// The dense reference of a layer, computed once and shared by every method measured on it.
struct DenseReference {
    Tensor3 output;
    std::vector<float> lse;
    std::vector<double> tileMasses; // [Hq, T, T], oracle tiles of `tile`
    Index tile = 64;
    PairMassHistogram pairMasses; // every causal pair's probability, binned: the recall bound
    double timeMs = 0;            // our dense kernel alone
};

Result<DenseReference> denseReference(const LayerQkv& qkv, const AttentionConfig& config = {},
                                      Index tile = 64);

// lastWindow: W of the last-W error (TSA's window by default). pattern, when given, receives the pattern.
Result<MethodMeasures> measureMethod(MethodKind kind, const LayerQkv& qkv, const MethodSettings& settings,
                                     const DenseReference& dense, Index lastWindow,
                                     const AttentionConfig& config = {}, Pattern* pattern = nullptr);

} // namespace tsa
