// The runtime choice of SIMD kernels (core/kernels/cpu_isa.h): names round-trip, the levels this CPU offers
// are consistent, an override above the CPU is clamped (never an illegal instruction), and TSA_ISA, when the
// test runs under it (the *_isa_portable CTest entries), is what the kernels use.
#include "core/kernels/cpu_isa.h"

#include <cstdlib>
#include <gtest/gtest.h>

namespace tsa {
namespace {

TEST(CpuIsa, NamesRoundTrip) {
    for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512}) {
        ASSERT_TRUE(parseIsa(isaName(isa)).has_value());
        EXPECT_EQ(*parseIsa(isaName(isa)), isa);
    }
    EXPECT_FALSE(parseIsa("sse9").has_value());
    EXPECT_FALSE(parseIsa("").has_value());
}

TEST(CpuIsa, AvailableLevelsEndAtTheSupportedOne) {
    const std::vector<Isa> levels = availableIsas();
    ASSERT_FALSE(levels.empty());
    EXPECT_EQ(levels.front(), Isa::Portable);
    EXPECT_EQ(levels.back(), supportedIsa());
    EXPECT_LE(activeIsa(), supportedIsa());
}

TEST(CpuIsa, EnvironmentChoosesThePath) {
    const char* env = std::getenv("TSA_ISA");
    if (!env || !*env) {
        EXPECT_EQ(activeIsa(), supportedIsa());
        return;
    }
    const auto wanted = parseIsa(env);
    if (!wanted) { // a typo is reported on stderr and ignored, not fatal
        EXPECT_EQ(activeIsa(), supportedIsa());
        EXPECT_NE(activeIsaDescription().find("ignored"), std::string::npos) << activeIsaDescription();
        return;
    }
    EXPECT_EQ(activeIsa(), std::min(*wanted, supportedIsa()));
    EXPECT_NE(activeIsaDescription().find("TSA_ISA"), std::string::npos) << activeIsaDescription();
}

TEST(CpuIsa, OverrideIsClampedAndRestorable) {
    const Isa before = activeIsa();
    EXPECT_EQ(setActiveIsa(Isa::Portable), Isa::Portable);
    EXPECT_EQ(activeIsa(), Isa::Portable);
    EXPECT_EQ(setActiveIsa(Isa::Avx512), supportedIsa());
    EXPECT_EQ(activeIsa(), supportedIsa());
    setActiveIsa(before);
    EXPECT_EQ(activeIsa(), before);
}

} // namespace
} // namespace tsa
