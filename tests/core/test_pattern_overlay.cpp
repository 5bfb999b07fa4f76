// coarseMask (the attention map's pattern overlay) against every computed pair mapped back to original
// positions: it marks each cell holding a computed pair, and any other cell it marks is a column of
// tokens the head dropped altogether (a compressed span drawn across a gap), never a skipped kept key.
#include "core/methods/methods.h"
#include "tests/core/method_test_settings.h"
#include "tests/core/tsa_test_data.h"

#include <gtest/gtest.h>

using namespace tsa;

namespace {

void expectMaskMatchesPairs(const Pattern& p, Index cellSize) {
    const Index L = p.tokens;
    const Index cells = (L + cellSize - 1) / cellSize;
    for (Index h = 0; h < p.qHeads; ++h) {
        const std::vector<std::uint8_t> mask = coarseMask(p, h, cellSize, cells);
        ASSERT_EQ(mask.size(), std::size_t(cells * cells));
        std::vector<std::uint8_t> exact(mask.size(), 0);
        std::vector<bool> columnKept(std::size_t(cells), p.tokenSets.empty());
        auto orig = [&](Index i) { return p.tokenSets.empty() ? i : Index(p.tokenSets.head(h)[i]); };
        if (!p.tokenSets.empty())
            for (Index t = 0; t < p.tokenSets.kept; ++t)
                columnKept[std::size_t(orig(t) / cellSize)] = true;
        const BlockSparsePattern blocks =
            p.blocks.empty() ? fullBlockPattern(p.qHeads, p.length(), 64) : p.blocks;
        forEachPair(blocks, h, [&](Index i, Index j) {
            exact[std::size_t((orig(i) / cellSize) * cells + orig(j) / cellSize)] = 1;
        });
        Index computedCells = 0;
        for (Index r = 0; r < cells; ++r)
            for (Index c = 0; c < cells; ++c) {
                const std::size_t n = std::size_t(r * cells + c);
                computedCells += exact[n];
                if (exact[n]) EXPECT_EQ(mask[n], 1) << p.method << " head " << h << " cell " << r << "," << c;
                if (mask[n] && !exact[n])
                    EXPECT_FALSE(columnKept[std::size_t(c)])
                        << p.method << " head " << h << " marks cell " << r << "," << c << " it skips";
                if (c > r) EXPECT_EQ(mask[n], 0) << "above the diagonal";
            }
        EXPECT_GT(computedCells, 0);
    }
}

} // namespace

TEST(PatternOverlay, CoarseMaskMarksExactlyTheComputedCells) {
    const LayerQkv l = testdata::structuredLayer(4, 2, 600, 16, 8);
    const MethodSettings s = testdata::smallMethodSettings();
    for (MethodKind kind : allMethods()) {
        auto p = estimatePattern(kind, l, s);
        ASSERT_TRUE(p.ok()) << methodName(kind);
        for (Index cellSize : {Index(1), Index(5), Index(64)})
            expectMaskMatchesPairs(*p, cellSize);
    }
}

// In compressed coordinates the mask is exact: a cell is marked iff the block stage computes a pair of
// compressed indices in it (composed methods: the block mask over the kept tokens of the head).
TEST(PatternOverlay, CompressedMaskIsExactlyTheBlockStagesCells) {
    const LayerQkv l = testdata::structuredLayer(4, 2, 600, 16, 8);
    const MethodSettings s = testdata::smallMethodSettings();
    for (MethodKind kind :
         {MethodKind::Tsa, MethodKind::TsaFlexPrefill, MethodKind::TsaXAttention, MethodKind::XAttention}) {
        auto p = estimatePattern(kind, l, s);
        ASSERT_TRUE(p.ok()) << methodName(kind);
        ASSERT_EQ(p->tokenSets.empty(), kind == MethodKind::XAttention) << methodName(kind);
        const Index n = p->length(), cellSize = 7, cells = (n + cellSize - 1) / cellSize;
        const BlockSparsePattern blocks = p->blocks.empty() ? fullBlockPattern(p->qHeads, n, 64) : p->blocks;
        for (Index h = 0; h < p->qHeads; ++h) {
            std::vector<std::uint8_t> exact(std::size_t(cells * cells), 0);
            forEachPair(blocks, h, [&](Index i, Index j) {
                exact[std::size_t((i / cellSize) * cells + j / cellSize)] = 1;
            });
            EXPECT_EQ(coarseMask(*p, h, cellSize, cells, PatternSpace::Compressed), exact)
                << methodName(kind) << " head " << h;
        }
    }
}

TEST(PatternOverlay, BadHeadOrGeometryGivesAnEmptyMask) {
    const LayerQkv l = testdata::structuredLayer(2, 1, 100, 8, 3);
    auto p = estimatePattern(MethodKind::Streaming, l, MethodSettings{});
    ASSERT_TRUE(p.ok());
    for (std::uint8_t v : coarseMask(*p, 5, 10, 10))
        EXPECT_EQ(v, 0);
    EXPECT_TRUE(coarseMask(*p, 0, 0, 0).empty());
}
