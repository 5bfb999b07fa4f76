// Effect file reader (core/io/effect.h): values read back from files written by the test-data writer, Jaccard
// overlaps computed from the kept sets against the JSON's, the needle grid, and every malformed case with a
// message naming the file and the key or tensor at fault.
#include "core/io/capture.h"
#include "core/io/effect.h"
#include "effect_test_data.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

using namespace tsa;
using namespace tsa::testdata;

namespace {

class EffectTest : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir = std::filesystem::temp_directory_path() /
                ("tsa_effect_test_" + std::to_string(::getpid()) + "_" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(m_dir);
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }

    std::string write(const EffectFileSpec& spec, const std::string& name = "effect.safetensors") {
        const std::string path = (m_dir / name).string();
        const Status s = writeEffectFile(path, spec);
        EXPECT_TRUE(s.ok()) << s.message;
        return path;
    }

    // Reads a malformed file and checks the error names the file and every fragment.
    void expectError(const EffectFileSpec& spec, const std::vector<std::string>& fragments) {
        const std::string path = write(spec);
        auto r = readEffect(path);
        ASSERT_FALSE(r.ok()) << "expected an error containing " << fragments.front();
        EXPECT_NE(r.error().find(path), std::string::npos) << r.error();
        for (const std::string& f : fragments)
            EXPECT_NE(r.error().find(f), std::string::npos) << "missing '" << f << "' in: " << r.error();
    }

    std::filesystem::path m_dir;
};

bool anyWarningContains(const std::vector<std::string>& warnings, const std::string& fragment) {
    for (const auto& w : warnings)
        if (w.find(fragment) != std::string::npos) return true;
    return false;
}

} // namespace

TEST_F(EffectTest, MinimalFileReadsBack) {
    const std::string path = write(minimalEffect());
    ASSERT_TRUE(isEffectFile(path));
    auto r = readEffect(path);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
    const EffectData& d = *r;
    EXPECT_EQ(d.path, path);
    EXPECT_EQ(d.model, "tiny");
    EXPECT_EQ(d.numLayers, 2);
    EXPECT_EQ(d.qHeads, 2);
    EXPECT_EQ(d.window, 2);
    EXPECT_EQ(d.minTokens, 4);
    EXPECT_EQ(d.layers, std::vector<int>({1}));
    EXPECT_EQ(d.workloadKind, "text");
    EXPECT_EQ(d.lastN, 4);
    EXPECT_EQ(d.selectionLength, 8);
    EXPECT_TRUE(std::isnan(d.selectionDepth));
    EXPECT_DOUBLE_EQ(d.densePpl, 3.0);
    ASSERT_EQ(d.taus.size(), 2u);
    ASSERT_EQ(d.runs.size(), 2u);
    EXPECT_EQ(d.tokens.size(), 8u);
    EXPECT_EQ(d.tokens[3], 13);

    const EffectRun& dense = d.runs[0];
    EXPECT_DOUBLE_EQ(dense.tau, 0.0);
    EXPECT_FALSE(dense.layers[1].hasKeptSets); // tau 0 keeps everything: no tensors
    EXPECT_DOUBLE_EQ(dense.layers[1].bestJaccard(), 1.0);

    const EffectRun& run = d.runs[1];
    EXPECT_DOUBLE_EQ(run.tau, 0.01);
    EXPECT_DOUBLE_EQ(run.klLast, 0.02);
    EXPECT_DOUBLE_EQ(run.klMean, 0.01);
    EXPECT_DOUBLE_EQ(run.top1Agreement, 0.75);
    EXPECT_DOUBLE_EQ(run.ppl, 3.2);
    EXPECT_DOUBLE_EQ(run.meanKeptFraction, 0.5);
    EXPECT_DOUBLE_EQ(run.prefillMs, 1.1);
    EXPECT_FALSE(run.layers[0].sparse);
    EXPECT_TRUE(std::isnan(run.layers[0].jaccardJson)); // null for the dense layer
    EXPECT_TRUE(std::isnan(run.layers[0].bestJaccard()));
    const EffectLayer& l1 = run.layers[1];
    EXPECT_TRUE(l1.sparse);
    ASSERT_TRUE(l1.hasKeptSets);
    EXPECT_EQ(l1.capacity, 4);
    EXPECT_DOUBLE_EQ(l1.keptFraction, 0.5);
    ASSERT_EQ(l1.headJaccard.size(), 2u);
    EXPECT_DOUBLE_EQ(l1.headJaccard[0], 0.6);
    EXPECT_DOUBLE_EQ(l1.headJaccard[1], 1.0);
    EXPECT_DOUBLE_EQ(l1.jaccard, 0.8);
    EXPECT_DOUBLE_EQ(l1.jaccardJson, 0.8);
    EXPECT_LT(d.maxJaccardDifference(), 1e-12);
    EXPECT_TRUE(d.hasKeptSets());
    EXPECT_FALSE(d.hasNeedle());
    EXPECT_TRUE(d.hasPerplexity());
    EXPECT_TRUE(std::isnan(run.needleOverlap()));
}

TEST_F(EffectTest, RealisticFileJaccardAgreesWithJson) {
    auto r = readEffect(write(realisticEffect(EffectWorkload::Text)));
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_TRUE(r.warnings.empty()) << r.warnings.front();
    const EffectData& d = *r;
    ASSERT_EQ(d.runs.size(), 7u);
    EXPECT_EQ(d.tokenStrings.size(), 512u);
    int withSets = 0;
    for (const EffectRun& run : d.runs)
        for (const EffectLayer& layer : run.layers)
            if (layer.hasKeptSets) {
                ++withSets;
                EXPECT_NEAR(layer.jaccard, layer.jaccardJson, 1e-12);
                EXPECT_NEAR(double(layer.capacity) / 512.0, layer.keptFraction, 1e-12);
                EXPECT_EQ(layer.headJaccard.size(), 8u);
            }
    EXPECT_EQ(withSets, 6 * 5); // every layer of every run with tau > 0
    // Deeper layers under the largest tau drift most from the dense selection.
    EXPECT_LT(d.runs[6].layers[4].jaccard, d.runs[1].layers[4].jaccard);
    EXPECT_TRUE(d.hasPerplexity());
    EXPECT_FALSE(d.hasNeedle());
    // Kept fraction falls with tau.
    EXPECT_LT(d.runs[6].meanKeptFraction, d.runs[1].meanKeptFraction);
}

TEST_F(EffectTest, NeedleGridLaysOutLengthsAndDepths) {
    auto r = readEffect(write(realisticEffect(EffectWorkload::Needle)));
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_TRUE(r->hasNeedle());
    EXPECT_FALSE(r->hasPerplexity());
    const NeedleGrid g = needleGrid(r->runs.back());
    EXPECT_EQ(g.lengths, std::vector<Index>({128, 256, 384, 512}));
    EXPECT_EQ(g.depths, std::vector<double>({0.0, 0.25, 0.5, 0.75, 1.0}));
    ASSERT_EQ(g.values.size(), 20u);
    for (double v : g.values)
        EXPECT_TRUE(v >= 0.0 && v <= 1.0);
    // The dense run finds every needle.
    const NeedleGrid dense = needleGrid(r->runs.front(), true);
    for (double v : dense.values)
        EXPECT_DOUBLE_EQ(v, 1.0);
}

TEST(EffectNeedleGrid, AveragesRepeatsAndLeavesHolesNaN) {
    EffectRun run;
    run.needle = {{100, 0.5, "", "", 1, 1.0}, {100, 0.5, "", "", 0, 0.5}, {200, 0.0, "", "", 0, 0.0}};
    const NeedleGrid g = needleGrid(run);
    ASSERT_EQ(g.lengths.size(), 2u);
    ASSERT_EQ(g.depths.size(), 2u);
    EXPECT_DOUBLE_EQ(g.at(0, 1), 0.75);
    EXPECT_TRUE(std::isnan(g.at(0, 0)));
    EXPECT_DOUBLE_EQ(g.at(1, 0), 0.0);
    EXPECT_DOUBLE_EQ(needleGrid(run, true).at(0, 1), 0.5);
    EXPECT_DOUBLE_EQ(run.needleOverlap(), 0.5);
    EXPECT_DOUBLE_EQ(run.needleExact(), 1.0 / 3.0);
}

TEST(EffectData, RunNearestTau) {
    EffectData d;
    for (double t : {0.0, 0.001, 0.01, 0.05}) {
        EffectRun r;
        r.tau = t;
        d.runs.push_back(r);
    }
    EXPECT_EQ(d.runNearestTau(0.0), 0);
    EXPECT_EQ(d.runNearestTau(0.005), 2); // log-nearest: 0.005 is nearer 0.01 than 0.001
    EXPECT_EQ(d.runNearestTau(0.002), 1);
    EXPECT_EQ(d.runNearestTau(0.5), 3);
    EXPECT_EQ(EffectData().runNearestTau(0.01), -1);
}

TEST_F(EffectTest, CaptureIsNotAnEffectFile) {
    EffectFileSpec spec = minimalEffect();
    spec.metadata["format"] = "tsa-qkv/1";
    const std::string path = write(spec);
    EXPECT_FALSE(isEffectFile(path));
    EXPECT_FALSE(isEffectFile((m_dir / "missing.safetensors").string()));
    expectError(spec, {"metadata format 'tsa-qkv/1' is not tsa-effect/1", "capture"});
}

TEST_F(EffectTest, OpeningAnEffectFileAsACaptureSaysWhatItIs) {
    const std::string path = write(minimalEffect());
    auto capture = Capture::open(path);
    ASSERT_FALSE(capture.ok());
    EXPECT_NE(capture.error().find(path), std::string::npos) << capture.error();
    EXPECT_NE(capture.error().find("this is an effect file (tsa-effect/1"), std::string::npos)
        << capture.error();
}

TEST_F(EffectTest, MissingFormatOrEffectMetadata) {
    EffectFileSpec spec = minimalEffect();
    spec.metadata["format"] = "tsa-effect/2";
    expectError(spec, {"'tsa-effect/2' is not tsa-effect/1"});
    spec = minimalEffect();
    spec.metadata["effect"] = "{not json";
    expectError(spec, {"metadata 'effect' is not valid JSON"});
    spec = minimalEffect();
    spec.metadata["effect"] = "[1, 2]";
    expectError(spec, {"not a JSON object"});
    spec = minimalEffect();
    spec.effect["format"] = "tsa-qkv/1";
    expectError(spec, {"effect JSON 'format'"});
}

TEST_F(EffectTest, RunsAndTausMustMatch) {
    EffectFileSpec spec = minimalEffect();
    spec.effect["taus"] = {0, 0.01, 0.02};
    expectError(spec, {"'runs' has 2 entries but 'taus' has 3"});
    spec = minimalEffect();
    spec.effect["runs"][1]["tau"] = 0.02;
    expectError(spec, {"runs[1]", "tau 0.02 does not match taus[1] = 0.01"});
    spec = minimalEffect();
    spec.effect["taus"] = {0, -0.01};
    expectError(spec, {"'taus'[1]"});
    spec = minimalEffect();
    spec.effect.erase("taus");
    expectError(spec, {"'taus' must be a non-empty array"});
}

TEST_F(EffectTest, BadJsonFieldsNameTheKey) {
    EffectFileSpec spec = minimalEffect();
    spec.effect["runs"][1]["layer_kept_fraction"] = {1.0};
    expectError(spec, {"runs[1]", "'layer_kept_fraction' has 1 entries", "num_layers"});
    spec = minimalEffect();
    spec.effect["runs"][1]["kl_last"] = "big";
    expectError(spec, {"runs[1]", "'kl_last' is not a number"});
    spec = minimalEffect();
    spec.effect["params"]["layers"] = {1, 7};
    expectError(spec, {"params", "'layers' entry 7"});
    spec = minimalEffect();
    spec.effect["num_layers"] = 0;
    expectError(spec, {"'num_layers'"});
    spec = minimalEffect();
    spec.effect["runs"][1]["needle"] = {{{"length", 10}}};
    expectError(spec, {"runs[1]: needle[0]", "missing 'depth'"});
}

TEST_F(EffectTest, KeptTensorsAreValidated) {
    auto broken = [](auto change) {
        EffectFileSpec spec = minimalEffect();
        change(spec.sets[0]);
        return spec;
    };
    expectError(broken([](KeptSets& s) { s.kept[2] = 8; }),
                {"tensor 'runs.1.layers.1.kept'", "index 8", "out of range [0, 8)"});
    expectError(broken([](KeptSets& s) { s.kept[1] = -1; }), {"runs.1.layers.1.kept'", "out of range"});
    expectError(broken([](KeptSets& s) { std::swap(s.keptDense[5], s.keptDense[6]); }),
                {"tensor 'runs.1.layers.1.kept_dense'", "head 1", "not sorted ascending"});
    expectError(broken([](KeptSets& s) { s.kept[1] = 0; }), {"runs.1.layers.1.kept'", "not sorted"});
    expectError(broken([](KeptSets& s) { s.writeDense = false; }),
                {"'runs.1.layers.1.kept' has no partner 'runs.1.layers.1.kept_dense'"});
    expectError(broken([](KeptSets& s) { s.dtype = DType::F32; }), {"runs.1.layers.1.kept'", "dtype F32"});
    expectError(broken([](KeptSets& s) {
                    s.heads = 1;
                    s.kept.resize(4);
                    s.keptDense.resize(4);
                }),
                {"runs.1.layers.1.kept'", "1 heads, but q_heads is 2"});
    expectError(broken([](KeptSets& s) { s.run = 5; }),
                {"runs.5.layers.1.kept'", "run index 5 is out of range"});
    expectError(broken([](KeptSets& s) { s.layer = 3; }),
                {"runs.1.layers.3.kept'", "layer 3 is out of range"});

    // n larger than L.
    EffectFileSpec spec = minimalEffect();
    spec.tokens.resize(3);
    spec.effect["workload"]["selection_case"]["length"] = 3;
    expectError(spec, {"runs.1.layers.1.kept'", "more tokens per head than L = 3"});
}

TEST_F(EffectTest, KeptAndKeptDenseMustHaveTheSameShape) {
    // kept [2, 4] and kept_dense [2, 3], written through the writer directly.
    const EffectFileSpec spec = minimalEffect();
    const std::vector<std::int32_t> kept = spec.sets[0].kept, keptDense = {0, 6, 7, 0, 6, 7};
    const std::string path = (m_dir / "shape.safetensors").string();
    std::map<std::string, std::string> metadata = {{"format", kEffectFormat}, {"effect", spec.effect.dump()}};
    SafetensorsWriter writer;
    ASSERT_TRUE(writer
                    .open(path,
                          {{"tokens", DType::I32, {8}},
                           {"runs.1.layers.1.kept", DType::I32, {2, 4}},
                           {"runs.1.layers.1.kept_dense", DType::I32, {2, 3}}},
                          metadata)
                    .ok());
    ASSERT_TRUE(writer.writeBytes(spec.tokens.data(), 32).ok());
    ASSERT_TRUE(writer.writeBytes(kept.data(), 32).ok());
    ASSERT_TRUE(writer.writeBytes(keptDense.data(), 24).ok());
    ASSERT_TRUE(writer.commit().ok());
    auto r = readEffect(path);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find("[2, 4]"), std::string::npos) << r.error();
    EXPECT_NE(r.error().find("[2, 3] differ in shape"), std::string::npos) << r.error();
}

TEST_F(EffectTest, DisagreementsAndExtrasAreWarnings) {
    EffectFileSpec spec = minimalEffect();
    spec.effect["runs"][1]["jaccard_vs_dense"] = {nullptr, 0.5};
    spec.effect["runs"][1]["layer_kept_fraction"] = {1.0, 0.25};
    spec.extraTensors = {"logits"};
    auto r = readEffect(write(spec));
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_TRUE(
        anyWarningContains(r.warnings, "runs[1].jaccard_vs_dense[1] = 0.5 but the kept sets give 0.8"));
    EXPECT_TRUE(anyWarningContains(r.warnings, "layer_kept_fraction[1] = 0.25"));
    EXPECT_TRUE(
        anyWarningContains(r.warnings, "ignored tensors that are not part of the effect format: logits"));
    EXPECT_NEAR(r->maxJaccardDifference(), 0.3, 1e-12);
    // The computed overlap is the one shown.
    EXPECT_DOUBLE_EQ(r->runs[1].layers[1].bestJaccard(), 0.8);
}

TEST_F(EffectTest, NoKeptSetsNoTokensIsFine) {
    EffectFileSpec spec = minimalEffect();
    spec.sets.clear();
    spec.writeTokens = false;
    auto r = readEffect(write(spec));
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_FALSE(r->hasKeptSets());
    EXPECT_DOUBLE_EQ(r->runs[1].layers[1].bestJaccard(), 0.8); // falls back to the JSON
    EXPECT_EQ(r->selectionLength, 8);
}

TEST_F(EffectTest, KeptSetsNeedL) {
    EffectFileSpec spec = minimalEffect();
    spec.writeTokens = false;
    spec.effect["workload"]["selection_case"]["length"] = nullptr;
    expectError(spec, {"no 'tokens' tensor", "L is unknown"});
}

TEST_F(EffectTest, TruncatedAndMissingFiles) {
    const std::string path = write(minimalEffect());
    const auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size - 10);
    auto r = readEffect(path);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().find(path), std::string::npos);
    auto missing = readEffect((m_dir / "nope.safetensors").string());
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.error().find("nope.safetensors"), std::string::npos);
}
