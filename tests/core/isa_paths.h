// Runs a test body once per SIMD path (core/kernels/cpu_isa.h) so fast paths are checked against the fp64
// reference and against each other on any machine. With TSA_ISA set (the *_isa_portable CTest entries)
// only that path runs: the entry then checks the environment override end to end.
#pragma once

#include "core/kernels/cpu_isa.h"

#include <cstdlib>
#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace tsa::test {

inline std::vector<Isa> isaPathsUnderTest() {
    const char* env = std::getenv("TSA_ISA");
    if (env && *env) return {activeIsa()};
    return availableIsas();
}

// body(Isa) with that path active; the previous path is restored afterwards.
template <class Body>
void forEachIsa(Body body) {
    const Isa before = activeIsa();
    for (Isa isa : isaPathsUnderTest()) {
        setActiveIsa(isa);
        SCOPED_TRACE(std::string("isa ") + isaName(isa));
        body(isa);
    }
    setActiveIsa(before);
}

} // namespace tsa::test
