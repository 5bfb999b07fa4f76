// Dropped-side partial sums: the kernel, the path choice and the metrics (see dropped_sums.h for the maths).
//
// Kernel: one work item is (query head h, a tile of Bq rows of its row list). For each tile of Bk of the
// head's signed keys up to the tile's last row, K and V rows are gathered (they are scattered positions),
//     S = (log2 e / sqrt(D)) Q_rows K_keys^T                    GEMM Bq x Bk x D
//     P = 2^(S - lse_row * log2 e), 0 where key > row           (no max shift: p <= 1 by construction)
//     acc += P (sign V)_keys;  mass += rowsum sign P (fp64)      GEMM Bq x D x Bk
// (the signs are folded into the gathered value rows, and a key tile whose keys share one sign takes the mass
// from the exponentials' own sum).
// and acc is added to the rows' sums. Cost: 4 * D flops per (key, row <= key) pair, plus the gathers.
#include "core/analysis/dropped_sums.h"

#include "core/kernels/attention_exp.h"
#include "core/kernels/attention_gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>
#include <omp.h>

namespace tsa {

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr Index kRowTile = 128;
constexpr Index kKeyTile = 256;

struct Scratch {
    std::vector<float> q, s, acc;
    Index head = -1;                 // whose keys headK/headV hold
    std::vector<float> headK, headV; // that head's key and value rows, gathered once per thread
    std::vector<float> tileSign;     // per kKeyTile keys of the head: +1, -1, or 0 when mixed
    std::vector<double> mass;
    std::vector<std::int32_t> rowIds;
};

} // namespace

Status accumulateKeyColumns(const LayerQkvView& qkv, const float* rowLse,
                            const std::vector<SignedKeys>& columns, const std::int32_t* rows, Index rowCount,
                            float* sums, double* mass, const AttentionConfig& config) {
    const Index H = qkv.qHeads(), L = qkv.tokens(), D = qkv.headDim();
    if (Index(columns.size()) != H)
        return Status::error(ErrorCode::InvalidArgument,
                             "dropped sums: one key list per query head expected (" +
                                 std::to_string(columns.size()) + " for " + std::to_string(H) + " heads)");
    if (!rows && rowCount != L)
        return Status::error(ErrorCode::InvalidArgument, "dropped sums: every row needs rowCount == tokens");
    if (config.cancel && config.cancel->load()) return Status::error(ErrorCode::Cancelled, "cancelled");
    if (H == 0 || rowCount == 0 || D == 0) return Status::success();
    const Index group = qkv.groupSize();
    // Contiguous rows are used in place, so larger tiles cost no gather and halve the GEMM calls.
    const Index rowTile = rows ? kRowTile : 4 * kRowTile;
    const Index rowTiles = (rowCount + rowTile - 1) / rowTile;
    std::vector<std::pair<Index, Index>> items; // (head, tile), only tiles that see a moved key
    for (Index h = 0; h < H; ++h) {
        if (columns[std::size_t(h)].keys.empty()) continue;
        const std::int32_t first = columns[std::size_t(h)].keys.front();
        for (Index t = rowTiles - 1; t >= 0; --t) {
            const Index lastEntry = std::min(rowCount, (t + 1) * rowTile) - 1;
            const Index lastRow = rows ? rows[h * rowCount + lastEntry] : lastEntry;
            if (lastRow < first) break; // earlier tiles end earlier still
            items.emplace_back(h, t);
        }
    }
    const float logitScale = kLog2e / std::sqrt(float(D));
    int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
    threads = int(std::max<Index>(1, std::min<Index>(threads, Index(items.size()))));
    detail::prepareTileGemmThreads();
    const detail::RowKernels& rk = detail::rowKernels();
    std::atomic<bool> cancelled{false};

#pragma omp parallel num_threads(threads)
    {
        Scratch sc;
        sc.q.resize(std::size_t(rowTile * D));
        sc.s.resize(std::size_t(rowTile * kKeyTile));
        sc.acc.resize(std::size_t(rowTile * D));
        sc.mass.resize(std::size_t(rowTile));
        sc.rowIds.resize(std::size_t(rowTile));
#pragma omp for schedule(dynamic, 1)
        for (std::size_t it = 0; it < items.size(); ++it) {
            if (cancelled.load(std::memory_order_relaxed)) continue;
            if (config.cancel && config.cancel->load(std::memory_order_relaxed)) {
                cancelled = true;
                continue;
            }
            const auto [h, t] = items[it];
            const Index e0 = t * rowTile, n = std::min(rowTile, rowCount - e0);
            const Index kv = h / group;
            const SignedKeys& cols = columns[std::size_t(h)];
            if (sc.head != h) {
                // Items come head by head: each thread gathers a head's scattered key rows once. The sign
                // goes into the value row (P (sign V) = (sign P) V), so P needs no per-element multiply.
                const std::size_t nk = cols.keys.size();
                sc.headK.resize(nk * std::size_t(D));
                sc.headV.resize(nk * std::size_t(D));
                sc.tileSign.assign((nk + kKeyTile - 1) / kKeyTile, 0.0f);
                for (std::size_t c = 0; c < nk; ++c) {
                    std::copy_n(qkv.k.row(kv, cols.keys[c]), D, sc.headK.data() + c * std::size_t(D));
                    const float sign = cols.signs[c];
                    const float* v = qkv.v.row(kv, cols.keys[c]);
                    float* dst = sc.headV.data() + c * std::size_t(D);
                    for (Index d = 0; d < D; ++d)
                        dst[d] = sign * v[d];
                    // Per key tile: its common sign, or 0 when the tile mixes added and removed keys.
                    float& t = sc.tileSign[c / std::size_t(kKeyTile)];
                    t = c % std::size_t(kKeyTile) == 0 ? sign : (t == sign ? t : 0.0f);
                }
                sc.head = h;
            }
            // Every row: Q rows and sums rows are contiguous, used in place (no gather, GEMM into the sums).
            const bool contiguous = rows == nullptr;
            for (Index r = 0; r < n; ++r) {
                const Index row = rows ? rows[h * rowCount + e0 + r] : e0 + r;
                sc.rowIds[std::size_t(r)] = std::int32_t(row);
                if (!contiguous) std::copy_n(qkv.q.row(h, row), D, sc.q.data() + r * D);
            }
            const float* qRows = contiguous ? qkv.q.row(h, e0) : sc.q.data();
            float* acc = contiguous ? sums + (h * rowCount + e0) * D : sc.acc.data();
            if (!contiguous) std::fill(sc.acc.begin(), sc.acc.begin() + n * D, 0.0f);
            std::fill(sc.mass.begin(), sc.mass.begin() + n, 0.0);
            const Index lastRow = sc.rowIds[std::size_t(n - 1)];
            const Index nk =
                Index(std::upper_bound(cols.keys.begin(), cols.keys.end(), lastRow) - cols.keys.begin());
            for (Index k0 = 0; k0 < nk; k0 += kKeyTile) {
                const Index nc = std::min(kKeyTile, nk - k0);
                const std::int32_t* keys = cols.keys.data() + k0;
                const float* kTile = sc.headK.data() + k0 * D;
                const float* vTile = sc.headV.data() + k0 * D;
                // Rows before rStart see none of these keys (rows ascending, keys ascending).
                Index rStart = 0;
                while (rStart < n && sc.rowIds[std::size_t(rStart)] < keys[0])
                    ++rStart;
                if (rStart == n) continue;
                const Index active = n - rStart;
                float* s = sc.s.data() + rStart * nc;
                detail::gemmScaledNT(active, nc, D, logitScale, qRows + rStart * D, D, kTile, D, s, nc);
                // Keys k0 .. k0 + kKeyTile - 1 are one gather tile (k0 is a multiple of kKeyTile).
                const float tileSign = sc.tileSign[std::size_t(k0 / kKeyTile)];
                for (Index r = rStart; r < n; ++r) {
                    float* sr = sc.s.data() + r * nc;
                    const std::int32_t row = sc.rowIds[std::size_t(r)];
                    const Index valid = Index(std::upper_bound(keys, keys + nc, row) - keys);
                    const float sum = rk.exp2SubInPlace(
                        sr, valid, float(double(rowLse[h * rowCount + e0 + r]) * double(kLog2e)));
                    std::fill(sr + valid, sr + nc, 0.0f);
                    double m = 0.0;
                    if (tileSign != 0.0f) {
                        m = double(tileSign) * double(sum);
                    } else {
                        const float* sign = cols.signs.data() + k0;
                        for (Index c = 0; c < valid; ++c)
                            m += double(sign[c] * sr[c]);
                    }
                    sc.mass[std::size_t(r)] += m;
                }
                detail::gemmAccumulateNN(active, D, nc, s, nc, vTile, D, acc + rStart * D, D);
            }
            for (Index r = 0; r < n; ++r) {
                if (!contiguous) {
                    float* dst = sums + (h * rowCount + e0 + r) * D;
                    const float* src = sc.acc.data() + r * D;
                    for (Index d = 0; d < D; ++d)
                        dst[d] += src[d];
                }
                mass[h * rowCount + e0 + r] += sc.mass[std::size_t(r)];
            }
        }
    }
    if (cancelled.load()) return Status::error(ErrorCode::Cancelled, "dropped sums: cancelled");
    return Status::success();
}

namespace {

// The dense output and logsumexp of the listed rows in one online-softmax pass over their keys (the dense
// kernel's FlashAttention-2 step, onlineSoftmaxRow, on gathered query rows): S = Q_rows K^T, P = 2^(S - m)
// with running max m and sum l, acc += P V; out = acc / l, lse = ln 2 * m + ln l. Two GEMMs per key tile
// where a log-sum-exp pass followed by accumulateKeyColumns takes three (S twice). O(rows * L/2 * 4 D) per
// head. out null: the logsumexp alone (no P V product; O(rows * L/2 * 2 D)).
Status denseRowsOnline(const LayerQkvView& qkv, const std::int32_t* rows, Index rowCount, float* out,
                       float* lse, const AttentionConfig& config) {
    const Index H = qkv.qHeads(), D = qkv.headDim();
    if (config.cancel && config.cancel->load()) return Status::error(ErrorCode::Cancelled, "cancelled");
    if (H == 0 || rowCount == 0) return Status::success();
    const Index group = qkv.groupSize();
    const Index rowTiles = (rowCount + kRowTile - 1) / kRowTile;
    const Index items = H * rowTiles;
    const float logitScale = kLog2e / std::sqrt(float(std::max<Index>(D, 1)));
    int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
    threads = int(std::max<Index>(1, std::min<Index>(threads, items)));
    detail::prepareTileGemmThreads();
    const detail::RowKernels& rk = detail::rowKernels();
    std::atomic<bool> cancelled{false};
#pragma omp parallel num_threads(threads)
    {
        std::vector<float> q(static_cast<std::size_t>(kRowTile * D)), acc(q.size()),
            s(static_cast<std::size_t>(kRowTile * kKeyTile));
        std::vector<float> m(static_cast<std::size_t>(kRowTile));
        std::vector<double> l(static_cast<std::size_t>(kRowTile));
        std::vector<std::int32_t> ids(static_cast<std::size_t>(kRowTile));
#pragma omp for schedule(dynamic, 1)
        for (Index item = 0; item < items; ++item) {
            if (cancelled.load(std::memory_order_relaxed)) continue;
            const Index h = item / rowTiles, e0 = (item % rowTiles) * kRowTile;
            const Index n = std::min(kRowTile, rowCount - e0), kv = h / group;
            for (Index r = 0; r < n; ++r) {
                ids[std::size_t(r)] = std::int32_t(rows ? rows[h * rowCount + e0 + r] : e0 + r);
                std::copy_n(qkv.q.row(h, ids[std::size_t(r)]), D, q.data() + r * D);
                m[std::size_t(r)] = -std::numeric_limits<float>::infinity();
                l[std::size_t(r)] = 0.0;
            }
            std::fill(acc.begin(), acc.begin() + n * D, 0.0f);
            const Index keyEnd = ids[std::size_t(n - 1)] + 1;
            for (Index k0 = 0; k0 < keyEnd; k0 += kKeyTile) {
                if (config.cancel && config.cancel->load(std::memory_order_relaxed)) {
                    cancelled = true;
                    break;
                }
                const Index nc = std::min(kKeyTile, keyEnd - k0);
                Index rStart = 0; // rows before it see none of this tile's keys (rows ascending)
                while (rStart < n && ids[std::size_t(rStart)] < k0)
                    ++rStart;
                const Index active = n - rStart;
                float* st = s.data() + rStart * nc;
                detail::gemmScaledNT(active, nc, D, logitScale, q.data() + rStart * D, D, qkv.k.row(kv, k0),
                                     D, st, nc);
                for (Index r = rStart; r < n; ++r) {
                    const Index valid = std::min(nc, Index(ids[std::size_t(r)]) - k0 + 1);
                    detail::onlineSoftmaxRow(rk, s.data() + r * nc, valid, nc, acc.data() + r * D, D,
                                             m[std::size_t(r)], l[std::size_t(r)]);
                }
                if (out)
                    detail::gemmAccumulateNN(active, D, nc, st, nc, qkv.v.row(kv, k0), D,
                                             acc.data() + rStart * D, D);
            }
            if (cancelled.load(std::memory_order_relaxed)) continue;
            for (Index r = 0; r < n; ++r) {
                const double inv = 1.0 / l[std::size_t(r)];
                float* o = out ? out + (h * rowCount + e0 + r) * D : nullptr;
                for (Index d = 0; o && d < D; ++d)
                    o[d] = float(double(acc[std::size_t(r * D + d)]) * inv);
                lse[h * rowCount + e0 + r] =
                    float(0.6931471805599453 * double(m[std::size_t(r)]) + std::log(l[std::size_t(r)]));
            }
        }
    }
    if (cancelled.load()) return Status::error(ErrorCode::Cancelled, "dense rows: cancelled");
    return Status::success();
}

} // namespace

Status rowLogSumExp(const LayerQkvView& qkv, const std::int32_t* rows, Index rowCount, float* lse,
                    const AttentionConfig& config) {
    return denseRowsOnline(qkv, rows, rowCount, nullptr, lse, config);
}

const char* droppedSumsPathName(DroppedSumsPath path) {
    switch (path) {
    case DroppedSumsPath::None:
        return "none";
    case DroppedSumsPath::Incremental:
        return "incremental";
    case DroppedSumsPath::DroppedFromZero:
        return "dropped keys from zero";
    case DroppedSumsPath::KeptFromZero:
        return "kept keys from zero";
    case DroppedSumsPath::FromCheckpoint:
        return "from a checkpoint";
    }
    return "";
}

DroppedSums::DroppedSums(Index qHeads, Index tokens, Index dim, Index prefix, std::vector<std::int32_t> rows,
                         Index rowCount)
    : m_qHeads(qHeads), m_tokens(tokens), m_dim(dim), m_prefix(std::max<Index>(prefix, 0)),
      m_rowCount(rows.empty() ? tokens : rowCount), m_rows(std::move(rows)) {
    m_sums.assign(std::size_t(m_qHeads * m_rowCount * m_dim), 0.0f);
    m_mass.assign(std::size_t(m_qHeads * m_rowCount), 0.0);
    m_dropped.assign(std::size_t(m_qHeads * m_prefix), 0);
    m_headReady.assign(std::size_t(m_qHeads), 0);
}

void DroppedSums::takeDenseRows(ConstView3 denseOut, const float* denseLse) {
    m_refOut.resize(std::size_t(m_qHeads * m_rowCount * m_dim));
    m_refLse.resize(std::size_t(m_qHeads * m_rowCount));
    for (Index h = 0; h < m_qHeads; ++h)
        for (Index r = 0; r < m_rowCount; ++r) {
            std::copy_n(denseOut.row(h, row(h, r)), m_dim, m_refOut.data() + (h * m_rowCount + r) * m_dim);
            m_refLse[std::size_t(h * m_rowCount + r)] = denseLse[h * m_tokens + row(h, r)];
        }
}

Status DroppedSums::computeDenseRows(const LayerQkvView& qkv, const AttentionConfig& config) {
    std::vector<float> out(static_cast<std::size_t>(m_qHeads * m_rowCount * m_dim));
    std::vector<float> lse(static_cast<std::size_t>(m_qHeads * m_rowCount));
    const std::int32_t* rows = m_rows.empty() ? nullptr : m_rows.data();
    if (Status s = denseRowsOnline(qkv, rows, m_rowCount, out.data(), lse.data(), config); !s.ok()) return s;
    m_refOut = std::move(out);
    m_refLse = std::move(lse);
    return Status::success();
}

std::size_t DroppedSums::bytes() const {
    return (m_sums.size() + m_refOut.size() + m_refLse.size() + m_ckSums.size()) * sizeof(float) +
           (m_mass.size() + m_ckMass.size()) * sizeof(double) + m_dropped.size() +
           (m_rows.size() + m_ckRank.size()) * sizeof(std::int32_t);
}

Status DroppedSums::buildCheckpoints(const LayerQkvView& qkv, const std::int32_t* order, Index count,
                                     const AttentionConfig& config) {
    const Index H = m_qHeads, P = m_prefix, R = m_rowCount, D = m_dim;
    if (qkv.qHeads() != H || qkv.tokens() != m_tokens || qkv.headDim() != D)
        return Status::error(ErrorCode::Shape, "dropped sums: the layer does not match the state");
    m_ckDropped.clear();
    m_ckRank.clear();
    m_ckSums.clear();
    m_ckMass.clear();
    if (count <= 0 || P <= 0 || H == 0) return Status::success();
    const bool needDense = !hasDenseRows();
    std::vector<float> lse;
    const std::int32_t* rows = m_rows.empty() ? nullptr : m_rows.data();
    if (needDense) {
        lse.resize(std::size_t(H * R));
        if (Status s = rowLogSumExp(qkv, rows, R, lse.data(), config); !s.ok()) return s;
    }
    const float* rowLse = needDense ? lse.data() : m_refLse.data();
    std::vector<Index> dropped(static_cast<std::size_t>(count));
    for (Index c = 0; c < count; ++c)
        dropped[std::size_t(c)] = (c + 1) * P / (count + 1);
    std::vector<float> sums(static_cast<std::size_t>(H * R * D), 0.0f), ckSums;
    std::vector<double> mass(static_cast<std::size_t>(H * R), 0.0), ckMass;
    ckSums.reserve(std::size_t(count) * sums.size());
    ckMass.reserve(std::size_t(count) * mass.size());
    // Segment c adds the keys ranked [P - dropped[c], P - dropped[c - 1]) (the next-lowest scores); with the
    // dense rows missing, one more segment adds the rest of the prefix and the window.
    const Index segments = count + (needDense ? 1 : 0);
    std::vector<SignedKeys> columns(static_cast<std::size_t>(H));
    for (Index c = 0; c < segments; ++c) {
        const Index hi = c == 0 ? P : P - dropped[std::size_t(c - 1)];
        const Index lo = c < count ? P - dropped[std::size_t(c)] : 0;
        for (Index h = 0; h < H; ++h) {
            SignedKeys& k = columns[std::size_t(h)];
            k.keys.assign(order + h * P + lo, order + h * P + hi);
            std::sort(k.keys.begin(), k.keys.end());
            if (c == count)
                for (Index j = P; j < m_tokens; ++j)
                    k.keys.push_back(std::int32_t(j));
            k.signs.assign(k.keys.size(), 1.0f);
        }
        if (Status s = accumulateKeyColumns(qkv, rowLse, columns, rows, R, sums.data(), mass.data(), config);
            !s.ok())
            return s;
        if (c < count) {
            ckSums.insert(ckSums.end(), sums.begin(), sums.end());
            ckMass.insert(ckMass.end(), mass.begin(), mass.end());
        }
    }
    if (needDense) {
        m_refOut = std::move(sums); // every key with the row's own logsumexp: the dense output
        m_refLse = std::move(lse);
    }
    m_ckRank.resize(std::size_t(H * P));
    for (Index h = 0; h < H; ++h)
        for (Index t = 0; t < P; ++t)
            m_ckRank[std::size_t(h * P + order[h * P + t])] = std::int32_t(t);
    m_ckDropped = std::move(dropped);
    m_ckSums = std::move(ckSums);
    m_ckMass = std::move(ckMass);
    return Status::success();
}

// (key, row) pairs a key list touches in head h: rows at or after each key.
double DroppedSums::products(Index h, const std::int32_t* keys, Index n) const {
    double total = 0.0;
    if (m_rows.empty()) {
        for (Index c = 0; c < n; ++c)
            total += double(m_tokens - keys[c]);
        return total;
    }
    const std::int32_t* begin = m_rows.data() + h * m_rowCount;
    const std::int32_t* end = begin + m_rowCount;
    for (Index c = 0; c < n; ++c)
        total += double(end - std::lower_bound(begin, end, keys[c]));
    return total;
}

// The checkpoint whose dropped set is cheapest to move to `next` (head h's new flags [P]), in (key, row)
// products of the symmetric difference, if it beats *cost (then *cost becomes its cost); else -1. O(P).
Index DroppedSums::nearestCheckpoint(Index h, const unsigned char* next, double* cost) const {
    const Index K = checkpointCount(), P = m_prefix;
    if (K == 0) return -1;
    // weight[t]: rows at or after the key of rank t; moving the key costs that many products.
    std::vector<double> weight(static_cast<std::size_t>(P));
    std::vector<unsigned char> inNext(static_cast<std::size_t>(P));
    const std::int32_t* rank = m_ckRank.data() + h * P;
    const std::int32_t* rows = m_rows.empty() ? nullptr : m_rows.data() + h * m_rowCount;
    Index r = 0;
    for (Index j = 0; j < P; ++j) {
        if (rows)
            while (r < m_rowCount && rows[r] < j)
                ++r;
        const std::size_t t = std::size_t(rank[j]);
        weight[t] = rows ? double(m_rowCount - r) : double(m_tokens - j);
        inNext[t] = next[j];
    }
    // Checkpoint c drops ranks [P - dropped_c, P): its cost is the weight of kept-in-next ranks there plus
    // the weight of dropped-in-next ranks before. Walk ranks down, reading costs at the boundaries.
    double totalNext = 0.0;
    for (Index t = 0; t < P; ++t)
        totalNext += inNext[std::size_t(t)] ? weight[std::size_t(t)] : 0.0;
    double keptAfter = 0.0, droppedAfter = 0.0;
    Index best = -1;
    Index t = P;
    for (Index c = 0; c < K; ++c) {
        const Index first = P - m_ckDropped[std::size_t(c)];
        for (; t > first; --t) {
            const std::size_t u = std::size_t(t - 1);
            (inNext[u] ? droppedAfter : keptAfter) += weight[u];
        }
        const double c0 = keptAfter + (totalNext - droppedAfter);
        if (c0 < *cost) {
            *cost = c0;
            best = c;
        }
    }
    return best;
}

Status DroppedSums::update(const LayerQkvView& qkv, ConstView3 denseOut, const float* denseLse,
                           const Selection& sel, const AttentionConfig& config) {
    const Index H = m_qHeads, P = m_prefix;
    if (qkv.qHeads() != H || qkv.tokens() != m_tokens || qkv.headDim() != m_dim || sel.qHeads != H ||
        sel.tokens != m_tokens || (sel.sparse && sel.prefix != P))
        return Status::error(ErrorCode::Shape,
                             "dropped sums: the layer or selection does not match the state");
    if (!m_rows.empty() && !hasDenseRows()) {
        if (denseOut.empty() || !denseLse)
            return Status::error(ErrorCode::InvalidArgument, "dropped sums: no dense reference for the rows");
        takeDenseRows(denseOut, denseLse);
    }
    const float* rowLse = hasDenseRows() ? m_refLse.data() : denseLse; // [Hq, R]
    auto denseRowOf = [&](Index h, Index r) { return hasDenseRows() ? denseRow(h, r) : denseOut.row(h, r); };
    // The new dropped sets.
    std::vector<unsigned char> next(std::size_t(H * P), 0);
    if (sel.sparse)
        for (Index h = 0; h < H; ++h) {
            unsigned char* d = next.data() + h * P;
            std::fill(d, d + P, 1);
            const std::int32_t* idx = sel.head(h);
            for (Index r = 0; r < sel.kept && idx[r] < P; ++r)
                d[idx[r]] = 0;
        }
    // Per head, the cheapest of three key lists, counted in (key, row) products.
    std::vector<SignedKeys> keys(static_cast<std::size_t>(H));
    std::vector<DroppedSumsPath> paths(std::size_t(H), DroppedSumsPath::DroppedFromZero);
    std::vector<Index> checkpoint(std::size_t(H), -1);
    double total = 0.0;
    // Heads are independent: O(P) list building and cost counting each, in parallel (32 x 128K keys).
    const int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : total) num_threads(threads)                       \
    if (H * m_tokens >= (Index(1) << 16))
    for (Index h = 0; h < H; ++h) {
        const unsigned char* now = m_dropped.data() + h * P;
        const unsigned char* nx = next.data() + h * P;
        SignedKeys mv, dr, kp;
        for (Index j = 0; j < m_tokens; ++j) {
            const bool inNext = j < P && nx[j];
            if (j < P && now[j] != nx[j]) {
                mv.keys.push_back(std::int32_t(j));
                mv.signs.push_back(nx[j] ? 1.0f : -1.0f);
            }
            (inNext ? dr : kp).keys.push_back(std::int32_t(j));
        }
        dr.signs.assign(dr.keys.size(), 1.0f);
        kp.signs.assign(kp.keys.size(), 1.0f);
        double cost = products(h, dr.keys.data(), Index(dr.keys.size()));
        SignedKeys* pick = &dr;
        if (m_headReady[std::size_t(h)]) {
            if (const double c = products(h, mv.keys.data(), Index(mv.keys.size())); c <= cost) {
                cost = c;
                pick = &mv;
                paths[std::size_t(h)] = DroppedSumsPath::Incremental;
            }
        }
        if (hasDenseRows() || !denseOut.empty())
            if (const double c = products(h, kp.keys.data(), Index(kp.keys.size())); c < cost) {
                cost = c;
                pick = &kp;
                paths[std::size_t(h)] = DroppedSumsPath::KeptFromZero;
            }
        SignedKeys ck;
        if (const Index c = nearestCheckpoint(h, nx, &cost); c >= 0) {
            // Move from the snapshot by the symmetric difference of its dropped set and the new one.
            const std::int32_t* rank = m_ckRank.data() + h * P;
            const Index first = P - m_ckDropped[std::size_t(c)];
            for (Index j = 0; j < P; ++j)
                if ((rank[j] >= first) != (nx[j] != 0)) {
                    ck.keys.push_back(std::int32_t(j));
                    ck.signs.push_back(nx[j] ? 1.0f : -1.0f);
                }
            pick = &ck;
            paths[std::size_t(h)] = DroppedSumsPath::FromCheckpoint;
            checkpoint[std::size_t(h)] = c;
        }
        keys[std::size_t(h)] = std::move(*pick);
        total += cost;
    }
    // Heads go in batches, each committed when done: a cancel leaves every head either at its old dropped
    // set or at the new one, never half moved, so the next update stays incremental for most heads.
    const Index batch = std::max<Index>(1, std::min<Index>(H, m_rowCount >= 4096 ? 2 : 8));
    std::vector<SignedKeys> columns(static_cast<std::size_t>(H));
    for (Index h0 = 0; h0 < H; h0 += batch) {
        const Index h1 = std::min(H, h0 + batch);
        for (Index h = h0; h < h1; ++h) {
            columns[std::size_t(h)] = std::move(keys[std::size_t(h)]);
            if (const Index c = checkpoint[std::size_t(h)]; c >= 0) {
                const std::size_t at = std::size_t((c * H + h) * m_rowCount);
                std::copy_n(m_ckSums.begin() + std::ptrdiff_t(at * std::size_t(m_dim)), m_rowCount * m_dim,
                            m_sums.begin() + h * m_rowCount * m_dim);
                std::copy_n(m_ckMass.begin() + std::ptrdiff_t(at), m_rowCount,
                            m_mass.begin() + h * m_rowCount);
            } else if (paths[std::size_t(h)] != DroppedSumsPath::Incremental) {
                std::fill_n(m_sums.begin() + h * m_rowCount * m_dim, m_rowCount * m_dim, 0.0f);
                std::fill_n(m_mass.begin() + h * m_rowCount, m_rowCount, 0.0);
            }
            m_headReady[std::size_t(h)] = 0; // until its batch completes
        }
        Status st = accumulateKeyColumns(qkv, rowLse, columns, m_rows.empty() ? nullptr : m_rows.data(),
                                         m_rowCount, m_sums.data(), m_mass.data(), config);
        if (!st.ok()) return st;
        for (Index h = h0; h < h1; ++h) {
            columns[std::size_t(h)] = {};
            if (paths[std::size_t(h)] == DroppedSumsPath::KeptFromZero) {
                // A = kept-side sums; the dense output is A + B and the dense mass a + m = 1.
                for (Index r = 0; r < m_rowCount; ++r) {
                    const float* od = denseRowOf(h, r);
                    float* b = m_sums.data() + (h * m_rowCount + r) * m_dim;
                    for (Index d = 0; d < m_dim; ++d)
                        b[d] = od[d] - b[d];
                    double& m = m_mass[std::size_t(h * m_rowCount + r)];
                    m = 1.0 - m;
                }
            }
            std::copy_n(next.begin() + h * P, P, m_dropped.begin() + h * P);
            m_headReady[std::size_t(h)] = 1;
        }
    }
    m_lastPath = paths.empty() ? DroppedSumsPath::None : paths.front();
    for (DroppedSumsPath p : paths)
        if (p != DroppedSumsPath::Incremental) m_lastPath = p; // a head rebuilt: say so
    m_lastProducts = total / double(std::max<Index>(H, 1));
    return Status::success();
}

bool DroppedSums::initialised() const {
    return std::all_of(m_headReady.begin(), m_headReady.end(), [](unsigned char r) { return r != 0; });
}

namespace {

// fp64 dot product of fp32 rows in eight independent lanes, so the compiler vectorises it (a single running
// sum is a serial chain without -ffast-math).
double dotFp64(const float* a, const float* b, Index n) {
    double lane[8] = {};
    Index d = 0;
    for (; d + 8 <= n; d += 8)
        for (int k = 0; k < 8; ++k)
            lane[k] += double(a[d + k]) * double(b[d + k]);
    double sum = 0.0;
    for (; d < n; ++d)
        sum += double(a[d]) * double(b[d]);
    for (double x : lane)
        sum += x;
    return sum;
}

} // namespace

double directKeptRow(const LayerQkvView& qkv, const Selection& sel, Index h, Index i, float* out) {
    const Index D = qkv.headDim();
    const Index kv = h / qkv.groupSize();
    const double scale = 1.0 / std::sqrt(double(D));
    const float* q = qkv.q.row(h, i);
    std::vector<std::int32_t> keys;
    if (sel.sparse) {
        const std::int32_t* idx = sel.head(h);
        keys.assign(idx, std::upper_bound(idx, idx + sel.kept, std::int32_t(i)));
    } else {
        for (Index j = 0; j <= i; ++j)
            keys.push_back(std::int32_t(j));
    }
    std::vector<double> logits(keys.size());
    double maxLogit = -std::numeric_limits<double>::infinity();
    for (std::size_t c = 0; c < keys.size(); ++c) {
        logits[c] = dotFp64(q, qkv.k.row(kv, keys[c]), D) * scale;
        maxLogit = std::max(maxLogit, logits[c]);
    }
    std::vector<double> acc(std::size_t(D), 0.0);
    double sum = 0.0;
    for (std::size_t c = 0; c < keys.size(); ++c) {
        const double p = std::exp(logits[c] - maxLogit);
        sum += p;
        const float* v = qkv.v.row(kv, keys[c]);
        for (Index d = 0; d < D; ++d)
            acc[std::size_t(d)] += p * double(v[d]);
    }
    for (Index d = 0; d < D; ++d)
        out[d] = sum > 0 ? float(acc[std::size_t(d)] / sum) : 0.0f;
    return sum > 0 ? maxLogit + std::log(sum) : -std::numeric_limits<double>::infinity();
}

bool rowErrorFromSums(const DroppedSums& sums, const LayerQkvView& qkv, ConstView3 denseOut,
                      const float* denseLse, const Selection& sel, Index h, Index r, RowError* out) {
    const Index i = sums.row(h, r), D = sums.dim();
    const bool own = sums.hasDenseRows();
    const float* od = own ? sums.denseRow(h, r) : denseOut.row(h, i);
    const double dl = own ? sums.denseLse(h, r) : denseLse[h * sums.tokens() + i];
    const double m = sums.mass(h, r);
    double diff = 0.0, ref = 0.0;
    const bool direct = m > kDirectRowMass;
    if (direct) {
        std::vector<float> row(static_cast<std::size_t>(D));
        const double lse = directKeptRow(qkv, sel, h, i, row.data());
        for (Index d = 0; d < D; ++d) {
            const double e = double(row[std::size_t(d)]) - double(od[d]);
            diff += e * e;
            ref += double(od[d]) * double(od[d]);
        }
        out->retained = std::exp(lse - dl);
    } else {
        const float* b = sums.sums(h, r);
        for (Index d = 0; d < D; ++d) {
            const double e = m * double(od[d]) - double(b[d]);
            diff += e * e;
            ref += double(od[d]) * double(od[d]);
        }
        diff /= (1.0 - m) * (1.0 - m);
        out->retained = 1.0 - m;
    }
    out->diff2 = diff;
    out->ref2 = ref;
    return direct;
}

LayerMetrics metricsFromDroppedSums(const DroppedSums& sums, const LayerQkvView& qkv, ConstView3 denseOut,
                                    const float* denseLse, const Selection& sel, Index* directRows) {
    const Index H = sums.qHeads(), L = sums.tokens();
    LayerMetricsBuilder builder(sel, H, L);
    std::vector<double> diff2(static_cast<std::size_t>(L)), ref2(diff2.size()), retained(diff2.size());
    std::vector<unsigned char> keptRow(static_cast<std::size_t>(L));
    Index direct = 0;
    for (Index h = 0; h < H; ++h) {
        std::fill(keptRow.begin(), keptRow.end(), sel.sparse ? 0 : 1);
        if (sel.sparse)
            for (Index r = 0; r < sel.kept; ++r)
                keptRow[std::size_t(sel.head(h)[r])] = 1;
#pragma omp parallel for schedule(dynamic, 512) reduction(+ : direct)
        for (Index i = 0; i < L; ++i) {
            if (!keptRow[std::size_t(i)]) continue;
            RowError e;
            direct += rowErrorFromSums(sums, qkv, denseOut, denseLse, sel, h, i, &e) ? 1 : 0;
            diff2[std::size_t(i)] = e.diff2;
            ref2[std::size_t(i)] = e.ref2;
            retained[std::size_t(i)] = e.retained;
        }
        builder.addHeadRows(h, diff2.data(), ref2.data(), retained.data());
    }
    if (directRows) *directRows = direct;
    return builder.finish();
}

} // namespace tsa
