// Softmax of the last queries and top-k for the pattern estimators. Logits come from one fp32 GEMM
// (rows x L x D, the estimators' main cost; the reference computes them in the activations' dtype),
// the softmax is taken in fp64.
#include "core/methods/method_util.h"

#include "core/kernels/attention_gemm.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tsa::methods {

void lastRowsSoftmax(const float* q, const float* k, Index L, Index D, Index rows, double scale,
                     std::vector<double>& p) {
    p.assign(static_cast<std::size_t>(rows * L), 0.0);
    std::vector<float> logits(static_cast<std::size_t>(rows * L));
    detail::gemmScaledNT(rows, L, D, float(scale), q + (L - rows) * D, D, k, D, logits.data(), L);
    for (Index r = 0; r < rows; ++r) {
        const Index i = L - rows + r;
        const float* lr = logits.data() + r * L;
        double* pr = p.data() + r * L;
        double mx = -std::numeric_limits<double>::infinity();
        for (Index j = 0; j <= i; ++j)
            mx = std::max(mx, double(lr[j]));
        double sum = 0.0;
        for (Index j = 0; j <= i; ++j) {
            pr[j] = std::exp(double(lr[j]) - mx);
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
