// Synthetic Q/K/V generation. Queries and keys are built pre-RoPE from a few interpretable parts, then
// rotated with real RoPE so the data is post-RoPE like a real capture:
//   - positional band (fast pairs): a constant per-kv-head code whose RoPE dot product decays like
//     -ln(1 + distance); each query head scales it by its decay exponent (local heads steeply);
//   - sink pairs (slowest pairs, barely rotated even at long range): token 0 and delimiters get a large
//     key component there, every query a matching positive one;
//   - semantic band (the next slow pairs): a heavy-hitter direction carrying the per-layer importance
//     field, and a needle direction that retrieval queries of the question part share with needle keys;
//   - Gaussian content noise everywhere.
// docs/generator.md explains the choices and the comparison with a real model.
#include "core/synth/generator.h"

#include "core/synth/generator_rng.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <omp.h>

namespace tsa {

const char* headRoleName(HeadRole role) {
    switch (role) {
    case HeadRole::Sink:
        return "sink";
    case HeadRole::Local:
        return "local";
    case HeadRole::Heavy:
        return "heavy";
    case HeadRole::Retrieval:
        return "retrieval";
    case HeadRole::Diffuse:
        return "diffuse";
    }
    return "?";
}

namespace {

using gen::Stream;
using gen::streamKey;

// Gains of each role on the query side (multiplying the preset's logits). Diffuse heads scale their
// whole query down, which flattens attention without removing its shape.
struct RoleGains {
    double sink;
    double heavy;
    double needle;
    bool localDecay; // uses localDecay instead of baseDecay
    double decayScale;
    double queryScale;
};

RoleGains roleGains(HeadRole role) {
    switch (role) {
    case HeadRole::Sink:
        return {1.0, 0.3, 0.0, false, 1.0, 1.0};
    case HeadRole::Local:
        return {0.4, 0.2, 0.0, true, 1.0, 1.0};
    case HeadRole::Heavy:
        return {0.6, 1.0, 0.0, false, 1.0, 1.0};
    case HeadRole::Retrieval:
        return {2.5, 0.5, 1.0, false, 0.2, 1.0}; // sink + needles, position-free
    case HeadRole::Diffuse:
        return {0.2, 1.3, 0.0, false, 0.5, 1.0};
    }
    return {1, 1, 0, false, 1, 1};
}

struct HeadSetup {
    HeadRole role = HeadRole::Sink;
    double sinkGain = 1, heavyGain = 1, needleGain = 0, decay = 1, queryScale = 1;
};

// Everything about one layer that is not per token: roles, gains, directions, phases.
struct LayerSetup {
    std::vector<HeadSetup> heads;              // [Hq]
    std::vector<std::vector<double>> phases;   // [Hkv][positional pairs]
    std::vector<std::vector<float>> heavyDir;  // [Hkv][D], unit, in the semantic band
    std::vector<std::vector<float>> needleDir; // [Hkv][D], unit, orthogonal to heavyDir
    std::vector<std::vector<float>> valueMean; // [Hkv][D]
};

struct Bands {
    Index pairs = 0;      // D / 2
    Index positional = 0; // pairs [0, positional)
    Index semanticBegin = 0, semanticEnd = 0;
    Index sinkBegin = 0; // pairs [sinkBegin, pairs)
};

Bands bandsOf(const GeneratorConfig& c) {
    Bands b;
    b.pairs = c.headDim / 2;
    b.sinkBegin = b.pairs - c.sinkPairs;
    b.semanticEnd = b.sinkBegin;
    b.semanticBegin = b.semanticEnd - c.semanticPairs;
    b.positional = b.semanticBegin;
    return b;
}

std::vector<HeadRole> assignRoles(const GeneratorConfig& c, int layer, Stream& rng) {
    // Diffuse heads first, by rounding their tapered share (normalising it with the others would hand a
    // leftover head to a near-zero share); the other roles split the remaining heads by largest remainder.
    const double depth = c.layers > 1 ? double(layer) / double(c.layers - 1) : 0.0;
    const double diffuse =
        std::clamp(c.diffuseHeads + (c.diffuseHeadsLast - c.diffuseHeads) * depth, 0.0, 1.0);
    const std::array<double, 4> frac = {c.sinkHeads, c.localHeads, c.heavyHeads, c.retrievalHeads};
    const double total = frac[0] + frac[1] + frac[2] + frac[3];
    Index nDiffuse = std::min(c.qHeads, Index(std::floor(diffuse * double(c.qHeads) + 0.5)));
    if (total <= 0.0) nDiffuse = c.qHeads;
    const Index rest = c.qHeads - nDiffuse;
    std::array<Index, 5> count{};
    std::array<double, 4> rem{};
    Index assigned = 0;
    for (int r = 0; r < 4 && total > 0.0; ++r) {
        const double exact = frac[r] / total * double(rest);
        count[r] = Index(std::floor(exact));
        rem[r] = exact - double(count[r]);
        assigned += count[r];
    }
    while (assigned < rest) {
        int best = 0;
        for (int r = 1; r < 4; ++r)
            if (rem[r] > rem[best]) best = r;
        ++count[best];
        rem[best] = -1.0;
        ++assigned;
    }
    count[4] = nDiffuse;
    std::vector<HeadRole> roles;
    for (int r = 0; r < 5; ++r)
        for (Index i = 0; i < count[r]; ++i)
            roles.push_back(HeadRole(r));
    for (std::size_t i = roles.size(); i > 1; --i)
        std::swap(roles[i - 1], roles[rng.below(i)]);
    return roles;
}

LayerSetup setupLayer(const GeneratorConfig& c, int layer) {
    const Bands b = bandsOf(c);
    const Index D = c.headDim;
    Stream rng(streamKey(c.seed, gen::kTagLayerSetup, std::uint64_t(layer)));
    LayerSetup s;
    const std::vector<HeadRole> roles = assignRoles(c, layer, rng);
    s.heads.resize(std::size_t(c.qHeads));
    for (Index h = 0; h < c.qHeads; ++h) {
        HeadSetup& hs = s.heads[std::size_t(h)];
        hs.role = roles[std::size_t(h)];
        const RoleGains g = roleGains(hs.role);
        auto jitter = [&] { return std::exp(c.headJitter * rng.normalD()); };
        hs.sinkGain = g.sink * jitter();
        hs.heavyGain = g.heavy * jitter();
        hs.needleGain = g.needle * jitter();
        hs.decay = (g.localDecay ? c.localDecay : c.baseDecay) * g.decayScale * jitter();
        hs.queryScale = g.queryScale;
    }
    s.phases.resize(std::size_t(c.kvHeads));
    s.heavyDir.resize(std::size_t(c.kvHeads));
    s.needleDir.resize(std::size_t(c.kvHeads));
    s.valueMean.resize(std::size_t(c.kvHeads));
    for (Index g = 0; g < c.kvHeads; ++g) {
        auto& ph = s.phases[std::size_t(g)];
        ph.resize(std::size_t(b.positional));
        for (auto& p : ph)
            p = 2.0 * M_PI * rng.uniform();
        // Two orthonormal directions in the semantic band (both halves of its pairs), Gram-Schmidt.
        std::vector<double> u(std::size_t(D), 0.0), w(std::size_t(D), 0.0);
        for (Index p = b.semanticBegin; p < b.semanticEnd; ++p) {
            for (Index half = 0; half < 2; ++half) {
                u[std::size_t(p + half * b.pairs)] = rng.normalD();
                w[std::size_t(p + half * b.pairs)] = rng.normalD();
            }
        }
        auto norm = [](const std::vector<double>& x) {
            return std::sqrt(std::inner_product(x.begin(), x.end(), x.begin(), 0.0));
        };
        double nu = norm(u);
        for (auto& x : u)
            x /= nu;
        const double proj = std::inner_product(u.begin(), u.end(), w.begin(), 0.0);
        for (std::size_t i = 0; i < w.size(); ++i)
            w[i] -= proj * u[i];
        double nw = norm(w);
        for (auto& x : w)
            x /= nw;
        s.heavyDir[std::size_t(g)].assign(u.begin(), u.end());
        s.needleDir[std::size_t(g)].assign(w.begin(), w.end());
        std::vector<double> m(static_cast<std::size_t>(D));
        for (auto& x : m)
            x = rng.normalD();
        const double nm = norm(m);
        auto& vm = s.valueMean[std::size_t(g)];
        vm.resize(std::size_t(D));
        for (Index d = 0; d < D; ++d)
            vm[std::size_t(d)] = float(m[std::size_t(d)] / nm * std::sqrt(double(D)));
    }
    return s;
}

// Positional code: per positional-band pair a weight w_p >= 0 and a q-k phase offset delta_p such that
// sum_p w_p cos(d theta_p + delta_p) ~ -ln(1 + d) + c for distances d in [1, range]. With the offset the
// problem is linear in (w cos delta, w sin delta), so ridge least squares over log-spaced distances solves
// it; the small ridge keeps amplitudes realistic where pairs are nearly collinear. Deterministic.
struct PositionalCode {
    std::vector<double> weights;
    std::vector<double> phases;
};

PositionalCode fitPositionalCode(const std::vector<double>& theta, double range) {
    const std::size_t n = theta.size(), m2 = 2 * n;
    std::vector<double> dist;
    const int samples = 256;
    for (int i = 0; i < samples; ++i) {
        const double d = std::round(std::exp(std::log(range) * double(i) / double(samples - 1)));
        if (dist.empty() || d != dist.back()) dist.push_back(d);
    }
    const std::size_t rows = dist.size();
    std::vector<double> a(rows * m2), y(rows);
    for (std::size_t i = 0; i < rows; ++i) {
        y[i] = -std::log1p(dist[i]);
        for (std::size_t j = 0; j < n; ++j) {
            a[i * m2 + j] = std::cos(dist[i] * theta[j]);
            a[i * m2 + n + j] = -std::sin(dist[i] * theta[j]);
        }
    }
    // Centring removes the free intercept (softmax ignores a constant logit shift anyway).
    const double ym = std::accumulate(y.begin(), y.end(), 0.0) / double(rows);
    for (auto& v : y)
        v -= ym;
    for (std::size_t j = 0; j < m2; ++j) {
        double mean = 0;
        for (std::size_t i = 0; i < rows; ++i)
            mean += a[i * m2 + j];
        mean /= double(rows);
        for (std::size_t i = 0; i < rows; ++i)
            a[i * m2 + j] -= mean;
    }
    constexpr double kRidge = 1.0;
    std::vector<double> gram(m2 * m2, 0.0), x(m2, 0.0);
    for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t j = 0; j < m2; ++j) {
            x[j] += a[i * m2 + j] * y[i];
            for (std::size_t k = 0; k <= j; ++k)
                gram[j * m2 + k] += a[i * m2 + j] * a[i * m2 + k];
        }
    for (std::size_t j = 0; j < m2; ++j) {
        gram[j * m2 + j] += kRidge;
        for (std::size_t k = 0; k < j; ++k)
            gram[k * m2 + j] = gram[j * m2 + k];
    }
    // Cholesky solve of the symmetric positive definite system (gram + ridge) x = A^T y.
    std::vector<double> chol(m2 * m2, 0.0);
    for (std::size_t j = 0; j < m2; ++j) {
        for (std::size_t k = 0; k <= j; ++k) {
            double sum = gram[j * m2 + k];
            for (std::size_t t = 0; t < k; ++t)
                sum -= chol[j * m2 + t] * chol[k * m2 + t];
            chol[j * m2 + k] = j == k ? std::sqrt(std::max(sum, 1e-12)) : sum / chol[k * m2 + k];
        }
    }
    for (std::size_t j = 0; j < m2; ++j) {
        for (std::size_t t = 0; t < j; ++t)
            x[j] -= chol[j * m2 + t] * x[t];
        x[j] /= chol[j * m2 + j];
    }
    for (std::size_t j = m2; j-- > 0;) {
        for (std::size_t t = j + 1; t < m2; ++t)
            x[j] -= chol[t * m2 + j] * x[t];
        x[j] /= chol[j * m2 + j];
    }
    PositionalCode code;
    for (std::size_t j = 0; j < n; ++j) {
        code.weights.push_back(std::hypot(x[j], x[n + j]));
        code.phases.push_back(std::atan2(x[n + j], x[j]));
    }
    return code;
}

// Rotate-half RoPE of one row in place: pair p is (x[p], x[p + D/2]).
inline void applyRope(float* x, Index pairs, const float* c, const float* s) {
    for (Index p = 0; p < pairs; ++p) {
        const float x1 = x[p], x2 = x[p + pairs];
        x[p] = x1 * c[p] - x2 * s[p];
        x[p + pairs] = x1 * s[p] + x2 * c[p];
    }
}

// A small built-in vocabulary: the capture shows readable synthetic text, not numbers. Words carry their
// leading space, as real tokenizers' word pieces do, so the tokens concatenate into running text.
const std::vector<std::string>& vocabulary() {
    static const std::vector<std::string> words = {
        "<s>",     ".",       "\n",        " NEEDLE",  " the",     " a",       " of",        " and",
        " to",     " in",     " is",       " was",     " it",      " that",    " for",       " on",
        " with",   " as",     " at",       " by",      " from",    " this",    " we",        " they",
        " he",     " she",    " model",    " token",   " layer",   " head",    " attention", " query",
        " key",    " value",  " context",  " long",    " short",   " sparse",  " dense",     " memory",
        " cache",  " window", " sequence", " prefill", " score",   " mass",    " sink",      " local",
        " far",    " near",   " first",    " last",    " time",    " day",     " city",      " river",
        " garden", " house",  " door",     " light",   " small",   " large",   " old",       " new",
        " red",    " blue",   " green",    " quiet",   " quick",   " slow",    " bright",    " dark",
        " warm",   " cold",   " found",    " saw",     " made",    " took",    " gave",      " kept",
        " went",   " came",   " said",     " asked",   " knew",    " thought", " number",    " secret",
        " code",   " word",   " page",     " book",    " story",   " letter",  " map",       " key",
        " box",    " stone",  " tree",     " bird",    " cat",     " dog",     " fish",      " boat",
        " road",   " bridge", " tower",    " market",  " school",  " friend",  " teacher",   " child",
        " king",   " queen",  " ship",     " storm",   " rain",    " snow",    " sun",       " moon",
        " star",   " night",  " morning",  " evening", " because", " when",    " while",     " after",
        " before", " then",   " there",    " here",    " not",     " very",    " also",      " only",
        " every",  " some",   " many",     " few",     " more",    " most",    " again",     " still",
        " always",
    };
    return words;
}

constexpr std::int32_t kTokBos = 0, kTokPeriod = 1, kTokNewline = 2, kTokNeedle = 3, kTokFirstWord = 4;

SyntheticSequence makeSequence(const GeneratorConfig& c) {
    SyntheticSequence seq;
    const Index L = c.tokens;
    Stream rng(streamKey(c.seed, gen::kTagText));
    const auto& vocab = vocabulary();
    const std::int32_t words = std::int32_t(vocab.size()) - kTokFirstWord;
    seq.tokenIds.resize(std::size_t(L));
    seq.tokenIds[0] = kTokBos;
    for (Index t = 1; t < L; ++t) {
        if (rng.uniform() < c.delimiterRate) {
            seq.tokenIds[std::size_t(t)] = rng.uniform() < 0.8 ? kTokPeriod : kTokNewline;
        } else {
            // Zipf-like: small ids (function words) are the most frequent, like real text.
            const double u = rng.uniform();
            seq.tokenIds[std::size_t(t)] = kTokFirstWord + std::int32_t(std::pow(u, 2.5) * words) % words;
        }
    }
    const Index question = std::max<Index>(1, Index(std::llround(c.questionFraction * double(L))));
    seq.questionStart = std::max<Index>(1, L - question);
    // Needles: one per stratum of the middle of the context (10% .. 85% of the tokens), never inside the
    // question part and never at position 0.
    // At most a quarter of the tokens are needles: short sequences get fewer rather than an error.
    const int needles = int(std::min<Index>(c.needles, L / 4));
    if (needles > 0) {
        Stream nrng(streamKey(c.seed, gen::kTagNeedles));
        const Index lo = std::max<Index>(1, L / 10);
        const Index hi = std::max(lo + 1, std::min(seq.questionStart, (L * 85) / 100));
        const Index span = hi - lo;
        for (int k = 0; k < needles; ++k) {
            const Index a = lo + span * k / needles;
            const Index bnd = std::max(a + 1, lo + span * (k + 1) / needles);
            Index pos = a + Index(nrng.below(std::uint64_t(bnd - a)));
            if (!seq.needles.empty() && pos <= seq.needles.back()) pos = seq.needles.back() + 1;
            if (pos >= L) break;
            seq.needles.push_back(pos);
            seq.tokenIds[std::size_t(pos)] = kTokNeedle;
        }
    }
    // Readable needles: needle k becomes the number " 1000..9999" (ids after the vocabulary, one per needle)
    // and the word tokens just before it read " the secret code is", so a reader of the text finds the
    // needle sentence. Only the strings and ids of plain words change: Q/K/V depend on the positions of
    // needles and delimiters alone, so the tensors are the same as with the bare "NEEDLE" token.
    static const std::int32_t phrase[] = {4, 87, 88, 10}; // " the", " secret", " code", " is"
    std::vector<std::string> needleStrings;
    for (std::size_t k = 0; k < seq.needles.size(); ++k) {
        const Index pos = seq.needles[k];
        const std::int32_t id = std::int32_t(vocab.size() + k);
        seq.tokenIds[std::size_t(pos)] = id;
        // A fixed, seed-dependent number without drawing from any stream (the streams set the tensors).
        const std::uint64_t code = 1000 + (streamKey(c.seed, gen::kTagNeedles) + 7919u * (k + 1)) % 9000;
        needleStrings.push_back(std::to_string(code).insert(0, 1, ' '));
        for (int back = 1; back <= 4; ++back) {
            const Index q = pos - back;
            if (q < 1) break;
            const std::int32_t prev = seq.tokenIds[std::size_t(q)];
            if (prev < kTokFirstWord || prev >= std::int32_t(vocab.size())) break; // delimiter or needle
            seq.tokenIds[std::size_t(q)] = phrase[4 - back];
        }
    }
    seq.tokenStrings.reserve(std::size_t(L));
    for (Index t = 0; t < L; ++t) {
        const std::int32_t id = seq.tokenIds[std::size_t(t)];
        if (id == kTokPeriod || id == kTokNewline) seq.delimiters.push_back(t);
        seq.tokenStrings.push_back(id < std::int32_t(vocab.size())
                                       ? vocab[std::size_t(id)]
                                       : needleStrings[std::size_t(id - std::int32_t(vocab.size()))]);
    }
    return seq;
}

constexpr float kSinkPairKeyNoise = 0.25f;
constexpr float kSinkKeyNoise = 0.2f;

int threadCount(int threads) {
    return threads > 0 ? threads : omp_get_max_threads();
}

} // namespace

double Generator::positionalKernel(double distance) const {
    double k = 0;
    for (std::size_t p = 0; p < m_positionalWeights.size(); ++p)
        k += m_positionalWeights[p] * std::cos(distance * m_frequencies[p] + m_positionalPhases[p]);
    return k;
}

Result<Generator> Generator::create(const GeneratorConfig& config) {
    if (Status s = validateGeneratorConfig(config); !s.ok()) return s;
    Generator g;
    g.m_config = config;
    // Small heads (D 8 like stories260K) cannot hold the default 4 semantic pairs: shrink the band so at
    // least one positional pair remains. The effective value is what the capture's metadata records.
    g.m_config.semanticPairs =
        int(std::min<Index>(config.semanticPairs, config.headDim / 2 - config.sinkPairs - 1));
    const Index D = config.headDim, pairs = D / 2, L = config.tokens;
    const GeneratorConfig& effective = g.m_config;
    g.m_frequencies.resize(std::size_t(pairs));
    for (Index p = 0; p < pairs; ++p)
        g.m_frequencies[std::size_t(p)] = std::pow(config.ropeTheta, -2.0 * double(p) / double(D));
    const Bands b = bandsOf(effective);
    const double range = config.positionalRange;
    PositionalCode code = fitPositionalCode(
        std::vector<double>(g.m_frequencies.begin(), g.m_frequencies.begin() + b.positional), range);
    g.m_positionalWeights = std::move(code.weights);
    g.m_positionalPhases = std::move(code.phases);
    g.m_cos.resize(std::size_t(L * pairs));
    g.m_sin.resize(std::size_t(L * pairs));
    for (Index t = 0; t < L; ++t)
        for (Index p = 0; p < pairs; ++p) {
            // Angles in double: t * theta_p reaches 1e6 rad for fast pairs at 1M tokens.
            const double a = double(t) * g.m_frequencies[std::size_t(p)];
            g.m_cos[std::size_t(t * pairs + p)] = float(std::cos(a));
            g.m_sin[std::size_t(t * pairs + p)] = float(std::sin(a));
        }
    g.m_sequence = makeSequence(config);
    return g;
}

std::vector<HeadRole> Generator::roles(int index) const {
    const LayerSetup s = setupLayer(m_config, index);
    std::vector<HeadRole> r;
    for (const auto& h : s.heads)
        r.push_back(h.role);
    return r;
}

std::vector<float> Generator::importance(int index) const {
    // Per layer m, innovations e_m(t) smoothed along the sequence by an AR(1) with correlation length
    // heavyHitterSpan (important tokens come in phrases, and the scores' k-wide pooling would otherwise
    // average an i.i.d. field away). Over depth, z_l = rho z_{l-1} + sqrt(1 - rho^2) e_l with
    // rho = 1 - shift: unit variance in every layer, evaluated from the innovations so a layer needs no
    // state from the previous one.
    const Index L = m_config.tokens;
    const double rho = 1.0 - m_config.heavyHitterShift;
    const double innov = std::sqrt(std::max(0.0, 1.0 - rho * rho));
    const double span = m_config.heavyHitterSpan;
    const double rt = span > 0 ? std::exp(-1.0 / span) : 0.0;
    const double rtInnov = std::sqrt(1.0 - rt * rt);
    constexpr Index kBlock = 1024;
    const Index blocks = (L + kBlock - 1) / kBlock;
    std::vector<double> acc(static_cast<std::size_t>(L), 0.0);
    std::vector<double> e(static_cast<std::size_t>(L));
    for (int m = 0; m <= index; ++m) {
#pragma omp parallel for schedule(static)
        for (Index blk = 0; blk < blocks; ++blk) {
            Stream s(streamKey(m_config.seed, gen::kTagImportance, std::uint64_t(m), std::uint64_t(blk)));
            for (Index t = blk * kBlock; t < std::min(L, (blk + 1) * kBlock); ++t)
                e[std::size_t(t)] = s.normalD();
        }
        for (Index t = 1; t < L; ++t)
            e[std::size_t(t)] = rt * e[std::size_t(t - 1)] + rtInnov * e[std::size_t(t)];
        for (Index t = 0; t < L; ++t) {
            auto& a = acc[std::size_t(t)];
            a = m == 0 ? e[std::size_t(t)] : rho * a + innov * e[std::size_t(t)];
        }
        if (rho == 1.0) break; // shift 0: the same field in every layer
    }
    return std::vector<float>(acc.begin(), acc.end());
}

std::vector<float> Generator::drift(int index) const {
    const GeneratorConfig& c = m_config;
    const double n = double(c.layers);
    const double scale = std::max(1.0, n / 8.0);
    // U-shaped over depth: the first layers build features and the last ones prepare the output; the
    // middle ones change the hidden state least (what the drift-based sparse-layer choice looks for).
    double profile = c.driftBase + c.driftEdge * (std::exp(-double(index) / scale) +
                                                  std::exp(-(n - 1.0 - double(index)) / scale));
    Stream layerRng(streamKey(c.seed, gen::kTagDrift, std::uint64_t(index), 0xFFFFFFFFull));
    profile *= std::exp(c.driftJitter * layerRng.normalD() - 0.5 * c.driftJitter * c.driftJitter);
    const Index L = c.tokens;
    std::vector<float> d(static_cast<std::size_t>(L));
    Stream rng(streamKey(c.seed, gen::kTagDrift, std::uint64_t(index)));
    const double sp = c.driftTokenSpread;
    for (Index t = 0; t < L; ++t)
        d[std::size_t(t)] = float(profile * std::exp(sp * rng.normalD() - 0.5 * sp * sp));
    // The sink token's hidden state is rewritten in the first layers (massive activations), then
    // barely touched.
    if (L > 0) d[0] = float(index < 2 ? profile * 4.0 : profile * 0.1);
    return d;
}

Result<GeneratedLayer> Generator::layer(int index, int threads) const {
    const GeneratorConfig& c = m_config;
    if (index < 0 || index >= c.layers)
        return Status::error(ErrorCode::InvalidArgument, "generator: layer " + std::to_string(index) +
                                                             " out of range [0, " + std::to_string(c.layers) +
                                                             ")");
    const Index L = c.tokens, D = c.headDim, Hq = c.qHeads, Hkv = c.kvHeads, group = Hq / Hkv;
    const Bands b = bandsOf(c);
    const Index pairs = b.pairs;
    const LayerSetup setup = setupLayer(c, index);
    const std::vector<float> z = importance(index);
    const double sqrtD = std::sqrt(double(D));

    // Amplitudes, split symmetrically between q and k so q.k/sqrt(D) equals the requested logit.
    auto symmetric = [&](double logit) { return std::sqrt(std::max(0.0, logit) * sqrtD); };
    // Sinks live in the slowest pairs, which barely rotate: token 0 on the first coordinate of each sink
    // pair, delimiters on the second, so their strengths are independent. The sink key carries no
    // positional code (a real sink key is a massive, position-free outlier); to keep sink_logit
    // meaningful the query's sink component also adds back the positional logit of the adjacent token:
    // the sink then beats the previous token by sink_logit, at any distance.
    // The sink key is the big one (4x the symmetric split), so queries need only a moderate component.
    const double sinkK0 = 4.0 * symmetric(std::max(c.sinkLogit, 1.0));
    const double delimAmp = symmetric(c.delimiterLogit);
    const double perSinkPair = 1.0 / std::sqrt(double(c.sinkPairs));
    const double adjacentKernel = positionalKernel(1.0);
    const double heavyAmp = symmetric(c.heavyHitterLogit);
    const double needleAmp = symmetric(c.needleLogit);
    std::vector<float> posAmp(std::size_t(b.positional));
    for (Index p = 0; p < b.positional; ++p)
        posAmp[std::size_t(p)] = float(std::sqrt(m_positionalWeights[std::size_t(p)] * sqrtD));

    std::vector<std::uint8_t> isNeedle(std::size_t(L), 0), isDelim(std::size_t(L), 0);
    for (Index t : m_sequence.needles)
        isNeedle[std::size_t(t)] = 1;
    for (Index t : m_sequence.delimiters)
        isDelim[std::size_t(t)] = 1;
    // Sentence index of every token: values share a per-sentence topic component.
    std::vector<std::int32_t> sentence(std::size_t(L), 0);
    for (Index t = 1; t < L; ++t)
        sentence[std::size_t(t)] = sentence[std::size_t(t - 1)] + (isDelim[std::size_t(t - 1)] ? 1 : 0);

    GeneratedLayer out;
    out.layer = index;
    out.qkv.q = Tensor3(Hq, L, D);
    out.qkv.k = Tensor3(Hkv, L, D);
    out.qkv.v = Tensor3(Hkv, L, D);
    for (const auto& h : setup.heads)
        out.roles.push_back(h.role);

    const int nThreads = threadCount(threads);
    // Keys and values: one independent stream per (layer, kv head, token) row.
#pragma omp parallel for schedule(static) num_threads(nThreads)
    for (Index row = 0; row < Hkv * L; ++row) {
        const Index g = row / L, t = row % L;
        float* k = out.qkv.k.row(g, t);
        Stream rng(
            streamKey(c.seed, gen::kTagKeyNoise, std::uint64_t(index), std::uint64_t(g), std::uint64_t(t)));
        // The sink key is a clean outlier: little content noise, so every head sees about the same sink.
        const float keyNoise = float(c.noise) * (t == 0 ? kSinkKeyNoise : 1.0f);
        for (Index d = 0; d < D; ++d)
            k[d] = keyNoise * rng.normal();
        // Real keys are nearly silent in the sink dimensions except at the sinks; full noise there would
        // turn every query's large sink component into a strong random per-key bias.
        for (Index p = b.sinkBegin; p < pairs; ++p) {
            k[p] *= kSinkPairKeyNoise;
            k[p + pairs] *= kSinkPairKeyNoise;
        }
        const auto& ph = setup.phases[std::size_t(g)];
        if (t != 0) {
            for (Index p = 0; p < b.positional; ++p) {
                k[p] += posAmp[std::size_t(p)] * float(std::cos(ph[std::size_t(p)]));
                k[p + pairs] += posAmp[std::size_t(p)] * float(std::sin(ph[std::size_t(p)]));
            }
        }
        if (t == 0)
            for (Index p = b.sinkBegin; p < pairs; ++p)
                k[p] += float(sinkK0 * perSinkPair);
        else if (isDelim[std::size_t(t)])
            for (Index p = b.sinkBegin; p < pairs; ++p)
                k[p + pairs] += float(delimAmp * perSinkPair);
        const auto& hd = setup.heavyDir[std::size_t(g)];
        const auto& nd = setup.needleDir[std::size_t(g)];
        const float hz = float(heavyAmp) * z[std::size_t(t)];
        const float nz = isNeedle[std::size_t(t)] ? float(needleAmp) : 0.0f;
        for (Index d = 0; d < D; ++d)
            k[d] += hz * hd[std::size_t(d)] + nz * nd[std::size_t(d)];
        applyRope(k, pairs, m_cos.data() + t * pairs, m_sin.data() + t * pairs);

        float* v = out.qkv.v.row(g, t);
        Stream vr(
            streamKey(c.seed, gen::kTagValueNoise, std::uint64_t(index), std::uint64_t(g), std::uint64_t(t)));
        Stream topic(streamKey(c.seed, gen::kTagValueNoise, std::uint64_t(index), std::uint64_t(g),
                               0x8000000000000000ull | std::uint64_t(sentence[std::size_t(t)])));
        const auto& vm = setup.valueMean[std::size_t(g)];
        const float vscale = t == 0 ? float(c.sinkValueScale) : 1.0f;
        for (Index d = 0; d < D; ++d)
            v[d] = vscale * float(c.valueStd * (0.8 * vr.normalD() + 0.6 * topic.normalD()) +
                                  c.valueMean * vm[std::size_t(d)]);
    }

    // Queries: one stream per (layer, q head, token) row.
#pragma omp parallel for schedule(static) num_threads(nThreads)
    for (Index row = 0; row < Hq * L; ++row) {
        const Index h = row / L, t = row % L, g = h / group;
        const HeadSetup& hs = setup.heads[std::size_t(h)];
        float* q = out.qkv.q.row(h, t);
        Stream rng(
            streamKey(c.seed, gen::kTagQueryNoise, std::uint64_t(index), std::uint64_t(h), std::uint64_t(t)));
        const float noise = float(c.noise * hs.queryScale);
        for (Index d = 0; d < D; ++d)
            q[d] = noise * rng.normal();
        const auto& ph = setup.phases[std::size_t(g)];
        const float decay = float(hs.decay * hs.queryScale);
        for (Index p = 0; p < b.positional; ++p) {
            // The query leads the key by delta_p: q.k in this pair is w_p cos(d theta_p + delta_p).
            const double phase = ph[std::size_t(p)] + m_positionalPhases[std::size_t(p)];
            q[p] += decay * posAmp[std::size_t(p)] * float(std::cos(phase));
            q[p + pairs] += decay * posAmp[std::size_t(p)] * float(std::sin(phase));
        }
        const double sinkTarget = hs.sinkGain * hs.queryScale * c.sinkLogit + double(decay) * adjacentKernel;
        const float sq = float(std::max(0.0, sinkTarget) * sqrtD / sinkK0 * perSinkPair);
        const float sd = float(hs.sinkGain * hs.queryScale * delimAmp * perSinkPair);
        for (Index p = b.sinkBegin; p < pairs; ++p) {
            q[p] += sq;
            q[p + pairs] += sd;
        }
        const auto& hd = setup.heavyDir[std::size_t(g)];
        const auto& nd = setup.needleDir[std::size_t(g)];
        const float hq = float(hs.heavyGain * hs.queryScale * heavyAmp);
        const float nq = t >= m_sequence.questionStart ? float(hs.needleGain * needleAmp) : 0.0f;
        for (Index d = 0; d < D; ++d)
            q[d] += hq * hd[std::size_t(d)] + nq * nd[std::size_t(d)];
        applyRope(q, pairs, m_cos.data() + t * pairs, m_sin.data() + t * pairs);
    }
    out.drift = drift(index);
    return out;
}

} // namespace tsa
