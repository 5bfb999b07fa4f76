// Method settings scaled down for the few-hundred-token layers of the core tests: TSA compresses them
// (W 32, min_tokens 64, tau 0.05) and the block methods use 32-wide blocks, as docs/methods.md does for
// stories260K's 512 tokens.
#pragma once

#include "core/methods/methods.h"

namespace tsa::testdata {

inline MethodSettings smallMethodSettings() {
    MethodSettings s;
    s.tsa.tau = 0.05;
    s.tsa.window = 32;
    s.tsa.minTokens = 64;
    s.minference.adaptiveBudget = 0.2;
    s.flexprefill.blockSize = 32;
    s.flexprefill.minBudget = 64;
    s.xattention.blockSize = 32;
    s.xattention.stride = 8;
    s.streaming.sinkTokens = 16;
    s.streaming.localTokens = 64;
    return s;
}

} // namespace tsa::testdata
