// Element types of capture files and conversions to and from fp32 (round-to-nearest-even for BF16/F16).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tsa {

enum class DType { F32, F16, BF16, F64, I32, I64, U8, Bool, Unknown };

const char* dtypeName(DType t);            // safetensors spelling: "F32", "BF16", ...
DType dtypeFromName(const std::string& s); // Unknown when not recognised
std::size_t dtypeSize(DType t);            // bytes per element, 0 for Unknown

float bf16ToFloat(std::uint16_t v);
std::uint16_t floatToBf16(float f);
float f16ToFloat(std::uint16_t v);
std::uint16_t floatToF16(float f);

// Converts n elements of src (of type t, little endian) to fp32. Returns false for non-float types.
bool convertToFloat(const void* src, DType t, std::size_t n, float* dst);
// Converts n fp32 values to dtype t (F32, F16 or BF16) into dst.
bool convertFromFloat(const float* src, std::size_t n, DType t, void* dst);

} // namespace tsa
