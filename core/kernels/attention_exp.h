// Row primitives of the attention kernels' online softmax: row maximum and p = 2^(x - m) with the row sum,
// over one row of a logit tile (length n <= a key tile). One table of them per instruction set
// (core/kernels/cpu_isa.h), filled in core/kernels/attention_exp.cpp: portable C++ and AVX2 + FMA (also used
// on AVX-512 CPUs: the rows are short, 256-bit vectors measured as fast). Kernels fetch the table once per
// call. exp2 is a range reduction 2^x = 2^n * 2^f (n = round(x), |f| <= 0.5) and a degree-6 polynomial for
// 2^f; relative error about 2 ulp over the range that matters (x in [-126, 0]), checked in
// test_attention for every path. Arguments below -126 flush to 0 (below fp32's normal range anyway).
#pragma once

#include "core/kernels/cpu_isa.h"
#include "core/tensor.h"

#include <algorithm>
#include <cmath>

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

struct RowKernels {
    // Maximum of x[0..n), -inf for n == 0.
    float (*rowMax)(const float* x, Index n);
    // x[j] = 2^(x[j] - m) for j < n; returns the sum of the new values (in float: n is at most a key tile).
    float (*exp2SubInPlace)(float* x, Index n, float m);
    // Sum of 2^(x[j] - m) for j < n, x unchanged.
    float (*exp2SubSum)(const float* x, Index n, float m);
    // acc[j] += 2^(x[j] - m) for j < n, x unchanged.
    void (*exp2SubAccumulate)(const float* x, Index n, float m, float* acc);
};

// One row of the online softmax (FlashAttention-2's rescaling) for one logit tile row sr[0..cols) whose keys
// [0, valid) are visible: sr becomes p = 2^(s - mNew) with the masked tail zeroed (so the P V product can
// take the whole tile), and the running maximum m, sum l and output row o[0..D) are rescaled when the
// maximum grows. On the first visited tile m = -inf: the factor is 0 and o and l are still 0.
// Shared by the dense and the block-sparse kernels, so both round alike (full blocks are bit-identical).
// The running sum l is kept in double: rows are up to 128K keys long.
inline void onlineSoftmaxRow(const RowKernels& rk, float* sr, Index valid, Index cols, float* o, Index D,
                             float& m, double& l) {
    const float tileMax = rk.rowMax(sr, valid);
    const float mNew = std::max(m, tileMax);
    const float sum = valid > 0 ? rk.exp2SubInPlace(sr, valid, mNew) : 0.0f;
    std::fill(sr + valid, sr + cols, 0.0f);
    if (mNew > m) {
        const float factor = exp2Scalar(m - mNew);
        if (factor != 1.0f)
            for (Index d = 0; d < D; ++d)
                o[d] *= factor;
        l *= factor;
        m = mNew;
    }
    l += sum;
}

// The table for an instruction set (the caller checked that the CPU has it: see availableIsas()).
const RowKernels& rowKernels(Isa isa);
// The table for activeIsa().
inline const RowKernels& rowKernels() {
    return rowKernels(activeIsa());
}

} // namespace tsa::detail
