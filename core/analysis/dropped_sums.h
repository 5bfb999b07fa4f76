// Exact error metrics that follow a tau change incrementally, from the dropped side (spec section 7).
//
// For query head h and row i, with the dense probabilities p_ij = exp(q_i.k_j / sqrt(D) - lse_i) (lse_i:
// the dense pass's logsumexp, reused) and X_h the prefix keys the selection drops:
//     B_hi = sum_{j in X_h, j <= i} p_ij v_j   [D]        m_hi = sum_{j in X_h, j <= i} p_ij
// A kept row's sparse output is o_s = (o_d - B) / (1 - m) and its retained mass is 1 - m, so the metrics
// follow from (B, m) in O(L D) per head. A tau change moves keys into or out of X_h (selections are nested:
// a larger tau drops a superset); each moved key j adds +-p_ij v_j to the rows i >= j, so a slider step
// costs O(moved keys * rows * D) instead of a sparse attention pass. Every update picks the cheapest of
// three paths by counting (key, row) products: the moved keys (incremental), X_h from zero, or the kept
// keys from zero (then B = o_d - A, m = 1 - a).
// Rows whose dropped mass m exceeds a limit (0.99) get their output from the kept keys directly (O(kept * D)
// per row), because (o_d - B) / (1 - m) loses digits as 1 - m shrinks. The same state over a sample of rows
// feeds the error estimate (core/analysis/metrics_estimate.h). Shapes: q [Hq, L, D], k/v [Hkv, L, D], lse
// [Hq, L]; sums [Hq, R, D] fp32, mass [Hq, R] fp64 for R rows per head (all L rows, or a sorted sample).
// Checkpoints (for the sampled state that feeds the estimate): a tau jump moves thousands of keys per head,
// each costing 4 D flops on every sampled row after it. The selection keeps a prefix of each head's score
// order, so the dropped sets of all taus lie along one drop order (nested, up to min_tokens clamps). K
// snapshots of (B, m) at dropped counts c P / (K + 1), c = 1..K, built in one pass over the prefix keys
// in drop order, let an update start from the snapshot whose dropped set differs least (by (key, row)
// products of the symmetric difference) and move by that difference: correct for any selection, cheap
// when the new set is near a snapshot (at most P / (2 (K + 1)) keys away along the order).
// Memory: Hq * R * (D * 4 + 8) bytes plus Hq * P flags; checkpoints add K times the sums plus Hq * P ranks.
#pragma once

#include "core/analysis/metrics.h"
#include "core/kernels/attention.h"
#include "core/methods/tsa_selection.h"
#include "core/status.h"
#include "core/tensor.h"

#include <cstdint>
#include <vector>

namespace tsa {

// Keys (ascending) whose contribution one head adds (+1) or removes (-1).
struct SignedKeys {
    std::vector<std::int32_t> keys;
    std::vector<float> signs;
};

// sums[h, r] += sum_{j in columns[h], j <= row(h, r)} sign_j p_{row, j} v_j and mass[h, r] += the signed
// probabilities, where row(h, r) = rows[h * rowCount + r] (ascending per head) or r when rows is null
// (rowCount = L), and p uses rowLse[h * rowCount + r], the dense logsumexp of that row. GEMM tiles of
// (rows x keys); cancellable between tiles.
Status accumulateKeyColumns(const LayerQkvView& qkv, const float* rowLse,
                            const std::vector<SignedKeys>& columns, const std::int32_t* rows, Index rowCount,
                            float* sums, double* mass, const AttentionConfig& config);

// lse[h * rowCount + r] = ln sum_{j <= row(h, r)} exp(q_row.k_j / sqrt(D)): the dense logsumexp of the
// listed rows alone (rows as above), online over key tiles in base 2. O(rows * L/2 * D) per head.
Status rowLogSumExp(const LayerQkvView& qkv, const std::int32_t* rows, Index rowCount, float* lse,
                    const AttentionConfig& config);

// Which path the last update took, and its size in (key, row) products per head on average.
enum class DroppedSumsPath { None, Incremental, DroppedFromZero, KeptFromZero, FromCheckpoint };
const char* droppedSumsPathName(DroppedSumsPath path);

class DroppedSums {
public:
    DroppedSums() = default;
    // rows: [qHeads, rowCount] ascending per head, or empty for every row (rowCount = tokens).
    DroppedSums(Index qHeads, Index tokens, Index dim, Index prefix, std::vector<std::int32_t> rows = {},
                Index rowCount = 0);

    // The dense reference of a sampled state's own rows ([Hq, R, D] and [Hq, R]), so an estimate needs no
    // dense pass over the whole layer: gathered from one, or computed for these rows alone
    // (one online-softmax pass over their keys, like the dense kernel: O(R * L/2 * 4 D) per head).
    void takeDenseRows(ConstView3 denseOut, const float* denseLse);
    Status computeDenseRows(const LayerQkvView& qkv, const AttentionConfig& config);
    bool hasDenseRows() const { return !m_refLse.empty(); }

    // Snapshots of the sums at `count` dropped sets along each head's drop order. order: [Hq, P] prefix
    // positions by score descending (LayerScores::headRank: a selection keeps a leading run of it). One
    // pass over the prefix keys for this state's rows; when the dense rows are missing the same pass goes
    // on over the remaining keys and provides them too (no extra cost over computeDenseRows). On cancel or
    // error no checkpoint is kept. Leaves the current sums alone. Memory: checkpointBytes(count).
    Status buildCheckpoints(const LayerQkvView& qkv, const std::int32_t* order, Index count,
                            const AttentionConfig& config);
    Index checkpointCount() const { return Index(m_ckDropped.size()); }
    std::size_t checkpointBytes(Index count) const {
        return std::size_t(count * m_qHeads * m_rowCount) *
                   (std::size_t(m_dim) * sizeof(float) + sizeof(double)) +
               std::size_t(m_qHeads * m_prefix) * sizeof(std::int32_t);
    }
    const float* denseRow(Index h, Index r) const { return m_refOut.data() + (h * m_rowCount + r) * m_dim; }
    float denseLse(Index h, Index r) const { return m_refLse[std::size_t(h * m_rowCount + r)]; }

    // Brings the sums to the selection's dropped sets. denseOut/denseLse: the dense pass of the layer
    // ([Hq, L, D], [Hq, L]); not read by a sampled state that has its dense rows (then they may be empty). A
    // dense selection drops nothing. Heads are updated in batches and committed one batch at a time: on
    // cancel the heads already done hold the new selection, the others the old, and only the batch that was
    // interrupted is rebuilt from zero by the next update.
    Status update(const LayerQkvView& qkv, ConstView3 denseOut, const float* denseLse, const Selection& sel,
                  const AttentionConfig& config);

    bool initialised() const; // every head holds the sums of the dropped set it records
    DroppedSumsPath lastPath() const { return m_lastPath; }
    double lastProducts() const { return m_lastProducts; } // (key, row) products of the last update
    Index qHeads() const { return m_qHeads; }
    Index tokens() const { return m_tokens; }
    Index dim() const { return m_dim; }
    Index rowCount() const { return m_rowCount; }
    Index row(Index h, Index r) const { return m_rows.empty() ? r : m_rows[std::size_t(h * m_rowCount + r)]; }
    const float* sums(Index h, Index r) const { return m_sums.data() + (h * m_rowCount + r) * m_dim; }
    double mass(Index h, Index r) const { return m_mass[std::size_t(h * m_rowCount + r)]; }
    bool isDropped(Index h, Index key) const {
        return key < m_prefix && m_dropped[std::size_t(h * m_prefix + key)] != 0;
    }
    std::size_t bytes() const;

private:
    double products(Index h, const std::int32_t* keys, Index n) const;
    Index nearestCheckpoint(Index h, const unsigned char* next, double* cost) const;

    Index m_qHeads = 0, m_tokens = 0, m_dim = 0, m_prefix = 0, m_rowCount = 0;
    std::vector<std::int32_t> m_rows;
    std::vector<float> m_sums;
    std::vector<double> m_mass;
    std::vector<unsigned char> m_dropped;   // [Hq, P]: membership of X_h the sums hold
    std::vector<unsigned char> m_headReady; // [Hq]: the head's sums match its row of m_dropped
    std::vector<float> m_refOut, m_refLse;  // dense rows of a sampled state (empty: use the layer's)
    std::vector<Index> m_ckDropped;         // [K]: dropped count of each checkpoint, ascending
    std::vector<std::int32_t> m_ckRank;     // [Hq, P]: position of each key in its head's score order
    std::vector<float> m_ckSums;            // [K, Hq, R, D]
    std::vector<double> m_ckMass;           // [K, Hq, R]
    DroppedSumsPath m_lastPath = DroppedSumsPath::None;
    double m_lastProducts = 0.0;
};

// Above this dropped mass a row's sparse output is computed from its kept keys directly. The sums carry
// about 1e-6 relative rounding (fp32 GEMM accumulation), amplified by 1 / (1 - m): at most 1e-4 here, on
// rows whose error is of order one because they lost 99% of their attention.
inline constexpr double kDirectRowMass = 0.99;

// The sparse output of kept row i of head h from its kept keys (fp64 accumulation, own max shift):
// out [D]; returns ln of sum_{kept j <= i} exp(q_i.k_j / sqrt(D)), the sparse logsumexp. O(kept * D).
double directKeptRow(const LayerQkvView& qkv, const Selection& sel, Index h, Index i, float* out);

// Row r of a DroppedSums against dense attention, straight from the sums in one pass over D:
// ||o_s - o_d||^2 = ||m o_d - B||^2 / (1 - m)^2, ||o_d||^2 and the retained mass 1 - m; from the kept keys
// directly above kDirectRowMass (returns true then). denseOut/denseLse as in update().
struct RowError {
    double diff2 = 0.0, ref2 = 0.0, retained = 1.0;
};
bool rowErrorFromSums(const DroppedSums& sums, const LayerQkvView& qkv, ConstView3 denseOut,
                      const float* denseLse, const Selection& sel, Index h, Index r, RowError* out);

// Exact metrics of the selection from full-row sums (rowCount == tokens), through LayerMetricsBuilder so
// every summary rule stays in one place. directRows (optional) counts the rows taken directly.
LayerMetrics metricsFromDroppedSums(const DroppedSums& sums, const LayerQkvView& qkv, ConstView3 denseOut,
                                    const float* denseLse, const Selection& sel, Index* directRows = nullptr);

} // namespace tsa
