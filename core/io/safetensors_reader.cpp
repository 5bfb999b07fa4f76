// safetensors header parser: bounds-checks the length prefix, parses the JSON header and validates every
// tensor entry against the file size, without touching tensor data.
#include "core/io/safetensors_reader.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

namespace tsa {

namespace {

using nlohmann::json;

// Deeper nesting is never legitimate in a safetensors header; refusing it before parsing keeps hostile
// inputs from exhausting the stack anywhere JSON values are walked recursively.
constexpr int kMaxJsonDepth = 64;

bool jsonDepthOk(const char* p, std::size_t n) {
    int depth = 0;
    bool inString = false;
    for (std::size_t i = 0; i < n; ++i) {
        const char c = p[i];
        if (inString) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                inString = false;
        } else if (c == '"') {
            inString = true;
        } else if (c == '{' || c == '[') {
            if (++depth > kMaxJsonDepth) return false;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return true;
}

Status formatError(const std::string& name, const std::string& what) {
    return Status::error(ErrorCode::Format, name + ": " + what);
}

std::string tensorPrefix(const std::string& name, const std::string& tensor) {
    return name + ": tensor '" + tensor + "': ";
}

bool jsonUint(const json& v, std::uint64_t* out) {
    if (v.is_number_unsigned()) {
        *out = v.get<std::uint64_t>();
        return true;
    }
    if (v.is_number_integer() && v.get<std::int64_t>() >= 0) {
        *out = std::uint64_t(v.get<std::int64_t>());
        return true;
    }
    return false;
}

} // namespace

std::size_t safetensorsDtypeSize(const std::string& n) {
    static const std::map<std::string, std::size_t> sizes = {
        {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
        {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
        {"U32", 4},  {"F32", 4}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
    auto it = sizes.find(n);
    return it == sizes.end() ? 0 : it->second;
}

bool shapeElements(const std::vector<std::int64_t>& shape, std::uint64_t* elements) {
    std::uint64_t n = 1;
    for (std::int64_t d : shape) {
        if (d < 0) return false;
        if (d != 0 && n > (std::uint64_t(1) << 62) / std::uint64_t(d)) return false;
        n *= std::uint64_t(d);
    }
    *elements = n;
    return true;
}

std::string shapeText(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) s += ", ";
        s += std::to_string(shape[i]);
    }
    return s + "]";
}

const SafetensorsEntry* SafetensorsHeader::find(const std::string& n) const {
    for (const auto& t : tensors)
        if (t.name == n) return &t;
    return nullptr;
}

Result<SafetensorsHeader> parseSafetensors(const unsigned char* data, std::uint64_t size,
                                           const std::string& name) {
    if (size == 0) return formatError(name, "file is empty (0 bytes); expected a safetensors capture");
    if (size < 8)
        return formatError(name, "truncated: " + std::to_string(size) +
                                     " bytes, shorter than the 8-byte safetensors header length");
    std::uint64_t headerBytes = 0;
    for (int i = 7; i >= 0; --i)
        headerBytes = (headerBytes << 8) | data[i];
    if (headerBytes > kMaxSafetensorsHeaderBytes)
        return formatError(name, "header length " + std::to_string(headerBytes) + " bytes exceeds the " +
                                     std::to_string(kMaxSafetensorsHeaderBytes >> 20) +
                                     " MB limit (not a safetensors file, or corrupt)");
    if (headerBytes > size - 8)
        return formatError(name, "truncated: header length " + std::to_string(headerBytes) +
                                     " bytes runs past the end of the file (" + std::to_string(size) +
                                     " bytes)");
    if (headerBytes < 2)
        return formatError(name, "header length " + std::to_string(headerBytes) +
                                     " is too short for a JSON object");

    SafetensorsHeader header;
    header.headerBytes = headerBytes;
    header.dataStart = 8 + headerBytes;
    const char* text = reinterpret_cast<const char*>(data + 8);
    if (!jsonDepthOk(text, std::size_t(headerBytes)))
        return formatError(name, "invalid JSON header: nested deeper than " + std::to_string(kMaxJsonDepth) +
                                     " levels");
    json root;
    try {
        root = json::parse(text, text + headerBytes);
    } catch (const json::exception& e) {
        return formatError(name, std::string("invalid JSON header: ") + e.what());
    }
    if (!root.is_object()) return formatError(name, "invalid header: the JSON header is not an object");

    const std::uint64_t dataBytes = size - header.dataStart;
    for (auto it = root.begin(); it != root.end(); ++it) {
        const std::string& key = it.key();
        const json& v = it.value();
        if (key == "__metadata__") {
            if (v.is_null()) continue;
            if (!v.is_object()) return formatError(name, "invalid header: __metadata__ is not an object");
            for (auto m = v.begin(); m != v.end(); ++m) {
                // The format says string -> string; numbers and booleans from lenient writers are kept as
                // their JSON text rather than refusing an otherwise good capture.
                if (m.value().is_string())
                    header.metadata[m.key()] = m.value().get<std::string>();
                else if (m.value().is_primitive())
                    header.metadata[m.key()] = m.value().dump();
                else
                    return formatError(name, "invalid header: __metadata__ value '" + m.key() +
                                                 "' is not a string");
            }
            continue;
        }
        const std::string pre = tensorPrefix(name, key);
        if (!v.is_object()) return Status::error(ErrorCode::Format, pre + "header entry is not an object");
        auto dt = v.find("dtype");
        auto sh = v.find("shape");
        auto off = v.find("data_offsets");
        if (dt == v.end() || !dt->is_string())
            return Status::error(ErrorCode::Format, pre + "missing or non-string 'dtype'");
        if (sh == v.end() || !sh->is_array())
            return Status::error(ErrorCode::Format, pre + "missing or non-array 'shape'");
        if (off == v.end() || !off->is_array() || off->size() != 2)
            return Status::error(ErrorCode::Format, pre + "'data_offsets' must be an array [begin, end]");

        SafetensorsEntry e;
        e.name = key;
        e.dtypeName = dt->get<std::string>();
        const std::size_t elemSize = safetensorsDtypeSize(e.dtypeName);
        if (elemSize == 0)
            return Status::error(ErrorCode::Unsupported, pre + "unsupported dtype '" + e.dtypeName + "'");
        e.dtype = dtypeFromName(e.dtypeName);
        if (sh->size() > 16)
            return Status::error(ErrorCode::Format, pre + "shape has more than 16 dimensions");
        for (const json& d : *sh) {
            std::uint64_t u = 0;
            if (!jsonUint(d, &u) || u > (std::uint64_t(1) << 62))
                return Status::error(ErrorCode::Format, pre + "shape entries must be non-negative integers");
            e.shape.push_back(std::int64_t(u));
        }
        if (!shapeElements(e.shape, &e.elements))
            return Status::error(ErrorCode::Format, pre + "shape " + shapeText(e.shape) +
                                                        " has an element count that overflows");
        std::uint64_t b = 0, en = 0;
        if (!jsonUint((*off)[0], &b) || !jsonUint((*off)[1], &en))
            return Status::error(ErrorCode::Format, pre + "data_offsets must be non-negative integers");
        if (b > en)
            return Status::error(ErrorCode::Format, pre + "data_offsets [" + std::to_string(b) + ", " +
                                                        std::to_string(en) + "] end before they begin");
        if (en > dataBytes)
            return Status::error(ErrorCode::Format,
                                 pre + "data_offsets [" + std::to_string(b) + ", " + std::to_string(en) +
                                     "] out of range: the data section has " + std::to_string(dataBytes) +
                                     " bytes (file truncated?)");
        if (e.elements > ~std::uint64_t(0) / elemSize || e.elements * elemSize != en - b)
            return Status::error(ErrorCode::Format, pre + "byte length " + std::to_string(en - b) +
                                                        " does not match shape " + shapeText(e.shape) +
                                                        " of " + e.dtypeName + " (" +
                                                        std::to_string(e.elements) + " x " +
                                                        std::to_string(elemSize) + " bytes)");
        e.begin = header.dataStart + b;
        e.end = header.dataStart + en;
        header.tensors.push_back(std::move(e));
    }

    // Overlap check on a sorted copy: O(n log n), and empty tensors overlap nothing.
    std::vector<const SafetensorsEntry*> sorted;
    for (const auto& t : header.tensors)
        if (t.bytes() > 0) sorted.push_back(&t);
    std::sort(sorted.begin(), sorted.end(),
              [](const SafetensorsEntry* a, const SafetensorsEntry* b) { return a->begin < b->begin; });
    for (std::size_t i = 1; i < sorted.size(); ++i) {
        if (sorted[i]->begin < sorted[i - 1]->end)
            return Status::error(ErrorCode::Format, name + ": tensors '" + sorted[i - 1]->name + "' and '" +
                                                        sorted[i]->name + "' overlap in the data section");
    }
    return header;
}

} // namespace tsa
