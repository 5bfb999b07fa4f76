// StreamingLLM / A-shape (Xiao et al. 2024; MInference's "A-shape" head pattern): attention sinks plus a
// local window, at query-block granularity so the block kernel computes whole spans. Defaults and why:
// docs/methods.md.
#pragma once

#include "core/methods/pattern.h"
#include "core/status.h"
#include "core/tensor.h"

#include <string>

namespace tsa {

struct StreamingConfig {
    Index sinkTokens = 128; // keys 0 .. sink-1 for every query (StreamingLLM's sinks, rounded up to a block)
    Index localTokens = 1024; // every query block also sees the `local` keys before its first row
    Index blockRows = 64;     // query rows per block
    std::string validate() const;
};

Result<Pattern> streamingPattern(Index qHeads, Index tokens, const StreamingConfig& config);

} // namespace tsa
