// Deterministic test inputs shared by the core tests: Q/K/V with some structure (a sink and a few strong
// keys) so selections are not flat, generated from a fixed seed with a portable RNG.
#pragma once

#include "core/methods/tsa_selection.h"
#include "core/synth/generator_rng.h"
#include "core/tensor.h"

#include <cmath>
#include <cstdint>

namespace tsa::testdata {

using gen::splitmix64;

// Standard normal via Box-Muller over splitmix64 uniforms.
inline float normal(std::uint64_t& state) {
    const double u1 = (double(splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = (double(splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
    return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

inline void fillNormal(Tensor3& t, std::uint64_t seed, float scale) {
    for (auto& x : t.data)
        x = scale * normal(seed);
}

// A layer whose attention has a sink at token 0 and a handful of heavy keys, like real models.
inline LayerQkv structuredLayer(Index hq, Index hkv, Index tokens, Index dim, std::uint64_t seed) {
    LayerQkv l{Tensor3(hq, tokens, dim), Tensor3(hkv, tokens, dim), Tensor3(hkv, tokens, dim)};
    fillNormal(l.q, seed, 1.0f);
    fillNormal(l.k, seed + 1, 1.0f);
    fillNormal(l.v, seed + 2, 1.0f);
    for (Index g = 0; g < hkv; ++g) {
        for (Index c = 0; c < dim; ++c)
            l.k.row(g, 0)[c] += 2.0f; // sink
        for (Index t = 7; t < tokens; t += 97)
            for (Index c = 0; c < dim; c += 2)
                l.k.row(g, t)[c] += 1.5f; // heavy hitters
    }
    for (Index h = 0; h < hq; ++h)
        for (Index t = 0; t < tokens; ++t)
            for (Index c = 0; c < dim; ++c)
                l.q.row(h, t)[c] += (c % 2 == 0 ? 0.6f : 0.2f) + 0.1f * float(h % 3);
    return l;
}

// TSA's selection at tau with pool kernel 5, the kernel the analysis tests score with.
inline Selection selectAt(const LayerScores& scores, Index qHeads, Index tokens, double tau, Index window,
                          Index minTokens) {
    TsaParams p;
    p.tau = tau;
    p.window = window;
    p.poolKernel = 5;
    p.minTokens = minTokens;
    return selectTokens(scores, qHeads, tokens, p);
}

} // namespace tsa::testdata
