// The online-softmax row primitives (core/attention_exp.h) once per instruction set: portable C++ (the
// compiler vectorises what it can for the build's baseline) and AVX2 + FMA in a target region, so a
// baseline x86-64 build still runs the 8-wide exp2 on the CPUs that have it. Shapes: one row of n floats,
// n at most a key tile. Cost: n compares (rowMax) or n exp2 (the others), about 12 vector ops per 8 exp2.
#include "core/attention_exp.h"

#include "core/simd_target.h"

#include <limits>

namespace tsa::detail {

namespace {

float rowMaxPortable(const float* x, Index n) {
    float m = -std::numeric_limits<float>::infinity();
    for (Index j = 0; j < n; ++j)
        m = x[j] > m ? x[j] : m;
    return m;
}

float exp2SubInPlacePortable(float* x, Index n, float m) {
    float sum = 0.0f;
    for (Index j = 0; j < n; ++j) {
        x[j] = exp2Scalar(x[j] - m);
        sum += x[j];
    }
    return sum;
}

float exp2SubSumPortable(const float* x, Index n, float m) {
    float sum = 0.0f;
    for (Index j = 0; j < n; ++j)
        sum += exp2Scalar(x[j] - m);
    return sum;
}

void exp2SubAccumulatePortable(const float* x, Index n, float m, float* acc) {
    for (Index j = 0; j < n; ++j)
        acc[j] += exp2Scalar(x[j] - m);
}

constexpr RowKernels kPortable{rowMaxPortable, exp2SubInPlacePortable, exp2SubSumPortable,
                               exp2SubAccumulatePortable};

} // namespace

} // namespace tsa::detail

#ifdef TSA_X86_KERNELS
TSA_TARGET_AVX2_BEGIN
#include "core/attention_exp_avx2.h"

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
