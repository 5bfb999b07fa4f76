// Per-method measures against one dense reference. Cost: the method's own estimate and attention (timed)
// plus O(Hq * L * D) for the row errors and O(Hq * 1024) for the oracle bound (a histogram of the dense
// pass). Row masses come from logsumexps: a computed row i holds exp(lse_method(i) - lse_dense(i)) of the
// dense attention, because its keys are a subset of i's causal keys (compression keeps positions in order).
#include "core/methods/compare.h"

#include "core/kernels/attention.h"

#include <chrono>
#include <cmath>

namespace tsa {

namespace {

double msSince(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

Result<DenseReference> denseReference(const LayerQkv& qkv, const AttentionConfig& config, Index tile) {
    DenseReference ref;
    ref.tile = tile;
    ref.output = Tensor3(qkv.qHeads(), qkv.tokens(), qkv.headDim());
    ref.lse.resize(static_cast<std::size_t>(qkv.qHeads() * qkv.tokens()));
    const auto t0 = std::chrono::steady_clock::now();
    if (Status st = causalAttention(qkv.q.cview(), qkv.k.cview(), qkv.v.cview(), ref.output.view(),
                                    ref.lse.data(), config);
        !st.ok())
        return st;
    ref.timeMs = msSince(t0);
    ref.tileMasses = tileMasses(qkv.q.cview(), qkv.k.cview(), ref.lse.data(), tile, &ref.pairMasses);
    return ref;
}

Result<MethodMeasures> measureMethod(MethodKind kind, const LayerQkv& qkv, const MethodSettings& settings,
                                     const DenseReference& dense, Index lastWindow,
                                     const AttentionConfig& config, Pattern* patternOut) {
    const Index H = qkv.qHeads(), L = qkv.tokens(), D = qkv.headDim();
    MethodMeasures m;
    m.method = methodName(kind);
    auto t0 = std::chrono::steady_clock::now();
    Result<Pattern> pattern = estimatePattern(kind, qkv, settings);
    if (!pattern.ok()) return pattern.status();
    m.estimateMs = msSince(t0);
    m.params = pattern->params;
    Tensor3 out(H, L, D);
    std::vector<float> lse(static_cast<std::size_t>(H * L));
    t0 = std::chrono::steady_clock::now();
    if (Status st = runPattern(qkv, *pattern, out.view(), lse.data(), config); !st.ok()) return st;
    m.attentionMs = msSince(t0);

    const double causalPairs = double(L) * double(L + 1) / 2.0;
    std::vector<double> allErrors, keptErrors, masses;
    double pairsTotal = 0, methodMassTotal = 0, oracleMassTotal = 0, windowDiff = 0, windowRef = 0;
    const Index W = std::min(lastWindow, L);
    for (Index h = 0; h < H; ++h) {
        MethodHeadMeasures hm;
        std::vector<double> headAll, headKept, headMass;
        double headMassSum = 0, hDiff = 0, hRef = 0;
        for (Index i = 0; i < L; ++i) {
            const float* o = out.row(h, i);
            const float* r = dense.output.row(h, i);
            double diff = 0, norm = 0;
            for (Index d = 0; d < D; ++d) {
                diff += (double(o[d]) - r[d]) * (double(o[d]) - r[d]);
                norm += double(r[d]) * r[d];
            }
            const double err = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
            headAll.push_back(err);
            if (i >= L - W) {
                hDiff += diff;
                hRef += norm;
            }
            const float l = lse[h * L + i];
            if (std::isnan(l)) continue; // dropped row
            headKept.push_back(err);
            const double mass = std::isinf(l) ? 0.0 : std::exp(double(l) - double(dense.lse[h * L + i]));
            headMass.push_back(mass);
            headMassSum += mass;
        }
        const Index pairs = patternPairs(*pattern, h);
        hm.density = double(pairs) / causalPairs;
        hm.errorAll = summarise(headAll);
        hm.errorKept = summarise(headKept);
        hm.retainedMass = summarise(headMass).mean;
        hm.errorLastWindow = hRef > 0 ? std::sqrt(hDiff / hRef) : 0.0;
        // Against the pair-level bound, not the tile oracle: finer patterns (single tokens, 16-wide blocks)
        // can beat 64 x 64 tiles at equal pairs, so only the pair bound keeps recall <= 1 for every method.
        const double oracleMass = pairOracleMassBound(dense.pairMasses, h, pairs);
        hm.oracleRecall = oracleMass > 0 ? headMassSum / oracleMass : 1.0;
        m.heads.push_back(hm);
        allErrors.insert(allErrors.end(), headAll.begin(), headAll.end());
        keptErrors.insert(keptErrors.end(), headKept.begin(), headKept.end());
        masses.insert(masses.end(), headMass.begin(), headMass.end());
        pairsTotal += double(pairs);
        methodMassTotal += headMassSum;
        oracleMassTotal += oracleMass;
        windowDiff += hDiff;
        windowRef += hRef;
    }
    m.layer.density = H > 0 ? pairsTotal / (causalPairs * double(H)) : 1.0;
    m.layer.errorAll = summarise(allErrors);
    m.layer.errorKept = summarise(keptErrors);
    m.layer.retainedMass = summarise(masses).mean;
    m.layer.errorLastWindow = windowRef > 0 ? std::sqrt(windowDiff / windowRef) : 0.0;
    m.layer.oracleRecall = oracleMassTotal > 0 ? methodMassTotal / oracleMassTotal : 1.0;
    if (patternOut) *patternOut = std::move(*pattern);
    return m;
}

} // namespace tsa
