// Softmax of the last queries and top-k for the pattern estimators: plain fp64 loops (the estimators'
// score rows are short: at most a block of queries against L keys, O(rows * L * D)).
#include "core/methods/method_util.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tsa::methods {

void lastRowsSoftmax(const float* q, const float* k, Index L, Index D, Index rows, double scale,
                     std::vector<double>& p) {
    p.assign(static_cast<std::size_t>(rows * L), 0.0);
    for (Index r = 0; r < rows; ++r) {
        const Index i = L - rows + r;
        const float* qi = q + i * D;
        double* pr = p.data() + r * L;
        double mx = -std::numeric_limits<double>::infinity();
        for (Index j = 0; j <= i; ++j) {
            const float* kj = k + j * D;
            double dot = 0.0;
            for (Index d = 0; d < D; ++d)
                dot += double(qi[d]) * double(kj[d]);
            pr[j] = dot * scale;
            mx = std::max(mx, pr[j]);
        }
        double sum = 0.0;
        for (Index j = 0; j <= i; ++j) {
            pr[j] = std::exp(pr[j] - mx);
            sum += pr[j];
        }
        for (Index j = 0; j <= i; ++j)
            pr[j] /= sum;
    }
}

std::vector<std::int32_t> topIndices(const std::vector<double>& values, Index count) {
    std::vector<std::int32_t> order(values.size());
    std::iota(order.begin(), order.end(), 0);
    count = std::clamp<Index>(count, 0, Index(values.size()));
    std::partial_sort(order.begin(), order.begin() + count, order.end(), [&](std::int32_t a, std::int32_t b) {
        return values[a] > values[b] || (values[a] == values[b] && a < b);
    });
    order.resize(static_cast<std::size_t>(count));
    return order;
}

} // namespace tsa::methods
