// Causal attention, fp32 flash-style kernel and fp64 reference.
//
// Algorithm (FlashAttention-2 forward on CPU): q [Hq, L, D], k/v [Hkv, L, D], out [Hq, L, D]. One work item
// is (query head h, query tile of Bq rows). Its output rows are contiguous in `out`, so they double as the
// accumulator. For each key tile of Bk keys up to the diagonal:
//     S = (log2(e) / sqrt(D)) * Q_tile K_tile^T          (GEMM, Bq x Bk x D)
//     online softmax in base 2: m_new = max(m, rowmax S); P = 2^(S - m_new); l = l*2^(m - m_new) + rowsum P;
//     O = O * 2^(m - m_new) + P V_tile                    (GEMM, Bq x D x Bk)
// and finally O /= l, lse = ln2 * m + ln l. The row max and exp2 come from the instruction set chosen at run
// time (core/kernels/cpu_isa.h: AVX2 + FMA or portable); the GEMMs from OpenBLAS, which dispatches on its
// own. Tiles entirely above the diagonal are never visited; tiles that cross it are narrower (64 keys), skip
// the query rows that see none of their keys and mask the rest row by row. GQA: query head h reads kv head h
// / (Hq / Hkv) in place, nothing is copied. Complexity: 2 * L^2 * D * Hq useful flops (plus the masked halves
// of diagonal tiles), O(L * D) memory per head (the output), and O(threads * Bq * Bk) scratch. Work items run
// under OpenMP, dynamic schedule, largest (latest) query tiles first so the causal triangle's long rows do
// not end up last on one thread.
#include "core/kernels/attention.h"

#include "core/kernels/attention_exp.h"
#include "core/kernels/attention_gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <omp.h>
#include <string>
#include <vector>

namespace tsa {

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr double kLn2 = 0.6931471805599453;
constexpr Index kDiagonalKeyTile = 64;

Status checkShapes(ConstView3 q, ConstView3 k, ConstView3 v, ConstView3 out) {
    auto shape = [](ConstView3 t) {
        return "[" + std::to_string(t.heads) + ", " + std::to_string(t.tokens) + ", " +
               std::to_string(t.dim) + "]";
    };
    const std::string shapes =
        "q " + shape(q) + ", k " + shape(k) + ", v " + shape(v) + ", out " + shape(out);
    if (q.heads < 0 || q.tokens < 0 || q.dim < 0)
        return Status::error(ErrorCode::Shape, "attention: negative extent: " + shapes);
    if (k.heads != v.heads || k.tokens != v.tokens || k.dim != v.dim)
        return Status::error(ErrorCode::Shape, "attention: k and v differ: " + shapes);
    if (q.tokens != k.tokens || q.dim != k.dim)
        return Status::error(ErrorCode::Shape, "attention: q and k/v differ in tokens or dim: " + shapes);
    if (out.heads != q.heads || out.tokens != q.tokens || out.dim != q.dim)
        return Status::error(ErrorCode::Shape, "attention: out must have q's shape: " + shapes);
    if (q.heads > 0 && (k.heads <= 0 || q.heads % k.heads != 0))
        return Status::error(ErrorCode::Shape,
                             "attention: q heads must be a multiple of kv heads: " + shapes);
    if (q.size() > 0 && (q.data == nullptr || k.data == nullptr || v.data == nullptr || out.data == nullptr))
        return Status::error(ErrorCode::InvalidArgument,
                             "attention: null data for a non-empty tensor: " + shapes);
    if (q.dim > 0 && q.tokens > std::numeric_limits<int>::max() / std::max<Index>(q.dim, 1))
        return Status::error(ErrorCode::Unsupported,
                             "attention: one head exceeds the BLAS int range: " + shapes);
    return Status::success();
}

// Per-thread scratch, allocated once per call and reused by every work item of that thread.
struct TileScratch {
    std::vector<float> scores;  // [Bq, Bk] logits, then probabilities
    std::vector<float> rowMax;  // [Bq] running maximum (base-2 logits)
    std::vector<double> rowSum; // [Bq] running denominator; double so 128K terms add without drift
};

// One (head, query tile) work item. Returns false when cancelled.
// rk: the row primitives of the active instruction set (core/kernels/cpu_isa.h), fetched once per call.
bool attendQueryTile(ConstView3 q, ConstView3 k, ConstView3 v, View3 out, float* lse, Index h, Index q0,
                     Index rows, Index keyTile, float logitScale, const std::atomic<bool>* cancel,
                     const detail::RowKernels& rk, TileScratch& scratch) {
    const Index D = q.dim;
    const Index group = q.heads / k.heads;
    const Index kvHead = h / group;
    const float* qTile = q.row(h, q0);
    const float* kHead = k.row(kvHead, 0);
    const float* vHead = v.row(kvHead, 0);
    float* o = out.row(h, q0);
    float* s = scratch.scores.data();
    float* m = scratch.rowMax.data();
    double* l = scratch.rowSum.data();

    std::fill(o, o + rows * D, 0.0f);
    std::fill(m, m + rows, -std::numeric_limits<float>::infinity());
    std::fill(l, l + rows, 0.0);

    const Index keyEnd = q0 + rows; // keys 0 .. q0+rows-1 are visible to some row of this tile
    // Key tiles that cross the diagonal are narrower: the masked half of each costs Bq * width / 2 wasted
    // products, which matters for the short compact problems of sparse attention (measured +1-7% below 5K
    // tokens, neutral at 16K).
    const Index diagonalTile = std::min(kDiagonalKeyTile, keyTile);
    for (Index k0 = 0, cols = 0; k0 < keyEnd; k0 += cols) {
        if (cancel && cancel->load(std::memory_order_relaxed)) return false;
        cols = std::min(k0 + keyTile - 1 <= q0 ? keyTile : diagonalTile, keyEnd - k0);
        // Rows before r0 see none of this tile's keys (query q0+r sees keys <= q0+r).
        const Index r0 = std::max<Index>(0, k0 - q0);
        const Index activeRows = rows - r0;
        const bool crossesDiagonal = k0 + cols - 1 > q0 + r0;
        const Index ld = cols;
        float* sActive = s + r0 * ld;

        detail::gemmScaledNT(activeRows, cols, D, logitScale, qTile + r0 * D, D, kHead + k0 * D, D, sActive,
                             ld);

        for (Index r = r0; r < rows; ++r) {
            float* sr = s + r * ld;
            // Keys k0 .. k0+valid-1 are at or before query q0+r; the rest of the row is masked.
            const Index valid = crossesDiagonal ? std::min(cols, q0 + r - k0 + 1) : cols;
            detail::onlineSoftmaxRow(rk, sr, valid, cols, o + r * D, D, m[r], l[r]);
        }

        detail::gemmAccumulateNN(activeRows, D, cols, sActive, ld, vHead + k0 * D, D, o + r0 * D, D);
    }

    for (Index r = 0; r < rows; ++r) {
        const float inv = static_cast<float>(1.0 / l[r]);
        float* orow = o + r * D;
        for (Index d = 0; d < D; ++d)
            orow[d] *= inv;
        if (lse) lse[h * q.tokens + q0 + r] = static_cast<float>(kLn2 * m[r] + std::log(l[r]));
    }
    return true;
}

// Large query tiles amortise what each tile costs besides its products: one pass over K/V up to the
// diagonal, in which OpenBLAS repacks every K and V tile. 512 rows measured best with 128-key tiles (see
// docs/benchmarks.md). Small problems (the compact single-head calls of sparse attention) get smaller
// tiles so that the dynamic schedule still has a few items per thread to balance the causal triangle.
Index automaticQueryTile(Index heads, Index tokens, int threads) {
    Index tile = 512;
    while (tile > 64 && heads * ((tokens + tile - 1) / tile) < 4 * Index(threads))
        tile /= 2;
    return tile;
}

} // namespace

Status causalAttention(ConstView3 q, ConstView3 k, ConstView3 v, View3 out, float* lse,
                       const AttentionConfig& config) {
    if (Status st = checkShapes(q, k, v, out); !st.ok()) return st;
    if (config.queryTile < 0 || config.keyTile <= 0)
        return Status::error(
            ErrorCode::InvalidArgument,
            "attention: the query tile must be >= 0 (0: automatic) and the key tile positive (query " +
                std::to_string(config.queryTile) + ", key " + std::to_string(config.keyTile) + ")");
    if (config.cancel && config.cancel->load())
        return Status::error(ErrorCode::Cancelled, "attention: cancelled");
    const Index H = q.heads;
    const Index L = q.tokens;
    const Index D = q.dim;
    if (H == 0 || L == 0) return Status::success();
    if (D == 0) {
        // Every logit is 0: uniform attention over i+1 keys of empty vectors.
        if (lse)
            for (Index h = 0; h < H; ++h)
                for (Index i = 0; i < L; ++i)
                    lse[h * L + i] = static_cast<float>(std::log(double(i + 1)));
        return Status::success();
    }

    int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
    const Index Bq = std::min(config.queryTile > 0 ? config.queryTile : automaticQueryTile(H, L, threads), L);
    const Index Bk = std::min(config.keyTile, L);
    const Index queryTiles = (L + Bq - 1) / Bq;
    const Index items = H * queryTiles;
    const float logitScale = kLog2e / std::sqrt(static_cast<float>(D));
    threads = static_cast<int>(std::max<Index>(1, std::min<Index>(threads, items)));

    detail::prepareTileGemmThreads();
    const detail::RowKernels& rk = detail::rowKernels();
    std::atomic<bool> cancelled{false};

#pragma omp parallel num_threads(threads)
    {
        TileScratch scratch;
        scratch.scores.resize(static_cast<std::size_t>(Bq * Bk));
        scratch.rowMax.resize(static_cast<std::size_t>(Bq));
        scratch.rowSum.resize(static_cast<std::size_t>(Bq));
#pragma omp for schedule(dynamic, 1)
        for (Index item = 0; item < items; ++item) {
            if (cancelled.load(std::memory_order_relaxed)) continue;
            // Latest query tiles first (they see the most keys); heads interleave within one tile index.
            const Index tile = queryTiles - 1 - item / H;
            const Index h = item % H;
            const Index q0 = tile * Bq;
            const Index rows = std::min(Bq, L - q0);
            if (!attendQueryTile(q, k, v, out, lse, h, q0, rows, Bk, logitScale, config.cancel, rk, scratch))
                cancelled.store(true, std::memory_order_relaxed);
        }
    }
    if (cancelled.load()) return Status::error(ErrorCode::Cancelled, "attention: cancelled");
    return Status::success();
}

void referenceCausalAttention(ConstView3 q, ConstView3 k, ConstView3 v, double* out, double* lse) {
    const Index H = q.heads;
    const Index L = q.tokens;
    const Index D = q.dim;
    if (H == 0 || L == 0) return;
    const Index group = q.heads / k.heads;
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
#pragma omp parallel
    {
        std::vector<double> logits(static_cast<std::size_t>(L));
        std::vector<double> acc(static_cast<std::size_t>(D));
#pragma omp for schedule(dynamic, 16) collapse(2)
        for (Index h = 0; h < H; ++h) {
            for (Index i = 0; i < L; ++i) {
                const float* qi = q.row(h, i);
                const Index kvHead = h / group;
                double mx = -std::numeric_limits<double>::infinity();
                for (Index j = 0; j <= i; ++j) {
                    const float* kj = k.row(kvHead, j);
                    double dot = 0.0;
                    for (Index d = 0; d < D; ++d)
                        dot += double(qi[d]) * double(kj[d]);
                    logits[j] = dot * scale;
                    mx = std::max(mx, logits[j]);
                }
                std::fill(acc.begin(), acc.end(), 0.0);
                double sum = 0.0;
                for (Index j = 0; j <= i; ++j) {
                    const double p = std::exp(logits[j] - mx);
                    sum += p;
                    const float* vj = v.row(kvHead, j);
                    for (Index d = 0; d < D; ++d)
                        acc[d] += p * double(vj[d]);
                }
                double* oi = out + (h * L + i) * D;
                for (Index d = 0; d < D; ++d)
                    oi[d] = acc[d] / sum;
                if (lse) lse[h * L + i] = mx + std::log(sum);
            }
        }
    }
}

} // namespace tsa
