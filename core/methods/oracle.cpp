// Oracle tiles: exact attention probabilities p(i, j) = exp(q_i.k_j / sqrt(D) - lse_i) summed per tile,
// then per head the tiles in descending mass until the budget of causal pairs is reached (the last tile
// may overshoot it by less than one tile). Greedy by mass, not mass per pair: a diagonal tile holds half
// the pairs of the others, so this is the best tile set up to that rounding, not an exact knapsack.
// Cost: dense attention once for lse, one more pass for the masses (GEMM per 64-row block), O(T^2 log T).
#include "core/methods/oracle.h"

#include "core/kernels/attention.h"
#include "core/kernels/attention_gemm.h"
#include "core/methods/method_util.h"

#include <algorithm>
#include <cmath>

namespace tsa {

std::string OracleConfig::validate() const {
    if (!(density > 0.0 && density <= 1.0))
        return "oracle.density must be in (0, 1], got " + std::to_string(density);
    if (tile < 1) return "oracle.tile must be >= 1, got " + std::to_string(tile);
    return {};
}

Index tilePairs(Index a, Index c, Index tile, Index n) {
    Index pairs = 0;
    const Index i1 = std::min(n, (a + 1) * tile), j0 = c * tile, j1 = std::min(n, (c + 1) * tile);
    for (Index i = a * tile; i < i1; ++i)
        pairs += std::max<Index>(0, std::min(j1, i + 1) - j0);
    return pairs;
}

std::vector<double> tileMasses(ConstView3 q, ConstView3 k, const float* lse, Index tile,
                               PairMassHistogram* pairMasses) {
    const Index H = q.heads, n = q.tokens, D = q.dim, group = q.heads / k.heads;
    const Index T = methods::ceilDiv(n, tile);
    std::vector<double> masses(static_cast<std::size_t>(H * T * T), 0.0);
    const float scale = float(1.0 / std::sqrt(double(D)));
    constexpr int kBins = PairMassHistogram::kBins;
    const std::size_t histSize = pairMasses ? std::size_t(H) * kBins : 0;
    if (pairMasses) {
        pairMasses->heads = H;
        pairMasses->counts.assign(histSize, 0.0);
        pairMasses->masses.assign(histSize, 0.0);
        pairMasses->maxima.assign(histSize, 0.0);
    }
    const double binsPerNat = 16.0 / std::log(2.0); // 16 bins per octave of p
    detail::prepareTileGemmThreads();
#pragma omp parallel
    {
        std::vector<float> s;
        // Each thread bins into its own histogram; merged once at the end.
        std::vector<double> counts(histSize, 0.0), binMass(histSize, 0.0), maxima(histSize, 0.0);
#pragma omp for schedule(dynamic, 1) collapse(2)
        for (Index h = 0; h < H; ++h)
            for (Index a = 0; a < T; ++a) {
                const Index i0 = a * tile, rows = std::min(tile, n - i0), cols = i0 + rows;
                s.resize(static_cast<std::size_t>(rows * cols));
                detail::gemmScaledNT(rows, cols, D, scale, q.row(h, i0), D, k.row(h / group, 0), D, s.data(),
                                     cols);
                double* m = masses.data() + (h * T + a) * T;
                for (Index r = 0; r < rows; ++r) {
                    const double l = lse[h * n + i0 + r];
                    for (Index j = 0; j <= i0 + r; ++j) {
                        const double logit = double(s[r * cols + j]) - l;
                        const double p = std::exp(logit);
                        m[j / tile] += p;
                        if (histSize == 0) continue;
                        const double b = std::floor(-logit * binsPerNat);
                        const std::size_t bin =
                            std::size_t(h) * kBins + std::size_t(std::clamp(b, 0.0, double(kBins - 1)));
                        counts[bin] += 1.0;
                        binMass[bin] += p;
                        maxima[bin] = std::max(maxima[bin], p);
                    }
                }
            }
        if (histSize > 0) {
#pragma omp critical(tsa_pair_histogram)
            for (std::size_t i = 0; i < histSize; ++i) {
                pairMasses->counts[i] += counts[i];
                pairMasses->masses[i] += binMass[i];
                pairMasses->maxima[i] = std::max(pairMasses->maxima[i], maxima[i]);
            }
        }
    }
    return masses;
}

double pairOracleMassBound(const PairMassHistogram& histogram, Index head, Index budgetPairs) {
    constexpr int kBins = PairMassHistogram::kBins;
    const std::size_t base = std::size_t(head) * kBins;
    double left = double(budgetPairs), mass = 0.0;
    for (int b = 0; b < kBins && left > 0; ++b) {
        const double count = histogram.counts[base + b];
        if (count <= left) {
            mass += histogram.masses[base + b];
            left -= count;
        } else {
            // Part of this bin: no set of `left` pairs from it holds more than left x its largest p (nor more
            // than the whole bin).
            mass += std::min(histogram.masses[base + b], left * histogram.maxima[base + b]);
            left = 0;
        }
    }
    return mass;
}

double oracleMassAtBudget(const double* headMasses, Index n, Index tile, Index budgetPairs,
                          std::vector<std::uint8_t>* chosen) {
    const Index T = methods::ceilDiv(n, tile);
    std::vector<double> values(headMasses, headMasses + T * T);
    const std::vector<std::int32_t> order = methods::topIndices(values, T * T);
    if (chosen) chosen->assign(static_cast<std::size_t>(T * T), 0);
    double mass = 0.0;
    Index pairs = 0;
    for (std::int32_t t : order) {
        if (pairs >= budgetPairs) break;
        const Index a = t / T, c = t % T;
        if (c > a) continue; // no causal pair
        pairs += tilePairs(a, c, tile, n);
        mass += values[t];
        if (chosen) (*chosen)[t] = 1;
    }
    return mass;
}

Result<Pattern> oraclePattern(ConstView3 q, ConstView3 k, ConstView3 v, const OracleConfig& config) {
    if (std::string bad = config.validate(); !bad.empty())
        return Status::error(ErrorCode::InvalidArgument, bad);
    const Index H = q.heads, n = q.tokens, D = q.dim;
    Pattern pattern;
    pattern.method = "oracle";
    pattern.params = {{"density", config.density}, {"tile", double(config.tile)}};
    pattern.qHeads = H;
    pattern.tokens = n;
    Tensor3 out(H, n, D);
    std::vector<float> lse(static_cast<std::size_t>(H * n));
    if (Status st = causalAttention(q, k, v, out.view(), lse.data()); !st.ok()) return st;
    const std::vector<double> masses = tileMasses(q, k, lse.data(), config.tile);
    const Index T = methods::ceilDiv(n, config.tile);
    const Index budget = Index(std::ceil(config.density * double(n) * double(n + 1) / 2.0));
    std::vector<std::uint8_t> mask(static_cast<std::size_t>(H * T * T)), chosen;
    for (Index h = 0; h < H; ++h) {
        oracleMassAtBudget(masses.data() + h * T * T, n, config.tile, budget, &chosen);
        std::copy(chosen.begin(), chosen.end(), mask.begin() + h * T * T);
    }
    pattern.blocks = blockPatternFromMask(mask.data(), H, n, config.tile, config.tile);
    return pattern;
}

} // namespace tsa
