// Oracle: from the exact attention, per head, the tiles with the most attention mass at a budget: the
// upper bound every method is measured against (oracle recall). Procedure in docs/methods.md.
#pragma once

#include "core/methods/pattern.h"
#include "core/status.h"
#include "core/tensor.h"

#include <string>
#include <vector>

namespace tsa {

struct OracleConfig {
    double density = 0.1; // share of each head's causal pairs to keep
    Index tile = 64;      // square tiles
    std::string validate() const;
};

// Exact attention mass per tile: [Hq, T, T] with T = ceil(n / tile); each row of attention sums to 1, so
// a head's tiles sum to n. lse [Hq, n]: the dense logsumexps (causalAttention's). Cost: one pass of
// dense attention (n^2 D per head, GEMM tiles) plus n^2 / 2 exponentials.
// pairMasses, when given, also receives the histogram below from the same pass (no extra exponentials).
struct PairMassHistogram;
std::vector<double> tileMasses(ConstView3 q, ConstView3 k, const float* lse, Index tile,
                               PairMassHistogram* pairMasses = nullptr);

// The attention probabilities of every causal (query, key) pair of each head, binned by log2 p in steps of
// 1/16 octave (bin b: -log2 p in [b/16, (b+1)/16); the last bin takes everything smaller): per bin the count,
// the mass and the largest p. Why: oracle recall needs the largest mass ANY set of P pairs can hold. The tile
// oracle (greedy over 64 x 64 tiles) is not that bound: a pattern with finer blocks or single tokens can hold
// more mass at the same pair count, and its recall came out above 1.
struct PairMassHistogram {
    static constexpr int kBins = 1024;
    Index heads = 0;
    std::vector<double> counts, masses, maxima; // [heads, kBins]
};

// An upper bound on the attention mass of the best `budgetPairs` pairs of head h: whole bins from the top,
// then the pairs left at the largest p of the bin where the budget runs out (at most 2^(1/16) above the exact
// top-P mass on that one bin). Equal to the head's whole mass when the budget covers every pair.
double pairOracleMassBound(const PairMassHistogram& histogram, Index head, Index budgetPairs);

// Causal pairs of tile (a, c) of size `tile` over n tokens.
Index tilePairs(Index a, Index c, Index tile, Index n);

// Greedy by mass: tiles of head h in descending mass until their pairs reach `budgetPairs`. Returns the
// mass they hold and, when `chosen` is given, marks them in it ([T, T]).
double oracleMassAtBudget(const double* headMasses, Index n, Index tile, Index budgetPairs,
                          std::vector<std::uint8_t>* chosen = nullptr);

// The oracle pattern: q/k/v of the layer (v unused), density * causal pairs per head.
Result<Pattern> oraclePattern(ConstView3 q, ConstView3 k, ConstView3 v, const OracleConfig& config);

} // namespace tsa
