// What a sparse-attention method keeps: the one pattern type every method produces and every kernel and
// measure consumes (issue 9, item 2).
//
// A pattern has two optional stages, applied in this order (the order of the authors' hijack,
// sparse_attn/llama_hijack_4_46.py):
//   1. Token sets (Token Sparse Attention): per query head, the ascending positions kept. Rows AND columns
//      are restricted to them: the head runs on a compressed sequence of `kept` tokens and dropped rows
//      come out as zeros. Absent: every head runs on all `tokens` positions.
//   2. A block-sparse pattern over the (possibly compressed) sequence of length n: for each query head and
//      each block of `blockRows` consecutive query rows, the key spans [begin, end) and the extra key
//      columns the block computes. Causality always applies on top: a pair (i, j) with j > i is never
//      computed. Block masks over (query block, key block) tiles are spans of whole key blocks; the
//      vertical-slash layout of MInference is its merged 64-wide slash ranges (spans, not aligned to key
//      blocks) plus the vertical columns outside them. Absent: dense causal attention over the sequence.
// Composition (TSA, then a block-sparse method) is a token set followed by a block-sparse pattern whose
// indices are compressed positions (0 .. kept-1), as the hijack estimates and runs the method after
// compress_qkv.
#pragma once

#include "core/tensor.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tsa {

// Keys [begin, end) of one query block.
struct KeySpan {
    std::int32_t begin = 0;
    std::int32_t end = 0;
};

// Stage 2 above. CSR layout: block (h, b) owns spans[spanStart[h * queryBlocks() + b] .. +1) and
// columns[columnStart[...] .. +1). Spans of a block are sorted and disjoint, columns sorted and outside
// every span of that block; both are clipped to the block's causal end (last row + 1) and to tokens.
struct BlockSparsePattern {
    Index qHeads = 0;
    Index tokens = 0;     // n: the length of the sequence the pattern indexes (compressed when composed)
    Index blockRows = 64; // query rows per block (the kernel's query tile)
    std::vector<Index> spanStart;
    std::vector<KeySpan> spans;
    std::vector<Index> columnStart;
    std::vector<std::int32_t> columns;

    Index queryBlocks() const { return blockRows > 0 ? (tokens + blockRows - 1) / blockRows : 0; }
    bool empty() const { return spanStart.empty(); }
    Index blockIndex(Index h, Index b) const { return h * queryBlocks() + b; }
};

// Builds a BlockSparsePattern block by block, in order (head-major, then query block). Spans and
// columns may come in any order and overlap; finishBlock() sorts, merges, clips to causality and drops
// columns already inside a span.
class BlockPatternBuilder {
public:
    BlockPatternBuilder(Index qHeads, Index tokens, Index blockRows);
    void addSpan(Index begin, Index end);
    void addColumn(Index column);
    void finishBlock(); // closes the current (head, block) and moves to the next
    BlockSparsePattern finish();

private:
    BlockSparsePattern m_pattern;
    Index m_block = 0;
    std::vector<KeySpan> m_spans;
    std::vector<std::int32_t> m_columns;
};

// Per-head token sets (stage 1): [qHeads, kept] ascending positions in 0 .. tokens-1. Token Sparse
// Attention's Selection (core/methods/tsa_selection.h) is one, with its budget bookkeeping added. Empty
// indices: no compression (every position kept; a dense Selection has kept = tokens).
struct TokenSets {
    Index qHeads = 0;
    Index tokens = 0; // the original length L
    Index kept = 0;
    std::vector<std::int32_t> indices;

    bool empty() const { return indices.empty(); }
    const std::int32_t* head(Index h) const { return indices.data() + h * kept; }
};

struct Pattern {
    std::string method;                                 // "minference", "tsa+flexprefill", ...
    std::vector<std::pair<std::string, double>> params; // every knob and its value, for reports and files
    Index qHeads = 0;
    Index tokens = 0;          // original L
    TokenSets tokenSets;       // empty: no compression
    BlockSparsePattern blocks; // empty: dense causal over the (compressed) sequence
    // Method detail kept for inspection and faithfulness checks (vertical-slash methods): per head, the
    // chosen vertical columns (ascending) and slash offsets q - k (descending), in the blocks' index space.
    std::vector<std::vector<std::int32_t>> vertical;
    std::vector<std::vector<std::int32_t>> slash;

    Index length() const { return tokenSets.empty() ? tokens : tokenSets.kept; } // n of the block stage
};

// Head h of a pattern as a one-head pattern (the executor runs compressed heads one at a time).
// O(query blocks + spans + columns of that head).
BlockSparsePattern headPattern(const BlockSparsePattern& pattern, Index h);

// The all-blocks pattern over n tokens (every causal pair): dense attention expressed as a pattern.
BlockSparsePattern fullBlockPattern(Index qHeads, Index tokens, Index blockRows);

// From a tile mask U8 [qHeads, ceil(n / blockRows), ceil(n / keyBlock)]: consecutive kept key blocks are
// merged into one span (fewer, longer GEMMs); tiles above the diagonal are ignored.
BlockSparsePattern blockPatternFromMask(const std::uint8_t* mask, Index qHeads, Index tokens, Index blockRows,
                                        Index keyBlock);

// Tile view of any pattern: U8 [qHeads, ceil(n / blockRows), ceil(n / keyBlock)], 1 where the block
// computes at least one pair of the tile. For saving and drawing.
std::vector<std::uint8_t> blockMask(const BlockSparsePattern& pattern, Index keyBlock);

// Causal (query, key) pairs the pattern computes for one head (in its own index space). An empty pattern
// means dense: n (n + 1) / 2.
Index computedPairs(const BlockSparsePattern& pattern, Index tokens, Index head);

// The coordinates a pattern is drawn in: original positions (token sets mapped back), or the compressed
// index space its block stage runs in (0 .. kept-1 of the head; the same as original without token sets).
enum class PatternSpace { Original, Compressed };

// Coarse picture of what head h of a pattern computes: U8 [cells, cells], cell (r, c) is 1 when the head
// computes at least one pair (i, j) with i in [r * cellSize, (r + 1) * cellSize) and j likewise in column c,
// positions taken in `space` (for drawing a pattern over an attention map, or its block mask over the kept
// tokens). Exact in compressed space; in original space a compressed span also marks cells of tokens the
// head dropped between its ends. Cost O(rows x (spans + columns)) plus the cells each span covers.
std::vector<std::uint8_t> coarseMask(const Pattern& pattern, Index head, Index cellSize, Index cells,
                                     PatternSpace space = PatternSpace::Original);

// Calls f(row, key) for every pair head h computes, in the block's index space (tests, oracle measures).
template <typename F>
void forEachPair(const BlockSparsePattern& p, Index h, F&& f) {
    for (Index b = 0; b < p.queryBlocks(); ++b) {
        const Index q0 = b * p.blockRows;
        const Index q1 = std::min(p.tokens, q0 + p.blockRows);
        const Index blk = p.blockIndex(h, b);
        for (Index i = q0; i < q1; ++i) {
            for (Index s = p.spanStart[blk]; s < p.spanStart[blk + 1]; ++s)
                for (Index j = p.spans[s].begin; j < p.spans[s].end && j <= i; ++j)
                    f(i, j);
            for (Index c = p.columnStart[blk]; c < p.columnStart[blk + 1]; ++c)
                if (p.columns[c] <= i) f(i, Index(p.columns[c]));
        }
    }
}

} // namespace tsa
