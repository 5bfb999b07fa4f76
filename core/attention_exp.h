// Vectorised row primitives for the attention kernels' online softmax: row maximum and
// p = 2^(x - m) in place with the row sum. Inline so they fuse into the kernel's row loop.
// exp2 is a range reduction 2^x = 2^n * 2^f (n = round(x), |f| <= 0.5) and a degree-6 polynomial for
// 2^f; relative error about 2 ulp over the range that matters (x in [-126, 0]), checked in
// test_attention. Arguments below -126 flush to 0 (they are below fp32's normal range anyway).
#pragma once

#include "core/tensor.h"

#include <cmath>
#include <limits>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define TSA_ATTENTION_AVX2 1
#endif

namespace tsa::detail {

// Minimax (relative error) coefficients of 2^f on [-0.5, 0.5], fitted in fp64: 1.6e-8 polynomial error,
// ten times better than the Taylor series of the same degree; fp32 rounding dominates.
inline constexpr float kExp2C1 = 6.9314720286e-1f;
inline constexpr float kExp2C2 = 2.4022647914e-1f;
inline constexpr float kExp2C3 = 5.5503324707e-2f;
inline constexpr float kExp2C4 = 9.6184373585e-3f;
inline constexpr float kExp2C5 = 1.3398874589e-3f;
inline constexpr float kExp2C6 = 1.5353362060e-4f;

inline float exp2Scalar(float x) {
    if (!(x >= -126.0f)) return 0.0f; // also NaN-safe for -inf
    if (x > 127.0f) x = 127.0f;
    const float n = std::nearbyint(x);
    const float f = x - n;
    float p = kExp2C6;
    p = std::fma(p, f, kExp2C5);
    p = std::fma(p, f, kExp2C4);
    p = std::fma(p, f, kExp2C3);
    p = std::fma(p, f, kExp2C2);
    p = std::fma(p, f, kExp2C1);
    p = std::fma(p, f, 1.0f);
    return std::ldexp(p, static_cast<int>(n));
}

#ifdef TSA_ATTENTION_AVX2
inline __m256 exp2Avx2(__m256 x) {
    const __m256 lo = _mm256_set1_ps(-126.0f);
    const __m256 hi = _mm256_set1_ps(127.0f);
    const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
    const __m256 n = _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 f = _mm256_sub_ps(x, n);
    __m256 p = _mm256_set1_ps(kExp2C6);
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C5));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C4));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C3));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C2));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2C1));
    p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
    // 2^n by building the exponent field directly: n in [-126, 127] so n + 127 is a valid biased exponent.
    const __m256i bits =
        _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 r = _mm256_mul_ps(p, _mm256_castsi256_ps(bits));
    return _mm256_andnot_ps(underflow, r);
}

inline float horizontalMax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
    return _mm_cvtss_f32(m);
}

inline float horizontalSum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}
#endif

// Maximum of x[0..n), -inf for n == 0.
inline float rowMax(const float* x, Index n) {
    Index j = 0;
    float m = -std::numeric_limits<float>::infinity();
#ifdef TSA_ATTENTION_AVX2
    if (n >= 16) {
        __m256 a = _mm256_loadu_ps(x);
        __m256 b = _mm256_loadu_ps(x + 8);
        for (j = 16; j + 16 <= n; j += 16) {
            a = _mm256_max_ps(a, _mm256_loadu_ps(x + j));
            b = _mm256_max_ps(b, _mm256_loadu_ps(x + j + 8));
        }
        m = horizontalMax(_mm256_max_ps(a, b));
    }
#endif
    for (; j < n; ++j)
        m = x[j] > m ? x[j] : m;
    return m;
}

// x[j] = 2^(x[j] - m) for j < n, returns the sum of the new values (in float: n is at most a key tile).
inline float exp2SubInPlace(float* x, Index n, float m) {
    Index j = 0;
    float sum = 0.0f;
#ifdef TSA_ATTENTION_AVX2
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
    sum = horizontalSum(_mm256_add_ps(s0, s1));
#endif
    for (; j < n; ++j) {
        x[j] = exp2Scalar(x[j] - m);
        sum += x[j];
    }
    return sum;
}

// Sum of 2^(x[j] - m) for j < n, x unchanged.
inline float exp2SubSum(const float* x, Index n, float m) {
    Index j = 0;
    float sum = 0.0f;
#ifdef TSA_ATTENTION_AVX2
    const __m256 mv = _mm256_set1_ps(m);
    __m256 s0 = _mm256_setzero_ps();
    __m256 s1 = _mm256_setzero_ps();
    for (; j + 16 <= n; j += 16) {
        s0 = _mm256_add_ps(s0, exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv)));
        s1 = _mm256_add_ps(s1, exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j + 8), mv)));
    }
    for (; j + 8 <= n; j += 8)
        s0 = _mm256_add_ps(s0, exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv)));
    sum = horizontalSum(_mm256_add_ps(s0, s1));
#endif
    for (; j < n; ++j)
        sum += exp2Scalar(x[j] - m);
    return sum;
}

// acc[j] += 2^(x[j] - m) for j < n, x unchanged.
inline void exp2SubAccumulate(const float* x, Index n, float m, float* acc) {
    Index j = 0;
#ifdef TSA_ATTENTION_AVX2
    const __m256 mv = _mm256_set1_ps(m);
    for (; j + 8 <= n; j += 8)
        _mm256_storeu_ps(acc + j, _mm256_add_ps(_mm256_loadu_ps(acc + j),
                                                exp2Avx2(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv))));
#endif
    for (; j < n; ++j)
        acc[j] += exp2Scalar(x[j] - m);
}

} // namespace tsa::detail
