// The shared parameter rules (core/param_rules.h): which tau values every front end accepts, the
// reasons it gives for the rest, and the locale-independent parser the explorer's field and command line use.
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
