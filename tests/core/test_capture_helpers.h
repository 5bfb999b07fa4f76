// Helpers shared by the capture, safetensors, npz and writer tests: temporary folders, crafted safetensors
// bytes, and captures with known values written through SafetensorsWriter.
#pragma once

#include "core/io/safetensors_writer.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tsa::test {

class TempDir {
public:
    TempDir() {
        std::string templ = (std::filesystem::temp_directory_path() / "tsa-test-XXXXXX").string();
        if (::mkdtemp(templ.data()) == nullptr) std::abort();
        m_path = templ;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    std::string file(const std::string& name) const { return m_path + "/" + name; }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

using Bytes = std::vector<unsigned char>;

inline void writeFile(const std::string& path, const Bytes& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

inline Bytes readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// 8-byte little-endian length + header text + data, exactly as given (no validation, no padding).
inline Bytes rawSafetensors(const std::string& header, const Bytes& data = {}) {
    Bytes out;
    out.reserve(8 + header.size() + data.size());
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<unsigned char>(n >> (8 * i)));
    out.insert(out.end(), header.begin(), header.end());
    out.insert(out.end(), data.begin(), data.end());
    return out;
}

struct RawTensor {
    std::string name;
    std::string dtype; // safetensors spelling
    std::vector<std::int64_t> shape;
    Bytes data;
};

// A well-formed safetensors image of the given tensors (offsets computed in order).
inline Bytes buildSafetensors(const std::vector<RawTensor>& tensors,
                              const nlohmann::json& metadata = nullptr) {
    nlohmann::json h = nlohmann::json::object();
    if (!metadata.is_null()) h["__metadata__"] = metadata;
    Bytes data;
    for (const auto& t : tensors) {
        h[t.name] = {{"dtype", t.dtype},
                     {"shape", t.shape},
                     {"data_offsets", {data.size(), data.size() + t.data.size()}}};
        data.insert(data.end(), t.data.begin(), t.data.end());
    }
    std::string text = h.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    return rawSafetensors(text, data);
}

inline Bytes floatBytes(const std::vector<float>& v) {
    Bytes b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
}

// Deterministic, distinct value of element (h, l, d) of tensor t (0 q, 1 k, 2 v) in layer `layer`,
// exactly representable in BF16 and F16 so every dtype round-trips bit for bit.
inline float qkvValue(int layer, int t, std::int64_t h, std::int64_t l, std::int64_t d) {
    const int code = int((layer * 7 + t * 3 + h * 5 + l * 11 + d * 13) % 61) - 30; // -30..30
    return float(code) * 0.125f;
}

struct QkvShape {
    std::int64_t qHeads = 4, kvHeads = 2, tokens = 16, dim = 8;
};

// Writes layers (model ids `ids`) of q/k/v in `dtype`, plus tokens and drift, through SafetensorsWriter.
inline Status writeQkvCapture(const std::string& path, const std::vector<int>& ids, QkvShape s, DType dtype,
                              std::map<std::string, std::string> metadata = {{"format", "tsa-qkv/1"}},
                              bool withTokens = true, bool withDrift = true) {
    std::vector<TensorSpec> specs;
    if (withTokens) specs.push_back({"tokens", DType::I32, {s.tokens}});
    for (int id : ids) {
        const std::string p = "layers." + std::to_string(id) + ".";
        specs.push_back({p + "q", dtype, {s.qHeads, s.tokens, s.dim}});
        specs.push_back({p + "k", dtype, {s.kvHeads, s.tokens, s.dim}});
        specs.push_back({p + "v", dtype, {s.kvHeads, s.tokens, s.dim}});
        if (withDrift) specs.push_back({p + "drift", DType::F32, {s.tokens}});
    }
    SafetensorsWriter w;
    if (Status st = w.open(path, specs, metadata); !st.ok()) return st;
    if (withTokens) {
        std::vector<std::int32_t> tok(std::size_t(s.tokens));
        for (std::int64_t i = 0; i < s.tokens; ++i)
            tok[std::size_t(i)] = std::int32_t(i * 3 + 1);
        if (Status st = w.writeBytes(tok.data(), tok.size() * 4); !st.ok()) return st;
    }
    for (int id : ids) {
        for (int t = 0; t < 3; ++t) {
            const std::int64_t heads = t == 0 ? s.qHeads : s.kvHeads;
            std::vector<float> row(std::size_t(s.dim));
            for (std::int64_t h = 0; h < heads; ++h)
                for (std::int64_t l = 0; l < s.tokens; ++l) {
                    for (std::int64_t d = 0; d < s.dim; ++d)
                        row[std::size_t(d)] = qkvValue(id, t, h, l, d);
                    if (Status st = w.writeFloats(row.data(), row.size()); !st.ok()) return st;
                }
        }
        if (withDrift) {
            std::vector<float> drift(std::size_t(s.tokens));
            for (std::int64_t l = 0; l < s.tokens; ++l)
                drift[std::size_t(l)] = 0.01f * float(id + 1) + 0.001f * float(l);
            if (Status st = w.writeFloats(drift.data(), drift.size()); !st.ok()) return st;
        }
    }
    return w.commit();
}

} // namespace tsa::test
