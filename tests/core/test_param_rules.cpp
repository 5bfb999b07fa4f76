// The shared parameter rules (core/param_rules.h): which tau values every front end accepts, the
// reasons it gives for the rest, and the locale-independent parser the explorer's field and command line use;
// the other selection parameters, the layer plan's knobs and the one layer-list syntax.
#include "core/names.h"
#include "core/param_rules.h"

#include <cmath>
#include <gtest/gtest.h>
#include <limits>

TEST(ParamRules, TauRangeIsZeroToOneHalf) {
    for (double ok : {0.0, 1e-12, 1e-5, 1e-4, 0.005, 0.2, 0.5})
        EXPECT_EQ(tsa::tauProblem(ok), "") << ok;
    EXPECT_NE(tsa::tauProblem(-0.1).find("negative"), std::string::npos);
    EXPECT_NE(tsa::tauProblem(0.7).find("above 0.5"), std::string::npos);
    EXPECT_NE(tsa::tauProblem(1.0).find("tau 1"), std::string::npos);
    EXPECT_NE(tsa::tauProblem(std::numeric_limits<double>::quiet_NaN()).find("finite"), std::string::npos);
    EXPECT_NE(tsa::tauProblem(std::numeric_limits<double>::infinity()).find("finite"), std::string::npos);
}

TEST(ParamRules, ParseTauReadsTypedText) {
    double tau = -1.0;
    EXPECT_EQ(tsa::parseTau("0", &tau), "");
    EXPECT_EQ(tau, 0.0);
    EXPECT_EQ(tsa::parseTau(" 1e-9\t", &tau), "");
    EXPECT_EQ(tau, 1e-9);
    EXPECT_EQ(tsa::parseTau("0.00001", &tau), "");
    EXPECT_EQ(tau, 1e-5);
    tau = 0.25;
    EXPECT_EQ(tsa::parseTau("abc", &tau), "tau 'abc' is not a number");
    EXPECT_EQ(tsa::parseTau("0.01x", &tau), "tau '0.01x' is not a number");
    EXPECT_EQ(tsa::parseTau("0,01", &tau), "tau '0,01' is not a number"); // no locale decimal comma
    EXPECT_NE(tsa::parseTau("", &tau).find("empty"), std::string::npos);
    EXPECT_NE(tsa::parseTau("0.7", &tau).find("above"), std::string::npos);
    EXPECT_NE(tsa::parseTau("-0.1", &tau).find("negative"), std::string::npos);
    EXPECT_EQ(tau, 0.25); // refused text leaves the value alone
    EXPECT_EQ(tsa::parseTau("0.1", nullptr), "");
}

TEST(ParamRules, EachCheckNamesItsParameter) {
    EXPECT_EQ(tsa::windowProblem(1), "");
    EXPECT_EQ(tsa::windowProblem(tsa::kWindowMaximum), "");
    EXPECT_EQ(tsa::windowProblem(0), "window W must be at least 1, got 0");
    EXPECT_NE(tsa::windowProblem(tsa::kWindowMaximum + 1).find("window W"), std::string::npos);
    EXPECT_EQ(tsa::poolKernelProblem(7), "");
    EXPECT_EQ(tsa::poolKernelProblem(1), "");
    for (tsa::Index bad : {0, 4, -3})
        EXPECT_EQ(tsa::poolKernelProblem(bad).rfind("pool kernel k must be a positive odd number", 0), 0u)
            << bad;
    EXPECT_NE(tsa::poolKernelProblem(tsa::kPoolKernelMaximum + 2).find("above"), std::string::npos);
    EXPECT_EQ(tsa::minTokensProblem(0), "");
    EXPECT_EQ(tsa::minTokensProblem(-1), "min_tokens must not be negative, got -1");
    EXPECT_NE(tsa::minTokensProblem(tsa::kMinTokensMaximum + 1).find("min_tokens"), std::string::npos);
    EXPECT_EQ(tsa::deltaProblem(0.0), "");
    EXPECT_EQ(tsa::deltaProblem(1.0), "");
    EXPECT_EQ(tsa::deltaProblem(1.5), "drift quantile delta must be in [0, 1], got 1.5");
    EXPECT_NE(tsa::deltaProblem(std::nan("")).find("delta"), std::string::npos);
}

TEST(ParamRules, WholeSettingsReportTheFirstProblem) {
    tsa::TsaParams p;
    EXPECT_EQ(tsa::tsaParamsProblem(p), "") << "the defaults are valid";
    p.minTokens = -5;
    p.poolKernel = 2;
    EXPECT_EQ(tsa::tsaParamsProblem(p), tsa::poolKernelProblem(2)); // k is checked before min_tokens
    tsa::LayerPlanConfig plan;
    EXPECT_EQ(tsa::layerPlanProblem(plan), "");
    plan.list = {3, -1};
    EXPECT_NE(tsa::layerPlanProblem(plan).find("layer -1"), std::string::npos);
    plan.delta = -0.1;
    EXPECT_EQ(tsa::layerPlanProblem(plan), tsa::deltaProblem(-0.1));
}

TEST(ParamRules, LayerListsParseOneWayEverywhere) {
    std::vector<int> layers;
    EXPECT_EQ(tsa::parseLayerList("16-18, 4,4 , 9", &layers), "");
    EXPECT_EQ(layers, (std::vector<int>{4, 9, 16, 17, 18})); // sorted, duplicates removed
    EXPECT_EQ(tsa::layerListText(layers), "4,9,16,17,18");
    EXPECT_EQ(tsa::parseLayerList(tsa::layerListText(layers), &layers), "");
    EXPECT_EQ(layers, (std::vector<int>{4, 9, 16, 17, 18})); // the text reads back to the same list
    EXPECT_EQ(tsa::parseLayerList("0,3,8-11", &layers), "");
    EXPECT_EQ(layers, (std::vector<int>{0, 3, 8, 9, 10, 11}));
    EXPECT_EQ(tsa::parseLayerList(" 5 - 6 ", &layers), "");
    EXPECT_EQ(layers, (std::vector<int>{5, 6}));
    EXPECT_EQ(tsa::parseLayerList("7-7", &layers), "");
    EXPECT_EQ(layers, (std::vector<int>{7}));
    // Empty text is an empty list; callers that need a layer say so.
    EXPECT_EQ(tsa::parseLayerList("  ", &layers), "");
    EXPECT_TRUE(layers.empty());
    // Refused text names the item and leaves the list alone.
    layers = {1};
    EXPECT_EQ(tsa::parseLayerList("3,x", &layers).rfind("'x' is not a layer number", 0), 0u);
    EXPECT_EQ(tsa::parseLayerList("9-2", &layers), "'9-2' runs backwards; write the lower layer first");
    for (const char* bad : {"-3", "3,,4", "3,", "1.5", "2-", "-", "1-2-3", "99999999999", "100001", "0x10"})
        EXPECT_NE(tsa::parseLayerList(bad, &layers), "") << bad;
    EXPECT_EQ(layers, (std::vector<int>{1}));
    EXPECT_EQ(tsa::parseLayerList("0-100000", nullptr), ""); // the largest range is still bounded
}

TEST(ParamRules, ChoiceListsReadAsASentence) {
    EXPECT_EQ(tsa::choiceList({}), "");
    EXPECT_EQ(tsa::choiceList({"a"}), "a");
    EXPECT_EQ(tsa::choiceList({"a", "b"}), "a or b");
    EXPECT_EQ(tsa::choiceList({"a", "b", "c"}), "a, b or c");
}
