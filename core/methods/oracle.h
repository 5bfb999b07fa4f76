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
std::vector<double> tileMasses(ConstView3 q, ConstView3 k, const float* lse, Index tile);

// Causal pairs of tile (a, c) of size `tile` over n tokens.
Index tilePairs(Index a, Index c, Index tile, Index n);

// Greedy by mass: tiles of head h in descending mass until their pairs reach `budgetPairs`. Returns the
// mass they hold and, when `chosen` is given, marks them in it ([T, T]).
double oracleMassAtBudget(const double* headMasses, Index n, Index tile, Index budgetPairs,
                          std::vector<std::uint8_t>* chosen = nullptr);

// The oracle pattern: q/k/v of the layer (v unused), density * causal pairs per head.
Result<Pattern> oraclePattern(ConstView3 q, ConstView3 k, ConstView3 v, const OracleConfig& config);

} // namespace tsa
