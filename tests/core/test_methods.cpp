// The methods' shared machinery: settings validation naming the parameter, knob names, method lists,
// the StreamingLLM and oracle patterns against their definitions (oracle tile masses against an fp64
// softmax), TSA on the pattern type against the existing pipeline, composition in compressed index space,
// and the measures on a pattern that computes everything. Faithfulness to the authors' code is checked in
// tests/python/test_methods_faithful.py.
#include "core/methods/compare.h"
#include "core/methods/methods.h"
#include "core/methods/tsa_pipeline.h"
#include "tests/core/method_test_settings.h"
#include "tests/core/tsa_test_data.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <gtest/gtest.h>
#include <limits>
#include <set>

namespace tsa {
namespace {

TEST(MethodSettings, ValidationNamesTheParameter) {
    struct Case {
        const char* name;
        double value;
    };
    for (const Case& c :
         {Case{"tsa.tau", 2.0}, Case{"tsa.pool_kernel", 4}, Case{"minference.adaptive_budget", -0.1},
          Case{"minference.forced_diagonals", 0}, Case{"flexprefill.gamma", 1.5}, Case{"flexprefill.tau", -1},
          Case{"flexprefill.block_size", 0}, Case{"xattention.threshold", 0},
          Case{"xattention.block_size", 100}, Case{"streaming.local", -1}, Case{"oracle.density", 0}}) {
        MethodSettings s;
        ASSERT_EQ(setMethodParam(s, c.name, c.value), "");
        const std::string message = s.validate();
        EXPECT_NE(message.find(c.name), std::string::npos) << c.name << ": " << message;
    }
    MethodSettings defaults;
    EXPECT_EQ(defaults.validate(), "");
    EXPECT_NE(setMethodParam(defaults, "flexprefill.gama", 0.9).find("unknown parameter 'flexprefill.gama'"),
              std::string::npos);
    EXPECT_NE(setMethodParam(defaults, "xattention.stride", 2.5).find("xattention.stride must be an integer"),
              std::string::npos);
    EXPECT_EQ(methodParamNames().size(), 31u);
}

TEST(MethodSettings, DefaultsAreThePapersRuns) {
    const MethodSettings s;
    EXPECT_EQ(s.tsa.tau, 0.005);
    EXPECT_EQ(s.minference.adaptiveBudget, 0.1);
    EXPECT_EQ(s.flexprefill.gamma, 0.95);
    EXPECT_EQ(s.flexprefill.tau, 0.1);
    EXPECT_EQ(s.flexprefill.blockSize, 128);
    EXPECT_EQ(s.flexprefill.minBudget, 1024);
    EXPECT_EQ(s.xattention.stride, 16);
    EXPECT_EQ(s.xattention.threshold, 0.9);
    EXPECT_EQ(s.xattention.blockSize, 128);
}

TEST(MethodNames, ParseListsAndRejectUnknown) {
    std::string error;
    auto all = parseMethodList("all", error);
    ASSERT_TRUE(all);
    EXPECT_EQ(all->size(), 9u);
    auto two = parseMethodList("tsa+flexprefill,oracle,oracle", error);
    ASSERT_TRUE(two);
    ASSERT_EQ(two->size(), 2u);
    EXPECT_EQ((*two)[0], MethodKind::TsaFlexPrefill);
    EXPECT_FALSE(parseMethodList("tsa,flexprefil", error));
    EXPECT_NE(error.find("'flexprefil'"), std::string::npos);
    for (MethodKind kind : allMethods())
        EXPECT_EQ(parseMethodName(methodName(kind)), kind);
}

TEST(Streaming, PairsAreSinkPlusLocalWindow) {
    StreamingConfig c;
    c.sinkTokens = 10;
    c.localTokens = 50;
    c.blockRows = 32;
    auto p = streamingPattern(2, 300, c);
    ASSERT_TRUE(p.ok());
    Index pairs = 0;
    forEachPair(p->blocks, 1, [&](Index i, Index j) {
        ++pairs;
        const Index q0 = (i / 32) * 32;
        EXPECT_TRUE(j < 10 || j >= q0 - 50) << i << "," << j;
    });
    Index expected = 0; // per row: sink keys plus the window [lo, i], counted once where they overlap
    for (Index i = 0; i < 300; ++i) {
        const Index lo = std::max<Index>(0, (i / 32) * 32 - 50);
        expected += (i + 1 - lo) + std::min<Index>(10, lo);
    }
    EXPECT_EQ(pairs, expected);
    EXPECT_EQ(computedPairs(p->blocks, 300, 1), pairs);
    EXPECT_GT(pairs, 0);
}

// The recall bound against the exact answer: every pair's probability in fp64, sorted, the top P summed.
// The bound must never be below it (else a method's recall could exceed 1) and only a bin's width above.
TEST(Oracle, PairMassBoundIsAnUpperBoundWithinOneBin) {
    const Index n = 150, D = 16;
    const LayerQkv l = testdata::structuredLayer(2, 1, n, D, 5);
    Tensor3 out(2, n, D);
    std::vector<float> lse(2 * n);
    ASSERT_TRUE(causalAttention(l.q.cview(), l.k.cview(), l.v.cview(), out.view(), lse.data()).ok());
    PairMassHistogram histogram;
    tileMasses(l.q.cview(), l.k.cview(), lse.data(), 32, &histogram);
    ASSERT_EQ(histogram.heads, 2);
    for (Index h = 0; h < 2; ++h) {
        std::vector<double> p;
        for (Index i = 0; i < n; ++i) {
            std::vector<double> logit(i + 1);
            double mx = -std::numeric_limits<double>::infinity(), sum = 0;
            for (Index j = 0; j <= i; ++j) {
                double dot = 0;
                for (Index d = 0; d < D; ++d)
                    dot += double(l.q.row(h, i)[d]) * l.k.row(0, j)[d];
                logit[j] = dot / 4.0;
                mx = std::max(mx, logit[j]);
            }
            for (Index j = 0; j <= i; ++j)
                sum += std::exp(logit[j] - mx);
            for (Index j = 0; j <= i; ++j)
                p.push_back(std::exp(logit[j] - mx) / sum);
        }
        std::sort(p.begin(), p.end(), std::greater<>());
        const Index all = Index(p.size());
        for (Index budget : {Index(1), Index(7), Index(100), all / 10, all / 3, all - 1, all}) {
            double exact = 0;
            for (Index i = 0; i < budget; ++i)
                exact += p[std::size_t(i)];
            const double bound = pairOracleMassBound(histogram, h, budget);
            EXPECT_GE(bound, exact * (1 - 1e-5)) << "head " << h << " budget " << budget;
            EXPECT_LE(bound, exact * std::pow(2.0, 1.0 / 16) + 1e-5) << "head " << h << " budget " << budget;
        }
        EXPECT_NEAR(pairOracleMassBound(histogram, h, all), double(n), 1e-3);
    }
}

TEST(Oracle, TileMassesMatchFp64Softmax) {
    const LayerQkv l = testdata::structuredLayer(2, 1, 150, 16, 3);
    Tensor3 out(2, 150, 16);
    std::vector<float> lse(300);
    ASSERT_TRUE(causalAttention(l.q.cview(), l.k.cview(), l.v.cview(), out.view(), lse.data()).ok());
    const auto masses = tileMasses(l.q.cview(), l.k.cview(), lse.data(), 32);
    const Index T = 5;
    for (Index h = 0; h < 2; ++h) {
        std::vector<double> ref(T * T, 0.0);
        for (Index i = 0; i < 150; ++i) {
            std::vector<double> logit(i + 1);
            double mx = -std::numeric_limits<double>::infinity(), sum = 0;
            for (Index j = 0; j <= i; ++j) {
                double dot = 0;
                for (Index d = 0; d < 16; ++d)
                    dot += double(l.q.row(h, i)[d]) * l.k.row(0, j)[d];
                logit[j] = dot / 4.0;
                mx = std::max(mx, logit[j]);
            }
            for (Index j = 0; j <= i; ++j)
                sum += std::exp(logit[j] - mx);
            for (Index j = 0; j <= i; ++j)
                ref[(i / 32) * T + j / 32] += std::exp(logit[j] - mx) / sum;
        }
        double total = 0;
        for (Index t = 0; t < T * T; ++t) {
            EXPECT_NEAR(masses[h * T * T + t], ref[t], 1e-4) << "tile " << t;
            total += masses[h * T * T + t];
        }
        EXPECT_NEAR(total, 150.0, 1e-3);
    }
    // At density 1 the oracle keeps every causal tile; greedy mass is monotone in the budget.
    OracleConfig c;
    c.density = 1.0;
    c.tile = 32;
    auto full = oraclePattern(l.q.cview(), l.k.cview(), l.v.cview(), c);
    ASSERT_TRUE(full.ok());
    EXPECT_EQ(computedPairs(full->blocks, 150, 0), 150 * 151 / 2);
    EXPECT_LE(oracleMassAtBudget(masses.data(), 150, 32, 1000),
              oracleMassAtBudget(masses.data(), 150, 32, 3000));
}

TEST(Composition, TsaOnThePatternTypeMatchesThePipeline) {
    const LayerQkv l = testdata::structuredLayer(4, 2, 700, 16, 8);
    MethodSettings s;
    s.tsa.tau = 0.05;
    s.tsa.window = 32;
    s.tsa.minTokens = 64;
    auto p = estimatePattern(MethodKind::Tsa, l, s);
    ASSERT_TRUE(p.ok());
    ASSERT_FALSE(p->tokenSets.empty()) << "the case must be sparse";
    Tensor3 ours(4, 700, 16), theirs(4, 700, 16);
    std::vector<float> ourLse(2800), theirLse(2800);
    ASSERT_TRUE(runPattern(l, *p, ours.view(), ourLse.data()).ok());
    LayerRunConfig config;
    config.params = s.tsa;
    auto run = runLayer(l, config);
    ASSERT_TRUE(run.ok());
    ASSERT_EQ(run->selection.indices, p->tokenSets.indices);
    for (std::size_t n = 0; n < ours.data.size(); ++n)
        ASSERT_NEAR(ours.data[n], run->output.data[n], 1e-5);
    for (std::size_t n = 0; n < ourLse.size(); ++n)
        ASSERT_TRUE(std::isnan(run->lse[n]) ? std::isnan(ourLse[n])
                                            : std::abs(ourLse[n] - run->lse[n]) < 1e-4);

    // TSA -> FlexPrefill: the same token sets, then blocks over the compressed length; kept rows use
    // only kept keys, dropped rows are zero.
    s.flexprefill.blockSize = 32;
    s.flexprefill.minBudget = 64;
    auto composed = estimatePattern(MethodKind::TsaFlexPrefill, l, s);
    ASSERT_TRUE(composed.ok());
    EXPECT_EQ(composed->tokenSets.indices, p->tokenSets.indices);
    EXPECT_EQ(composed->blocks.tokens, p->tokenSets.kept);
    EXPECT_EQ(composed->method, "tsa+flexprefill");
    EXPECT_LT(patternPairs(*composed, 0), patternPairs(*p, 0));
    ASSERT_TRUE(runPattern(l, *composed, ours.view(), ourLse.data()).ok());
    for (Index h = 0; h < 4; ++h) {
        std::vector<bool> kept(700, false);
        for (Index t = 0; t < composed->tokenSets.kept; ++t)
            kept[composed->tokenSets.head(h)[t]] = true;
        for (Index i = 0; i < 700; ++i)
            if (!kept[i]) {
                EXPECT_TRUE(std::isnan(ourLse[h * 700 + i]));
                for (Index d = 0; d < 16; ++d)
                    ASSERT_EQ(ours.row(h, i)[d], 0.0f);
            }
    }
}

// The registry is the one place a method's facts live: every method has a row, its sweep knob is a real
// parameter that round-trips, and exactly the compositions (and TSA) start with TSA's token sets.
TEST(MethodRegistry, EveryMethodHasAConsistentRow) {
    const std::vector<std::string> params = methodParamNames();
    // Every enumerator up to the last has its own row (a kind without one would read the first row's facts).
    std::set<std::string> names;
    for (int k = 0; k <= int(MethodKind::TsaXAttention); ++k)
        names.insert(methodName(MethodKind(k)));
    EXPECT_EQ(names.size(), std::size_t(int(MethodKind::TsaXAttention) + 1));
    EXPECT_EQ(allMethods().size(), names.size());
    for (MethodKind kind : allMethods()) {
        const std::string name = methodName(kind);
        EXPECT_EQ(usesTsa(kind), name.rfind("tsa", 0) == 0) << name;
        const SweepKnob knob = sweepKnob(kind);
        EXPECT_NE(std::find(params.begin(), params.end(), knob.param), params.end())
            << name << ": " << knob.param;
        EXPECT_EQ(knob.param.substr(knob.param.find('.') + 1), knob.name);
        ASSERT_GE(knob.values.size(), 3u) << name;
        for (double v : knob.values) {
            MethodSettings s;
            setSweepKnob(kind, v, s);
            EXPECT_EQ(sweepKnobValue(kind, s), v) << name;
            EXPECT_EQ(s.validate(), "") << name << " at " << v;
        }
    }
}

// One head of a pattern keeps exactly that head's pairs.
TEST(PatternType, HeadPatternKeepsTheHeadsPairs) {
    const Index H = 3, n = 300, rows = 32, kb = 32, qb = (n + rows - 1) / rows, nk = (n + kb - 1) / kb;
    std::vector<std::uint8_t> mask(std::size_t(H * qb * nk));
    for (std::size_t i = 0; i < mask.size(); ++i)
        mask[i] = (i * 7 + i / 5) % 3 == 0;
    const BlockSparsePattern p = blockPatternFromMask(mask.data(), H, n, rows, kb);
    for (Index h = 0; h < H; ++h) {
        const BlockSparsePattern one = headPattern(p, h);
        EXPECT_EQ(one.qHeads, 1);
        EXPECT_EQ(computedPairs(one, n, 0), computedPairs(p, n, h));
        std::vector<std::pair<Index, Index>> a, b;
        forEachPair(p, h, [&](Index i, Index j) { a.emplace_back(i, j); });
        forEachPair(one, 0, [&](Index i, Index j) { b.emplace_back(i, j); });
        EXPECT_EQ(a, b) << "head " << h;
    }
}

// Composition through the one executor: TSA's token sets, then a block stage in compressed index space,
// checked pair by pair against an fp64 softmax over exactly the pairs the pattern names (GQA: 4 query heads
// on 2 kv heads). A full block stage after the token sets reproduces TSA alone bit for bit when both use the
// same query tile.
TEST(Composition, TokenSetsThenBlocksMatchFp64OverThePatternsPairs) {
    const Index H = 4, L = 700, D = 16;
    const LayerQkv l = testdata::structuredLayer(H, 2, L, D, 11);
    MethodSettings s = testdata::smallMethodSettings();
    s.xattention.threshold = 0.8;
    auto p = estimatePattern(MethodKind::TsaXAttention, l, s);
    ASSERT_TRUE(p.ok());
    ASSERT_FALSE(p->tokenSets.empty());
    ASSERT_FALSE(p->blocks.empty());
    const Index n = p->tokenSets.kept;
    Tensor3 out(H, L, D);
    std::vector<float> lse(std::size_t(H * L));
    ASSERT_TRUE(runPattern(l, *p, out.view(), lse.data()).ok());
    const double scale = 1.0 / std::sqrt(double(D));
    for (Index h = 0; h < H; ++h) {
        const std::int32_t* idx = p->tokenSets.head(h);
        std::vector<std::vector<Index>> keys(static_cast<std::size_t>(n));
        forEachPair(p->blocks, h, [&](Index i, Index j) { keys[std::size_t(i)].push_back(j); });
        for (Index i = 0; i < n; ++i) {
            const float* qi = l.q.row(h, idx[i]);
            std::vector<double> logit;
            double mx = -std::numeric_limits<double>::infinity();
            for (Index j : keys[std::size_t(i)]) {
                const float* kj = l.k.row(h / 2, idx[j]);
                double dot = 0;
                for (Index d = 0; d < D; ++d)
                    dot += double(qi[d]) * kj[d];
                logit.push_back(dot * scale);
                mx = std::max(mx, logit.back());
            }
            ASSERT_FALSE(logit.empty()) << "every compressed row keeps its diagonal block";
            std::vector<double> acc(std::size_t(D), 0.0);
            double sum = 0;
            for (std::size_t t = 0; t < logit.size(); ++t) {
                const double w = std::exp(logit[t] - mx);
                sum += w;
                const float* vj = l.v.row(h / 2, idx[keys[std::size_t(i)][t]]);
                for (Index d = 0; d < D; ++d)
                    acc[std::size_t(d)] += w * vj[d];
            }
            for (Index d = 0; d < D; ++d)
                ASSERT_NEAR(out.row(h, idx[i])[d], acc[std::size_t(d)] / sum, 2e-5) << h << " " << i;
            ASSERT_NEAR(lse[std::size_t(h * L + idx[i])], mx + std::log(sum), 1e-4);
        }
    }

    AttentionConfig tile64;
    tile64.queryTile = 64;
    Tensor3 alone(H, L, D), full(H, L, D);
    ASSERT_TRUE(runPattern(l, p->tokenSets, BlockSparsePattern{}, alone.view(), nullptr, tile64).ok());
    ASSERT_TRUE(runPattern(l, p->tokenSets, fullBlockPattern(H, n, 64), full.view(), nullptr, tile64).ok());
    EXPECT_EQ(alone.data, full.data);

    // A block stage over the wrong length is refused with a message, not run.
    const Status bad = runPattern(l, p->tokenSets, fullBlockPattern(H, L, 64), full.view(), nullptr);
    EXPECT_FALSE(bad.ok());
    EXPECT_NE(bad.message.find("kept tokens"), std::string::npos) << bad.message;
}

TEST(Measures, AFullPatternHasNoErrorAndFullRecall) {
    const LayerQkv l = testdata::structuredLayer(2, 1, 400, 16, 4);
    auto dense = denseReference(l, {}, 64);
    ASSERT_TRUE(dense.ok());
    MethodSettings s;
    s.streaming.localTokens = 1000; // every key
    auto m = measureMethod(MethodKind::Streaming, l, s, *dense, 32);
    ASSERT_TRUE(m.ok());
    EXPECT_DOUBLE_EQ(m->layer.density, 1.0);
    EXPECT_NEAR(m->layer.retainedMass, 1.0, 1e-5);
    EXPECT_LT(m->layer.errorAll.max, 1e-5);
    EXPECT_NEAR(m->layer.oracleRecall, 1.0, 1e-5);
    // A narrow window loses mass and error grows, the oracle does at least as well at its budget.
    s.streaming.localTokens = 32;
    s.streaming.sinkTokens = 0;
    auto narrow = measureMethod(MethodKind::Streaming, l, s, *dense, 32);
    ASSERT_TRUE(narrow.ok());
    EXPECT_LT(narrow->layer.density, 0.5);
    EXPECT_LT(narrow->layer.retainedMass, 0.99);
    EXPECT_GT(narrow->layer.errorKept.p95, 1e-3);
    EXPECT_LE(narrow->layer.oracleRecall, 1.0 + 1e-9);
    ASSERT_EQ(narrow->heads.size(), 2u);
}

TEST(MInference, EveryRowKeepsItsDiagonalAndTheFirstColumns) {
    const LayerQkv l = testdata::structuredLayer(2, 1, 600, 16, 6);
    MInferenceConfig c;
    c.adaptiveBudget = 0.3;
    auto p = minferencePattern(l.q.cview(), l.k.cview(), c);
    ASSERT_TRUE(p.ok());
    for (Index h = 0; h < 2; ++h) {
        std::vector<std::vector<bool>> seen(600, std::vector<bool>(600, false));
        forEachPair(p->blocks, h, [&](Index i, Index j) { seen[i][j] = true; });
        for (Index i = 0; i < 600; ++i) {
            EXPECT_TRUE(seen[i][i]) << "row " << i;
            for (Index j = 0; j < std::min<Index>(30, i + 1); ++j)
                EXPECT_TRUE(seen[i][j]) << "row " << i << " column " << j;
        }
        EXPECT_EQ(p->vertical[h].size(), 36u); // int(int(600 * 0.3) * 0.2)
        EXPECT_EQ(p->slash[h].size(), 144u);
    }
}

TEST(XAttention, ForcedBlocksAndCausalTiles) {
    const LayerQkv l = testdata::structuredLayer(2, 1, 700, 16, 12);
    XAttentionConfig c;
    c.blockSize = 64;
    c.stride = 8;
    c.threshold = 0.5;
    auto p = xattentionPattern(l.q.cview(), l.k.cview(), c);
    ASSERT_TRUE(p.ok());
    const Index nb = 11;
    const auto mask = blockMask(p->blocks, 64);
    Index kept = 0;
    for (Index h = 0; h < 2; ++h)
        for (Index b = 0; b < nb; ++b) {
            EXPECT_TRUE(mask[(h * nb + b) * nb]) << "block 0 of row " << b;
            EXPECT_TRUE(mask[(h * nb + b) * nb + b]) << "diagonal of row " << b;
            for (Index c2 = b + 1; c2 < nb; ++c2)
                EXPECT_FALSE(mask[(h * nb + b) * nb + c2]);
            for (Index c2 = 0; c2 <= b; ++c2)
                kept += mask[(h * nb + b) * nb + c2];
        }
    EXPECT_LT(kept, 2 * nb * (nb + 1) / 2) << "threshold 0.5 must drop some tiles";
    // threshold 1 keeps at least as many tiles as 0.5
    c.threshold = 1.0;
    auto all = xattentionPattern(l.q.cview(), l.k.cview(), c);
    ASSERT_TRUE(all.ok());
    EXPECT_GE(computedPairs(all->blocks, 700, 0), computedPairs(p->blocks, 700, 0));
}

TEST(FlexPrefill, ShortSequencesRunDenseAndBranchesFollowTau) {
    const LayerQkv l = testdata::structuredLayer(2, 1, 900, 16, 13);
    FlexPrefillConfig c;
    auto dense = flexprefillPattern(l.q.cview(), l.k.cview(), c); // 900 <= ceil(1024 / 128) * 128
    ASSERT_TRUE(dense.ok());
    EXPECT_TRUE(dense->blocks.empty());
    c.blockSize = 64;
    c.minBudget = 128;
    c.tau = 0.0; // no divergence is below 0: vertical-slash everywhere
    FlexPrefillHeads heads;
    auto vs = flexprefillPattern(l.q.cview(), l.k.cview(), c, &heads);
    ASSERT_TRUE(vs.ok());
    ASSERT_EQ(heads.queryAware.size(), 2u);
    EXPECT_FALSE(heads.queryAware[0] || heads.queryAware[1]);
    c.tau = 1.0; // sqrt-JS is at most sqrt(ln 2) < 1: query-aware everywhere
    auto qa = flexprefillPattern(l.q.cview(), l.k.cview(), c, &heads);
    ASSERT_TRUE(qa.ok());
    EXPECT_TRUE(heads.queryAware[0] && heads.queryAware[1]);
    for (const Pattern* p : {&*vs, &*qa}) {
        const Index nb = 15;
        const auto mask = blockMask(p->blocks, 64);
        for (Index b = 0; b < nb; ++b) {
            EXPECT_TRUE(mask[b * nb]) << "vertical block 0";
            EXPECT_TRUE(mask[b * nb + b]) << "slash offset 0";
        }
    }
}

} // namespace
} // namespace tsa
