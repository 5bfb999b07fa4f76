// Block-sparse causal attention, fp32, flash-style, for any BlockSparsePattern.
//
// Shapes: q [Hq, n, D], k/v [Hkv, n, D], out [Hq, n, D]. One work item is (query head h, query block b of
// Bq = pattern.blockRows rows at q0). Its selected keys are visited in two passes with one online softmax
// (base 2, m / l per row, output rows as the accumulator, exactly as causalAttention):
//   1. key spans: each span is cut from its first key with the dense kernel's rule for this q0 (keyTile-wide
//      segments while below the diagonal, 64-wide from the first one that would cross it), so a span
//      covering every key reproduces the dense kernel's sequence of GEMMs and reductions bit for bit;
//   2. columns: up to keyTile selected columns are gathered into contiguous K/V scratch and treated as
//      one tile whose per-row valid prefix is the columns <= the row (columns are sorted).
// Rows before the first row that sees a segment's first key are left out of that segment's GEMMs.
// Tile products: where the CPU has AVX-512 or AVX2 + FMA and D is a multiple of 16, K is packed into panels
// once per kv head (core/kernels/attention_tiles.h; on AVX2 V too, into 16-column slices) and blocks that
// skip keys take those products (scores from the panels for segments on 16-key boundaries, P V from V's rows
// or slices): OpenBLAS would pack a 128 x 128 K and V tile for every 128-row block, 1.6x the packing per flop
// of the dense kernel's 512-row tiles. Such blocks cut their spans into keyTile-wide segments even across
// the diagonal, where the products skip, per 6-row group, the keys past the group's last row (instead of the
// dense kernel's 64-wide masked tiles: a 128-row diagonal tile costs 9.5K (scores) and 8.6K (P V) pairs
// instead of 12.3K each; 8.3K are causal). A block that computes every key keeps OpenBLAS's products and the
// dense cuts, so a full pattern (and any full block) is bit-identical to causalAttention with queryTile =
// blockRows; elsewhere (portable, other D) OpenBLAS.
// Cost: 2 * D flops per computed pair plus the masked parts of the tiles crossing the diagonal;
// O(threads * Bq * keyTile) scratch plus one kv head's panels (L * D floats; AVX2: twice that, the value
// slices) with the tile products; rows computing no key are written as zeros with lse -inf. Work items run
// under OpenMP, dynamic schedule, latest query blocks first (they hold the most keys), one kv head's query
// heads at a time with the tile products.
#include "core/kernels/block_sparse_attention.h"

#include "core/kernels/attention_exp.h"
#include "core/kernels/attention_gemm.h"
#include "core/kernels/attention_tiles.h"

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
constexpr Index kDiagonalKeyTile =
    64; // as core/kernels/attention.cpp: the dense kernel's tiles crossing the diagonal

struct Scratch {
    std::vector<float> scores;  // [Bq, Bk]
    std::vector<float> keys;    // [Bk, D] gathered columns
    std::vector<float> values;  // [Bk, D]
    std::vector<float> rowMax;  // [Bq]
    std::vector<double> rowSum; // [Bq]
};

struct Block {
    const float* qTile;
    float* o;
    Index q0;
    Index rows;
    Index D;
    float logitScale;
    const float* keyPanels; // the kv head's key panels (tile products), or null: OpenBLAS products
    const detail::TileProducts* tiles;
    const float* valueSlices; // the kv head's value slices where the tile products read them, else null
    Index sliceStride;        // 16 L: floats from one value slice to the next
};

// One segment of keys: kPtr/vPtr point at `cols` contiguous key/value rows; validOf(r) gives how many
// leading keys row r (0-based in the block) sees; r0 is the first row seeing any. Same arithmetic as
// attendQueryTile in core/kernels/attention.cpp; rk: the row primitives of the active instruction set
// (core/kernels/cpu_isa.h), the ones the dense kernel uses. panels: the key panels of the segment's first key
// (tile products, core/kernels/attention_tiles.h), or null for the OpenBLAS products. reach: the tile
// products' causal bound (row r0 + i sees no key at or past i + reach; cols where none is masked by
// position).
template <typename ValidOf>
void attendSegment(const Block& blk, const float* kPtr, const float* vPtr, Index cols, Index r0,
                   ValidOf validOf, const detail::RowKernels& rk, Scratch& scratch, Index reach,
                   const float* panels = nullptr, const float* vSlices = nullptr) {
    const Index D = blk.D;
    const Index ld = cols;
    float* s = scratch.scores.data();
    float* m = scratch.rowMax.data();
    double* l = scratch.rowSum.data();
    const Index activeRows = blk.rows - r0;
    float* sActive = s + r0 * ld;
    if (panels)
        blk.tiles->scoresFromPanels(activeRows, cols, D, blk.logitScale, blk.qTile + r0 * D, D, panels,
                                    sActive, ld, reach);
    else
        detail::gemmScaledNT(activeRows, cols, D, blk.logitScale, blk.qTile + r0 * D, D, kPtr, D, sActive,
                             ld);
    for (Index r = r0; r < blk.rows; ++r) {
        float* sr = s + r * ld;
        const Index valid = validOf(r);
        detail::onlineSoftmaxRow(rk, sr, valid, cols, blk.o + r * D, D, m[r], l[r]);
    }
    if (blk.keyPanels)
        blk.tiles->accumulateProbabilities(activeRows, cols, D, sActive, ld, vSlices ? vSlices : vPtr,
                                           vSlices ? 16 : D, vSlices ? blk.sliceStride : 16, blk.o + r0 * D,
                                           D, reach);
    else
        detail::gemmAccumulateNN(activeRows, D, cols, sActive, ld, vPtr, D, blk.o + r0 * D, D);
}

// End of the segment starting at key k0 for a query tile starting at q0: the dense kernel's own rule
// (keyTile keys while the whole tile is at or below the tile's first row, then 64-key tiles), applied from
// the span's first key. A span starting at key 0 is therefore cut exactly like the dense kernel's loop,
// and an unaligned span (vertical-slash ranges) gets full-width segments instead of tile-aligned slivers.
Index segmentEnd(Index k0, Index q0, Index keyTile) {
    return k0 + keyTile - 1 <= q0 ? k0 + keyTile : k0 + std::min(kDiagonalKeyTile, keyTile);
}

// True when block bi computes every causal key of its rows: one span [0, its causal end), no columns.
bool fullBlock(const BlockSparsePattern& p, Index bi, Index keyEnd) {
    return p.spanStart[bi + 1] - p.spanStart[bi] == 1 && p.columnStart[bi + 1] == p.columnStart[bi] &&
           p.spans[p.spanStart[bi]].begin == 0 && p.spans[p.spanStart[bi]].end >= keyEnd;
}

// keyPanels: the kv head's key panels when the tile products run (tiles), else null.
bool attendBlock(ConstView3 q, ConstView3 k, ConstView3 v, const BlockSparsePattern& p, View3 out, float* lse,
                 Index h, Index b, Index keyTile, float logitScale, const std::atomic<bool>* cancel,
                 const detail::RowKernels& rk, Scratch& scratch, const float* keyPanels,
                 const detail::TileProducts* tiles, const float* valueSlices) {
    const Index D = q.dim;
    const Index kvHead = h / (q.heads / k.heads);
    const Index q0 = b * p.blockRows;
    const Index rows = std::min(p.blockRows, q.tokens - q0);
    const Index bi = p.blockIndex(h, b);
    // A block computing every key runs on the dense kernel's products, so a full pattern stays bit-identical
    // to causalAttention; the others use the tile path where there is one.
    const float* panels = keyPanels && !fullBlock(p, bi, q0 + rows) ? keyPanels : nullptr;
    const Block blk{
        q.row(h, q0), out.row(h, q0), q0, rows, D, logitScale, panels, tiles, panels ? valueSlices : nullptr,
        q.tokens * 16};
    const float* kHead = k.row(kvHead, 0);
    const float* vHead = v.row(kvHead, 0);
    float* m = scratch.rowMax.data();
    double* l = scratch.rowSum.data();
    std::fill(blk.o, blk.o + rows * D, 0.0f);
    std::fill(m, m + rows, -std::numeric_limits<float>::infinity());
    std::fill(l, l + rows, 0.0);

    const Index keyEnd = q0 + rows;
    for (Index si = p.spanStart[bi]; si < p.spanStart[bi + 1]; ++si) {
        const Index spanEnd = std::min<Index>(p.spans[si].end, keyEnd);
        for (Index k0 = p.spans[si].begin; k0 < spanEnd;) {
            if (cancel && cancel->load(std::memory_order_relaxed)) return false;
            // The tile products cut a segment crossing the diagonal per row group (reach below), so blocks
            // on them take keyTile-wide segments throughout; the others keep the dense kernel's cuts.
            const Index k1 =
                std::min(spanEnd, panels && k0 % 16 == 0 ? k0 + keyTile : segmentEnd(k0, q0, keyTile));
            const Index cols = k1 - k0;
            const Index r0 = std::max<Index>(0, k0 - q0);
            const bool crossesDiagonal = k1 - 1 > q0 + r0;
            // Panels hold keys from multiples of 16: segments that start on one and span whole panels.
            const bool onPanels = panels && k0 % 16 == 0 && cols % 16 == 0;
            attendSegment(
                blk, kHead + k0 * D, vHead + k0 * D, cols, r0,
                [&](Index r) { return crossesDiagonal ? std::min(cols, q0 + r - k0 + 1) : cols; }, rk,
                scratch, crossesDiagonal ? q0 + r0 - k0 + 1 : cols,
                onPanels ? panels + (k0 / 16) * D * 16 : nullptr,
                blk.valueSlices ? blk.valueSlices + k0 * 16 : nullptr);
            k0 = k1;
        }
    }
    const std::int32_t* columns = p.columns.data();
    for (Index c0 = p.columnStart[bi]; c0 < p.columnStart[bi + 1]; c0 += keyTile) {
        if (cancel && cancel->load(std::memory_order_relaxed)) return false;
        const Index cols = std::min(keyTile, p.columnStart[bi + 1] - c0);
        if (columns[c0] >= keyEnd) break;
        for (Index j = 0; j < cols; ++j) {
            std::copy_n(kHead + Index(columns[c0 + j]) * D, D, scratch.keys.data() + j * D);
            std::copy_n(vHead + Index(columns[c0 + j]) * D, D, scratch.values.data() + j * D);
        }
        const Index r0 = std::max<Index>(0, columns[c0] - q0);
        attendSegment(
            blk, scratch.keys.data(), scratch.values.data(), cols, r0,
            [&](Index r) {
                return Index(std::upper_bound(columns + c0, columns + c0 + cols, std::int32_t(q0 + r)) -
                             (columns + c0));
            },
            rk, scratch, cols);
    }

    for (Index r = 0; r < rows; ++r) {
        float* orow = blk.o + r * D;
        if (l[r] > 0.0) {
            const float inv = static_cast<float>(1.0 / l[r]);
            for (Index d = 0; d < D; ++d)
                orow[d] *= inv;
            if (lse) lse[h * q.tokens + q0 + r] = static_cast<float>(kLn2 * m[r] + std::log(l[r]));
        } else {
            std::fill(orow, orow + D, 0.0f);
            if (lse) lse[h * q.tokens + q0 + r] = -std::numeric_limits<float>::infinity();
        }
    }
    return true;
}

} // namespace

Status blockSparseAttention(ConstView3 q, ConstView3 k, ConstView3 v, const BlockSparsePattern& pattern,
                            View3 out, float* lse, const AttentionConfig& config) {
    if (pattern.empty()) return causalAttention(q, k, v, out, lse, config);
    auto fail = [](const std::string& what) {
        return Status::error(ErrorCode::Shape, "block-sparse attention: " + what);
    };
    if (k.heads <= 0 || q.heads % k.heads != 0 || k.heads != v.heads || k.tokens != q.tokens ||
        v.tokens != q.tokens || k.dim != q.dim || v.dim != q.dim || out.heads != q.heads ||
        out.tokens != q.tokens || out.dim != q.dim)
        return fail("q [" + std::to_string(q.heads) + ", " + std::to_string(q.tokens) + ", " +
                    std::to_string(q.dim) + "], k/v/out do not match it");
    if (pattern.qHeads != q.heads || pattern.tokens != q.tokens || pattern.blockRows <= 0 ||
        Index(pattern.spanStart.size()) != pattern.qHeads * pattern.queryBlocks() + 1 ||
        pattern.columnStart.size() != pattern.spanStart.size())
        return fail("the pattern (" + std::to_string(pattern.qHeads) + " heads, " +
                    std::to_string(pattern.tokens) + " tokens) does not fit q");
    if (config.keyTile <= 0)
        return Status::error(ErrorCode::InvalidArgument,
                             "block-sparse attention: the key tile must be positive");
    if (config.cancel && config.cancel->load())
        return Status::error(ErrorCode::Cancelled, "block-sparse attention: cancelled");
    const Index H = q.heads, L = q.tokens, D = q.dim;
    if (H == 0 || L == 0 || D == 0) return causalAttention(q, k, v, out, lse, config);

    int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
    const Index Bq = pattern.blockRows;
    const Index Bk = std::min(config.keyTile, std::max<Index>(L, 1));
    const Index queryBlocks = pattern.queryBlocks();
    const Index items = H * queryBlocks; // (head, query block) work items
    const float logitScale = kLog2e / std::sqrt(static_cast<float>(D));
    threads = static_cast<int>(std::max<Index>(1, std::min<Index>(threads, items)));
    detail::prepareTileGemmThreads();
    const detail::RowKernels& rk = detail::rowKernels();
    std::atomic<bool> cancelled{false};

    // Tile products: K packed into panels one kv head at a time (O(L D) each, reused by every query block of
    // that head's query heads), so the work runs kv head by kv head; otherwise all items in one loop.
    const detail::TileProducts* tileProducts = detail::tileProducts(D);
    const bool tiles = tileProducts != nullptr;
    const Index groups = tiles ? k.heads : 1;
    const Index headsPerGroup = tiles ? H / k.heads : H;
    const Index panelCount = (L + 15) / 16;
    // Left uninitialised (the packing writes every element, padding included): zeroing 2 x 8 MB at 16K was 4%
    // of a density-0.1 call.
    FloatBuffer keyPanels(tiles ? static_cast<std::size_t>(panelCount * 16 * D) : 0);
    const bool slices = tiles && tileProducts->packValueSlices;
    FloatBuffer valueSlices(slices ? static_cast<std::size_t>(L * D) : 0);

#pragma omp parallel num_threads(threads)
    {
        Scratch scratch;
        scratch.scores.resize(static_cast<std::size_t>(Bq * Bk));
        scratch.keys.resize(static_cast<std::size_t>(Bk * D));
        scratch.values.resize(static_cast<std::size_t>(Bk * D));
        scratch.rowMax.resize(static_cast<std::size_t>(Bq));
        scratch.rowSum.resize(static_cast<std::size_t>(Bq));
        for (Index g = 0; g < groups; ++g) {
            if (tiles) {
#pragma omp for schedule(static)
                for (Index c = 0; c < panelCount; c += 64)
                    tileProducts->packKeyPanels(k.row(g, 0), L, D, c, std::min(panelCount, c + 64),
                                                keyPanels.data());
                if (slices) {
#pragma omp for schedule(static)
                    for (Index j = 0; j < L; j += 1024)
                        tileProducts->packValueSlices(v.row(g, 0), L, D, j, std::min(L, j + 1024),
                                                      valueSlices.data());
                }
            }
            const Index firstHead = g * headsPerGroup;
            const Index groupItems = headsPerGroup * queryBlocks;
#pragma omp for schedule(dynamic, 1)
            for (Index item = 0; item < groupItems; ++item) {
                if (cancelled.load(std::memory_order_relaxed)) continue;
                const Index b = queryBlocks - 1 - item / headsPerGroup;
                const Index h = firstHead + item % headsPerGroup;
                if (!attendBlock(q, k, v, pattern, out, lse, h, b, Bk, logitScale, config.cancel, rk, scratch,
                                 tiles ? keyPanels.data() : nullptr, tileProducts,
                                 slices ? valueSlices.data() : nullptr))
                    cancelled.store(true, std::memory_order_relaxed);
            }
        }
    }
    if (cancelled.load()) return Status::error(ErrorCode::Cancelled, "block-sparse attention: cancelled");
    return Status::success();
}

} // namespace tsa
