// The safetensors header parser on in-memory bytes: what it accepts (metadata forms, empty tensors, every
// standard dtype, holes between tensors) and where it points in the file.
#include "core/io/safetensors_reader.h"
#include "test_capture_helpers.h"

#include <gtest/gtest.h>

using namespace tsa;
using namespace tsa::test;

TEST(Safetensors, ParsesEntriesAndAbsoluteOffsets) {
    const Bytes b = buildSafetensors({{"b", "F32", {2, 3}, Bytes(24, 1)}, {"a", "I8", {5}, Bytes(5, 2)}},
                                     {{"format", "tsa-qkv/1"}});
    auto h = parseSafetensors(b.data(), b.size(), "mem");
    ASSERT_TRUE(h.ok()) << h.error();
    ASSERT_EQ(h->tensors.size(), 2u);
    EXPECT_EQ(h->tensors[0].name, "a") << "sorted by name";
    const SafetensorsEntry* e = h->find("b");
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->dtype, DType::F32);
    EXPECT_EQ(e->shape, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(e->elements, 6u);
    EXPECT_EQ(e->begin, h->dataStart);
    EXPECT_EQ(e->bytes(), 24u);
    EXPECT_EQ(b[std::size_t(e->begin)], 1);
    const SafetensorsEntry* a = h->find("a");
    EXPECT_EQ(a->dtype, DType::Unknown) << "valid safetensors dtype TSA does not convert";
    EXPECT_EQ(a->dtypeName, "I8");
    EXPECT_EQ(b[std::size_t(a->begin)], 2);
    EXPECT_EQ(h->metadata.at("format"), "tsa-qkv/1");
    EXPECT_EQ(h->find("zzz"), nullptr);
}

TEST(Safetensors, MetadataForms) {
    auto parse = [](const std::string& header) {
        const Bytes b = rawSafetensors(header);
        return parseSafetensors(b.data(), b.size(), "m.safetensors");
    };
    auto h = parse(R"({"__metadata__": {"num_layers": 32, "ok": true, "s": "x"}})");
    ASSERT_TRUE(h.ok()) << h.error();
    EXPECT_EQ(h->metadata.at("num_layers"), "32") << "lenient writers' numbers are kept as text";
    EXPECT_EQ(h->metadata.at("ok"), "true");
    EXPECT_TRUE(parse(R"({"__metadata__": null})").ok());
    EXPECT_TRUE(parse("{}").ok());
    auto nested = parse(R"({"__metadata__": {"x": {"y": 1}}})");
    ASSERT_FALSE(nested.ok());
    EXPECT_NE(nested.error().find("'x'"), std::string::npos);
    EXPECT_FALSE(parse(R"({"__metadata__": [1]})").ok());
}

TEST(Safetensors, EmptyTensorsHolesAndAllStandardDtypes) {
    std::string header = "{";
    std::uint64_t off = 0;
    const std::vector<std::pair<std::string, int>> dtypes = {
        {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
        {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
        {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
    for (const auto& [name, size] : dtypes) {
        header += "\"t_" + name + "\":{\"dtype\":\"" + name + "\",\"shape\":[3],\"data_offsets\":[" +
                  std::to_string(off) + "," + std::to_string(off + 3 * std::uint64_t(size)) + "]},";
        off += 3 * std::uint64_t(size) + 5; // a 5-byte hole after each: allowed, unlike overlap
    }
    header += R"("empty":{"dtype":"F32","shape":[0,7],"data_offsets":[4,4]},)";
    header += R"("scalar":{"dtype":"F32","shape":[],"data_offsets":[0,4]}})"; // overlaps t_BOOL
    const Bytes b = rawSafetensors(header, Bytes(std::size_t(off), 0));
    auto h = parseSafetensors(b.data(), b.size(), "mem");
    ASSERT_FALSE(h.ok()) << "scalar [0,4) overlaps t_BOOL [0,3)";
    EXPECT_NE(h.error().find("overlap"), std::string::npos);
    header.erase(header.rfind(",\"scalar\""));
    header += "}";
    const Bytes ok = rawSafetensors(header, Bytes(std::size_t(off), 0));
    h = parseSafetensors(ok.data(), ok.size(), "mem");
    ASSERT_TRUE(h.ok()) << h.error();
    EXPECT_EQ(h->tensors.size(), dtypes.size() + 1);
    EXPECT_EQ(h->find("empty")->elements, 0u);
    EXPECT_EQ(h->find("t_F64")->bytes(), 24u);
    EXPECT_EQ(h->find("t_BF16")->dtype, DType::BF16);
}

TEST(Safetensors, HeaderOnlyFileAndLengthEdgeCases) {
    Bytes b = rawSafetensors("{}");
    EXPECT_TRUE(parseSafetensors(b.data(), b.size(), "m").ok());
    b = rawSafetensors("");
    auto h = parseSafetensors(b.data(), b.size(), "m");
    EXPECT_FALSE(h.ok());
    b = rawSafetensors("{} trailing");
    h = parseSafetensors(b.data(), b.size(), "m");
    ASSERT_FALSE(h.ok());
    EXPECT_NE(h.error().find("invalid JSON"), std::string::npos);
    // Exactly at the cap is still only a length check away from the file size.
    b = rawSafetensors("{}");
    const std::uint64_t cap = kMaxSafetensorsHeaderBytes;
    for (int i = 0; i < 8; ++i)
        b[std::size_t(i)] = static_cast<unsigned char>(cap >> (8 * i));
    h = parseSafetensors(b.data(), b.size(), "m");
    ASSERT_FALSE(h.ok());
    EXPECT_NE(h.error().find("past the end"), std::string::npos) << h.error();
}

TEST(Safetensors, ShapeHelpers) {
    std::uint64_t n = 0;
    EXPECT_TRUE(shapeElements({}, &n));
    EXPECT_EQ(n, 1u);
    EXPECT_TRUE(shapeElements({131072, 32, 128}, &n));
    EXPECT_EQ(n, std::uint64_t(1) << 29);
    EXPECT_TRUE(shapeElements({0, std::int64_t(1) << 62, 5}, &n));
    EXPECT_EQ(n, 0u);
    EXPECT_FALSE(shapeElements({std::int64_t(1) << 40, std::int64_t(1) << 40}, &n));
    EXPECT_FALSE(shapeElements({-1}, &n));
    EXPECT_EQ(shapeText({8, 512, 8}), "[8, 512, 8]");
    EXPECT_EQ(safetensorsDtypeSize("BF16"), 2u);
    EXPECT_EQ(safetensorsDtypeSize("X"), 0u);
}
