// Synthetic generator: determinism, shapes, RoPE, the attention structure it promises (sinks, needles,
// locality, cross-layer shift), config errors, presets, and the Token Sparse Attention length trend.
// The Report tests print the statistics docs/generator.md quotes; they run only with
// TSA_GENERATOR_REPORT=1 (they take minutes at 32K tokens).
#include "core/io/capture.h"
#include "core/methods/tsa_selection.h"
#include "core/synth/generator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <numeric>
#include <set>
#include <sstream>
#include <unistd.h>

namespace {

using tsa::Generator;
using tsa::GeneratorConfig;
using tsa::HeadRole;
using tsa::Index;

GeneratorConfig smallConfig(Index tokens = 1024) {
    GeneratorConfig c;
    c.layers = 4;
    c.qHeads = 8;
    c.kvHeads = 2;
    c.tokens = tokens;
    c.headDim = 64;
    return c;
}

Generator make(const GeneratorConfig& c) {
    auto g = Generator::create(c);
    EXPECT_TRUE(g.ok()) << g.error();
    return std::move(g.value());
}

std::string presetDir() {
    return std::string(TSA_SOURCE_DIR) + "/sample_data/presets";
}

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Causal softmax row of query i of head h over keys 0..i, in double.
std::vector<double> attentionRow(const tsa::LayerQkv& qkv, Index h, Index i) {
    const Index D = qkv.headDim(), g = h / qkv.groupSize();
    const float* q = qkv.q.row(h, i);
    std::vector<double> p(std::size_t(i + 1));
    double mx = -1e300;
    for (Index j = 0; j <= i; ++j) {
        const float* k = qkv.k.row(g, j);
        double s = 0;
        for (Index d = 0; d < D; ++d)
            s += double(q[d]) * double(k[d]);
        p[std::size_t(j)] = s / std::sqrt(double(D));
        mx = std::max(mx, p[std::size_t(j)]);
    }
    double sum = 0;
    for (auto& v : p)
        sum += (v = std::exp(v - mx));
    for (auto& v : p)
        v /= sum;
    return p;
}

struct HeadStats {
    double entropy = 0, normEntropy = 0, sink = 0, recent16 = 0, top1 = 0;
};

// Mean over the last `last` queries of one head.
HeadStats headStats(const tsa::LayerQkv& qkv, Index h, Index last) {
    HeadStats s;
    const Index L = qkv.tokens();
    for (Index i = L - last; i < L; ++i) {
        auto p = attentionRow(qkv, h, i);
        double e = 0, rec = 0;
        for (Index j = 0; j <= i; ++j) {
            const double v = p[std::size_t(j)];
            if (v > 0) e -= v * std::log(v);
            if (j > i - 16) rec += v;
        }
        s.entropy += e;
        s.normEntropy += e / std::log(double(i + 1));
        s.sink += p[0];
        s.recent16 += rec;
        s.top1 += *std::max_element(p.begin(), p.end());
    }
    for (double* v : {&s.entropy, &s.normEntropy, &s.sink, &s.recent16, &s.top1})
        *v /= double(last);
    return s;
}

double keptFraction(const tsa::LayerQkv& qkv, const tsa::TsaParams& params) {
    if (tsa::layerStaysDense(qkv.tokens(), params)) return 1.0;
    tsa::ScoringConfig sc;
    sc.window = params.window;
    sc.poolKernel = params.poolKernel;
    auto scores = tsa::scoreLayer(qkv, sc);
    EXPECT_TRUE(scores.ok()) << scores.error();
    return tsa::selectTokens(*scores, qkv.qHeads(), qkv.tokens(), params).keptFraction();
}

// Mean kept fraction over layers [first, last).
double meanKept(const Generator& g, const tsa::TsaParams& params, int first, int last) {
    double sum = 0;
    for (int l = first; l < last; ++l)
        sum += keptFraction(g.layer(l)->qkv, params);
    return sum / double(last - first);
}

bool reportEnabled() {
    const char* v = std::getenv("TSA_GENERATOR_REPORT");
    return v && std::string(v) == "1";
}

// ---------------------------------------------------------------------------------------------------

TEST(Generator, ShapesAndGqa) {
    auto c = smallConfig(512);
    c.qHeads = 12;
    c.kvHeads = 3;
    c.headDim = 32;
    auto g = make(c);
    auto layer = g.layer(1);
    ASSERT_TRUE(layer.ok()) << layer.error();
    const auto& qkv = layer->qkv;
    EXPECT_EQ(qkv.q.heads, 12);
    EXPECT_EQ(qkv.k.heads, 3);
    EXPECT_EQ(qkv.v.heads, 3);
    EXPECT_EQ(qkv.tokens(), 512);
    EXPECT_EQ(qkv.headDim(), 32);
    EXPECT_EQ(qkv.groupSize(), 4);
    EXPECT_EQ(layer->drift.size(), 512u);
    EXPECT_EQ(layer->roles.size(), 12u);
    // Heads of one kv group read the same K/V but have different queries.
    for (Index a = 0; a < 4; ++a)
        for (Index b = a + 1; b < 4; ++b) {
            double diff = 0;
            for (Index d = 0; d < 32; ++d)
                diff += std::abs(qkv.q.row(a, 100)[d] - qkv.q.row(b, 100)[d]);
            EXPECT_GT(diff, 1.0) << a << " " << b;
        }
    for (float v : qkv.q.data)
        ASSERT_TRUE(std::isfinite(v));
    EXPECT_EQ(g.sequence().tokenIds.size(), 512u);
    EXPECT_EQ(g.sequence().tokenStrings.size(), 512u);
    EXPECT_EQ(g.sequence().tokenStrings[0], "<s>");
    EXPECT_EQ(g.sequence().needles.size(), std::size_t(c.needles));
    // Readable placeholder text: needles are distinct four-digit numbers after " the secret code is"
    // (where the tokens before them are plain words), everything else words with a leading space or
    // punctuation.
    const auto& s = g.sequence().tokenStrings;
    std::set<std::string> codes;
    int phrases = 0;
    for (Index n : g.sequence().needles) {
        const std::string& code = s[std::size_t(n)];
        ASSERT_EQ(code.size(), 5u) << code;
        EXPECT_EQ(code[0], ' ');
        EXPECT_TRUE(
            std::all_of(code.begin() + 1, code.end(), [](char ch) { return ch >= '0' && ch <= '9'; }));
        codes.insert(code);
        if (n >= 5 && s[std::size_t(n - 4)] == " the" && s[std::size_t(n - 3)] == " secret" &&
            s[std::size_t(n - 2)] == " code" && s[std::size_t(n - 1)] == " is")
            ++phrases;
    }
    EXPECT_EQ(codes.size(), g.sequence().needles.size());
    EXPECT_GE(phrases, 1);
    for (Index t = 1; t < 512; ++t) {
        const std::string& w = s[std::size_t(t)];
        EXPECT_TRUE(w == "." || w == "\n" || (w.size() > 1 && w[0] == ' ')) << t << " '" << w << "'";
    }
}

// The readable strings change only strings and word ids: a config without needles and one with them
// share every delimiter, so the tensors (which depend on needles and delimiters alone) are unaffected
// by the phrase rewriting. Checked directly: rewriting never turns a delimiter into a word or back.
TEST(Generator, NeedlePhrasesKeepDelimiters) {
    GeneratorConfig c = smallConfig(2048);
    c.needles = 12;
    auto g = tsa::Generator::create(c);
    ASSERT_TRUE(g.ok()) << g.status().message;
    const auto& seq = g->sequence();
    std::vector<Index> delimiters;
    for (Index t = 0; t < c.tokens; ++t)
        if (seq.tokenStrings[std::size_t(t)] == "." || seq.tokenStrings[std::size_t(t)] == "\n")
            delimiters.push_back(t);
    EXPECT_EQ(delimiters, seq.delimiters);
    for (Index n : seq.needles)
        EXPECT_FALSE(std::binary_search(delimiters.begin(), delimiters.end(), n));
}

TEST(Generator, SmallHeadsShrinkTheSemanticBand) {
    // stories260K's shape: D 8 leaves room for 2 semantic pairs next to the sink pair.
    auto c = smallConfig(64);
    c.headDim = 8;
    auto g = make(c);
    EXPECT_EQ(g.config().semanticPairs, 2);
    EXPECT_TRUE(g.layer(0).ok());
    EXPECT_EQ(g.positionalWeights().size(), 1u);
}

TEST(Generator, RealisticMagnitudes) {
    auto g = make(smallConfig(1024));
    auto layer = g.layer(2);
    auto stdOf = [](const tsa::FloatBuffer& x) {
        double m = 0, s = 0;
        for (float v : x)
            m += v;
        m /= double(x.size());
        for (float v : x)
            s += (v - m) * (v - m);
        return std::sqrt(s / double(x.size()));
    };
    const double qs = stdOf(layer->qkv.q.data), ks = stdOf(layer->qkv.k.data), vs = stdOf(layer->qkv.v.data);
    EXPECT_GT(qs, 0.8);
    EXPECT_LT(qs, 4.0);
    EXPECT_GT(ks, 0.8);
    EXPECT_LT(ks, 4.0);
    EXPECT_GT(vs, 0.5);
    EXPECT_LT(vs, 3.0);
}

TEST(Generator, DeterministicAcrossThreadCounts) {
    auto c = smallConfig(700);
    auto g1 = make(c);
    auto g2 = make(c);
    auto a = g1.layer(2, 1);
    auto b = g2.layer(2, 2);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->qkv.q.data, b->qkv.q.data);
    EXPECT_EQ(a->qkv.k.data, b->qkv.k.data);
    EXPECT_EQ(a->qkv.v.data, b->qkv.v.data);
    EXPECT_EQ(a->drift, b->drift);
    EXPECT_EQ(g1.sequence().tokenIds, g2.sequence().tokenIds);

    c.seed = 2;
    auto g3 = make(c);
    auto d = g3.layer(2, 2);
    EXPECT_NE(a->qkv.q.data, d->qkv.q.data);
    EXPECT_NE(a->qkv.k.data, d->qkv.k.data);
    EXPECT_NE(g1.sequence().tokenIds, g3.sequence().tokenIds);
}

TEST(Generator, LayersAreIndependentOfOrder) {
    auto g = make(smallConfig(300));
    auto late = g.layer(3);
    auto early = g.layer(0);
    auto again = g.layer(3);
    EXPECT_EQ(late->qkv.q.data, again->qkv.q.data);
    EXPECT_NE(late->qkv.q.data, early->qkv.q.data);
}

TEST(Generator, RopeIsAppliedAndRelative) {
    // Without noise, importance, needles and delimiters, every non-sink key is the same pre-RoPE vector:
    // post-RoPE keys differ by position but keep their norm, and q_i . k_j depends on i - j only.
    auto c = smallConfig(256);
    c.noise = 0;
    c.heavyHitterLogit = 0;
    c.needles = 0;
    c.delimiterRate = 0;
    auto g = make(c);
    auto layer = g.layer(0);
    const auto& qkv = layer->qkv;
    const Index D = c.headDim;
    auto dot = [&](const float* a, const float* b) {
        double s = 0;
        for (Index d = 0; d < D; ++d)
            s += double(a[d]) * double(b[d]);
        return s;
    };
    const float* k5 = qkv.k.row(0, 5);
    const float* k90 = qkv.k.row(0, 90);
    double diff = 0;
    for (Index d = 0; d < D; ++d)
        diff += std::abs(k5[d] - k90[d]);
    EXPECT_GT(diff, 1.0) << "keys at different positions must be rotated differently";
    EXPECT_NEAR(std::sqrt(dot(k5, k5)), std::sqrt(dot(k90, k90)), 1e-3 * std::sqrt(dot(k5, k5)));
    for (Index h : {0, 5}) {
        for (Index shift : {7, 100}) {
            const double a = dot(qkv.q.row(h, 120), qkv.k.row(h / 4, 100));
            const double b = dot(qkv.q.row(h, 120 + shift), qkv.k.row(h / 4, 100 + shift));
            EXPECT_NEAR(a, b, 1e-3 * (1.0 + std::abs(a))) << "head " << h << " shift " << shift;
        }
    }
    // The sink key (position 0) is unrotated and has its large component in the slowest pair.
    const float* k0 = qkv.k.row(0, 0);
    const Index slow = D / 2 - 1;
    EXPECT_GT(std::abs(k0[slow]), 3.0 * std::abs(k5[slow]) + 1.0);
}

TEST(Generator, PositionalKernelDecaysWithDistance) {
    auto g = make(smallConfig(4096));
    ASSERT_FALSE(g.positionalWeights().empty());
    for (double w : g.positionalWeights())
        EXPECT_GE(w, 0.0);
    // About -ln(1 + d) over the fitted range (65536 by default): monotone at every octave we check, and a
    // drop of ~ln(4097/33) ~ 4.8 between 32 and 4096.
    double previous = g.positionalKernel(1);
    for (double d : {4.0, 32.0, 256.0, 2048.0, 8192.0, 32768.0}) {
        const double k = g.positionalKernel(d);
        EXPECT_LT(k, previous) << d;
        previous = k;
    }
    EXPECT_NEAR(g.positionalKernel(32) - g.positionalKernel(4096), std::log(4097.0 / 33.0), 1.0);
}

TEST(Generator, SinksGetMass) {
    auto g = make(smallConfig(2048));
    auto layer = g.layer(1);
    double sinkHeads = 0, all = 0;
    int nSink = 0;
    for (Index h = 0; h < 8; ++h) {
        const auto s = headStats(layer->qkv, h, 32);
        all += s.sink / 8.0;
        if (layer->roles[std::size_t(h)] == HeadRole::Sink) {
            sinkHeads += s.sink;
            ++nSink;
        }
    }
    ASSERT_GT(nSink, 0);
    EXPECT_GT(sinkHeads / nSink, 0.4);
    EXPECT_GT(all, 0.15);
}

TEST(Generator, RetrievalHeadsFindNeedles) {
    auto c = smallConfig(2048);
    c.retrievalHeads = 0.25;
    auto g = make(c);
    const auto& needles = g.sequence().needles;
    ASSERT_EQ(needles.size(), std::size_t(c.needles));
    for (int l = 0; l < 2; ++l) {
        auto layer = g.layer(l);
        int checked = 0;
        for (Index h = 0; h < 8; ++h) {
            auto p = attentionRow(layer->qkv, h, 2047);
            double onNeedles = 0;
            for (Index n : needles)
                onNeedles += p[std::size_t(n)];
            if (layer->roles[std::size_t(h)] == HeadRole::Retrieval) {
                EXPECT_GT(onNeedles, 0.5) << "layer " << l << " head " << h;
                ++checked;
            } else {
                EXPECT_LT(onNeedles, 0.2) << "layer " << l << " head " << h;
            }
        }
        EXPECT_GT(checked, 0);
    }
    // Queries before the question part do not look for the needles.
    auto layer = g.layer(0);
    for (Index h = 0; h < 8; ++h) {
        if (layer->roles[std::size_t(h)] != HeadRole::Retrieval) continue;
        auto p = attentionRow(layer->qkv, h, 1900);
        double onNeedles = 0;
        for (Index n : needles)
            onNeedles += p[std::size_t(n)];
        EXPECT_LT(onNeedles, 0.2);
    }
}

TEST(Generator, LocalHeadsAttendToRecentTokens) {
    auto g = make(smallConfig(2048));
    auto layer = g.layer(0);
    for (Index h = 0; h < 8; ++h) {
        const auto s = headStats(layer->qkv, h, 32);
        if (layer->roles[std::size_t(h)] == HeadRole::Local) EXPECT_GT(s.recent16, 0.2) << h;
    }
    // Diffuse heads spread wider than the others of their layer.
    double diffuse = 0, others = 0;
    int nd = 0, no = 0;
    for (Index h = 0; h < 8; ++h) {
        const auto s = headStats(layer->qkv, h, 32);
        if (layer->roles[std::size_t(h)] == HeadRole::Diffuse)
            diffuse += s.normEntropy, ++nd;
        else
            others += s.normEntropy, ++no;
    }
    ASSERT_GT(nd, 0);
    EXPECT_GT(diffuse / nd, 0.5);
    EXPECT_GT(diffuse / nd, others / no + 0.1);
}

// Jaccard overlap between two layers of the top-k tokens by the layer score G, among tokens of one
// distance band (so the shared distance decay does not decide the ranking) that are neither delimiters
// nor needles (those are important in every layer by construction).
double topOverlap(const Generator& g, int la, int lb, Index lo, Index hi, Index topK) {
    std::set<Index> fixed(g.sequence().delimiters.begin(), g.sequence().delimiters.end());
    fixed.insert(g.sequence().needles.begin(), g.sequence().needles.end());
    auto top = [&](int l) {
        auto layer = g.layer(l);
        tsa::ScoringConfig sc;
        auto s = tsa::scoreLayer(layer->qkv, sc);
        std::vector<std::int32_t> order;
        for (Index j = lo; j < hi; ++j)
            if (!fixed.count(j)) order.push_back(std::int32_t(j));
        std::sort(order.begin(), order.end(), [&](auto a, auto b) {
            return s->layerNorm[std::size_t(a)] > s->layerNorm[std::size_t(b)];
        });
        return std::set<std::int32_t>(order.begin(), order.begin() + topK);
    };
    auto a = top(la), b = top(lb);
    std::vector<std::int32_t> inter;
    std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(inter));
    return double(inter.size()) / double(2 * topK - Index(inter.size()));
}

TEST(Generator, ShiftKnobChangesCrossLayerOverlap) {
    auto c = smallConfig(4096);
    c.heavyHitterLogit = 2.5; // a clear importance field, so the test sees the knob and not the noise
    c.heavyHitterShift = 0.0;
    const double stable = topOverlap(make(c), 2, 3, 1000, 2000, 24);
    c.heavyHitterShift = 1.0;
    const double shifting = topOverlap(make(c), 2, 3, 1000, 2000, 24);
    std::printf("top-24 Jaccard overlap, layers 2 vs 3: shift 0 -> %.2f, shift 1 -> %.2f\n", stable,
                shifting);
    EXPECT_GT(stable, 2.0 * shifting);
    EXPECT_GT(stable, shifting + 0.12);
    EXPECT_LT(shifting, 0.2);

    // The importance field itself: correlation between consecutive layers is 1 - shift (a long sequence:
    // the field is correlated along tokens, so short ones give noisy estimates).
    c.heavyHitterShift = 0.3;
    c.tokens = 65536;
    auto g = make(c);
    auto z1 = g.importance(1), z2 = g.importance(2);
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t t = 0; t < z1.size(); ++t) {
        sxy += z1[t] * z2[t];
        sxx += z1[t] * z1[t];
        syy += z2[t] * z2[t];
    }
    EXPECT_NEAR(sxy / std::sqrt(sxx * syy), 0.7, 0.05);
}

TEST(Generator, DriftVariesOverDepth) {
    auto c = smallConfig(512);
    c.layers = 16;
    auto g = make(c);
    std::vector<double> mean;
    for (int l = 0; l < 16; ++l) {
        auto d = g.drift(l);
        mean.push_back(std::accumulate(d.begin(), d.end(), 0.0) / double(d.size()));
        for (float v : d)
            ASSERT_GT(v, 0.0f);
    }
    const double edges = (mean[0] + mean[15]) / 2;
    const double middle = (mean[7] + mean[8]) / 2;
    EXPECT_GT(edges, 1.5 * middle);
}

TEST(Generator, BadConfigErrors) {
    auto expectBad = [](GeneratorConfig c, const std::string& what) {
        auto g = Generator::create(c);
        EXPECT_FALSE(g.ok()) << what;
        EXPECT_EQ(g.status().code, tsa::ErrorCode::InvalidArgument) << what;
        EXPECT_FALSE(g.error().empty());
    };
    auto c = smallConfig();
    {
        auto b = c;
        b.kvHeads = 3;
        expectBad(b, "q heads not a multiple of kv heads");
    }
    {
        auto b = c;
        b.headDim = 63;
        expectBad(b, "odd head dim");
    }
    {
        auto b = c;
        b.tokens = 1;
        expectBad(b, "one token");
    }
    {
        auto b = c;
        b.heavyHitterShift = 1.5;
        expectBad(b, "shift above 1");
    }
    {
        auto b = c;
        b.layers = 0;
        expectBad(b, "no layers");
    }
    {
        auto b = c;
        b.sinkHeads = b.localHeads = b.heavyHeads = b.retrievalHeads = b.diffuseHeads = 0;
        expectBad(b, "empty head mix");
    }
    {
        auto b = c;
        b.headDim = 8;
        b.sinkPairs = 3;
        expectBad(b, "no positional pair left");
    }
    {
        auto b = c;
        b.ropeTheta = std::nan("");
        expectBad(b, "nan theta");
    }
    auto g = make(c);
    EXPECT_FALSE(g.layer(4).ok());
    EXPECT_FALSE(g.layer(-1).ok());

    EXPECT_FALSE(tsa::generatorConfigFromJson("{\"heavy_hiter_shift\": 0.5}").ok()); // typo
    EXPECT_FALSE(tsa::generatorConfigFromJson("{\"layers\": 2.5}").ok());
    EXPECT_FALSE(tsa::generatorConfigFromJson("{\"layers\": \"8\"}").ok());
    EXPECT_FALSE(tsa::generatorConfigFromJson("{\"seed\": -1}").ok());
    EXPECT_FALSE(tsa::generatorConfigFromJson("[1, 2]").ok());
    EXPECT_FALSE(tsa::generatorConfigFromJson("{ nope").ok());
    EXPECT_FALSE(tsa::loadGeneratorPreset("/nonexistent/preset.json").ok());
}

TEST(Generator, ConfigJsonRoundTrip) {
    GeneratorConfig c = smallConfig();
    c.seed = 0xFFFFFFFFFFFFFFFFull;
    c.heavyHitterShift = 0.37;
    c.description = "round \"trip\"";
    const std::string json = tsa::generatorConfigToJson(c);
    auto back = tsa::generatorConfigFromJson(json);
    ASSERT_TRUE(back.ok()) << back.error();
    EXPECT_EQ(tsa::generatorConfigToJson(*back), json);
    EXPECT_EQ(back->seed, c.seed);
    auto partial = tsa::generatorConfigFromJson("{\"tokens\": 4096.0, \"rope_theta\": 500000}", c);
    ASSERT_TRUE(partial.ok()) << partial.error();
    EXPECT_EQ(partial->tokens, 4096);
    EXPECT_EQ(partial->ropeTheta, 500000.0);
    EXPECT_EQ(partial->heavyHitterShift, 0.37);
}

TEST(Generator, PresetsParseAndValidate) {
    std::set<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(presetDir())) {
        if (entry.path().extension() != ".json") continue;
        auto p = tsa::loadGeneratorPreset(entry.path().string());
        ASSERT_TRUE(p.ok()) << p.error();
        EXPECT_FALSE(p->description.empty()) << entry.path();
        EXPECT_EQ(p->preset, entry.path().stem().string()) << "the preset field names the file";
        EXPECT_TRUE(tsa::validateGeneratorConfig(*p).ok()) << entry.path();
        names.insert(entry.path().stem().string());
    }
    for (const char* n : {"default", "retrieval", "streaming", "diffuse", "shifting"})
        EXPECT_TRUE(names.count(n)) << n;
    // The code defaults are the default preset: a config built in code behaves like `--preset default`.
    auto def = tsa::loadGeneratorPreset(presetDir() + "/default.json");
    ASSERT_TRUE(def.ok());
    GeneratorConfig code;
    code.description = def->description;
    EXPECT_EQ(tsa::generatorConfigToJson(code), tsa::generatorConfigToJson(*def));
}

TEST(Generator, SparsityGrowsWithLength) {
    // The paper's trend (Token Sparse Attention prunes more of a longer context), at CI-friendly sizes:
    // min_tokens scaled down so both lengths can go sparse.
    tsa::TsaParams params;
    params.minTokens = 256;
    auto c = smallConfig(2048);
    c.layers = 2;
    const double short2k = meanKept(make(c), params, 0, 2);
    c.tokens = 8192;
    const double long8k = meanKept(make(c), params, 0, 2);
    std::printf("kept fraction (tau 0.005, W 128, k 7, min_tokens 256): 2K %.3f, 8K %.3f\n", short2k, long8k);
    EXPECT_LT(short2k, 0.97);
    EXPECT_LT(long8k, short2k - 0.03);
}

TEST(Generator, WritesCaptureDeterministically) {
    const auto dir = std::filesystem::temp_directory_path() / ("tsa_gen_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    auto c = smallConfig(300);
    c.layers = 3;
    c.preset = "unit";
    tsa::SyntheticWriteOptions opt;
    int calls = 0;
    opt.progress = [&](int, int total) {
        EXPECT_EQ(total, 3);
        ++calls;
        return true;
    };
    opt.threads = 1;
    auto a = tsa::writeSyntheticCapture(c, (dir / "a.safetensors").string(), opt);
    ASSERT_TRUE(a.ok()) << a.error();
    EXPECT_EQ(calls, 3);
    opt.threads = 2;
    auto b = tsa::writeSyntheticCapture(c, (dir / "b.safetensors").string(), opt);
    ASSERT_TRUE(b.ok()) << b.error();
    const std::string bytesA = readFile((dir / "a.safetensors").string());
    EXPECT_EQ(bytesA, readFile((dir / "b.safetensors").string()));
    EXPECT_EQ(std::uint64_t(bytesA.size()) >= a->bytes, true);

    // Read back through the project loader.
    auto cap = tsa::Capture::open((dir / "a.safetensors").string());
    ASSERT_TRUE(cap.ok()) << cap.error();
    const auto& info = (*cap)->info();
    EXPECT_EQ(info.layers, 3);
    EXPECT_EQ(info.qHeads, 8);
    EXPECT_EQ(info.kvHeads, 2);
    EXPECT_EQ(info.tokens, 300);
    EXPECT_EQ(info.headDim, 64);
    EXPECT_EQ(info.dtype, tsa::DType::BF16);
    EXPECT_EQ(info.model, "synthetic:unit");
    EXPECT_TRUE(info.hasDrift);
    EXPECT_TRUE(info.hasTokenIds);
    EXPECT_TRUE(info.hasTokenStrings);
    EXPECT_EQ(info.metadata.at("format"), "tsa-qkv/1");
    EXPECT_EQ(info.metadata.at("layout"), "HLD");
    EXPECT_EQ(info.metadata.at("num_layers"), "3");
    auto back = tsa::generatorConfigFromJson(info.metadata.at("generator"));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->seed, c.seed);
    auto g = make(c);
    EXPECT_EQ((*cap)->tokenStrings(), g.sequence().tokenStrings);
    auto layer = (*cap)->layer(1);
    ASSERT_TRUE(layer.ok()) << layer.error();
    auto mem = g.layer(1);
    for (std::size_t i = 0; i < mem->qkv.k.data.size(); i += 97)
        EXPECT_NEAR((*layer)->k.data[i], mem->qkv.k.data[i], 1e-2 * (1.0 + std::abs(mem->qkv.k.data[i])));
    auto drift = (*cap)->drift(1);
    ASSERT_TRUE(drift.has_value());
    EXPECT_EQ(*drift, mem->drift);

    c.seed = 9;
    ASSERT_TRUE(tsa::writeSyntheticCapture(c, (dir / "c.safetensors").string(), opt).ok());
    EXPECT_NE(bytesA, readFile((dir / "c.safetensors").string()));

    opt.progress = [](int l, int) { return l < 1; };
    auto cancelled = tsa::writeSyntheticCapture(c, (dir / "d.safetensors").string(), opt);
    EXPECT_FALSE(cancelled.ok());
    EXPECT_EQ(cancelled.status().code, tsa::ErrorCode::Cancelled);
    EXPECT_FALSE(std::filesystem::exists(dir / "d.safetensors"));
    std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------------
// Reports for docs/generator.md (TSA_GENERATOR_REPORT=1).

TEST(GeneratorReport, KeptFractionByLength) {
    if (!reportEnabled()) GTEST_SKIP() << "set TSA_GENERATOR_REPORT=1";
    const char* presetEnv = std::getenv("TSA_GENERATOR_PRESET");
    const std::string preset = presetEnv ? presetEnv : "default";
    auto base = tsa::loadGeneratorPreset(presetDir() + "/" + preset + ".json");
    ASSERT_TRUE(base.ok()) << base.error();
    // Optional JSON overrides on top of the preset (for tuning), and the lengths to measure.
    if (const char* over = std::getenv("TSA_GENERATOR_OVERRIDE")) {
        base = tsa::generatorConfigFromJson(over, *base);
        ASSERT_TRUE(base.ok()) << base.error();
    }
    std::vector<Index> lengths = {4096, 16384, 32768};
    if (const char* env = std::getenv("TSA_GENERATOR_LENGTHS")) {
        lengths.clear();
        std::stringstream ss(env);
        for (std::string item; std::getline(ss, item, ',');)
            lengths.push_back(std::stoll(item));
    }
    tsa::TsaParams params; // tau 0.005, W 128, k 7, min_tokens 1024
    if (const char* env = std::getenv("TSA_GENERATOR_MIN_TOKENS")) params.minTokens = std::stoll(env);
    std::printf(
        "preset %s, %d layers (at least 8 measured), %lld q heads, %lld kv heads, D %lld, seed %llu\n",
        preset.c_str(), base->layers, (long long)base->qHeads, (long long)base->kvHeads,
        (long long)base->headDim, (unsigned long long)base->seed);
    std::printf("%8s %12s %12s %s\n", "tokens", "kept(all)", "kept(2nd half)", "per layer");
    for (Index tokens : lengths) {
        auto c = *base;
        c.tokens = tokens;
        c.layers = std::max(c.layers, 8); // enough layers for a stable mean
        if (const char* env = std::getenv("TSA_GENERATOR_LAYERS")) c.layers = std::stoi(env);
        auto g = make(c);
        std::vector<double> kept;
        for (int l = 0; l < c.layers; ++l)
            kept.push_back(keptFraction(g.layer(l)->qkv, params));
        const double all = std::accumulate(kept.begin(), kept.end(), 0.0) / double(kept.size());
        const double half =
            std::accumulate(kept.begin() + c.layers / 2, kept.end(), 0.0) / double(c.layers - c.layers / 2);
        std::printf("%8lld %12.3f %12.3f  ", (long long)tokens, all, half);
        for (double k : kept)
            std::printf(" %.3f", k);
        std::printf("\n");
        std::fflush(stdout);
    }
}

TEST(GeneratorReport, AttentionStatsAt512) {
    if (!reportEnabled()) GTEST_SKIP() << "set TSA_GENERATOR_REPORT=1";
    auto print = [](const std::string& name,
                    const std::vector<std::shared_ptr<const tsa::LayerQkv>>& layers) {
        std::printf("%s\n%6s %8s %8s %8s %8s %8s %8s %8s\n", name.c_str(), "layer", "entropy", "normEnt",
                    "sink", "last16", "top1", "q std", "k std");
        HeadStats total;
        for (std::size_t l = 0; l < layers.size(); ++l) {
            HeadStats m;
            const auto& qkv = *layers[l];
            for (Index h = 0; h < qkv.qHeads(); ++h) {
                const auto s = headStats(qkv, h, 128);
                m.entropy += s.entropy / double(qkv.qHeads());
                m.normEntropy += s.normEntropy / double(qkv.qHeads());
                m.sink += s.sink / double(qkv.qHeads());
                m.recent16 += s.recent16 / double(qkv.qHeads());
                m.top1 += s.top1 / double(qkv.qHeads());
            }
            auto sd = [](const tsa::FloatBuffer& x) {
                double a = 0, b = 0;
                for (float v : x)
                    a += v, b += double(v) * v;
                a /= double(x.size());
                return std::sqrt(b / double(x.size()) - a * a);
            };
            std::printf("%6zu %8.3f %8.3f %8.3f %8.3f %8.3f %8.2f %8.2f\n", l, m.entropy, m.normEntropy,
                        m.sink, m.recent16, m.top1, sd(qkv.q.data), sd(qkv.k.data));
            total.entropy += m.entropy / double(layers.size());
            total.normEntropy += m.normEntropy / double(layers.size());
            total.sink += m.sink / double(layers.size());
            total.recent16 += m.recent16 / double(layers.size());
            total.top1 += m.top1 / double(layers.size());
        }
        std::printf("%6s %8.3f %8.3f %8.3f %8.3f %8.3f\n", "mean", total.entropy, total.normEntropy,
                    total.sink, total.recent16, total.top1);
    };
    const std::string real = std::string(TSA_SOURCE_DIR) + "/../shared/data/stories260k/qkv_512.safetensors";
    if (std::filesystem::exists(real)) {
        auto cap = tsa::Capture::open(real);
        ASSERT_TRUE(cap.ok()) << cap.error();
        std::vector<std::shared_ptr<const tsa::LayerQkv>> layers;
        for (int l = 0; l < (*cap)->info().layers; ++l)
            layers.push_back(*(*cap)->layer(l));
        print("stories260K (real, 5 layers, 8 q heads, 4 kv heads, D 8), last 128 queries", layers);
    }
    for (const std::string preset : {"default", "retrieval", "streaming", "diffuse", "shifting"}) {
        auto c = tsa::loadGeneratorPreset(presetDir() + "/" + preset + ".json");
        ASSERT_TRUE(c.ok());
        c->tokens = 512;
        c->layers = std::min(c->layers, 8);
        auto g = make(*c);
        std::vector<std::shared_ptr<const tsa::LayerQkv>> layers;
        for (int l = 0; l < c->layers; ++l)
            layers.push_back(std::make_shared<const tsa::LayerQkv>(std::move(g.layer(l)->qkv)));
        print("synthetic:" + preset + " at 512 tokens, last 128 queries", layers);
    }
}

} // namespace
