// The block-sparse kernel and the pattern type: against a plain fp64 masked-softmax reference for block
// masks, unaligned spans plus columns (the vertical-slash layout) and empty rows, across thread counts,
// block sizes and key tiles; bit-identical to the dense kernel for the full pattern; pattern builder
// merging/clipping, pair counts and tile masks.
#include "core/kernels/attention.h"
#include "core/kernels/block_sparse_attention.h"
#include "core/methods/pattern.h"
#include "tests/core/isa_paths.h"
#include "tests/core/tsa_test_data.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <limits>
#include <vector>

namespace tsa {
namespace {

// fp64 reference: softmax over the pairs the pattern lists (forEachPair), zero rows where none.
void referenceMasked(const LayerQkv& l, const BlockSparsePattern& p, std::vector<double>& out,
                     std::vector<double>& lse) {
    const Index H = l.q.heads, L = l.q.tokens, D = l.q.dim, group = l.q.heads / l.k.heads;
    out.assign(static_cast<std::size_t>(H * L * D), 0.0);
    lse.assign(static_cast<std::size_t>(H * L), -std::numeric_limits<double>::infinity());
    for (Index h = 0; h < H; ++h) {
        std::vector<std::vector<Index>> keys(static_cast<std::size_t>(L));
        forEachPair(p, h, [&](Index i, Index j) { keys[i].push_back(j); });
        for (Index i = 0; i < L; ++i) {
            if (keys[i].empty()) continue;
            std::vector<double> logit;
            double mx = -std::numeric_limits<double>::infinity();
            for (Index j : keys[i]) {
                double dot = 0;
                for (Index d = 0; d < D; ++d)
                    dot += double(l.q.row(h, i)[d]) * double(l.k.row(h / group, j)[d]);
                logit.push_back(dot / std::sqrt(double(D)));
                mx = std::max(mx, logit.back());
            }
            double sum = 0;
            for (std::size_t n = 0; n < keys[i].size(); ++n) {
                const double w = std::exp(logit[n] - mx);
                sum += w;
                for (Index d = 0; d < D; ++d)
                    out[(h * L + i) * D + d] += w * l.v.row(h / group, keys[i][n])[d];
            }
            for (Index d = 0; d < D; ++d)
                out[(h * L + i) * D + d] /= sum;
            lse[h * L + i] = mx + std::log(sum);
        }
    }
}

void expectMatchesReference(const LayerQkv& l, const BlockSparsePattern& p, Index keyTile, int threads) {
    Tensor3 out(l.q.heads, l.q.tokens, l.q.dim);
    std::vector<float> lse(static_cast<std::size_t>(l.q.heads * l.q.tokens));
    AttentionConfig config;
    config.keyTile = keyTile;
    config.threads = threads;
    ASSERT_TRUE(
        blockSparseAttention(l.q.cview(), l.k.cview(), l.v.cview(), p, out.view(), lse.data(), config).ok());
    std::vector<double> ref, refLse;
    referenceMasked(l, p, ref, refLse);
    for (std::size_t n = 0; n < ref.size(); ++n)
        ASSERT_NEAR(out.data[n], ref[n], 2e-5 + 2e-5 * std::abs(ref[n])) << "element " << n;
    for (std::size_t n = 0; n < refLse.size(); ++n) {
        if (std::isinf(refLse[n]))
            ASSERT_TRUE(std::isinf(lse[n]) && lse[n] < 0) << "row " << n;
        else
            ASSERT_NEAR(lse[n], refLse[n], 1e-4) << "row " << n;
    }
}

std::vector<std::uint8_t> randomMask(Index heads, Index qb, Index kb, std::uint64_t seed, double keep) {
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(heads * qb * kb));
    for (auto& m : mask)
        m = double(gen::splitmix64(seed) >> 11) * 0x1.0p-53 < keep;
    return mask;
}

// The vertical-slash layout: unaligned 64-multiple spans and loose columns, some inside spans.
BlockSparsePattern randomSpansAndColumns(Index heads, Index tokens, Index blockRows, std::uint64_t seed) {
    BlockPatternBuilder b(heads, tokens, blockRows);
    const Index qb = (tokens + blockRows - 1) / blockRows;
    for (Index h = 0; h < heads; ++h)
        for (Index blk = 0; blk < qb; ++blk) {
            if (blk % 5 == 3 && h == 1) { // an empty block: its rows compute nothing and come out zero
                b.finishBlock();
                continue;
            }
            const Index end = std::min(tokens, (blk + 1) * blockRows);
            const Index nSpans = Index(gen::splitmix64(seed) % 3);
            for (Index s = 0; s < nSpans; ++s) {
                const Index e = Index(gen::splitmix64(seed) % std::uint64_t(end)) + 1;
                b.addSpan(std::max<Index>(0, e - 64 * (1 + Index(gen::splitmix64(seed) % 2))), e);
            }
            const Index nCols = Index(gen::splitmix64(seed) % 40);
            for (Index c = 0; c < nCols; ++c)
                b.addColumn(Index(gen::splitmix64(seed) % std::uint64_t(end)));
            b.finishBlock();
        }
    return b.finish();
}

TEST(BlockSparseAttention, FullPatternIsBitIdenticalToDense) {
    for (Index tokens : {1, 63, 200, 517}) {
        const LayerQkv l = testdata::structuredLayer(4, 2, tokens, 32, 11);
        for (Index blockRows : {32, 64, 128})
            for (Index keyTile : {64, 128, 96})
                for (int threads : {1, 2}) {
                    AttentionConfig config;
                    config.queryTile = blockRows;
                    config.keyTile = keyTile;
                    config.threads = threads;
                    Tensor3 dense(4, tokens, 32), sparse(4, tokens, 32);
                    std::vector<float> denseLse(4 * tokens), sparseLse(4 * tokens);
                    ASSERT_TRUE(causalAttention(l.q.cview(), l.k.cview(), l.v.cview(), dense.view(),
                                                denseLse.data(), config)
                                    .ok());
                    const BlockSparsePattern full = fullBlockPattern(4, tokens, blockRows);
                    ASSERT_TRUE(blockSparseAttention(l.q.cview(), l.k.cview(), l.v.cview(), full,
                                                     sparse.view(), sparseLse.data(), config)
                                    .ok());
                    ASSERT_EQ(dense.data, sparse.data)
                        << "tokens " << tokens << " block " << blockRows << " key tile " << keyTile;
                    ASSERT_EQ(denseLse, sparseLse);
                    // The same full pattern written as a tile mask (many spans merged into one).
                    const Index qb = (tokens + blockRows - 1) / blockRows;
                    std::vector<std::uint8_t> ones(static_cast<std::size_t>(4 * qb * qb), 1);
                    const BlockSparsePattern fromMask =
                        blockPatternFromMask(ones.data(), 4, tokens, blockRows, blockRows);
                    ASSERT_TRUE(blockSparseAttention(l.q.cview(), l.k.cview(), l.v.cview(), fromMask,
                                                     sparse.view(), nullptr, config)
                                    .ok());
                    ASSERT_EQ(dense.data, sparse.data);
                }
    }
}

// Every instruction-set path (on AVX-512 and AVX2 CPUs the tile products of core/kernels/attention_tiles.h
// for head dims that are multiples of 16: 16, 48 and 80 cover one, three and 4 + 1 AVX-512 chunks or 1, 3
// and 5 AVX2 value slices; 20 takes the OpenBLAS products), block sizes that are and are not multiples of
// the 6-row register tile, and key tiles of 64 and 128 (segments crossing the diagonal with a causal reach).
TEST(BlockSparseAttention, BlockMasksMatchReference) {
    test::forEachIsa([](Isa) {
        for (Index dim : {16, 20, 48, 80}) {
            const LayerQkv l = testdata::structuredLayer(4, 2, 300, dim, 5);
            for (Index blockRows : {32, 64, 96})
                for (Index keyTile : {64, 128})
                    for (int threads : {1, 2}) {
                        if (dim != 16 && (keyTile != 128 || threads != 2))
                            continue; // the rest: one case each
                        const Index qb = (300 + blockRows - 1) / blockRows;
                        const auto mask = randomMask(4, qb, qb, 77 + blockRows + keyTile, 0.4);
                        const BlockSparsePattern p =
                            blockPatternFromMask(mask.data(), 4, 300, blockRows, blockRows);
                        expectMatchesReference(l, p, keyTile, threads);
                    }
        }
    });
}

TEST(BlockSparseAttention, SpansAndColumnsMatchReference) {
    test::forEachIsa([](Isa) {
        const LayerQkv l = testdata::structuredLayer(4, 1, 450, 16, 9);
        for (Index blockRows : {64, 128})
            for (Index keyTile : {32, 128})
                for (int threads : {1, 2})
                    expectMatchesReference(l, randomSpansAndColumns(4, 450, blockRows, 3 + keyTile), keyTile,
                                           threads);
    });
}

// Bit-compatible with dense where the mask is full: the rows of query blocks that compute every key equal
// the dense kernel's (same query and key tiles) bit for bit on every path, while the other blocks of the same
// call skip tiles (and, on AVX-512 and AVX2, take the tile products).
TEST(BlockSparseAttention, FullBlocksOfASparsePatternAreBitIdenticalToDense) {
    test::forEachIsa([](Isa) {
        const Index H = 4, L = 700, D = 64, rows = 128, qb = (L + rows - 1) / rows;
        const LayerQkv l = testdata::structuredLayer(H, 2, L, D, 21);
        auto mask = randomMask(H, qb, qb, 5, 0.3);
        for (Index h = 0; h < H; ++h)
            for (Index b = 1; b < qb; b += 2)
                for (Index c = 0; c <= b; ++c)
                    mask[std::size_t((h * qb + b) * qb + c)] = 1; // odd blocks full
        const BlockSparsePattern p = blockPatternFromMask(mask.data(), H, L, rows, rows);
        AttentionConfig config;
        config.queryTile = rows;
        Tensor3 dense(H, L, D), sparse(H, L, D);
        ASSERT_TRUE(
            causalAttention(l.q.cview(), l.k.cview(), l.v.cview(), dense.view(), nullptr, config).ok());
        ASSERT_TRUE(
            blockSparseAttention(l.q.cview(), l.k.cview(), l.v.cview(), p, sparse.view(), nullptr, config)
                .ok());
        Index differing = 0;
        for (Index h = 0; h < H; ++h)
            for (Index i = 0; i < L; ++i) {
                const bool full = (i / rows) % 2 == 1;
                const bool same = std::equal(dense.row(h, i), dense.row(h, i) + D, sparse.row(h, i));
                if (full) {
                    ASSERT_TRUE(same) << "head " << h << " row " << i;
                }
                differing += !same;
            }
        EXPECT_GT(differing, 0) << "the sparse blocks must skip something";
        expectMatchesReference(l, p, 128, 2);
    });
}

TEST(BlockSparseAttention, RejectsPatternOfOtherShape) {
    const LayerQkv l = testdata::structuredLayer(2, 1, 100, 8, 1);
    Tensor3 out(2, 100, 8);
    const BlockSparsePattern p = fullBlockPattern(2, 99, 64);
    const Status st = blockSparseAttention(l.q.cview(), l.k.cview(), l.v.cview(), p, out.view(), nullptr);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message.find("pattern"), std::string::npos);
}

TEST(Pattern, BuilderMergesClipsAndDropsCoveredColumns) {
    BlockPatternBuilder b(1, 200, 64);
    b.addSpan(10, 20); // block 0: rows 0..63
    b.addSpan(15, 40);
    b.addSpan(50, 300); // clipped at 64
    b.addColumn(12);    // inside a span: dropped
    b.addColumn(45);
    b.addColumn(45);
    b.addColumn(70); // beyond the block's causal end: dropped
    b.finishBlock();
    const BlockSparsePattern p = b.finish();
    ASSERT_EQ(p.spanStart.size(), 5u);
    ASSERT_EQ(p.spanStart[1], 2);
    EXPECT_EQ(p.spans[0].begin, 10);
    EXPECT_EQ(p.spans[0].end, 40);
    EXPECT_EQ(p.spans[1].begin, 50);
    EXPECT_EQ(p.spans[1].end, 64);
    ASSERT_EQ(p.columnStart[1], 1);
    EXPECT_EQ(p.columns[0], 45);
    // Pair count equals the enumeration.
    Index pairs = 0;
    forEachPair(p, 0, [&](Index, Index) { ++pairs; });
    EXPECT_EQ(computedPairs(p, 200, 0), pairs);
}

TEST(Pattern, PairCountsAndMasksOfRandomPatterns) {
    const BlockSparsePattern p = randomSpansAndColumns(3, 333, 64, 21);
    const auto mask = blockMask(p, 64);
    for (Index h = 0; h < 3; ++h) {
        Index pairs = 0;
        std::vector<std::uint8_t> tiles(static_cast<std::size_t>(6 * 6), 0);
        forEachPair(p, h, [&](Index i, Index j) {
            ++pairs;
            ASSERT_LE(j, i);
            tiles[(i / 64) * 6 + j / 64] = 1;
        });
        EXPECT_EQ(computedPairs(p, 333, h), pairs);
        for (Index t = 0; t < 36; ++t)
            EXPECT_EQ(mask[h * 36 + t], tiles[t]) << "head " << h << " tile " << t;
    }
    const BlockSparsePattern full = fullBlockPattern(2, 333, 64);
    EXPECT_EQ(computedPairs(full, 333, 1), 333 * 334 / 2);
}

} // namespace
} // namespace tsa
