// .npz captures (np.savez and np.savez_compressed layouts) and the .npy header parser: round trips
// against safetensors, lazy inflation with CRC checks, metadata, and one test per malformed input.
#include "core/io/capture.h"
#include "core/io/npy.h"
#include "core/io/npz.h"
#include "test_capture_helpers.h"

#include <gtest/gtest.h>

using namespace tsa;
using namespace tsa::test;

namespace {

std::vector<std::int64_t> qkvShape(int t, QkvShape s) {
    return {t == 0 ? s.qHeads : s.kvHeads, s.tokens, s.dim};
}

Bytes npyOf(const std::vector<float>& v, const std::vector<std::int64_t>& shape) {
    return makeNpy("<f4", shape, v.data(), v.size() * 4);
}

std::vector<float> qkvData(int layer, int t, QkvShape s) {
    std::vector<float> v;
    const auto shape = qkvShape(t, s);
    for (std::int64_t h = 0; h < shape[0]; ++h)
        for (std::int64_t l = 0; l < s.tokens; ++l)
            for (std::int64_t d = 0; d < s.dim; ++d)
                v.push_back(qkvValue(layer, t, h, l, d));
    return v;
}

std::vector<NpzEntry> qkvEntries(const std::vector<int>& ids, QkvShape s, bool withTokens = true) {
    std::vector<NpzEntry> e;
    for (int id : ids)
        for (int t = 0; t < 3; ++t)
            e.push_back(
                {"layers." + std::to_string(id) + "." + "qkv"[t], npyOf(qkvData(id, t, s), qkvShape(t, s))});
    if (withTokens) {
        // numpy's default integer is int64: accepted and narrowed.
        std::vector<std::int64_t> tok(std::size_t(s.tokens));
        for (std::size_t i = 0; i < tok.size(); ++i)
            tok[i] = std::int64_t(i) * 2;
        e.push_back({"tokens", makeNpy("<i8", {s.tokens}, tok.data(), tok.size() * 8)});
    }
    return e;
}

// A 0-d numpy unicode array holding text, as np.savez(..., __metadata__=json.dumps(...)) writes it.
Bytes unicodeScalar(const std::string& ascii) {
    std::vector<std::uint32_t> u(ascii.begin(), ascii.end());
    return makeNpy("<U" + std::to_string(u.size()), {}, u.data(), u.size() * 4);
}

void expectSameAsWritten(const std::string& path, const std::vector<int>& ids, QkvShape s) {
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    const auto& info = (*cap)->info();
    EXPECT_EQ(info.layerIds, ids);
    EXPECT_EQ(info.qHeads, s.qHeads);
    EXPECT_EQ(info.kvHeads, s.kvHeads);
    EXPECT_EQ(info.tokens, s.tokens);
    EXPECT_EQ(info.headDim, s.dim);
    EXPECT_EQ(info.dtype, DType::F32);
    EXPECT_TRUE(info.hasTokenIds);
    ASSERT_EQ((*cap)->tokenIds().size(), std::size_t(s.tokens));
    EXPECT_EQ((*cap)->tokenIds()[7], 14);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        auto layer = (*cap)->layer(int(i));
        ASSERT_TRUE(layer.ok()) << layer.error();
        EXPECT_EQ(std::vector<float>((*layer)->q.data.begin(), (*layer)->q.data.end()),
                  qkvData(ids[i], 0, s));
        EXPECT_EQ(std::vector<float>((*layer)->k.data.begin(), (*layer)->k.data.end()),
                  qkvData(ids[i], 1, s));
        EXPECT_EQ(std::vector<float>((*layer)->v.data.begin(), (*layer)->v.data.end()),
                  qkvData(ids[i], 2, s));
    }
}

} // namespace

TEST(Npz, StoredArchiveRoundTrip) {
    TempDir dir;
    const std::string path = dir.file("stored.npz");
    QkvShape s{4, 2, 32, 8};
    ASSERT_TRUE(writeNpz(path, qkvEntries({0, 1, 2}, s), false).ok());
    expectSameAsWritten(path, {0, 1, 2}, s);
    const Bytes b = readFile(path);
    auto archive = parseNpz(b.data(), b.size(), path);
    ASSERT_TRUE(archive.ok()) << archive.error();
    EXPECT_FALSE(archive->find("layers.0.q")->compressed);
}

TEST(Npz, CompressedArchiveRoundTrip) {
    TempDir dir;
    const std::string path = dir.file("compressed.npz");
    QkvShape s{8, 4, 300, 16}; // members larger than one chunk of the inflater
    ASSERT_TRUE(writeNpz(path, qkvEntries({0, 3}, s), true).ok());
    const Bytes b = readFile(path);
    auto archive = parseNpz(b.data(), b.size(), path);
    ASSERT_TRUE(archive.ok()) << archive.error();
    const NpzMember* q = archive->find("layers.3.q");
    ASSERT_NE(q, nullptr);
    EXPECT_TRUE(q->compressed);
    EXPECT_LT(q->compressedSize, q->uncompressedSize);
    EXPECT_EQ(q->npy.shape, (std::vector<std::int64_t>{8, 300, 16}));
    expectSameAsWritten(path, {0, 3}, s);
}

TEST(Npz, SingleLayerAndMetadataMemberWithLhdLayout) {
    TempDir dir;
    const std::string path = dir.file("lhd.npz");
    const std::int64_t L = 4, H = 2, D = 3;
    std::vector<float> lhd;
    for (std::int64_t l = 0; l < L; ++l)
        for (std::int64_t h = 0; h < H; ++h)
            for (std::int64_t d = 0; d < D; ++d)
                lhd.push_back(float(100 * h + 10 * l + d));
    ASSERT_TRUE(writeNpz(path,
                         {{"q", npyOf(lhd, {1, L, H, D})},
                          {"k", npyOf(lhd, {L, H, D})},
                          {"v", npyOf(lhd, {L, H, D})},
                          {"__metadata__",
                           unicodeScalar(R"({"layout": "LHD", "model": "np-model", "num_layers": 2})")}},
                         true)
                    .ok());
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_EQ((*cap)->info().layout, "LHD");
    EXPECT_EQ((*cap)->info().model, "np-model");
    EXPECT_EQ((*cap)->info().modelLayers, 2);
    EXPECT_EQ((*cap)->info().qHeads, H);
    auto layer = (*cap)->layer(0);
    ASSERT_TRUE(layer.ok()) << layer.error();
    EXPECT_EQ((*layer)->q.row(1, 3)[2], 132.0f);
    EXPECT_EQ((*layer)->v.row(0, 2)[1], 21.0f);
}

TEST(Npz, CompressedDataIsInflatedLazilyAndCrcChecked) {
    TempDir dir;
    const std::string path = dir.file("lazy.npz");
    QkvShape s{4, 2, 256, 16};
    ASSERT_TRUE(writeNpz(path, qkvEntries({0, 1}, s, false), true).ok());
    Bytes b = readFile(path);
    auto archive = parseNpz(b.data(), b.size(), path);
    ASSERT_TRUE(archive.ok());
    // Corrupt the tail of layer 1's q stream: the .npy header at its start still inflates, so the file
    // opens (nothing beyond headers is inflated at open) and the damage shows when the layer is used.
    const NpzMember* q1 = archive->find("layers.1.q");
    const std::uint64_t at = q1->dataStart + q1->compressedSize - 8;
    b[std::size_t(at)] ^= 0x55;
    b[std::size_t(at + 1)] ^= 0x55;
    writeFile(path, b);
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    EXPECT_TRUE((*cap)->layer(0).ok());
    auto bad = (*cap)->layer(1);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().find(path), std::string::npos);
    EXPECT_NE(bad.error().find("layers.1.q.npy"), std::string::npos) << bad.error();
}

TEST(Npz, SameDataAsSafetensors) {
    TempDir dir;
    QkvShape s{4, 2, 16, 8};
    ASSERT_TRUE(writeQkvCapture(dir.file("a.safetensors"), {0, 1}, s, DType::F32).ok());
    ASSERT_TRUE(writeNpz(dir.file("a.npz"), qkvEntries({0, 1}, s), true).ok());
    auto a = Capture::open(dir.file("a.safetensors"));
    auto b = Capture::open(dir.file("a.npz"));
    ASSERT_TRUE(a.ok() && b.ok());
    for (int i = 0; i < 2; ++i)
        EXPECT_EQ((*(*a)->layer(i))->k.data, (*(*b)->layer(i))->k.data);
}

TEST(NpyHeader, ParsesNumpyHeaders) {
    const float x[6] = {1, 2, 3, 4, 5, 6};
    const Bytes b = makeNpy("<f4", {2, 3}, x, sizeof x);
    EXPECT_EQ(b.size(), 128u + 24u) << "data starts 64-byte aligned like numpy's";
    auto h = parseNpyHeader(b.data(), b.size(), b.size(), "x.npy");
    ASSERT_TRUE(h.ok()) << h.error();
    EXPECT_EQ(h->dtype, DType::F32);
    EXPECT_EQ(h->shape, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(h->dataOffset, 128u);
    EXPECT_EQ(h->dataBytes, 24u);
    // Literal header as numpy 1.x writes it, with a 1-tuple shape and double quotes.
    std::string dict = "{\"descr\": \"<f2\", \"fortran_order\": False, \"shape\": (3,), }";
    dict.append(128 - 10 - dict.size() - 1, ' ');
    dict += '\n';
    Bytes v = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<unsigned char>(dict.size()), 0};
    v.insert(v.end(), dict.begin(), dict.end());
    v.resize(v.size() + 6);
    h = parseNpyHeader(v.data(), v.size(), v.size(), "y.npy");
    ASSERT_TRUE(h.ok()) << h.error();
    EXPECT_EQ(h->dtype, DType::F16);
    EXPECT_EQ(h->shape, std::vector<std::int64_t>{3});
    // A scalar: shape ().
    const std::int32_t one = 1;
    const Bytes sc = makeNpy("<i4", {}, &one, 4);
    h = parseNpyHeader(sc.data(), sc.size(), sc.size(), "s.npy");
    ASSERT_TRUE(h.ok()) << h.error();
    EXPECT_TRUE(h->shape.empty());
    EXPECT_EQ(h->elements, 1u);
}

namespace {

Bytes npyWithDict(const std::string& dict, std::size_t dataBytes, unsigned char major = 1) {
    Bytes v = {0x93, 'N', 'U', 'M', 'P', 'Y', major, 0};
    if (major == 1) {
        v.push_back(static_cast<unsigned char>(dict.size() & 0xFF));
        v.push_back(static_cast<unsigned char>(dict.size() >> 8));
    } else {
        for (int i = 0; i < 4; ++i)
            v.push_back(static_cast<unsigned char>(dict.size() >> (8 * i)));
    }
    v.insert(v.end(), dict.begin(), dict.end());
    v.resize(v.size() + dataBytes);
    return v;
}

} // namespace

TEST(NpyHeader, MalformedHeadersAreErrors) {
    struct Case {
        const char* label;
        Bytes bytes;
        const char* word;
    };
    const std::vector<Case> cases = {
        {"empty", {}, "empty"},
        {"bad_magic", Bytes{'N', 'U', 'M', 'P', 'Y', 0, 1, 0, 0, 0, 0, 0}, "bad magic"},
        {"short", Bytes{0x93, 'N', 'U'}, "truncated"},
        {"version", npyWithDict("{}", 0, 9), "version 9"},
        {"header_past_end", Bytes{0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xFF, 0x00, '{', '}'}, "past the end"},
        {"huge_v2_header", npyWithDict("{}", 0, 2).size() ? [] {
             Bytes b = npyWithDict("{}", 0, 2);
             b[11] = 0x7F;
             return b;
         }() : Bytes{}, "limit"},
        {"fortran", npyWithDict("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16), "fortran_order"},
        {"big_endian", npyWithDict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8), "big-endian"},
        {"structured", npyWithDict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8), "structured"},
        {"datetime", npyWithDict("{'descr': '<M8[ns]', 'fortran_order': False, 'shape': (2,), }", 16), "unsupported dtype"},
        {"truncated_data", npyWithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", 60), "truncated"},
        {"extra_data", npyWithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", 20), "mismatch"},
        {"overflow", npyWithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }", 4), "overflow"},
        {"negative", npyWithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (-4,), }", 0), "non-negative"},
        {"missing_key", npyWithDict("{'descr': '<f4', 'shape': (4,), }", 16), "needs"},
        {"unterminated", npyWithDict("{'descr': '<f4", 16), "unterminated"},
        {"garbage", npyWithDict("{'descr': <f4}", 16), "unexpected character"},
        {"deep", npyWithDict(std::string(40, '(') + std::string(40, ')'), 0), "nested"},
        {"not_dict", npyWithDict("(1, 2)", 0), "not a dict"},
    };
    for (const Case& c : cases) {
        auto h = parseNpyHeader(c.bytes.data(), c.bytes.size(), c.bytes.size(),
                                std::string("f.npz: member '") + c.label + "'");
        ASSERT_FALSE(h.ok()) << c.label;
        EXPECT_NE(h.error().find(c.label), std::string::npos) << h.error();
        EXPECT_NE(h.error().find(c.word), std::string::npos) << c.label << ": " << h.error();
    }
}

TEST(Npz, MalformedArchivesAreErrors) {
    TempDir dir;
    QkvShape s{2, 1, 4, 2};
    const std::string goodPath = dir.file("good.npz");
    ASSERT_TRUE(writeNpz(goodPath, qkvEntries({0}, s), false).ok());
    const Bytes good = readFile(goodPath);
    auto archive = parseNpz(good.data(), good.size(), goodPath);
    ASSERT_TRUE(archive.ok());

    auto expectError = [&](const char* label, const Bytes& b, const std::string& word) {
        SCOPED_TRACE(label);
        const std::string path = dir.file(std::string(label) + ".npz");
        writeFile(path, b);
        auto cap = Capture::open(path);
        ASSERT_FALSE(cap.ok());
        EXPECT_EQ(cap.error().rfind(path, 0), 0u) << cap.error();
        EXPECT_NE(cap.error().find(word), std::string::npos) << cap.error();
    };
    // Truncated: the end-of-central-directory record is gone.
    expectError("truncated", Bytes(good.begin(), good.begin() + std::ptrdiff_t(good.size() / 2)),
                "truncated");
    // Truncated zip magic only.
    expectError("zip_magic_only", Bytes{'P', 'K', 3, 4}, "truncated");
    // The .npy inside a stored member disagrees with its data length.
    {
        Bytes b = good;
        const NpzMember* q = archive->find("layers.0.q");
        // Shape (2, 4, 2) -> (2, 4, 3): same header length, more data than the member holds.
        const std::size_t at = std::size_t(q->dataStart);
        std::string head(reinterpret_cast<const char*>(b.data() + at), 128);
        const auto pos = head.find("(2, 4, 2)");
        ASSERT_NE(pos, std::string::npos);
        b[at + pos + 7] = '3';
        expectError("npy_truncated", b, "layers.0.q.npy");
    }
    // Encrypted flag in the central directory.
    {
        Bytes b = good;
        std::size_t cd = 0;
        for (std::size_t i = 0; i + 4 <= b.size(); ++i)
            if (b[i] == 'P' && b[i + 1] == 'K' && b[i + 2] == 1 && b[i + 3] == 2) {
                cd = i;
                break;
            }
        ASSERT_NE(cd, 0u);
        Bytes enc = b;
        enc[cd + 8] |= 1;
        expectError("encrypted", enc, "encrypted");
        Bytes method = b;
        method[cd + 10] = 14; // LZMA
        expectError("method", method, "compression method 14");
        Bytes offset = b;
        offset[cd + 42] = 0xFF, offset[cd + 43] = 0xFF, offset[cd + 44] = 0xFF, offset[cd + 45] = 0x7F;
        expectError("local_offset", offset, "out of range");
        Bytes size = b;
        size[cd + 20] = 0xFF, size[cd + 21] = 0xFF, size[cd + 22] = 0xFF, size[cd + 23] = 0x0F;
        expectError("member_size", size, "past the end");
    }
    // Duplicate array names.
    {
        const std::string path = dir.file("dup_src.npz");
        auto entries = qkvEntries({0}, s);
        ASSERT_TRUE(writeNpz(path, entries, false).ok());
        Bytes b = readFile(path);
        // Rename every "tokens.npy" to "layers.0.q.npy"-length-preserving is not possible; instead rename
        // layers.0.k.npy to layers.0.q.npy in both local and central headers.
        for (std::size_t i = 0; i + 14 <= b.size(); ++i)
            if (std::memcmp(b.data() + i, "layers.0.k.npy", 14) == 0) b[i + 9] = 'q';
        expectError("duplicate", b, "appears twice");
    }
    // A member that claims far more than deflate can produce.
    {
        const std::string path = dir.file("bomb_src.npz");
        ASSERT_TRUE(writeNpz(path, qkvEntries({0}, s), true).ok());
        Bytes b = readFile(path);
        std::size_t cd = 0;
        for (std::size_t i = 0; i + 4 <= b.size(); ++i)
            if (b[i] == 'P' && b[i + 1] == 'K' && b[i + 2] == 1 && b[i + 3] == 2) {
                cd = i;
                break;
            }
        b[cd + 24] = 0xFF, b[cd + 25] = 0xFF, b[cd + 26] = 0xFF, b[cd + 27] = 0x7F; // uncompressed 2 GB
        expectError("bomb", b, "beyond what deflate");
    }
}

TEST(Npz, NonNpyMembersAreIgnoredWithAWarning) {
    TempDir dir;
    const std::string path = dir.file("extra.npz");
    auto entries = qkvEntries({0}, {2, 1, 4, 2});
    entries.push_back({"README.txt", Bytes{'h', 'i'}, true});
    ASSERT_TRUE(writeNpz(path, entries, true).ok());
    auto cap = Capture::open(path);
    ASSERT_TRUE(cap.ok()) << cap.error();
    ASSERT_EQ(cap.warnings.size(), 1u);
    EXPECT_NE(cap.warnings[0].find("README.txt"), std::string::npos);
    // A member named .npy that is not one is an error naming it.
    entries.back() = {"notes", Bytes{'h', 'i'}};
    ASSERT_TRUE(writeNpz(path, entries, false).ok());
    auto bad = Capture::open(path);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().find("notes.npy"), std::string::npos) << bad.error();
}
