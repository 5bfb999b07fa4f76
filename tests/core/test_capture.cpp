// Capture: opening (safetensors, single-layer names, batch dimension, LHD layout, partial captures), lazy
// fp32 conversion, the LRU cache and its thread safety, non-finite reporting, 64-bit sizes on a sparse
// multi-GB file, and the real stories260K capture.
#include "core/capture.h"
#include "core/safetensors_writer.h"
#include "test_capture_helpers.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <limits>
#include <thread>
#include <unistd.h>

using namespace tsa;
using namespace tsa::test;

TEST(Capture, OpensStories260K) {
    const std::string path = TSA_SOURCE_DIR "/../shared/data/stories260k/qkv_512.safetensors";
    if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present";
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    const CaptureInfo& info = (*cap)->info();
    EXPECT_EQ(info.layers, 5);
    EXPECT_EQ(info.modelLayers, 5);
    EXPECT_EQ(info.layerIds, (std::vector<int>{0, 1, 2, 3, 4}));
    EXPECT_EQ(info.qHeads, 8);
    EXPECT_EQ(info.kvHeads, 4);
    EXPECT_EQ(info.tokens, 512);
    EXPECT_EQ(info.headDim, 8);
    EXPECT_EQ(info.dtype, DType::F32);
    EXPECT_TRUE(info.hasDrift);
    EXPECT_TRUE(info.hasTokenIds);
    EXPECT_EQ(info.layout, "HLD");
    EXPECT_NE(info.model.find("stories260K"), std::string::npos);
    EXPECT_EQ((*cap)->tokenIds().size(), 512u);
    auto layer = (*cap)->layer(4);
    ASSERT_TRUE(layer.ok()) << layer.error();
    EXPECT_EQ((*layer)->q.heads, 8);
    EXPECT_EQ((*layer)->q.tokens, 512);
    EXPECT_EQ((*layer)->q.dim, 8);
    EXPECT_EQ((*layer)->k.heads, 4);
    EXPECT_EQ((*layer)->v.heads, 4);
    EXPECT_TRUE(layer.warnings.empty());
    auto drift = (*cap)->drift(0);
    ASSERT_TRUE(drift.has_value());
    EXPECT_EQ(drift->size(), 512u);
    const auto means = (*cap)->layerDrift();
    ASSERT_EQ(means.size(), 5u);
    for (double m : means) EXPECT_TRUE(std::isfinite(m) && m > 0);
    EXPECT_TRUE((*cap)->nonFiniteReports().empty());
}

TEST(Capture, InfoFromWriterCapture) {
    TempDir dir;
    const std::string path = dir.file("c.safetensors");
    ASSERT_TRUE(writeQkvCapture(path, {0, 1}, {4, 2, 16, 8}, DType::BF16).ok());
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_TRUE(cap.warnings.empty());
    const auto& info = (*cap)->info();
    EXPECT_EQ(info.path, path);
    EXPECT_EQ(info.metadata.at("format"), "tsa-qkv/1");
    EXPECT_FALSE(info.hasTokenStrings);
    const auto& ids = (*cap)->tokenIds();
    ASSERT_EQ(ids.size(), 16u);
    EXPECT_EQ(ids[5], 16);
    EXPECT_EQ((*cap)->indexOfLayerId(1), 1);
    EXPECT_EQ((*cap)->indexOfLayerId(7), -1);
    EXPECT_FALSE((*cap)->layer(2).ok());
    EXPECT_FALSE((*cap)->layer(-1).ok());
    EXPECT_FALSE((*cap)->drift(9).has_value());
    auto d = (*cap)->drift(1);
    ASSERT_TRUE(d.has_value());
    EXPECT_FLOAT_EQ((*d)[3], 0.02f + 0.003f);
    ASSERT_EQ((*cap)->layerDrift().size(), 2u);
}

TEST(Capture, TokenStringsFromMetadata) {
    TempDir dir;
    const std::string path = dir.file("s.safetensors");
    nlohmann::json strings = nlohmann::json::array();
    for (int i = 0; i < 16; ++i) strings.push_back("tok" + std::to_string(i));
    ASSERT_TRUE(writeQkvCapture(path, {0}, {4, 2, 16, 8}, DType::F32,
                                {{"format", "tsa-qkv/1"}, {"token_strings", strings.dump()}, {"model", "m"}})
                    .ok());
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_TRUE((*cap)->info().hasTokenStrings);
    ASSERT_EQ((*cap)->tokenStrings().size(), 16u);
    EXPECT_EQ((*cap)->tokenStrings()[15], "tok15");
}

TEST(Capture, BadTokenStringsAreAWarningNotAnError) {
    TempDir dir;
    const std::string path = dir.file("s.safetensors");
    ASSERT_TRUE(writeQkvCapture(path, {0}, {4, 2, 16, 8}, DType::F32, {{"token_strings", "[\"only one\"]"}}).ok());
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_FALSE((*cap)->info().hasTokenStrings);
    ASSERT_EQ(cap.warnings.size(), 1u);
    EXPECT_NE(cap.warnings[0].find("token_strings"), std::string::npos);
}
