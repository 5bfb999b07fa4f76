// Capture: opening (safetensors, single-layer names, batch dimension, LHD layout, partial captures), lazy
// fp32 conversion, the LRU cache and its thread safety, non-finite reporting, 64-bit sizes on a sparse
// multi-GB file, and the real stories260K capture.
#include "core/io/capture.h"
#include "core/io/safetensors_writer.h"
#include "test_capture_helpers.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
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
    for (double m : means)
        EXPECT_TRUE(std::isfinite(m) && m > 0);
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
    for (int i = 0; i < 16; ++i)
        strings.push_back("tok" + std::to_string(i));
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
    ASSERT_TRUE(
        writeQkvCapture(path, {0}, {4, 2, 16, 8}, DType::F32, {{"token_strings", "[\"only one\"]"}}).ok());
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_FALSE((*cap)->info().hasTokenStrings);
    ASSERT_EQ(cap.warnings.size(), 1u);
    EXPECT_NE(cap.warnings[0].find("token_strings"), std::string::npos);
}

namespace {

std::vector<float> seq(std::size_t n, float scale = 1.0f) {
    std::vector<float> v(n);
    for (std::size_t i = 0; i < n; ++i)
        v[i] = float(i) * scale;
    return v;
}

} // namespace

TEST(Capture, SingleLayerNamesAndBatchDimension) {
    TempDir dir;
    const std::string path = dir.file("single.safetensors");
    // q [1, 2, 3, 4] with a batch of 1, k and v [1, 3, 4] without: both are accepted.
    const Bytes b = buildSafetensors({{"q", "F32", {1, 2, 3, 4}, floatBytes(seq(24))},
                                      {"k", "F32", {1, 3, 4}, floatBytes(seq(12, 2))},
                                      {"v", "F32", {1, 3, 4}, floatBytes(seq(12, 3))},
                                      {"tokens", "I32", {1, 3}, Bytes(12, 0)}});
    writeFile(path, b);
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    const auto& info = (*cap)->info();
    EXPECT_EQ(info.layers, 1);
    EXPECT_EQ(info.layerIds, std::vector<int>{0});
    EXPECT_EQ(info.qHeads, 2);
    EXPECT_EQ(info.kvHeads, 1);
    EXPECT_EQ(info.tokens, 3);
    EXPECT_EQ(info.headDim, 4);
    EXPECT_TRUE(info.hasTokenIds);
    EXPECT_FALSE(info.hasDrift);
    EXPECT_TRUE((*cap)->layerDrift().empty());
    auto layer = (*cap)->layer(0);
    ASSERT_TRUE(layer.ok()) << layer.error();
    EXPECT_EQ((*layer)->q.row(1, 2)[3], 23.0f);
    EXPECT_EQ((*layer)->k.row(0, 1)[0], 8.0f);
    EXPECT_EQ((*layer)->v.row(0, 2)[1], 27.0f);
}

TEST(Capture, LhdLayoutIsTransposed) {
    TempDir dir;
    const std::string path = dir.file("lhd.safetensors");
    const Index L = 5, Hq = 4, Hkv = 2, D = 3;
    // Element (l, h, d) of the file holds 100*h + 10*l + d, so the transposed result is easy to check.
    auto lhd = [&](Index heads, float offset) {
        std::vector<float> v;
        for (Index l = 0; l < L; ++l)
            for (Index h = 0; h < heads; ++h)
                for (Index d = 0; d < D; ++d)
                    v.push_back(offset + float(100 * h + 10 * l + d));
        return floatBytes(v);
    };
    writeFile(path, buildSafetensors({{"layers.3.q", "F32", {L, Hq, D}, lhd(Hq, 0)},
                                      {"layers.3.k", "F32", {1, L, Hkv, D}, lhd(Hkv, 1000)},
                                      {"layers.3.v", "F32", {L, Hkv, D}, lhd(Hkv, 2000)}},
                                     {{"layout", "LHD"}, {"num_layers", "4"}}));
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    const auto& info = (*cap)->info();
    EXPECT_EQ(info.layout, "LHD");
    EXPECT_EQ(info.qHeads, Hq);
    EXPECT_EQ(info.kvHeads, Hkv);
    EXPECT_EQ(info.tokens, L);
    EXPECT_EQ(info.layerIds, std::vector<int>{3});
    EXPECT_EQ(info.modelLayers, 4);
    EXPECT_TRUE(cap.warnings.empty()) << cap.warnings[0];
    auto layer = (*cap)->layer(0);
    ASSERT_TRUE(layer.ok()) << layer.error();
    for (Index h = 0; h < Hq; ++h)
        for (Index l = 0; l < L; ++l)
            for (Index d = 0; d < D; ++d)
                ASSERT_EQ((*layer)->q.row(h, l)[d], float(100 * h + 10 * l + d));
    EXPECT_EQ((*layer)->k.row(1, 4)[2], 1000.0f + 142.0f);
    EXPECT_EQ((*layer)->v.row(0, 2)[0], 2000.0f + 20.0f);
}

TEST(Capture, PartialCaptureWithGapsIsAWarning) {
    TempDir dir;
    const std::string path = dir.file("gaps.safetensors");
    ASSERT_TRUE(writeQkvCapture(path, {0, 2, 5}, {2, 1, 8, 4}, DType::F32).ok());
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_EQ((*cap)->info().layerIds, (std::vector<int>{0, 2, 5}));
    EXPECT_EQ((*cap)->info().modelLayers, 6);
    ASSERT_EQ(cap.warnings.size(), 1u);
    EXPECT_NE(cap.warnings[0].find("missing 1, 3, 4"), std::string::npos) << cap.warnings[0];
    EXPECT_EQ((*cap)->indexOfLayerId(5), 2);
    auto layer = (*cap)->layer(2);
    ASSERT_TRUE(layer.ok());
    EXPECT_EQ((*layer)->q.row(1, 3)[2], qkvValue(5, 0, 1, 3, 2));
}

TEST(Capture, PartialCaptureWithNumLayersHasNoWarning) {
    TempDir dir;
    const std::string path = dir.file("partial.safetensors");
    ASSERT_TRUE(writeQkvCapture(path, {16, 31}, {2, 1, 8, 4}, DType::F16,
                                {{"format", "tsa-qkv/1"}, {"num_layers", "32"}})
                    .ok());
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_TRUE(cap.warnings.empty());
    EXPECT_EQ((*cap)->info().modelLayers, 32);
    EXPECT_EQ((*cap)->info().layers, 2);
}

TEST(Capture, LruCacheIsBoundedAndEvictedLayersSurvive) {
    TempDir dir;
    const std::string path = dir.file("lru.safetensors");
    QkvShape s{4, 2, 32, 8};
    ASSERT_TRUE(writeQkvCapture(path, {0, 1, 2, 3}, s, DType::F32).ok());
    const std::size_t layerBytes = std::size_t((4 + 2 + 2) * 32 * 8) * sizeof(float);
    CaptureOptions opt;
    opt.cacheBytes = 2 * layerBytes; // room for two layers
    auto cap = Capture::open(path, opt);
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_EQ((*cap)->cachedBytes(), 0u) << "nothing is converted at open";
    auto l0 = (*cap)->layer(0);
    auto l0again = (*cap)->layer(0);
    ASSERT_TRUE(l0.ok() && l0again.ok());
    EXPECT_EQ(l0->get(), l0again->get()) << "a cached layer is shared, not converted again";
    EXPECT_EQ((*cap)->cachedBytes(), layerBytes);
    std::shared_ptr<const LayerQkv> held = *l0;
    ASSERT_TRUE((*cap)->layer(1).ok());
    ASSERT_TRUE((*cap)->layer(2).ok()); // evicts layer 0, the least recently used
    EXPECT_EQ((*cap)->cachedBytes(), 2 * layerBytes);
    EXPECT_EQ(held->q.row(3, 31)[7], qkvValue(0, 0, 3, 31, 7)) << "an evicted layer in use stays valid";
    auto l0new = (*cap)->layer(0);
    ASSERT_TRUE(l0new.ok());
    EXPECT_NE(l0new->get(), held.get()) << "layer 0 was evicted and converted again";
    EXPECT_LE((*cap)->cachedBytes(), opt.cacheBytes);
    // cacheBytes 0: nothing is kept, every call converts.
    opt.cacheBytes = 0;
    auto nocache = Capture::open(path, opt);
    ASSERT_TRUE(nocache.ok());
    ASSERT_TRUE((*nocache)->layer(3).ok());
    EXPECT_EQ((*nocache)->cachedBytes(), 0u);
}

TEST(Capture, ConcurrentLayerAccessIsSafe) {
    TempDir dir;
    const std::string path = dir.file("mt.safetensors");
    QkvShape s{4, 2, 64, 16};
    ASSERT_TRUE(writeQkvCapture(path, {0, 1, 2, 3, 4, 5}, s, DType::BF16).ok());
    CaptureOptions opt;
    opt.cacheBytes = std::size_t((4 + 2 + 2) * 64 * 16) * sizeof(float) * 2; // forces constant eviction
    auto cap = Capture::open(path, opt);
    ASSERT_TRUE(cap.ok());
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 60; ++i) {
                const int index = (i * 7 + t) % 6;
                auto l = (*cap)->layer(index);
                if (!l.ok() || (*l)->k.row(1, 63)[15] != qkvValue(index, 1, 1, 63, 15)) ++bad;
            }
        });
    }
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_LE((*cap)->cachedBytes(), opt.cacheBytes);
}

TEST(Capture, NonFiniteValuesAreCountedReportedAndReplaced) {
    TempDir dir;
    const std::string path = dir.file("nan.safetensors");
    std::vector<float> q = seq(2 * 4 * 2), k = seq(4 * 2), v = seq(4 * 2);
    const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
    q[3] = nan;
    q[5] = inf;
    q[6] = -inf;
    v[0] = nan;
    writeFile(path, buildSafetensors({{"layers.0.q", "F32", {2, 4, 2}, floatBytes(seq(16))},
                                      {"layers.0.k", "F32", {1, 4, 2}, floatBytes(k)},
                                      {"layers.0.v", "F32", {1, 4, 2}, floatBytes(k)},
                                      {"layers.1.q", "F32", {2, 4, 2}, floatBytes(q)},
                                      {"layers.1.k", "F32", {1, 4, 2}, floatBytes(k)},
                                      {"layers.1.v", "F32", {1, 4, 2}, floatBytes(v)}}));
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    auto clean = (*cap)->layer(0);
    ASSERT_TRUE(clean.ok());
    EXPECT_TRUE(clean.warnings.empty());
    EXPECT_TRUE((*cap)->nonFiniteReports().empty());
    auto l = (*cap)->layer(1);
    ASSERT_TRUE(l.ok()) << l.error();
    ASSERT_EQ(l.warnings.size(), 2u);
    EXPECT_NE(l.warnings[0].find("layer 1 tensor q: 1 NaN and 2 Inf"), std::string::npos) << l.warnings[0];
    EXPECT_EQ((*l)->q.data[3], 0.0f);
    EXPECT_EQ((*l)->q.data[5], 0.0f);
    EXPECT_EQ((*l)->v.data[0], 0.0f);
    const auto reports = (*cap)->nonFiniteReports();
    ASSERT_EQ(reports.size(), 2u);
    EXPECT_EQ(reports[0].layer, 1);
    EXPECT_EQ(reports[0].tensor, "q");
    EXPECT_EQ(reports[0].nanCount, 1);
    EXPECT_EQ(reports[0].infCount, 2);
    EXPECT_EQ(reports[1].tensor, "v");
    // Cached: the warnings come back with the layer, the reports are not duplicated.
    auto again = (*cap)->layer(1);
    EXPECT_EQ(again.warnings.size(), 2u);
    EXPECT_EQ((*cap)->nonFiniteReports().size(), 2u);

    CaptureOptions keep;
    keep.replaceNonFinite = false;
    auto raw = Capture::open(path, keep);
    ASSERT_TRUE(raw.ok());
    auto lr = (*raw)->layer(1);
    ASSERT_TRUE(lr.ok());
    EXPECT_TRUE(std::isnan((*lr)->q.data[3]));
    EXPECT_NE(lr.warnings[0].find("left in place"), std::string::npos);
}

TEST(Capture, NonFiniteInHalfPrecision) {
    TempDir dir;
    const std::string path = dir.file("nan16.safetensors");
    // F16 0x7C00 = +Inf, 0x7E00 = NaN; BF16 0x7FC0 = NaN, 0xFF80 = -Inf.
    Bytes q(2 * 2 * 2 * 2, 0), kv(1 * 2 * 2 * 2, 0);
    q[0] = 0x00, q[1] = 0x7C, q[2] = 0x00, q[3] = 0x7E;
    Bytes kb = kv;
    kb[0] = 0xC0, kb[1] = 0x7F, kb[6] = 0x80, kb[7] = 0xFF;
    writeFile(path,
              buildSafetensors(
                  {{"q", "F16", {2, 2, 2}, q}, {"k", "BF16", {1, 2, 2}, kb}, {"v", "BF16", {1, 2, 2}, kv}}));
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    auto l = (*cap)->layer(0);
    ASSERT_TRUE(l.ok());
    const auto r = (*cap)->nonFiniteReports();
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].tensor, "k");
    EXPECT_EQ(r[0].nanCount, 1);
    EXPECT_EQ(r[0].infCount, 1);
    EXPECT_EQ(r[1].tensor, "q");
    EXPECT_EQ(r[1].nanCount, 1);
    EXPECT_EQ(r[1].infCount, 1);
}

// 32 layers of 128K tokens x 32 query heads (8 kv heads) x 128 dims in BF16: about 48 GiB, written as a
// sparse file (header, a few real values at high offsets, ftruncate for the rest). Opening must not read
// tensor data; reading a drift vector tens of GB into the file exercises 64-bit offsets.
TEST(Capture, LargeSparseCaptureOpensFastWith64BitOffsets) {
    TempDir dir;
    const std::string path = dir.file("big.safetensors");
    const std::int64_t L = 131072, Hq = 32, Hkv = 8, D = 128;
    const int layers = 32;
    nlohmann::json h = nlohmann::json::object();
    h["__metadata__"] = {{"format", "tsa-qkv/1"}, {"model", "sparse-test"}};
    std::uint64_t off = 0;
    auto add = [&](const std::string& name, const char* dtype, std::vector<std::int64_t> shape,
                   std::uint64_t bytes) {
        h[name] = {{"dtype", dtype}, {"shape", shape}, {"data_offsets", {off, off + bytes}}};
        const std::uint64_t begin = off;
        off += bytes;
        return begin;
    };
    std::vector<std::uint64_t> driftAt;
    for (int l = 0; l < layers; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        add(p + "q", "BF16", {Hq, L, D}, std::uint64_t(Hq * L * D * 2));
        add(p + "k", "BF16", {Hkv, L, D}, std::uint64_t(Hkv * L * D * 2));
        add(p + "v", "BF16", {Hkv, L, D}, std::uint64_t(Hkv * L * D * 2));
        driftAt.push_back(add(p + "drift", "F32", {L}, std::uint64_t(L * 4)));
    }
    std::string text = h.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    const std::uint64_t dataStart = 8 + text.size();
    const std::uint64_t total = dataStart + off;
    ASSERT_GT(total, std::uint64_t(40) << 30);
    {
        const Bytes head = rawSafetensors(text);
        const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::pwrite(fd, head.data(), head.size(), 0), ssize_t(head.size()));
        // The last layer's drift, about 48 GB in: token t holds t * 0.5.
        std::vector<float> drift(static_cast<std::size_t>(L));
        for (std::int64_t t = 0; t < L; ++t)
            drift[std::size_t(t)] = float(t) * 0.5f;
        ASSERT_EQ(::pwrite(fd, drift.data(), drift.size() * 4, off_t(dataStart + driftAt.back())),
                  ssize_t(drift.size() * 4));
        if (::ftruncate(fd, off_t(total)) != 0) {
            ::close(fd);
            GTEST_SKIP() << "this filesystem cannot hold a sparse " << total << "-byte file";
        }
        ::close(fd);
    }
    const auto start = std::chrono::steady_clock::now();
    auto cap = Capture::open(path);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_LT(seconds, 1.0);
    const auto& info = (*cap)->info();
    EXPECT_EQ(info.layers, 32);
    EXPECT_EQ(info.tokens, L);
    EXPECT_EQ(info.qHeads, Hq);
    EXPECT_EQ(info.kvHeads, Hkv);
    EXPECT_EQ(info.headDim, D);
    EXPECT_EQ(info.dtype, DType::BF16);
    auto drift = (*cap)->drift(31);
    ASSERT_TRUE(drift.has_value());
    ASSERT_EQ(drift->size(), std::size_t(L));
    EXPECT_EQ((*drift)[0], 0.0f);
    EXPECT_EQ((*drift)[std::size_t(L - 1)], float(L - 1) * 0.5f);
    EXPECT_EQ((*cap)->cachedBytes(), 0u);
}

// Converts the last layer of a sparse 32 x [32, 128K, 128] BF16 capture (about 46 GB into the file) to fp32:
// about 3.2 GB of memory, so it runs only with TSA_LARGE_TESTS=1. Checks values planted at the far ends
// of q and v, i.e. 64-bit element indices and file offsets in the conversion itself.
TEST(Capture, LargeLayerConvertsWith64BitIndices) {
    if (!std::getenv("TSA_LARGE_TESTS"))
        GTEST_SKIP() << "set TSA_LARGE_TESTS=1 (needs about 3.5 GB of memory)";
    TempDir dir;
    const std::string path = dir.file("big.safetensors");
    const std::int64_t L = 131072, Hq = 32, Hkv = 8, D = 128;
    std::vector<TensorSpec> specs;
    for (int l = 0; l < 32; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        specs.push_back({p + "q", DType::BF16, {Hq, L, D}});
        specs.push_back({p + "k", DType::BF16, {Hkv, L, D}});
        specs.push_back({p + "v", DType::BF16, {Hkv, L, D}});
    }
    nlohmann::json h = nlohmann::json::object();
    std::uint64_t off = 0, lastQ = 0, lastV = 0;
    for (const auto& s : specs) {
        const std::uint64_t bytes = std::uint64_t(s.shape[0] * s.shape[1] * s.shape[2] * 2);
        if (s.name == "layers.31.q") lastQ = off;
        if (s.name == "layers.31.v") lastV = off;
        h[s.name] = {{"dtype", "BF16"}, {"shape", s.shape}, {"data_offsets", {off, off + bytes}}};
        off += bytes;
    }
    std::string text = h.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    const std::uint64_t start = 8 + text.size();
    const Bytes head = rawSafetensors(text);
    const int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, head.data(), head.size(), 0), ssize_t(head.size()));
    const std::uint16_t two = floatToBf16(2.0f), three = floatToBf16(3.0f);
    // Last element of q (h 31, l L-1, d D-1) and first of v's last head row (h 7, l L-1, d 0).
    const std::uint64_t qLast = start + lastQ + std::uint64_t(Hq * L * D - 1) * 2;
    const std::uint64_t vRow = start + lastV + std::uint64_t(((Hkv - 1) * L + (L - 1)) * D) * 2;
    ASSERT_EQ(::pwrite(fd, &two, 2, off_t(qLast)), 2);
    ASSERT_EQ(::pwrite(fd, &three, 2, off_t(vRow)), 2);
    ASSERT_EQ(::ftruncate(fd, off_t(start + off)), 0);
    ::close(fd);
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    const auto t0 = std::chrono::steady_clock::now();
    auto layer = (*cap)->layer(31);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(layer.ok()) << layer.error();
    std::printf("converted a [32, 131072, 128] + 2 x [8, 131072, 128] BF16 layer in %.2f s\n", seconds);
    EXPECT_EQ((*layer)->q.row(Hq - 1, L - 1)[D - 1], 2.0f);
    EXPECT_EQ((*layer)->q.row(Hq - 1, L - 1)[D - 2], 0.0f);
    EXPECT_EQ((*layer)->v.row(Hkv - 1, L - 1)[0], 3.0f);
    EXPECT_EQ((*layer)->q.size(), Index(1) << 29);
}
