// Every kind of malformed capture gets a clear error naming the file, the tensor (where there is one) and
// the problem; truncating or corrupting a good file anywhere never crashes or hangs.
#include "core/io/capture.h"
#include "test_capture_helpers.h"

#include <cstdio>
#include <cstdlib>
#include <gtest/gtest.h>
#include <random>

using namespace tsa;
using namespace tsa::test;

namespace {

struct BadCase {
    const char* label;
    Bytes bytes;
    std::string tensor;             // must appear in the message ("" when the problem is file-wide)
    std::vector<std::string> words; // each must appear in the message
    ErrorCode code;
};

Bytes f32(std::size_t n) {
    return Bytes(n * 4, 0);
}

RawTensor t(const std::string& name, std::vector<std::int64_t> shape, const char* dtype = "F32") {
    std::uint64_t n = 1;
    for (auto d : shape)
        n *= std::uint64_t(d);
    return {name, dtype, shape,
            Bytes(std::size_t(n) * (std::string(dtype) == "F32" || std::string(dtype) == "I32" ? 4 : 2), 0)};
}

// A good single layer q [4, 8, 2], k/v [2, 8, 2] under the given id.
std::vector<RawTensor> goodLayer(int id) {
    const std::string p = "layers." + std::to_string(id) + ".";
    return {t(p + "q", {4, 8, 2}), t(p + "k", {2, 8, 2}), t(p + "v", {2, 8, 2})};
}

std::vector<RawTensor> concat(std::vector<RawTensor> a, const std::vector<RawTensor>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

std::vector<BadCase> badCases() {
    std::vector<BadCase> c;
    c.push_back({"empty", {}, "", {"empty"}, ErrorCode::Format});
    c.push_back({"truncated_length", {0x10, 0, 0}, "", {"truncated"}, ErrorCode::Format});
    {
        Bytes b = rawSafetensors("{\"a\": 1}");
        b[0] = 100; // claims 100 header bytes, has 8
        c.push_back({"header_past_end", b, "", {"truncated", "past the end"}, ErrorCode::Format});
    }
    {
        Bytes b = rawSafetensors("{}");
        b[0] = 0, b[1] = 0, b[2] = 0, b[3] = 0x10; // 256 MB
        c.push_back({"huge_header", b, "", {"exceeds", "limit"}, ErrorCode::Format});
    }
    {
        Bytes b = rawSafetensors("{}");
        for (int i = 0; i < 8; ++i)
            b[std::size_t(i)] = 0xFF; // 2^64 - 1: must not wrap around
        c.push_back({"max_header_length", b, "", {"exceeds"}, ErrorCode::Format});
    }
    c.push_back({"invalid_json",
                 rawSafetensors("{\"layers.0.q\": {\"dtype\": \"F32\", "),
                 "",
                 {"invalid JSON"},
                 ErrorCode::Format});
    c.push_back({"not_an_object", rawSafetensors("[1, 2, 3]   "), "", {"not an object"}, ErrorCode::Format});
    c.push_back({"too_deep",
                 rawSafetensors(std::string(100, '[') + std::string(100, ']')),
                 "",
                 {"nested"},
                 ErrorCode::Format});
    c.push_back(
        {"offsets_out_of_range",
         rawSafetensors(R"({"layers.0.q":{"dtype":"F32","shape":[4,8,2],"data_offsets":[0,256]}})", f32(10)),
         "layers.0.q",
         {"out of range"},
         ErrorCode::Format});
    c.push_back(
        {"offsets_reversed",
         rawSafetensors(R"({"layers.0.q":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", f32(10)),
         "layers.0.q",
         {"end before"},
         ErrorCode::Format});
    c.push_back({"offsets_overlap",
                 rawSafetensors(R"({"layers.0.q":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                R"("layers.0.k":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                f32(6)),
                 "layers.0.q",
                 {"overlap", "layers.0.k"},
                 ErrorCode::Format});
    c.push_back(
        {"length_mismatch",
         rawSafetensors(R"({"layers.0.q":{"dtype":"F16","shape":[4,8,2],"data_offsets":[0,256]}})", f32(64)),
         "layers.0.q",
         {"byte length", "[4, 8, 2]", "F16"},
         ErrorCode::Format});
    c.push_back({"unknown_dtype",
                 rawSafetensors(R"({"layers.0.q":{"dtype":"F12","shape":[1],"data_offsets":[0,4]}})", f32(1)),
                 "layers.0.q",
                 {"unsupported dtype", "F12"},
                 ErrorCode::Unsupported});
    {
        auto tensors = goodLayer(0);
        tensors[1] = t("layers.0.k", {2, 8, 2}, "I32");
        c.push_back({"integer_qkv",
                     buildSafetensors(tensors),
                     "layers.0.k",
                     {"unsupported dtype", "I32"},
                     ErrorCode::Unsupported});
    }
    c.push_back(
        {"shape_overflow",
         rawSafetensors(
             R"({"layers.0.q":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})",
             f32(1)),
         "layers.0.q",
         {"overflow"},
         ErrorCode::Format});
    c.push_back(
        {"negative_shape",
         rawSafetensors(R"({"layers.0.q":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,4]}})", f32(1)),
         "layers.0.q",
         {"non-negative"},
         ErrorCode::Format});
    c.push_back({"missing_data_offsets",
                 rawSafetensors(R"({"layers.0.q":{"dtype":"F32","shape":[1]}})", f32(1)),
                 "layers.0.q",
                 {"data_offsets"},
                 ErrorCode::Format});
    {
        auto tensors = goodLayer(0);
        tensors[1] = t("layers.0.k", {2, 7, 2});
        tensors[2] = t("layers.0.v", {2, 7, 2});
        c.push_back(
            {"tokens_disagree", buildSafetensors(tensors), "layers.0.k", {"tokens"}, ErrorCode::Shape});
    }
    {
        auto tensors = goodLayer(0);
        tensors[1] = t("layers.0.k", {2, 8, 4});
        tensors[2] = t("layers.0.v", {2, 8, 4});
        c.push_back(
            {"head_dim_disagree", buildSafetensors(tensors), "layers.0.k", {"head dim"}, ErrorCode::Shape});
    }
    {
        auto tensors = goodLayer(0);
        tensors[2] = t("layers.0.v", {2, 8, 3});
        c.push_back({"k_v_disagree",
                     buildSafetensors(tensors),
                     "layers.0.v",
                     {"differs", "layers.0.k"},
                     ErrorCode::Shape});
    }
    {
        auto tensors = goodLayer(0);
        tensors[0] = t("layers.0.q", {3, 8, 2});
        c.push_back({"gqa_not_multiple",
                     buildSafetensors(tensors),
                     "layers.0.q",
                     {"not a multiple", "3", "2"},
                     ErrorCode::Shape});
    }
    {
        auto tensors = concat(goodLayer(0), goodLayer(1));
        tensors.push_back(t("layers.2.q", {4, 8, 2}));
        tensors.push_back(t("layers.2.v", {2, 8, 2}));
        c.push_back({"missing_k",
                     buildSafetensors(tensors),
                     "layers.2.k",
                     {"layer 2", "missing", "layers.2.q"},
                     ErrorCode::Format});
    }
    c.push_back({"id_beyond_num_layers",
                 buildSafetensors(concat(goodLayer(0), goodLayer(4)), {{"num_layers", "4"}}),
                 "layers.4.q",
                 {"num_layers", "out of range"},
                 ErrorCode::Format});
    c.push_back({"num_layers_not_a_number",
                 buildSafetensors(goodLayer(0), {{"num_layers", "four"}}),
                 "",
                 {"num_layers", "four"},
                 ErrorCode::Format});
    {
        auto tensors = concat(goodLayer(0), goodLayer(1));
        tensors[3] = t("layers.1.q", {2, 8, 2});
        c.push_back(
            {"layers_disagree", buildSafetensors(tensors), "layers.1.q", {"all layers"}, ErrorCode::Shape});
    }
    {
        auto tensors = goodLayer(0);
        tensors[0] = t("layers.0.q", {2, 4, 8, 2});
        c.push_back({"batch_not_one", buildSafetensors(tensors), "layers.0.q", {"batch"}, ErrorCode::Shape});
    }
    {
        auto tensors = goodLayer(0);
        tensors[0] = t("layers.0.q", {64});
        c.push_back({"wrong_rank", buildSafetensors(tensors), "layers.0.q", {"not 3-D"}, ErrorCode::Shape});
    }
    {
        auto tensors = goodLayer(0);
        tensors[0] = t("layers.0.q", {4, 0, 2});
        tensors[1] = t("layers.0.k", {2, 0, 2});
        tensors[2] = t("layers.0.v", {2, 0, 2});
        c.push_back(
            {"zero_tokens", buildSafetensors(tensors), "layers.0.q", {"empty dimension"}, ErrorCode::Shape});
    }
    c.push_back({"mixed_naming",
                 buildSafetensors(concat(goodLayer(0), {t("q", {4, 8, 2})})),
                 "",
                 {"mixes"},
                 ErrorCode::Format});
    c.push_back({"no_qkv", buildSafetensors({t("weights", {4})}), "", {"no Q/K/V"}, ErrorCode::Format});
    c.push_back({"drift_wrong_length",
                 buildSafetensors(concat(goodLayer(0), {t("layers.0.drift", {7})})),
                 "layers.0.drift",
                 {"expected [8]"},
                 ErrorCode::Shape});
    c.push_back({"tokens_wrong_dtype",
                 buildSafetensors(concat(goodLayer(0), {t("tokens", {8}, "F32")})),
                 "tokens",
                 {"unsupported dtype"},
                 ErrorCode::Unsupported});
    c.push_back({"tokens_wrong_length",
                 buildSafetensors(concat(goodLayer(0), {t("tokens", {9}, "I32")})),
                 "tokens",
                 {"expected [8]"},
                 ErrorCode::Shape});
    c.push_back({"unknown_layout",
                 buildSafetensors(goodLayer(0), {{"layout", "DLH"}}),
                 "",
                 {"layout", "DLH"},
                 ErrorCode::Unsupported});
    c.push_back({"newer_format",
                 buildSafetensors(goodLayer(0), {{"format", "tsa-qkv/2"}}),
                 "",
                 {"tsa-qkv/2"},
                 ErrorCode::Unsupported});
    return c;
}

} // namespace

TEST(CaptureErrors, EachMalformedFileGetsAClearError) {
    TempDir dir;
    for (const BadCase& c : badCases()) {
        SCOPED_TRACE(c.label);
        const std::string path = dir.file(std::string(c.label) + ".safetensors");
        writeFile(path, c.bytes);
        auto cap = Capture::open(path);
        ASSERT_FALSE(cap.ok()) << c.label << " opened";
        const std::string& msg = cap.error();
        if (std::getenv("TSA_TEST_VERBOSE")) std::printf("%-26s %s\n", c.label, msg.c_str());
        EXPECT_EQ(msg.rfind(path, 0), 0u) << "message does not start with the file: " << msg;
        if (!c.tensor.empty()) {
            EXPECT_NE(msg.find("'" + c.tensor + "'"), std::string::npos) << msg;
        }
        const std::string problem = msg.substr(std::min(msg.size(), path.size()));
        for (const auto& w : c.words)
            EXPECT_NE(problem.find(w), std::string::npos) << "'" << w << "' not in: " << msg;
        EXPECT_EQ(int(cap.status().code), int(c.code)) << msg;
        // The in-memory path gives the same verdict.
        auto mem = Capture::openBuffer(c.bytes, "buffer");
        EXPECT_FALSE(mem.ok());
    }
}

TEST(CaptureErrors, MissingFileAndDirectoryAreIoErrors) {
    TempDir dir;
    auto missing = Capture::open(dir.file("nope.safetensors"));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.status().code, ErrorCode::Io);
    EXPECT_NE(missing.error().find("nope.safetensors"), std::string::npos);
    auto folder = Capture::open(dir.path());
    ASSERT_FALSE(folder.ok());
    EXPECT_EQ(folder.status().code, ErrorCode::Io);
}

TEST(CaptureErrors, IgnoredTensorsAndForeignFormatAreWarnings) {
    auto bytes = buildSafetensors(concat(goodLayer(0), {t("lm_head", {4}), t("layers.0.mlp", {4})}),
                                  {{"format", "other"}});
    auto cap = Capture::openBuffer(bytes, "mem");
    ASSERT_TRUE(cap.ok()) << cap.error();
    ASSERT_EQ(cap.warnings.size(), 2u);
    EXPECT_NE(cap.warnings[0].find("other"), std::string::npos);
    EXPECT_NE(cap.warnings[1].find("lm_head"), std::string::npos);
    EXPECT_NE(cap.warnings[1].find("layers.0.mlp"), std::string::npos);
}

// Every prefix of a good capture, and a few thousand single-byte corruptions, either open cleanly or
// fail with an error; converting whatever opens never crashes.
TEST(CaptureErrors, TruncationAndCorruptionNeverCrash) {
    auto tensors = concat(goodLayer(0), goodLayer(1));
    tensors.push_back(t("tokens", {8}, "I32"));
    tensors.push_back(t("layers.1.drift", {8}));
    const Bytes good = buildSafetensors(tensors, {{"format", "tsa-qkv/1"}, {"token_strings", "[\"a\"]"}});
    ASSERT_TRUE(Capture::openBuffer(good, "good").ok());
    auto exercise = [](const Bytes& b) {
        auto cap = Capture::openBuffer(b, "fuzzed");
        if (!cap.ok()) {
            EXPECT_FALSE(cap.error().empty());
            return;
        }
        for (int i = 0; i < (*cap)->info().layers; ++i) {
            (void)(*cap)->layer(i);
            (void)(*cap)->drift(i);
        }
        (void)(*cap)->tokenIds();
        (void)(*cap)->layerDrift();
    };
    for (std::size_t n = 0; n < good.size(); ++n) {
        auto cap = Capture::openBuffer(Bytes(good.begin(), good.begin() + std::ptrdiff_t(n)), "prefix");
        EXPECT_FALSE(cap.ok()) << "prefix of " << n << " bytes opened";
    }
    std::mt19937 rng(1234);
    for (int i = 0; i < 3000; ++i) {
        Bytes b = good;
        const std::size_t at = rng() % std::min<std::size_t>(b.size(), 8 + 600);
        b[at] = static_cast<unsigned char>(rng());
        exercise(b);
    }
}
