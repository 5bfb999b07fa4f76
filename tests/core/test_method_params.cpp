// The knob helpers the explorer's sessions and `tsa export --set` use: methodParamValues lists every knob
// with its value (the same names setMethodParam takes), setMethodParams parses NAME=VALUE lists and names
// the entry it cannot use.
#include "core/methods/methods.h"

#include <gtest/gtest.h>

using namespace tsa;

TEST(MethodParams, ValuesListEveryKnobAndRoundTrip) {
    MethodSettings s;
    s.flexprefill.gamma = 0.8;
    s.streaming.localTokens = 77;
    s.tsa.tau = 0.03;
    const auto values = methodParamValues(s);
    const auto names = methodParamNames();
    ASSERT_EQ(values.size(), names.size());
    MethodSettings copy;
    for (std::size_t i = 0; i < values.size(); ++i) {
        EXPECT_EQ(values[i].first, names[i]);
        EXPECT_EQ(setMethodParam(copy, values[i].first, values[i].second), "");
    }
    EXPECT_EQ(methodParamValues(copy), values);
    EXPECT_DOUBLE_EQ(copy.flexprefill.gamma, 0.8);
    EXPECT_EQ(copy.streaming.localTokens, 77);
    EXPECT_DOUBLE_EQ(copy.tsa.tau, 0.03);
}

TEST(MethodParams, ListParsingNamesTheBadEntry) {
    MethodSettings s;
    EXPECT_EQ(setMethodParams(s, "flexprefill.block_size=32,xattention.threshold=0.8"), "");
    EXPECT_EQ(s.flexprefill.blockSize, 32);
    EXPECT_DOUBLE_EQ(s.xattention.threshold, 0.8);
    EXPECT_NE(setMethodParams(s, "flexprefill.nope=1").find("flexprefill.nope"), std::string::npos);
    EXPECT_NE(setMethodParams(s, "flexprefill.gamma").find("NAME=NUMBER"), std::string::npos);
    EXPECT_NE(setMethodParams(s, "flexprefill.gamma=abc").find("flexprefill.gamma=abc"), std::string::npos);
    EXPECT_NE(setMethodParams(s, "streaming.local=1.5").find("integer"), std::string::npos);
    EXPECT_NE(setMethodParams(s, "").find("NAME=NUMBER"), std::string::npos);
}
