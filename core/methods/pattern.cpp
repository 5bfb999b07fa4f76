// The pattern type's builders and views: CSR assembly with merging and causal clipping, the full
// pattern, tile masks to spans and back, pair counts. All O(blocks + spans + columns) per head except
// blockMask (O(heads * query blocks * key blocks)).
#include "core/methods/pattern.h"

#include <algorithm>

namespace tsa {

BlockPatternBuilder::BlockPatternBuilder(Index qHeads, Index tokens, Index blockRows) {
    m_pattern.qHeads = qHeads;
    m_pattern.tokens = tokens;
    m_pattern.blockRows = blockRows;
    m_pattern.spanStart.assign(1, 0);
    m_pattern.columnStart.assign(1, 0);
}

void BlockPatternBuilder::addSpan(Index begin, Index end) {
    if (end > begin) m_spans.push_back({std::int32_t(begin), std::int32_t(end)});
}

void BlockPatternBuilder::addColumn(Index column) {
    m_columns.push_back(std::int32_t(column));
}

void BlockPatternBuilder::finishBlock() {
    BlockSparsePattern& p = m_pattern;
    const Index qb = p.queryBlocks();
    const Index b = qb > 0 ? m_block % qb : 0;
    // No row of this block sees keys at or beyond its last row + 1.
    const Index causalEnd = std::min(p.tokens, (b + 1) * p.blockRows);
    std::sort(m_spans.begin(), m_spans.end(),
              [](const KeySpan& x, const KeySpan& y) { return x.begin < y.begin; });
    const std::size_t firstSpan = p.spans.size();
    for (KeySpan s : m_spans) {
        s.begin = std::max<std::int32_t>(s.begin, 0);
        s.end = std::int32_t(std::min<Index>(s.end, causalEnd));
        if (s.end <= s.begin) continue;
        if (p.spans.size() > firstSpan && s.begin <= p.spans.back().end)
            p.spans.back().end = std::max(p.spans.back().end, s.end);
        else
            p.spans.push_back(s);
    }
    std::sort(m_columns.begin(), m_columns.end());
    m_columns.erase(std::unique(m_columns.begin(), m_columns.end()), m_columns.end());
    std::size_t s = firstSpan;
    for (std::int32_t c : m_columns) {
        if (c < 0 || c >= causalEnd) continue;
        while (s < p.spans.size() && p.spans[s].end <= c)
            ++s;
        if (s < p.spans.size() && p.spans[s].begin <= c) continue; // inside a span: computed once
        p.columns.push_back(c);
    }
    p.spanStart.push_back(Index(p.spans.size()));
    p.columnStart.push_back(Index(p.columns.size()));
    m_spans.clear();
    m_columns.clear();
    ++m_block;
}

BlockSparsePattern BlockPatternBuilder::finish() {
    while (m_block < m_pattern.qHeads * m_pattern.queryBlocks())
        finishBlock();
    return std::move(m_pattern);
}

BlockSparsePattern headPattern(const BlockSparsePattern& p, Index h) {
    BlockSparsePattern one;
    one.qHeads = 1;
    one.tokens = p.tokens;
    one.blockRows = p.blockRows;
    const Index qb = p.queryBlocks();
    const Index first = p.blockIndex(h, 0);
    const Index spanBase = p.spanStart[first], columnBase = p.columnStart[first];
    one.spanStart.reserve(std::size_t(qb + 1));
    one.columnStart.reserve(std::size_t(qb + 1));
    for (Index b = 0; b <= qb; ++b) {
        one.spanStart.push_back(p.spanStart[first + b] - spanBase);
        one.columnStart.push_back(p.columnStart[first + b] - columnBase);
    }
    one.spans.assign(p.spans.begin() + spanBase, p.spans.begin() + p.spanStart[first + qb]);
    one.columns.assign(p.columns.begin() + columnBase, p.columns.begin() + p.columnStart[first + qb]);
    return one;
}

BlockSparsePattern fullBlockPattern(Index qHeads, Index tokens, Index blockRows) {
    BlockPatternBuilder builder(qHeads, tokens, blockRows);
    const Index qb = (tokens + blockRows - 1) / blockRows;
    for (Index h = 0; h < qHeads; ++h)
        for (Index b = 0; b < qb; ++b) {
            builder.addSpan(0, tokens);
            builder.finishBlock();
        }
    return builder.finish();
}

BlockSparsePattern blockPatternFromMask(const std::uint8_t* mask, Index qHeads, Index tokens, Index blockRows,
                                        Index keyBlock) {
    BlockPatternBuilder builder(qHeads, tokens, blockRows);
    const Index qb = (tokens + blockRows - 1) / blockRows;
    const Index kb = (tokens + keyBlock - 1) / keyBlock;
    for (Index h = 0; h < qHeads; ++h)
        for (Index b = 0; b < qb; ++b) {
            const std::uint8_t* row = mask + (h * qb + b) * kb;
            for (Index c = 0; c < kb;) {
                if (!row[c]) {
                    ++c;
                    continue;
                }
                Index e = c;
                while (e < kb && row[e])
                    ++e;
                builder.addSpan(c * keyBlock, std::min(tokens, e * keyBlock));
                c = e;
            }
            builder.finishBlock();
        }
    return builder.finish();
}

std::vector<std::uint8_t> blockMask(const BlockSparsePattern& p, Index keyBlock) {
    const Index qb = p.queryBlocks();
    const Index kb = (p.tokens + keyBlock - 1) / keyBlock;
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(p.qHeads * qb * kb), 0);
    if (p.empty()) {
        // Dense: every tile with a causal pair.
        for (Index h = 0; h < p.qHeads; ++h)
            for (Index b = 0; b < qb; ++b) {
                const Index last = std::min(p.tokens, (b + 1) * p.blockRows) - 1;
                for (Index c = 0; c * keyBlock <= last; ++c)
                    mask[(h * qb + b) * kb + c] = 1;
            }
        return mask;
    }
    for (Index h = 0; h < p.qHeads; ++h)
        for (Index b = 0; b < qb; ++b) {
            const Index blk = p.blockIndex(h, b);
            std::uint8_t* row = mask.data() + blk * kb;
            for (Index s = p.spanStart[blk]; s < p.spanStart[blk + 1]; ++s)
                for (Index c = p.spans[s].begin / keyBlock; c * keyBlock < p.spans[s].end; ++c)
                    row[c] = 1;
            for (Index c = p.columnStart[blk]; c < p.columnStart[blk + 1]; ++c)
                row[p.columns[c] / keyBlock] = 1;
        }
    return mask;
}

Index computedPairs(const BlockSparsePattern& p, Index tokens, Index h) {
    if (p.empty()) return tokens * (tokens + 1) / 2;
    Index pairs = 0;
    for (Index b = 0; b < p.queryBlocks(); ++b) {
        const Index q0 = b * p.blockRows;
        const Index q1 = std::min(p.tokens, q0 + p.blockRows); // rows q0 .. q1-1
        const Index blk = p.blockIndex(h, b);
        for (Index s = p.spanStart[blk]; s < p.spanStart[blk + 1]; ++s) {
            const Index a = p.spans[s].begin, e = p.spans[s].end;
            // Row i computes keys a .. min(e, i + 1) - 1.
            for (Index i = q0; i < q1; ++i)
                pairs += std::max<Index>(0, std::min(e, i + 1) - a);
        }
        for (Index c = p.columnStart[blk]; c < p.columnStart[blk + 1]; ++c)
            pairs += std::max<Index>(0, q1 - std::max<Index>(q0, p.columns[c]));
    }
    return pairs;
}

std::vector<std::uint8_t> coarseMask(const Pattern& p, Index h, Index cellSize, Index cells,
                                     PatternSpace space) {
    std::vector<std::uint8_t> mask(std::size_t(cells * cells), 0);
    if (cellSize <= 0 || cells <= 0 || h < 0 || h >= p.qHeads) return mask;
    const Index n = p.length();
    const bool compressed = !p.tokenSets.empty() && space == PatternSpace::Original; // map back to positions
    const std::int32_t* kept = compressed ? p.tokenSets.head(h) : nullptr;
    auto orig = [&](Index i) { return compressed ? Index(kept[i]) : i; };
    auto cellOf = [&](Index i) { return std::min(cells - 1, orig(i) / cellSize); };
    auto mark = [&](Index r, Index c0, Index c1) { // cells c0 .. c1 of row r
        for (Index c = c0; c <= c1; ++c)
            mask[std::size_t(r * cells + c)] = 1;
    };
    const BlockSparsePattern full =
        p.blocks.empty() ? fullBlockPattern(p.qHeads, n, 64) : BlockSparsePattern{};
    const BlockSparsePattern& b = p.blocks.empty() ? full : p.blocks;
    for (Index qb = 0; qb < b.queryBlocks(); ++qb) {
        const Index blk = b.blockIndex(h, qb);
        const Index q0 = qb * b.blockRows, q1 = std::min(n, q0 + b.blockRows);
        for (Index i = q0; i < q1; ++i) {
            const Index r = cellOf(i);
            // Positions keep their order under compression, so a span of compressed keys covers the
            // original cells from its first key's to its last's (cells with no kept key in between
            // are rows/columns TSA dropped altogether).
            for (Index s = b.spanStart[blk]; s < b.spanStart[blk + 1]; ++s) {
                const Index end = std::min<Index>(b.spans[s].end, i + 1);
                if (end > b.spans[s].begin) mark(r, cellOf(b.spans[s].begin), cellOf(end - 1));
            }
            for (Index c = b.columnStart[blk]; c < b.columnStart[blk + 1]; ++c)
                if (b.columns[c] <= i) mark(r, cellOf(b.columns[c]), cellOf(b.columns[c]));
        }
    }
    return mask;
}

} // namespace tsa
