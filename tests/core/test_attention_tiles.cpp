// The block-sparse kernel's tile products (core/kernels/attention_tiles.h) on their own, for every
// instruction set that has them (AVX-512 and AVX2 on this machine): scores from key panels and P V from V in
// place or from value slices, against plain fp64 products, for row counts around the 6-row register tile
// (1 .. 13, 64, 128), key counts of 1 .. 8 panels starting past the first panel, head dims of 1 .. 8
// 16-column slices, and causal reach (rows that skip keys past their bound).
#include "core/kernels/attention_tiles.h"
#include "core/kernels/cpu_isa.h"
#include "tests/core/isa_paths.h"
#include "tests/core/tsa_test_data.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <gtest/gtest.h>
#include <vector>

namespace tsa {
namespace {

std::vector<float> randomFloats(Index n, std::uint64_t seed) {
    std::vector<float> x(static_cast<std::size_t>(n));
    for (auto& e : x)
        e = testdata::normal(seed);
    return x;
}

// Keys 0 .. total-1 packed into panels / slices; the products read keys first .. first+n-1.
void checkProducts(const detail::TileProducts& tp, Index m, Index n, Index dim, Index reach) {
    const Index first = 16, total = first + n + 5; // panels past the first; a partial last panel
    const Index panelCount = (total + 15) / 16;
    const auto q = randomFloats(m * dim, 1 + m + n + dim);
    const auto keys = randomFloats(total * dim, 2 + m + n + dim);
    const auto values = randomFloats(total * dim, 3 + m + n + dim);
    std::vector<float> panels(static_cast<std::size_t>(panelCount * 16 * dim), -1.0f);
    tp.packKeyPanels(keys.data(), total, dim, 0, 2, panels.data()); // two calls, as threads split it
    tp.packKeyPanels(keys.data(), total, dim, 2, panelCount, panels.data());
    const float alpha = 0.37f;

    // Scores: every entry a row needs, against fp64.
    const Index lds = n + 3;
    std::vector<float> s(static_cast<std::size_t>(m * lds), 0.0f);
    tp.scoresFromPanels(m, n, dim, alpha, q.data(), dim, panels.data() + (first / 16) * dim * 16, s.data(),
                        lds, reach);
    for (Index r = 0; r < m; ++r)
        for (Index j = 0; j < std::min(n, r + reach); ++j) {
            double dot = 0;
            for (Index d = 0; d < dim; ++d)
                dot += double(q[r * dim + d]) * double(keys[(first + j) * dim + d]);
            ASSERT_NEAR(s[r * lds + j], alpha * dot, 1e-5 * (1 + std::abs(dot)))
                << "m " << m << " n " << n << " dim " << dim << " reach " << reach << " s[" << r << ", " << j
                << "]";
        }

    // P V: p zero past each row's reach (as the softmax leaves it), o accumulated onto a start value.
    std::vector<float> p(static_cast<std::size_t>(m * lds), 0.0f);
    std::uint64_t seed = 9 + m;
    for (Index r = 0; r < m; ++r)
        for (Index j = 0; j < std::min(n, r + reach); ++j)
            p[r * lds + j] = float(double(gen::splitmix64(seed) >> 11) * 0x1.0p-53);
    const Index ldo = dim + 16;
    const auto start = randomFloats(m * ldo, 4 + m);
    std::vector<double> expected(static_cast<std::size_t>(m * dim));
    for (Index r = 0; r < m; ++r)
        for (Index d = 0; d < dim; ++d) {
            double acc = start[r * ldo + d];
            for (Index j = 0; j < n; ++j)
                acc += double(p[r * lds + j]) * double(values[(first + j) * dim + d]);
            expected[r * dim + d] = acc;
        }
    auto checkOutput = [&](const std::vector<float>& o, const char* what) {
        for (Index r = 0; r < m; ++r)
            for (Index d = 0; d < dim; ++d)
                ASSERT_NEAR(o[r * ldo + d], expected[r * dim + d],
                            1e-5 * (1 + std::abs(expected[r * dim + d])))
                    << what << " m " << m << " n " << n << " dim " << dim << " reach " << reach << " o[" << r
                    << ", " << d << "]";
    };
    std::vector<float> o = start;
    tp.accumulateProbabilities(m, n, dim, p.data(), lds, values.data() + first * dim, dim, 16, o.data(), ldo,
                               reach);
    checkOutput(o, "in place");
    if (tp.packValueSlices) {
        std::vector<float> slices(static_cast<std::size_t>(total * dim), -1.0f);
        tp.packValueSlices(values.data(), total, dim, 0, 7, slices.data());
        tp.packValueSlices(values.data(), total, dim, 7, total, slices.data());
        o = start;
        tp.accumulateProbabilities(m, n, dim, p.data(), lds, slices.data() + first * 16, 16, total * 16,
                                   o.data(), ldo, reach);
        checkOutput(o, "slices");
    }
}

TEST(AttentionTiles, ProductsMatchFp64OnEveryPath) {
    int paths = 0;
    test::forEachIsa([&](Isa isa) {
        const detail::TileProducts* tp = detail::tileProducts(16);
        if (isa == Isa::Portable) {
            EXPECT_EQ(tp, nullptr) << "the portable path keeps the OpenBLAS products";
            return;
        }
        ASSERT_NE(tp, nullptr) << isaName(isa) << " has tile products";
        EXPECT_EQ(detail::tileProducts(20), nullptr)
            << "head dims that are not multiples of 16 take OpenBLAS";
        ++paths;
        for (Index dim : {16, 48, 128})
            for (Index m : {1, 2, 5, 6, 7, 8, 13, 64, 128})
                for (Index n : {16, 64, 128})
                    for (Index reach : {Index(1), Index(17), n})
                        if (dim == 48 || m <= 13 || (n == 128 && reach != 17))
                            checkProducts(*tp, m, n, dim, reach);
    });
    if (supportedIsa() != Isa::Portable && !std::getenv("TSA_ISA")) {
        EXPECT_GT(paths, 0);
    }
}

} // namespace
} // namespace tsa
