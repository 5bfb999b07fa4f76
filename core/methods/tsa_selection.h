// Token Sparse Attention selection (spec sections 2 and 3; which layers run it, section 6, is
// layer_plan.h): Dynamic Token Coverage scoring over the last W queries, smoothing, normalisation, the
// tau budget and the per-head top-capacity index sets. Scoring (tau independent, costs W*L*D per head)
// is separated from selection (cheap, O(Hq * P)) so a tau change only reruns selection.
#pragma once

#include "core/kernels/attention.h"
#include "core/methods/pattern.h"
#include "core/status.h"
#include "core/tensor.h"

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace tsa {

struct TsaParams {
    double tau = 0.005;
    Index window = 128;   // W
    Index poolKernel = 7; // k, odd
    Index minTokens = 1024;
};

struct ScoringConfig {
    Index window = 128;
    Index poolKernel = 7;
    // Precompute each head's full score order, so every later selection (a tau change in the explorer) is
    // O(P). A one-shot run needs only one top-capacity set and skips the O(P log P) sorts.
    bool rankHeads = true;
    int threads = 0;
    const std::atomic<bool>* cancel = nullptr;
};

// Tau-independent scores of one layer. P = tokens - window prefix positions.
struct LayerScores {
    Index qHeads = 0;
    Index tokens = 0;
    Index window = 0;
    Index prefix = 0; // P
    Index poolKernel = 0;
    std::vector<float> raw;                   // a_h [Hq, P]: mean attention of the window queries
    std::vector<float> smoothed;              // s_h [Hq, P]: k-wide moving average, zero padded
    std::vector<float> headNorm;              // n_h [Hq, P]
    std::vector<float> layerNorm;             // G [P]
    std::vector<std::int32_t> layerAscending; // positions sorted by G ascending (stable)
    std::vector<double> layerCumulative;      // running sum of G in that order, c_1..c_P
    std::vector<std::int32_t> headRank;       // [Hq, P]: positions by n_h descending, ties to lower position
                                              // (empty when scored with rankHeads = false)

    const float* headScores(Index h) const { return headNorm.data() + h * prefix; }
    const std::int32_t* headOrder(Index h) const { return headRank.data() + h * prefix; }
};

// Errors name the problem: bad window or kernel, q/k/v shapes that disagree, a layer not longer than W.
// v is not read (scores depend on q and k only).
Result<LayerScores> scoreLayer(const LayerQkvView& qkv, const ScoringConfig& config);

// q [Hq, L, D], k and v [Hkv, L, D] with Hq a multiple of Hkv: the shape rules of a layer, checked by
// scoreLayer and runLayer so callers that build layers themselves (the Python module) get a clear error.
Status checkLayerShapes(const LayerQkvView& qkv, bool needV = true);

// Why a layer runs dense, if it does.
enum class DenseReason { None, NotSparseLayer, TooShort, TauZero, BudgetEmpty };
const char* denseReasonText(DenseReason reason);

// TSA's pattern: the per-head token sets of the one pattern type (core/methods/pattern.h; qHeads, tokens,
// kept = capacity + W when sparse and tokens when dense, indices [Hq, kept] each row ascending, empty when
// dense), plus why and by how much the layer was compressed. A Selection runs and is measured as a pattern
// with no block stage (runPattern in core/methods/pattern_attention.h).
struct Selection : TokenSets {
    bool sparse = false;
    DenseReason denseReason = DenseReason::NotSparseLayer;
    Index window = 0;
    Index prefix = 0;
    Index budgetCount = 0; // n = #{t : c_t < tau}
    Index capacity = 0;    // kept prefix tokens per head, max(min_tokens, P - (n + 1))

    double keptFraction() const { return tokens > 0 ? double(kept) / double(tokens) : 1.0; }
};

// Spec section 2: a layer stays dense when it is short or tau is zero; scores are not needed to know.
bool layerStaysDense(Index tokens, const TsaParams& params, DenseReason* reason = nullptr);

// The selection of a layer that runs dense for the given reason: every token kept, no indices.
Selection denseSelection(Index qHeads, Index tokens, const TsaParams& params, DenseReason reason);

// Budget and per-head selection for a sparse layer (sections 3.5, 3.6). scores may be empty when the
// layer stays dense by section 2.
Selection selectTokens(const LayerScores& scores, Index qHeads, Index tokens, const TsaParams& params);

} // namespace tsa
