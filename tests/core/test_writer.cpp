// SafetensorsWriter: format details (padding, offsets, metadata), streaming across tensor boundaries,
// atomic commit, and errors that name the file; round trips through Capture in F32, F16 and BF16.
#include "core/io/capture.h"
#include "core/io/safetensors_reader.h"
#include "core/io/safetensors_writer.h"
#include "test_capture_helpers.h"

#include <filesystem>
#include <gtest/gtest.h>

using namespace tsa;
using namespace tsa::test;

namespace {

void expectRoundTrip(DType dtype) {
    TempDir dir;
    const std::string path = dir.file(std::string("rt_") + dtypeName(dtype) + ".safetensors");
    QkvShape s{4, 2, 24, 8};
    ASSERT_TRUE(
        writeQkvCapture(path, {0, 1, 2}, s, dtype, {{"format", "tsa-qkv/1"}, {"model", "unit"}}).ok());
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    const CaptureInfo& info = (*cap)->info();
    EXPECT_EQ(info.layers, 3);
    EXPECT_EQ(info.qHeads, 4);
    EXPECT_EQ(info.kvHeads, 2);
    EXPECT_EQ(info.tokens, 24);
    EXPECT_EQ(info.headDim, 8);
    EXPECT_EQ(info.dtype, dtype);
    EXPECT_EQ(info.model, "unit");
    for (int i = 0; i < 3; ++i) {
        auto layer = (*cap)->layer(i);
        ASSERT_TRUE(layer.ok()) << layer.error();
        const Tensor3* t[3] = {&(*layer)->q, &(*layer)->k, &(*layer)->v};
        for (int which = 0; which < 3; ++which)
            for (Index h = 0; h < t[which]->heads; ++h)
                for (Index l = 0; l < s.tokens; ++l)
                    for (Index d = 0; d < s.dim; ++d)
                        ASSERT_EQ(t[which]->row(h, l)[d], qkvValue(i, which, h, l, d))
                            << "layer " << i << " tensor " << which << " h " << h << " l " << l << " d " << d;
    }
}

} // namespace

TEST(Writer, RoundTripF32) {
    expectRoundTrip(DType::F32);
}
TEST(Writer, RoundTripF16) {
    expectRoundTrip(DType::F16);
}
TEST(Writer, RoundTripBF16) {
    expectRoundTrip(DType::BF16);
}

TEST(Writer, RoundingOnConversion) {
    TempDir dir;
    const std::string path = dir.file("round.safetensors");
    SafetensorsWriter w;
    ASSERT_TRUE(w.open(path, {{"a", DType::BF16, {3}}, {"b", DType::F16, {3}}}).ok());
    const float v[6] = {1.00390625f, 3.14159265f, 1e-7f, 1.00048828125f, 65520.0f, 1e-8f};
    ASSERT_TRUE(w.writeFloats(v, 6).ok()); // one call spanning both tensors
    ASSERT_TRUE(w.commit().ok());
    const Bytes b = readFile(path);
    auto h = parseSafetensors(b.data(), b.size(), path);
    ASSERT_TRUE(h.ok()) << h.error();
    const unsigned char* a = b.data() + h->find("a")->begin;
    const unsigned char* c = b.data() + h->find("b")->begin;
    auto u16 = [](const unsigned char* p) { return std::uint16_t(p[0] | (p[1] << 8)); };
    EXPECT_EQ(u16(a), floatToBf16(v[0]));
    EXPECT_EQ(bf16ToFloat(u16(a)), 1.0f); // halfway rounds to even
    EXPECT_EQ(u16(a + 2), floatToBf16(v[1]));
    EXPECT_EQ(u16(c), floatToF16(v[3]));
    EXPECT_EQ(f16ToFloat(u16(c)), 1.0f);             // halfway rounds to even
    EXPECT_TRUE(std::isinf(f16ToFloat(u16(c + 2)))); // 65520 rounds past the largest half
    EXPECT_EQ(f16ToFloat(u16(c + 4)), 0.0f);
}

TEST(Writer, HeaderIsPaddedAndOffsetsAreContiguous) {
    TempDir dir;
    const std::string path = dir.file("pad.safetensors");
    SafetensorsWriter w;
    ASSERT_TRUE(w.open(path,
                       {{"x", DType::F32, {3}}, {"empty", DType::F32, {0, 4}}, {"ids", DType::I32, {2}}},
                       {{"format", "tsa-qkv/1"}, {"k", "v\"quoted\""}})
                    .ok());
    const float x[3] = {1, 2, 3};
    const std::int32_t ids[2] = {7, -1};
    ASSERT_TRUE(w.writeFloats(x, 3).ok());
    ASSERT_TRUE(w.writeBytes(ids, sizeof ids).ok());
    ASSERT_TRUE(w.commit().ok());
    const Bytes b = readFile(path);
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | b[std::size_t(i)];
    EXPECT_EQ(n % 8, 0u);
    EXPECT_EQ(b.size(), 8 + n + 12 + 8);
    EXPECT_EQ(b[8 + n - 1], ' ');
    auto h = parseSafetensors(b.data(), b.size(), path);
    ASSERT_TRUE(h.ok()) << h.error();
    EXPECT_EQ(h->metadata.at("k"), "v\"quoted\"");
    EXPECT_EQ(h->find("x")->begin, 8 + n);
    EXPECT_EQ(h->find("ids")->begin, 8 + n + 12);
    EXPECT_EQ(h->find("empty")->bytes(), 0u);
    std::int32_t back[2];
    std::memcpy(back, b.data() + h->find("ids")->begin, 8);
    EXPECT_EQ(back[1], -1);
}

TEST(Writer, NothingAppearsBeforeCommitAndOldFileSurvivesAFailedWrite) {
    TempDir dir;
    const std::string path = dir.file("atomic.safetensors");
    writeFile(path, Bytes{'o', 'l', 'd'});
    {
        SafetensorsWriter w;
        ASSERT_TRUE(w.open(path, {{"x", DType::F32, {4}}}).ok());
        const float x[2] = {1, 2};
        ASSERT_TRUE(w.writeFloats(x, 2).ok());
        EXPECT_EQ(readFile(path), (Bytes{'o', 'l', 'd'}));
        // Destroyed without commit: the temporary file goes, the old file stays.
    }
    EXPECT_EQ(readFile(path), (Bytes{'o', 'l', 'd'}));
    int entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
        (void)e, ++entries;
    EXPECT_EQ(entries, 1) << "temporary file left behind";
}

TEST(Writer, IncompleteCommitFailsAndNamesTheTensor) {
    TempDir dir;
    const std::string path = dir.file("short.safetensors");
    SafetensorsWriter w;
    ASSERT_TRUE(w.open(path, {{"x", DType::F32, {4}}, {"y", DType::F32, {2}}}).ok());
    const float x[4] = {1, 2, 3, 4};
    ASSERT_TRUE(w.writeFloats(x, 4).ok());
    Status s = w.commit();
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message.find(path), std::string::npos) << s.message;
    EXPECT_NE(s.message.find("'y'"), std::string::npos) << s.message;
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Writer, TooMuchDataAndWrongKindAreErrors) {
    TempDir dir;
    const std::string path = dir.file("over.safetensors");
    {
        SafetensorsWriter w;
        ASSERT_TRUE(w.open(path, {{"x", DType::F32, {2}}}).ok());
        const float x[3] = {1, 2, 3};
        Status s = w.writeFloats(x, 3);
        EXPECT_FALSE(s.ok());
        EXPECT_NE(s.message.find(path), std::string::npos);
        EXPECT_FALSE(w.isOpen());
    }
    {
        SafetensorsWriter w;
        ASSERT_TRUE(w.open(path, {{"ids", DType::I32, {2}}}).ok());
        const float x[2] = {1, 2};
        Status s = w.writeFloats(x, 2);
        EXPECT_FALSE(s.ok());
        EXPECT_NE(s.message.find("'ids'"), std::string::npos) << s.message;
    }
    EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Writer, BadSpecsAndBadFolderAreErrorsNamingTheFile) {
    TempDir dir;
    SafetensorsWriter w;
    Status s = w.open(dir.file("dup.safetensors"), {{"x", DType::F32, {1}}, {"x", DType::F32, {1}}});
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message.find("declared twice"), std::string::npos) << s.message;
    s = w.open(dir.file("neg.safetensors"), {{"x", DType::F32, {-1}}});
    EXPECT_FALSE(s.ok());
    s = w.open(dir.file("unk.safetensors"), {{"x", DType::Unknown, {1}}});
    EXPECT_FALSE(s.ok());
    const std::string missing = dir.file("no/such/folder/x.safetensors");
    s = w.open(missing, {{"x", DType::F32, {1}}});
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code, ErrorCode::Io);
    EXPECT_NE(s.message.find(missing), std::string::npos) << s.message;
}

TEST(Writer, CancelRemovesTheTemporaryAndAllowsReopening) {
    TempDir dir;
    const std::string path = dir.file("c.safetensors");
    SafetensorsWriter w;
    ASSERT_TRUE(w.open(path, {{"x", DType::F32, {1}}}).ok());
    w.cancel();
    EXPECT_FALSE(w.isOpen());
    ASSERT_TRUE(w.open(path, {{"x", DType::F32, {1}}}).ok());
    const float x = 5;
    ASSERT_TRUE(w.writeFloats(&x, 1).ok());
    ASSERT_TRUE(w.commit().ok());
    int entries = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir.path()))
        (void)e, ++entries;
    EXPECT_EQ(entries, 1);
}
