// The online-softmax row primitives (core/kernels/attention_exp.h) once per instruction set: portable C++
// written so the compiler vectorises it for the build's baseline (SSE2 on x86-64) and AVX2 + FMA in a target
// region, so a baseline x86-64 build still runs the 8-wide exp2 on the CPUs that have it. Shapes: one row of
// n floats, n at most a key tile. Cost: n compares (rowMax) or n exp2 (the others), about 12 vector ops per 8
// exp2.
#include "core/kernels/attention_exp.h"

#include "core/kernels/simd_target.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>

namespace tsa::detail {

namespace {

// exp2Scalar without library calls (std::nearbyint, std::ldexp, and std::fma, which is a libm call when
// the build's baseline has no FMA), so the loops below vectorise for any baseline (SSE2 on x86-64): round
// to nearest by adding and subtracting 1.5 * 2^23, 2^n by building the exponent field. Same polynomial;
// Horner with separate multiply and add where FMA is not available (within the tested 4e-7 relative error).
inline float exp2Portable(float x) {
    const bool underflow = !(x >= -126.0f); // also -inf and NaN
    x = x < -126.0f ? -126.0f : (x > 127.0f ? 127.0f : x);
    constexpr float kRound = 12582912.0f; // 1.5 * 2^23: x + kRound has no fraction bits left
    const float n = (x + kRound) - kRound;
    const float f = x - n;
#ifdef __FMA__
    float p = std::fma(kExp2C6, f, kExp2C5);
    p = std::fma(p, f, kExp2C4);
    p = std::fma(p, f, kExp2C3);
    p = std::fma(p, f, kExp2C2);
    p = std::fma(p, f, kExp2C1);
    p = std::fma(p, f, 1.0f);
#else
    float p = kExp2C6 * f + kExp2C5;
    p = p * f + kExp2C4;
    p = p * f + kExp2C3;
    p = p * f + kExp2C2;
    p = p * f + kExp2C1;
    p = p * f + 1.0f;
#endif
    const float scale = std::bit_cast<float>((std::int32_t(n) + 127) << 23);
    return underflow ? 0.0f : p * scale;
}

float rowMaxPortable(const float* x, Index n) {
    float m = -std::numeric_limits<float>::infinity();
    for (Index j = 0; j < n; ++j)
        m = x[j] > m ? x[j] : m;
    return m;
}

// The exp2 loops are separate from the sums: a float sum is order-dependent and would keep the compiler
// from vectorising the exp2. Eight partial sums (like the AVX2 lanes) shorten the add dependency chain.
float sumOf(const float* x, Index n) {
    float lanes[8] = {};
    Index j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; ++l)
            lanes[l] += x[j + l];
    float sum = 0.0f;
    for (; j < n; ++j)
        sum += x[j];
    for (float l : lanes)
        sum += l;
    return sum;
}

float exp2SubInPlacePortable(float* x, Index n, float m) {
    for (Index j = 0; j < n; ++j)
        x[j] = exp2Portable(x[j] - m);
    return sumOf(x, n);
}

float exp2SubSumPortable(const float* x, Index n, float m) {
    constexpr Index kChunk = 256; // a key tile at most: stays in L1
    float buffer[kChunk];
    float sum = 0.0f;
    for (Index j0 = 0; j0 < n; j0 += kChunk) {
        const Index len = std::min(kChunk, n - j0);
        for (Index j = 0; j < len; ++j)
            buffer[j] = exp2Portable(x[j0 + j] - m);
        sum += sumOf(buffer, len);
    }
    return sum;
}

void exp2SubAccumulatePortable(const float* x, Index n, float m, float* acc) {
    for (Index j = 0; j < n; ++j)
        acc[j] += exp2Portable(x[j] - m);
}

constexpr RowKernels kPortable{rowMaxPortable, exp2SubInPlacePortable, exp2SubSumPortable,
                               exp2SubAccumulatePortable};

} // namespace

} // namespace tsa::detail

#ifdef TSA_X86_KERNELS
TSA_TARGET_AVX2_BEGIN
#include "core/kernels/attention_exp_avx2.h"

namespace tsa::detail {
namespace {

// Two accumulators of 8 lanes hide the latency of max/add; the scalar loop finishes the last n % 16 (or 8).
float rowMaxAvx2(const float* x, Index n) {
    Index j = 0;
    float m = -std::numeric_limits<float>::infinity();
    if (n >= 16) {
        __m256 a = _mm256_loadu_ps(x);
        __m256 b = _mm256_loadu_ps(x + 8);
        for (j = 16; j + 16 <= n; j += 16) {
            a = _mm256_max_ps(a, _mm256_loadu_ps(x + j));
            b = _mm256_max_ps(b, _mm256_loadu_ps(x + j + 8));
        }
        m = horizontalMax(_mm256_max_ps(a, b));
    }
    for (; j < n; ++j)
        m = x[j] > m ? x[j] : m;
    return m;
}

float exp2SubInPlaceAvx2(float* x, Index n, float m) {
    Index j = 0;
    const __m256 mv = _mm256_set1_ps(m);
    __m256 s0 = _mm256_setzero_ps();
    __m256 s1 = _mm256_setzero_ps();
    for (; j + 16 <= n; j += 16) {
        const __m256 e0 = exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv));
        const __m256 e1 = exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), mv));
        _mm256_storeu_ps(x + j, e0);
        _mm256_storeu_ps(x + j + 8, e1);
        s0 = _mm256_add_ps(s0, e0);
        s1 = _mm256_add_ps(s1, e1);
    }
    for (; j + 8 <= n; j += 8) {
        const __m256 e0 = exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv));
        _mm256_storeu_ps(x + j, e0);
        s0 = _mm256_add_ps(s0, e0);
    }
    float sum = horizontalSum(_mm256_add_ps(s0, s1));
    for (; j < n; ++j) {
        x[j] = exp2Scalar(x[j] - m);
        sum += x[j];
    }
    return sum;
}

float exp2SubSumAvx2(const float* x, Index n, float m) {
    Index j = 0;
    const __m256 mv = _mm256_set1_ps(m);
    __m256 s0 = _mm256_setzero_ps();
    __m256 s1 = _mm256_setzero_ps();
    for (; j + 16 <= n; j += 16) {
        s0 = _mm256_add_ps(s0, exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv)));
        s1 = _mm256_add_ps(s1, exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), mv)));
    }
    for (; j + 8 <= n; j += 8)
        s0 = _mm256_add_ps(s0, exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv)));
    float sum = horizontalSum(_mm256_add_ps(s0, s1));
    for (; j < n; ++j)
        sum += exp2Scalar(x[j] - m);
    return sum;
}

void exp2SubAccumulateAvx2(const float* x, Index n, float m, float* acc) {
    Index j = 0;
    const __m256 mv = _mm256_set1_ps(m);
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(acc + j, _mm256_add_ps(_mm256_loadu_ps(acc + j),
                                                exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv))));
    for (; j < n; ++j)
        acc[j] += exp2Scalar(x[j] - m);
}

} // namespace
} // namespace tsa::detail
TSA_TARGET_END

namespace tsa::detail {
namespace {
constexpr RowKernels kAvx2{rowMaxAvx2, exp2SubInPlaceAvx2, exp2SubSumAvx2, exp2SubAccumulateAvx2};
} // namespace
} // namespace tsa::detail
#endif

namespace tsa::detail {

const RowKernels& rowKernels(Isa isa) {
#ifdef TSA_X86_KERNELS
    if (isa >= Isa::Avx2) return kAvx2;
#else
    (void)isa;
#endif
    return kPortable;
}

} // namespace tsa::detail
