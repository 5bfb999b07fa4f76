#include "core/io/dtype.h"

#include <cmath>
#include <cstring>

namespace tsa {

const char* dtypeName(DType t) {
    switch (t) {
    case DType::F32:
        return "F32";
    case DType::F16:
        return "F16";
    case DType::BF16:
        return "BF16";
    case DType::F64:
        return "F64";
    case DType::I32:
        return "I32";
    case DType::I64:
        return "I64";
    case DType::U8:
        return "U8";
    case DType::Bool:
        return "BOOL";
    case DType::Unknown:
        break;
    }
    return "unknown";
}

DType dtypeFromName(const std::string& s) {
    if (s == "F32") return DType::F32;
    if (s == "F16") return DType::F16;
    if (s == "BF16") return DType::BF16;
    if (s == "F64") return DType::F64;
    if (s == "I32") return DType::I32;
    if (s == "I64") return DType::I64;
    if (s == "U8") return DType::U8;
    if (s == "BOOL") return DType::Bool;
    return DType::Unknown;
}

std::size_t dtypeSize(DType t) {
    switch (t) {
    case DType::F32:
    case DType::I32:
        return 4;
    case DType::F16:
    case DType::BF16:
        return 2;
    case DType::F64:
    case DType::I64:
        return 8;
    case DType::U8:
    case DType::Bool:
        return 1;
    case DType::Unknown:
        break;
    }
    return 0;
}

float bf16ToFloat(std::uint16_t v) {
    std::uint32_t bits = std::uint32_t(v) << 16;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

std::uint16_t floatToBf16(float f) {
    std::uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if (std::isnan(f)) return std::uint16_t((bits >> 16) | 0x40); // keep it a quiet NaN
    bits += 0x7FFF + ((bits >> 16) & 1);                          // round to nearest even
    return std::uint16_t(bits >> 16);
}

float f16ToFloat(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t(h & 0x8000) << 16;
    std::uint32_t exp = (h >> 10) & 0x1F;
    std::uint32_t mant = h & 0x3FF;
    std::uint32_t bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { // subnormal: normalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400) == 0) {
                mant <<= 1;
                --exp;
            }
            mant &= 0x3FF;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

std::uint16_t floatToF16(float f) {
    std::uint32_t x;
    std::memcpy(&x, &f, 4);
    const std::uint16_t sign = std::uint16_t((x >> 16) & 0x8000);
    const std::uint32_t absx = x & 0x7FFFFFFFu;
    if (absx >= 0x7F800000u) return std::uint16_t(sign | 0x7C00 | (absx > 0x7F800000u ? 0x200 : 0));
    if (absx >= 0x477FF000u) return std::uint16_t(sign | 0x7C00); // rounds past the largest half
    if (absx < 0x38800000u) {                                     // subnormal half or zero
        if (absx < 0x33000000u) return sign;
        const std::uint32_t e = absx >> 23;
        const std::uint32_t m = (absx & 0x7FFFFF) | 0x800000;
        // value = m * 2^(e-150); the half subnormal unit is 2^-24.
        const int rshift = int(150 - 24) - int(e); // bits to drop from m
        std::uint32_t q = m >> rshift;
        const std::uint32_t rem = m & ((1u << rshift) - 1);
        const std::uint32_t halfway = 1u << (rshift - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) ++q;
        return std::uint16_t(sign | q);
    }
    std::uint32_t r = absx + 0xC8000000u; // rebias exponent: (127-15) << 23 subtracted
    r += 0xFFF + ((r >> 13) & 1);
    return std::uint16_t(sign | (r >> 13));
}

bool convertToFloat(const void* src, DType t, std::size_t n, float* dst) {
    const auto* bytes = static_cast<const unsigned char*>(src);
    switch (t) {
    case DType::F32:
        std::memcpy(dst, src, n * 4);
        return true;
    case DType::BF16:
        for (std::size_t i = 0; i < n; ++i) {
            std::uint16_t v;
            std::memcpy(&v, bytes + 2 * i, 2);
            dst[i] = bf16ToFloat(v);
        }
        return true;
    case DType::F16:
        for (std::size_t i = 0; i < n; ++i) {
            std::uint16_t v;
            std::memcpy(&v, bytes + 2 * i, 2);
            dst[i] = f16ToFloat(v);
        }
        return true;
    case DType::F64:
        for (std::size_t i = 0; i < n; ++i) {
            double v;
            std::memcpy(&v, bytes + 8 * i, 8);
            dst[i] = float(v);
        }
        return true;
    default:
        return false;
    }
}

bool convertFromFloat(const float* src, std::size_t n, DType t, void* dst) {
    auto* bytes = static_cast<unsigned char*>(dst);
    switch (t) {
    case DType::F32:
        std::memcpy(dst, src, n * 4);
        return true;
    case DType::BF16:
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint16_t v = floatToBf16(src[i]);
            std::memcpy(bytes + 2 * i, &v, 2);
        }
        return true;
    case DType::F16:
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint16_t v = floatToF16(src[i]);
            std::memcpy(bytes + 2 * i, &v, 2);
        }
        return true;
    default:
        return false;
    }
}

} // namespace tsa
