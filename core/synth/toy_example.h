// A 16-token worked example of Token Sparse Attention small enough to follow by hand, for teaching (the
// explorer's How it works panel shows it beside the real layer). The Q/K are fixed and readable: token 0
// is an attention sink, tokens 3-4 are what query head 0 looks for, tokens 8-9 what head 1 looks for,
// the rest is weak background. It runs through the same scoreLayer and selectTokens as a real capture,
// then computes each head's compact causal attention matrix over its kept tokens, so every step of the
// lesson has real numbers. Shapes: q [2, 16, 4], k and v [1, 16, 4] (GQA group 2). Cost: negligible.
#pragma once

#include "core/methods/tsa_selection.h"

#include <vector>

namespace tsa {

struct ToyExampleConfig {
    double tau = 0.1; // a larger share than real runs use, so the toy drops a visible number of tokens
    Index window = 4;
    Index poolKernel = 3;
    Index minTokens = 0;
};

struct ToyExample {
    TsaParams params;
    LayerQkv qkv;
    LayerScores scores;
    Selection selection;
    // Per query head: row-major [kept x kept] softmax probabilities over the head's kept tokens (causal by
    // rank), the attention that actually runs after compression.
    std::vector<std::vector<double>> compactAttention;
    // Per query head: [16 x 16] dense causal attention, for contrast.
    std::vector<std::vector<double>> denseAttention;
};

Result<ToyExample> buildToyExample(const ToyExampleConfig& config = {});

} // namespace tsa
