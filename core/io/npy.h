// Parser for numpy's .npy header: magic, version, header length, and the Python-literal dict with 'descr',
// 'fortran_order' and 'shape'. Works on bytes in memory and never reads array data.
#pragma once

#include "core/io/dtype.h"
#include "core/status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tsa {

// npy headers are a few hundred bytes; v2/v3 allow 4-byte lengths, capped here before any allocation.
constexpr std::uint64_t kMaxNpyHeaderBytes = std::uint64_t(1) << 20;

struct NpyHeader {
    std::string descr;            // e.g. "<f4"
    DType dtype = DType::Unknown; // Unknown for valid descrs TSA does not convert (e.g. "<U12", "|i1")
    char kind = 0;                // numpy kind letter: 'f', 'i', 'u', 'b', 'U', 'S', ...
    std::size_t itemSize = 0;     // bytes per element
    std::vector<std::int64_t> shape;
    std::uint64_t elements = 0;
    std::uint64_t dataOffset = 0; // bytes from the start of the .npy to the array data
    std::uint64_t dataBytes = 0;  // elements x itemSize
};

// Bytes needed to know the full header length (magic + version + length field): call with at least this
// many bytes, then with npyHeaderSpan() bytes.
constexpr std::size_t kNpyPreambleBytes = 12;
// Total header size (preamble + dict) from the first kNpyPreambleBytes bytes; 0 with *error set when the
// preamble is invalid.
std::uint64_t npyHeaderSpan(const unsigned char* data, std::size_t size, const std::string& name,
                            Status* error);

// Parses a .npy header from `size` available bytes; totalSize is the whole .npy size (array data
// included) and must hold exactly dataOffset + dataBytes. `name` (file and member) starts every message.
// fortran_order=True, big-endian multi-byte dtypes and structured dtypes are errors.
Result<NpyHeader> parseNpyHeader(const unsigned char* data, std::size_t size, std::uint64_t totalSize,
                                 const std::string& name);

} // namespace tsa
