// Attention for a pattern, one layer: q [Hq, L, D], k/v [Hkv, L, D] -> out [Hq, L, D], lse [Hq, L].
//
// Without token sets the block stage runs on the layer in place (blockSparseAttention; causalAttention when
// the block stage is empty too). With token sets (Token Sparse Attention, alone or composed), per query head:
// gather the kept rows of Q and of its kv head's K/V into compact [kept, D] buffers, run the block stage of
// that head on them (causal by rank, since the kept positions are sorted; dense causal when the block stage
// is empty, which is TSA alone), and scatter the rows back, zeroing the dropped ones. Extra memory is one
// head's compact buffers, O(kept * D), never a copy of the layer. Cost: the kernel's (2 * D flops per
// computed pair) plus 3 * kept * D floats copied in and kept * D out per head.
#include "core/methods/pattern_attention.h"

#include "core/kernels/block_sparse_attention.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <omp.h>
#include <string>

namespace tsa {

namespace {

using Clock = std::chrono::steady_clock;
double msBetween(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

// The block stage over q/k/v (dense causal when it is empty).
Status attendBlocks(ConstView3 q, ConstView3 k, ConstView3 v, const BlockSparsePattern& blocks, View3 out,
                    float* lse, const AttentionConfig& config) {
    return blocks.empty() ? causalAttention(q, k, v, out, lse, config)
                          : blockSparseAttention(q, k, v, blocks, out, lse, config);
}

} // namespace

Status runPattern(const LayerQkvView& qkv, const TokenSets& sets, const BlockSparsePattern& blocks, View3 out,
                  float* lse, const AttentionConfig& config, StageTimings* timings) {
    const Index hq = qkv.qHeads(), tokens = qkv.tokens(), dim = qkv.headDim();
    if (out.heads != hq || out.tokens != tokens || out.dim != dim)
        return Status::error(ErrorCode::Shape, "pattern attention: the output has the wrong shape");
    if (sets.empty()) {
        const auto start = Clock::now();
        Status st = attendBlocks(qkv.q, qkv.k, qkv.v, blocks, out, lse, config);
        if (timings) timings->attentionMs += msBetween(start, Clock::now());
        return st;
    }
    const Index kept = sets.kept;
    if (sets.qHeads != hq || sets.tokens != tokens || kept <= 0 || kept > tokens ||
        Index(sets.indices.size()) != hq * kept)
        return Status::error(ErrorCode::Shape,
                             "pattern attention: the token sets (" + std::to_string(sets.qHeads) +
                                 " heads, " + std::to_string(sets.tokens) + " tokens) do not fit the layer");
    if (!blocks.empty() && (blocks.qHeads != hq || blocks.tokens != kept))
        return Status::error(ErrorCode::Shape,
                             "pattern attention: the block stage must index the " + std::to_string(kept) +
                                 " kept tokens of each head, it has " + std::to_string(blocks.tokens));
    const Index group = qkv.groupSize();
    // Every element is written (gathered, or by the kernel) before it is read: no zeroing up front.
    Tensor3 cq = Tensor3::uninitialised(1, kept, dim), ck = Tensor3::uninitialised(1, kept, dim),
            cv = Tensor3::uninitialised(1, kept, dim), co = Tensor3::uninitialised(1, kept, dim);
    std::vector<float> clse(static_cast<std::size_t>(kept));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
    const std::size_t rowBytes = std::size_t(dim) * sizeof(float);
    // Waking a thread team costs more than copying a few hundred kilobytes.
    const bool parallelCopy = kept * dim >= (Index(1) << 18);
    for (Index h = 0; h < hq; ++h) {
        if (config.cancel && config.cancel->load())
            return Status::error(ErrorCode::Cancelled, "attention cancelled");
        const std::int32_t* idx = sets.head(h);
        const Index g = h / group;
        const auto t0 = Clock::now();
#pragma omp parallel for num_threads(threads) schedule(static) if (parallelCopy)
        for (Index r = 0; r < kept; ++r) {
            std::memcpy(cq.row(0, r), qkv.q.row(h, idx[r]), rowBytes);
            std::memcpy(ck.row(0, r), qkv.k.row(g, idx[r]), rowBytes);
            std::memcpy(cv.row(0, r), qkv.v.row(g, idx[r]), rowBytes);
        }
        const auto t1 = Clock::now();
        const BlockSparsePattern headBlocks = blocks.empty() ? BlockSparsePattern{} : headPattern(blocks, h);
        if (Status st =
                attendBlocks(cq.cview(), ck.cview(), cv.cview(), headBlocks, co.view(), clse.data(), config);
            !st.ok())
            return st;
        const auto t2 = Clock::now();
        // Each output row is written once: kept rows from the compact output, the gaps between them zeroed.
#pragma omp parallel for num_threads(threads) schedule(static) if (parallelCopy)
        for (Index r = 0; r <= kept; ++r) {
            const Index gapStart = r == 0 ? 0 : Index(idx[r - 1]) + 1;
            const Index gapEnd = r == kept ? tokens : Index(idx[r]);
            if (gapEnd > gapStart)
                std::memset(out.row(h, gapStart), 0, std::size_t(gapEnd - gapStart) * rowBytes);
            if (r < kept) std::memcpy(out.row(h, idx[r]), co.row(0, r), rowBytes);
        }
        if (lse) {
            float* hl = lse + h * tokens;
            std::fill(hl, hl + tokens, nan);
            for (Index r = 0; r < kept; ++r)
                hl[idx[r]] = clse[r];
        }
        const auto t3 = Clock::now();
        if (timings) {
            timings->gatherMs += msBetween(t0, t1);
            timings->attentionMs += msBetween(t1, t2);
            timings->scatterMs += msBetween(t2, t3);
        }
    }
    return Status::success();
}

} // namespace tsa
