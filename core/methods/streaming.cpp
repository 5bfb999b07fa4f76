// A-shape pattern: for the query block [q0, q1), keys [0, sink) and [max(0, q0 - local), q1), causal.
// No estimation: O(heads * n / blockRows) to build.
#include "core/methods/streaming.h"

#include "core/methods/method_util.h"

namespace tsa {

std::string StreamingConfig::validate() const {
    if (sinkTokens < 0) return "streaming.sink must be >= 0, got " + std::to_string(sinkTokens);
    if (localTokens < 0) return "streaming.local must be >= 0, got " + std::to_string(localTokens);
    if (blockRows < 1) return "streaming.block_rows must be >= 1, got " + std::to_string(blockRows);
    return {};
}

Result<Pattern> streamingPattern(Index qHeads, Index tokens, const StreamingConfig& config) {
    if (std::string bad = config.validate(); !bad.empty())
        return Status::error(ErrorCode::InvalidArgument, bad);
    Pattern pattern;
    pattern.method = "streaming";
    pattern.params = {{"sink", double(config.sinkTokens)},
                      {"local", double(config.localTokens)},
                      {"block_rows", double(config.blockRows)}};
    pattern.qHeads = qHeads;
    pattern.tokens = tokens;
    BlockPatternBuilder builder(qHeads, tokens, config.blockRows);
    const Index blocks = methods::ceilDiv(tokens, config.blockRows);
    for (Index h = 0; h < qHeads; ++h)
        for (Index b = 0; b < blocks; ++b) {
            const Index q0 = b * config.blockRows;
            builder.addSpan(0, config.sinkTokens);
            builder.addSpan(std::max<Index>(0, q0 - config.localTokens), q0 + config.blockRows);
            builder.finishBlock();
        }
    pattern.blocks = builder.finish();
    return pattern;
}

} // namespace tsa
