// Parser for the safetensors container: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and [begin, end) byte range in the data section, then the data. Works on bytes in
// memory (a mapped file or a fuzzer's buffer) and never reads tensor data.
#pragma once

#include "core/io/dtype.h"
#include "core/status.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tsa {

// Headers larger than this are refused before any allocation: a real header is a few KB per layer.
constexpr std::uint64_t kMaxSafetensorsHeaderBytes = std::uint64_t(100) << 20;

struct SafetensorsEntry {
    std::string name;
    std::string dtypeName;        // as written in the file ("F32", "I8", ...)
    DType dtype = DType::Unknown; // Unknown for valid safetensors dtypes TSA does not convert
    std::vector<std::int64_t> shape;
    std::uint64_t elements = 0;
    std::uint64_t begin = 0; // absolute file offsets (header included), end - begin == bytes
    std::uint64_t end = 0;
    std::uint64_t bytes() const { return end - begin; }
};

struct SafetensorsHeader {
    std::uint64_t headerBytes = 0;         // the JSON length from the first 8 bytes
    std::uint64_t dataStart = 0;           // 8 + headerBytes
    std::vector<SafetensorsEntry> tensors; // sorted by name (JSON object order is not kept)
    std::map<std::string, std::string> metadata;
    const SafetensorsEntry* find(const std::string& name) const;
};

// Validates the header of a safetensors file of fileSize bytes whose first `size` bytes are at `data`
// (size may be the whole file). Checks: header length within the file and below the cap, valid JSON, a
// known dtype, non-negative shape whose element count does not overflow, offsets inside the data section,
// byte length equal to elements x dtype size, no two tensors overlapping. `name` (usually the path) starts
// every message.
Result<SafetensorsHeader> parseSafetensors(const unsigned char* data, std::uint64_t size,
                                           const std::string& name);

// Bytes per element of a safetensors dtype name, 0 when unknown (covers dtypes DType does not have).
std::size_t safetensorsDtypeSize(const std::string& dtypeName);

// Product of dims as elements; false on a negative dim or on overflow past 2^62.
bool shapeElements(const std::vector<std::int64_t>& shape, std::uint64_t* elements);
std::string shapeText(const std::vector<std::int64_t>& shape); // "[8, 512, 8]"

} // namespace tsa
