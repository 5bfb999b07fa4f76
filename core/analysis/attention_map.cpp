#include "core/analysis/attention_map.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <omp.h>
#include <string>

namespace tsa {

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

bool cancelled(const std::atomic<bool>* flag) {
    return flag && flag->load(std::memory_order_relaxed);
}

} // namespace

Result<AttentionMap> computeAttentionMap(ConstView3 q, ConstView3 k, Index head, const float* lse,
                                         const AttentionMapConfig& config) {
    if (q.empty() || k.empty())
        return Status::error(ErrorCode::InvalidArgument, "attention map: empty tensors");
    if (k.heads <= 0 || q.heads % k.heads != 0 || q.tokens != k.tokens || q.dim != k.dim)
        return Status::error(ErrorCode::Shape, "attention map: q and k shapes disagree");
    if (head < 0 || head >= q.heads)
        return Status::error(ErrorCode::InvalidArgument, "attention map: head " + std::to_string(head) +
                                                             " out of range 0.." +
                                                             std::to_string(q.heads - 1));
    if (config.blocks <= 0 || config.rowsPerBlock <= 0)
        return Status::error(ErrorCode::InvalidArgument,
                             "attention map: blocks and rows per block must be positive");

    const Index tokens = q.tokens, dim = q.dim;
    // Equal blocks of ceil(L / B) tokens (the last one shorter), so a block is the same token span
    // everywhere.
    const Index blockSize = (tokens + std::min(config.blocks, tokens) - 1) / std::min(config.blocks, tokens);
    const Index blocks = (tokens + blockSize - 1) / blockSize;
    const Index kvHead = head / (q.heads / k.heads);
    const float scale = 1.0f / std::sqrt(float(dim));

    AttentionMap map;
    map.head = head;
    map.tokens = tokens;
    map.blocks = blocks;
    map.blockSize = blockSize;
    map.blockStart.resize(std::size_t(blocks + 1));
    for (Index b = 0; b <= blocks; ++b)
        map.blockStart[std::size_t(b)] = std::min(b * blockSize, tokens);
    map.sampledRows.assign(std::size_t(blocks), 0);
    map.mass.assign(std::size_t(blocks * blocks), 0.0f);

    Eigen::Map<const RowMatrix> keys(k.row(kvHead, 0), tokens, dim);
    const int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
    std::atomic<bool> stop{false};

    // Later row blocks see more keys, so hand them out dynamically, largest first.
#pragma omp parallel num_threads(threads)
    {
        RowMatrix rows, logits;
        std::vector<Index> rowIds;
        std::vector<double> sums(static_cast<std::size_t>(blocks));
#pragma omp for schedule(dynamic, 1)
        for (Index rb = blocks - 1; rb >= 0; --rb) {
            if (stop || cancelled(config.cancel)) {
                stop = true;
                continue;
            }
            const Index start = map.blockStart[std::size_t(rb)],
                        size = map.blockStart[std::size_t(rb + 1)] - start;
            const Index n = std::min(size, config.rowsPerBlock);
            rowIds.resize(std::size_t(n));
            // Evenly spaced rows, one in the middle of each of n equal slices of the block.
            for (Index m = 0; m < n; ++m)
                rowIds[std::size_t(m)] = start + ((2 * m + 1) * size) / (2 * n);
            const Index keyCount = rowIds.back() + 1;
            rows.resize(n, dim);
            for (Index m = 0; m < n; ++m)
                rows.row(m) = Eigen::Map<const Eigen::RowVectorXf>(q.row(head, rowIds[std::size_t(m)]), dim);
            logits.noalias() = rows * keys.topRows(keyCount).transpose();

            std::fill(sums.begin(), sums.end(), 0.0);
            for (Index m = 0; m < n; ++m) {
                const Index i = rowIds[std::size_t(m)];
                float* row = logits.data() + m * keyCount;
                for (Index j = 0; j <= i; ++j)
                    row[j] *= scale;
                double rowLse;
                if (lse) {
                    rowLse = lse[i];
                } else {
                    float maxLogit = -INFINITY;
                    for (Index j = 0; j <= i; ++j)
                        maxLogit = std::max(maxLogit, row[j]);
                    double total = 0.0;
                    for (Index j = 0; j <= i; ++j)
                        total += std::exp(double(row[j] - maxLogit));
                    rowLse = double(maxLogit) + std::log(total);
                }
                for (Index c = 0; c <= rb; ++c) {
                    const Index from = map.blockStart[std::size_t(c)];
                    const Index to = std::min(map.blockStart[std::size_t(c + 1)], i + 1);
                    const float shift = float(rowLse);
                    float s = 0.0f; // a block sums at most 1, so float is exact enough here
                    for (Index j = from; j < to; ++j)
                        s += std::exp(row[j] - shift);
                    sums[std::size_t(c)] += double(s);
                }
            }
            float* out = map.mass.data() + rb * blocks;
            for (Index c = 0; c <= rb; ++c)
                out[c] = float(sums[std::size_t(c)] / double(n));
            map.sampledRows[std::size_t(rb)] = n;
        }
    }
    if (stop || cancelled(config.cancel))
        return Status::error(ErrorCode::Cancelled, "attention map cancelled");
    return map;
}

} // namespace tsa
