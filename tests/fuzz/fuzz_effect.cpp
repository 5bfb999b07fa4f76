// libFuzzer target: the effect file reader (tsa-effect/1: safetensors header, the `effect` JSON, kept-set
// validation and Jaccard) on arbitrary bytes. Whatever it accepts must be self-consistent.
#include "core/io/effect.h"

#include <cmath>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto effect = tsa::parseEffect(data, size, "fuzz.safetensors");
    if (effect.ok()) {
        if (effect->runs.size() != effect->taus.size()) __builtin_trap();
        for (const auto& run : effect->runs) {
            if (int(run.layers.size()) != effect->numLayers) __builtin_trap();
            for (const auto& layer : run.layers)
                for (double j : layer.headJaccard)
                    if (!(j >= 0.0 && j <= 1.0)) __builtin_trap();
            const auto grid = tsa::needleGrid(run);
            if (grid.values.size() != grid.lengths.size() * grid.depths.size()) __builtin_trap();
        }
    }
    return 0;
}
