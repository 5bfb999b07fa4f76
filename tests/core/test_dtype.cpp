// dtype conversions: exhaustive half/bfloat16 -> float -> back round trips, round-to-nearest-even against
// a brute-force reference on random and boundary floats, subnormals, overflow, Inf and NaN.
#include "core/io/dtype.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <gtest/gtest.h>
#include <limits>
#include <random>
#include <vector>

using namespace tsa;

namespace {

float bitsToFloat(std::uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}

// Nearest representable value (ties to the even encoding) among the non-negative finite values of a
// 16-bit format, given as (value, encoding) sorted by value. Returns the encoding, or `infBits` when x
// rounds past the largest finite value (halfway counts as past, like IEEE).
std::uint16_t nearest(const std::vector<std::pair<double, std::uint16_t>>& table, double x,
                      double nextAfterMax, std::uint16_t infBits) {
    const double maxv = table.back().first;
    if (x >= (maxv + nextAfterMax) / 2) return infBits;
    auto it = std::lower_bound(table.begin(), table.end(), std::make_pair(x, std::uint16_t(0)),
                               [](const auto& a, const auto& b) { return a.first < b.first; });
    if (it == table.end()) return table.back().second;
    if (it->first == x || it == table.begin()) return it->second;
    const auto lo = *(it - 1), hi = *it;
    const double dl = x - lo.first, dh = hi.first - x;
    if (dl < dh) return lo.second;
    if (dh < dl) return hi.second;
    return (lo.second & 1) == 0 ? lo.second : hi.second;
}

std::vector<std::pair<double, std::uint16_t>> positiveTable(float (*decode)(std::uint16_t),
                                                            std::uint16_t infBits) {
    std::vector<std::pair<double, std::uint16_t>> t;
    for (std::uint32_t b = 0; b < infBits; ++b)
        t.emplace_back(double(decode(std::uint16_t(b))), std::uint16_t(b));
    return t; // encodings of non-negative finite values increase with value
}

} // namespace

TEST(DType, NamesAndSizes) {
    for (DType t :
         {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I32, DType::I64, DType::U8, DType::Bool})
        EXPECT_EQ(dtypeFromName(dtypeName(t)), t);
    EXPECT_EQ(dtypeFromName("F8_E4M3"), DType::Unknown);
    EXPECT_EQ(dtypeFromName("f32"), DType::Unknown) << "safetensors names are upper case";
    EXPECT_EQ(dtypeSize(DType::F32), 4u);
    EXPECT_EQ(dtypeSize(DType::BF16), 2u);
    EXPECT_EQ(dtypeSize(DType::F16), 2u);
    EXPECT_EQ(dtypeSize(DType::I64), 8u);
    EXPECT_EQ(dtypeSize(DType::Bool), 1u);
    EXPECT_EQ(dtypeSize(DType::Unknown), 0u);
}

TEST(DType, F16RoundTripsEveryEncoding) {
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
        const float f = f16ToFloat(std::uint16_t(b));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(f16ToFloat(floatToF16(f)))) << b;
            continue;
        }
        ASSERT_EQ(floatToF16(f), b) << std::hex << b;
    }
}

TEST(DType, Bf16RoundTripsEveryEncoding) {
    for (std::uint32_t b = 0; b < 0x10000; ++b) {
        const float f = bf16ToFloat(std::uint16_t(b));
        if (std::isnan(f)) {
            EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(f)))) << b;
            continue;
        }
        ASSERT_EQ(floatToBf16(f), b) << std::hex << b;
    }
}

TEST(DType, F16KnownValues) {
    EXPECT_EQ(f16ToFloat(0x3C00), 1.0f);
    EXPECT_EQ(f16ToFloat(0xC000), -2.0f);
    EXPECT_EQ(f16ToFloat(0x7BFF), 65504.0f);
    EXPECT_EQ(f16ToFloat(0x0001), std::ldexp(1.0f, -24));    // smallest subnormal
    EXPECT_EQ(f16ToFloat(0x03FF), std::ldexp(1023.0f, -24)); // largest subnormal
    EXPECT_EQ(f16ToFloat(0x0400), std::ldexp(1.0f, -14));    // smallest normal
    EXPECT_TRUE(std::isinf(f16ToFloat(0x7C00)) && f16ToFloat(0x7C00) > 0);
    EXPECT_TRUE(std::isinf(f16ToFloat(0xFC00)) && f16ToFloat(0xFC00) < 0);
    EXPECT_TRUE(std::isnan(f16ToFloat(0x7E00)));
    EXPECT_TRUE(std::signbit(f16ToFloat(0x8000)));

    EXPECT_EQ(floatToF16(65504.0f), 0x7BFF);
    EXPECT_EQ(floatToF16(65519.996f), 0x7BFF);
    EXPECT_EQ(floatToF16(65520.0f), 0x7C00) << "halfway to 65536 rounds to even: Inf";
    EXPECT_EQ(floatToF16(1e10f), 0x7C00);
    EXPECT_EQ(floatToF16(-1e10f), 0xFC00);
    EXPECT_EQ(floatToF16(std::numeric_limits<float>::infinity()), 0x7C00);
    const std::uint16_t n = floatToF16(std::numeric_limits<float>::quiet_NaN());
    EXPECT_EQ(n & 0x7C00, 0x7C00);
    EXPECT_NE(n & 0x03FF, 0);
    // A NaN whose payload sits only in low bits must stay NaN, not become Inf.
    EXPECT_TRUE(std::isnan(f16ToFloat(floatToF16(bitsToFloat(0x7F800001u)))));
    EXPECT_EQ(floatToF16(std::ldexp(1.0f, -25)), 0x0000) << "half of the smallest subnormal ties to 0";
    EXPECT_EQ(floatToF16(std::ldexp(1.5f, -25)), 0x0001);
    EXPECT_EQ(floatToF16(std::ldexp(3.0f, -25)), 0x0002) << "1.5 subnormal units tie to even 2";
    EXPECT_EQ(floatToF16(std::ldexp(1.0f, -30)), 0x0000);
    EXPECT_EQ(floatToF16(-0.0f), 0x8000);
    EXPECT_EQ(floatToF16(std::ldexp(2047.0f, -25)), 0x0400) << "largest subnormal + half rounds up to normal";
    EXPECT_EQ(floatToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00) << "tie to even (down)";
    EXPECT_EQ(floatToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02) << "tie to even (up)";
}

TEST(DType, Bf16KnownValues) {
    EXPECT_EQ(bf16ToFloat(0x3F80), 1.0f);
    EXPECT_EQ(floatToBf16(1.0f), 0x3F80);
    EXPECT_EQ(floatToBf16(1.00390625f), 0x3F80) << "halfway rounds to even (down)";
    EXPECT_EQ(floatToBf16(1.01171875f), 0x3F82) << "halfway rounds to even (up)";
    EXPECT_EQ(floatToBf16(std::numeric_limits<float>::max()), 0x7F80) << "rounds past the largest bf16";
    EXPECT_EQ(floatToBf16(std::numeric_limits<float>::infinity()), 0x7F80);
    EXPECT_EQ(floatToBf16(-std::numeric_limits<float>::infinity()), 0xFF80);
    EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(std::numeric_limits<float>::quiet_NaN()))));
    EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(bitsToFloat(0x7F800001u)))))
        << "low-payload NaN stays NaN";
    EXPECT_EQ(floatToBf16(bitsToFloat(0x00000001u)), 0x0000) << "smallest float subnormal rounds to 0";
    EXPECT_EQ(floatToBf16(bitsToFloat(0x00008000u)), 0x0000) << "tie to even";
    EXPECT_EQ(floatToBf16(bitsToFloat(0x00018000u)), 0x0002) << "tie to even";
    EXPECT_EQ(bf16ToFloat(0x0001), bitsToFloat(0x00010000u)) << "bf16 subnormals decode exactly";
}

TEST(DType, RoundToNearestEvenAgainstBruteForce) {
    const auto f16 = positiveTable(f16ToFloat, 0x7C00);
    const auto bf16 = positiveTable(bf16ToFloat, 0x7F80);
    std::mt19937 rng(42);
    std::vector<float> xs;
    for (int i = 0; i < 200000; ++i)
        xs.push_back(bitsToFloat(rng() & 0x7FFFFFFFu)); // any positive bit pattern
    for (int i = 0; i < 100000; ++i)
        xs.push_back(std::ldexp(float(rng() % 1000000) / 1000000.0f, int(rng() % 50) - 30));
    for (const auto& [v, b] : f16) { // exact midpoints and their neighbours
        (void)b;
        const float x = float(v);
        xs.push_back(x);
        xs.push_back(std::nextafter(x, 1e30f));
        xs.push_back(std::nextafter(x, 0.0f));
    }
    for (float x : xs) {
        if (std::isnan(x) || std::isinf(x)) continue;
        const std::uint16_t e16 = nearest(f16, double(x), 65536.0, 0x7C00);
        ASSERT_EQ(floatToF16(x), e16) << x;
        ASSERT_EQ(floatToF16(-x), std::uint16_t(e16 | 0x8000)) << -x;
        const std::uint16_t eb = nearest(bf16, double(x), std::ldexp(1.0, 128), 0x7F80);
        ASSERT_EQ(floatToBf16(x), eb) << x;
    }
}

TEST(DType, BufferConversions) {
    const std::vector<float> src = {0.0f, -1.5f, 3.140625f, 65504.0f, std::ldexp(1.0f, -24)};
    for (DType t : {DType::F32, DType::F16, DType::BF16}) {
        std::vector<unsigned char> raw(src.size() * dtypeSize(t) + 1); // +1: unaligned view below
        ASSERT_TRUE(convertFromFloat(src.data(), src.size(), t, raw.data() + 1));
        std::vector<float> back(src.size());
        ASSERT_TRUE(convertToFloat(raw.data() + 1, t, src.size(), back.data()));
        for (std::size_t i = 0; i < src.size(); ++i) {
            if (t == DType::BF16 && i >= 3) continue; // not representable in bf16's 8-bit mantissa
            EXPECT_EQ(back[i], src[i]) << dtypeName(t) << " " << i;
        }
    }
    const double d[2] = {0.1, -2.0};
    float out[2];
    ASSERT_TRUE(convertToFloat(d, DType::F64, 2, out));
    EXPECT_EQ(out[0], 0.1f);
    EXPECT_FALSE(convertToFloat(d, DType::I32, 1, out));
    EXPECT_FALSE(convertFromFloat(out, 1, DType::I64, nullptr));
}
