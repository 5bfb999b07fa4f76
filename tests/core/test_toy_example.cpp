// The teaching example (core/synth/toy_example.h): it is sparse at its own tau, heads keep the same number of
// tokens but different ones (each its own topic), the window is kept, and the compact attention rows are
// probability distributions that match the dense ones restricted to the kept keys and renormalised.
#include "core/synth/toy_example.h"

#include <algorithm>
#include <cmath>
#include <gtest/gtest.h>

TEST(ToyExample, SelectsPerHeadTopicsAndKeepsTheWindow) {
    auto toy = tsa::buildToyExample();
    ASSERT_TRUE(toy.ok()) << toy.error();
    const tsa::Selection& sel = toy->selection;
    ASSERT_TRUE(sel.sparse);
    EXPECT_EQ(sel.tokens, 16);
    EXPECT_LT(sel.kept, 16);
    auto keeps = [&](int h, int t) { return std::binary_search(sel.head(h), sel.head(h) + sel.kept, t); };
    for (int h = 0; h < 2; ++h)
        for (int t = 12; t < 16; ++t)
            EXPECT_TRUE(keeps(h, t)) << "window token " << t << " head " << h;
    EXPECT_TRUE(keeps(0, 3) && keeps(0, 4));
    EXPECT_TRUE(keeps(1, 8) && keeps(1, 9));
    EXPECT_TRUE(keeps(0, 0) && keeps(1, 0)); // the sink
    EXPECT_FALSE(std::equal(sel.head(0), sel.head(0) + sel.kept, sel.head(1)));
}

TEST(ToyExample, CompactAttentionIsTheDenseRestrictedAndRenormalised) {
    auto toy = tsa::buildToyExample();
    ASSERT_TRUE(toy.ok());
    const tsa::Selection& sel = toy->selection;
    for (int h = 0; h < 2; ++h) {
        const auto& compact = toy->compactAttention[std::size_t(h)];
        const auto& dense = toy->denseAttention[std::size_t(h)];
        const tsa::Index n = sel.kept;
        ASSERT_EQ(compact.size(), std::size_t(n * n));
        for (tsa::Index i = 0; i < n; ++i) {
            const int row = sel.head(h)[i];
            double rowSum = 0.0, denseKept = 0.0;
            for (tsa::Index j = 0; j <= i; ++j)
                denseKept += dense[std::size_t(row * 16 + sel.head(h)[j])];
            for (tsa::Index j = 0; j < n; ++j) {
                const double p = compact[std::size_t(i * n + j)];
                rowSum += p;
                if (j > i)
                    EXPECT_EQ(p, 0.0);
                else
                    EXPECT_NEAR(p, dense[std::size_t(row * 16 + sel.head(h)[j])] / denseKept, 1e-12);
            }
            EXPECT_NEAR(rowSum, 1.0, 1e-12);
        }
    }
}
