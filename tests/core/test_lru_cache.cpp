// The byte-bounded LRU cache (core/lru_cache.h) shared by the capture and the explorer.
#include "core/lru_cache.h"

#include <gtest/gtest.h>

using tsa::LruCache;

TEST(LruCache, EvictsLeastRecentlyUsed) {
    LruCache<int, int> cache(100);
    cache.put(1, std::make_shared<int>(1), 40);
    cache.put(2, std::make_shared<int>(2), 40);
    EXPECT_TRUE(cache.get(1)); // 1 is now the most recent
    cache.put(3, std::make_shared<int>(3), 40);
    EXPECT_TRUE(cache.contains(1));
    EXPECT_FALSE(cache.contains(2));
    EXPECT_TRUE(cache.contains(3));
    EXPECT_EQ(cache.bytes(), std::size_t(80));
}

TEST(LruCache, PeekDoesNotCountAsUse) {
    LruCache<int, const int> cache(100);
    cache.put(1, std::make_shared<const int>(1), 40);
    cache.put(2, std::make_shared<const int>(2), 40);
    EXPECT_EQ(*cache.peek(1), 1); // not a use: 1 stays the least recent
    cache.put(3, std::make_shared<const int>(3), 40);
    EXPECT_FALSE(cache.contains(1));
    EXPECT_TRUE(cache.contains(2));
}

TEST(LruCache, OversizedEntryStaysAloneAndReadersKeepEvictedValues) {
    LruCache<int, int> cache(100);
    cache.put(1, std::make_shared<int>(1), 40);
    EXPECT_FALSE(cache.fits(500));
    cache.put(4, std::make_shared<int>(4), 500);
    EXPECT_EQ(cache.size(), std::size_t(1));
    EXPECT_TRUE(cache.contains(4));
    auto held = cache.get(4);
    cache.clear();
    EXPECT_EQ(*held, 4);
    EXPECT_EQ(cache.bytes(), std::size_t(0));
    cache.put(5, std::make_shared<int>(5), 60);
    cache.put(6, std::make_shared<int>(6), 60);
    cache.setBudget(50); // shrinking evicts down to the budget
    EXPECT_EQ(cache.size(), std::size_t(0));
}
