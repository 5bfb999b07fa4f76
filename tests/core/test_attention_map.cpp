// The explorer's block-aggregated attention map against a naive L x L softmax.
#include "core/analysis/attention_map.h"

#include <cmath>
#include <gtest/gtest.h>
#include <random>

namespace {

tsa::Tensor3 randomTensor(tsa::Index h, tsa::Index l, tsa::Index d, unsigned seed) {
    tsa::Tensor3 t(h, l, d);
    std::mt19937 rng(seed);
    std::normal_distribution<float> n(0.0f, 1.0f);
    for (float& x : t.data)
        x = n(rng);
    return t;
}

// Naive p_ij of one head in double, [L, L].
std::vector<double> naiveProbabilities(const tsa::Tensor3& q, const tsa::Tensor3& k, tsa::Index head,
                                       std::vector<double>* lse) {
    const tsa::Index l = q.tokens, d = q.dim, kvHead = head / (q.heads / k.heads);
    std::vector<double> p(std::size_t(l * l), 0.0);
    if (lse) lse->assign(std::size_t(l), 0.0);
    for (tsa::Index i = 0; i < l; ++i) {
        double maxLogit = -INFINITY;
        std::vector<double> logits(std::size_t(i + 1));
        for (tsa::Index j = 0; j <= i; ++j) {
            double s = 0;
            for (tsa::Index x = 0; x < d; ++x)
                s += double(q.row(head, i)[x]) * double(k.row(kvHead, j)[x]);
            logits[std::size_t(j)] = s / std::sqrt(double(d));
            maxLogit = std::max(maxLogit, logits[std::size_t(j)]);
        }
        double total = 0;
        for (double v : logits)
            total += std::exp(v - maxLogit);
        const double rowLse = maxLogit + std::log(total);
        if (lse) (*lse)[std::size_t(i)] = rowLse;
        for (tsa::Index j = 0; j <= i; ++j)
            p[std::size_t(i * l + j)] = std::exp(logits[std::size_t(j)] - rowLse);
    }
    return p;
}

} // namespace

TEST(AttentionMap, MatchesNaiveBlockAverageWhenEveryRowIsUsed) {
    const tsa::Index l = 97, d = 16, blocks = 10;
    auto q = randomTensor(4, l, d, 1), k = randomTensor(2, l, d, 2);
    const tsa::Index head = 3;
    std::vector<double> lse;
    auto p = naiveProbabilities(q, k, head, &lse);

    tsa::AttentionMapConfig config;
    config.blocks = blocks;
    config.rowsPerBlock = 1000;
    auto map = computeAttentionMap(q.cview(), k.cview(), head, nullptr, config);
    ASSERT_TRUE(map.ok()) << map.error();
    ASSERT_EQ(map->blocks, blocks);
    ASSERT_EQ(map->blockStart.back(), l);

    for (tsa::Index r = 0; r < blocks; ++r) {
        const tsa::Index r0 = map->blockStart[r], r1 = map->blockStart[r + 1];
        EXPECT_EQ(map->sampledRows[r], r1 - r0);
        double rowSum = 0;
        for (tsa::Index c = 0; c < blocks; ++c) {
            const tsa::Index c0 = map->blockStart[c], c1 = map->blockStart[c + 1];
            double expected = 0;
            for (tsa::Index i = r0; i < r1; ++i)
                for (tsa::Index j = c0; j < c1; ++j)
                    expected += p[std::size_t(i * l + j)];
            expected /= double(r1 - r0);
            EXPECT_NEAR(map->at(r, c), expected, 1e-5) << "block " << r << "," << c;
            if (c > r) EXPECT_EQ(map->at(r, c), 0.0f);
            rowSum += map->at(r, c);
        }
        EXPECT_NEAR(rowSum, 1.0, 1e-5);
    }

    // The dense kernel's logsumexp gives the same map.
    std::vector<float> lseF(lse.begin(), lse.end());
    auto withLse = computeAttentionMap(q.cview(), k.cview(), head, lseF.data(), config);
    ASSERT_TRUE(withLse.ok());
    for (std::size_t x = 0; x < map->mass.size(); ++x)
        EXPECT_NEAR(withLse->mass[x], map->mass[x], 1e-5);
}

TEST(AttentionMap, SamplesRowsOnLongContexts) {
    auto q = randomTensor(1, 4096, 8, 3), k = randomTensor(1, 4096, 8, 4);
    tsa::AttentionMapConfig config;
    config.blocks = 64;
    config.rowsPerBlock = 4;
    auto map = computeAttentionMap(q.cview(), k.cview(), 0, nullptr, config);
    ASSERT_TRUE(map.ok());
    for (tsa::Index r = 0; r < 64; ++r) {
        EXPECT_EQ(map->sampledRows[r], 4);
        double rowSum = 0;
        for (tsa::Index c = 0; c < 64; ++c)
            rowSum += map->at(r, c);
        EXPECT_NEAR(rowSum, 1.0, 1e-4);
    }
}

TEST(AttentionMap, RejectsBadArgumentsAndHonoursCancel) {
    auto q = randomTensor(2, 16, 4, 5), k = randomTensor(1, 16, 4, 6);
    EXPECT_FALSE(computeAttentionMap(q.cview(), k.cview(), 2, nullptr).ok());
    auto k3 = randomTensor(3, 16, 4, 7);
    EXPECT_FALSE(computeAttentionMap(q.cview(), k3.cview(), 0, nullptr).ok());
    std::atomic<bool> cancel{true};
    tsa::AttentionMapConfig config;
    config.cancel = &cancel;
    auto r = computeAttentionMap(q.cview(), k.cview(), 0, nullptr, config);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code, tsa::ErrorCode::Cancelled);
    // Fewer tokens than blocks: one block per token.
    auto small = computeAttentionMap(q.cview(), k.cview(), 1, nullptr);
    ASSERT_TRUE(small.ok());
    EXPECT_EQ(small->blocks, 16);
}
