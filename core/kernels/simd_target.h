// Regions of a source file compiled for an instruction set that the rest of the build does not assume
// (a package is built for baseline x86-64): functions defined between TSA_TARGET_AVX2_BEGIN (or
// TSA_TARGET_AVX512_BEGIN) and TSA_TARGET_END may use those instructions and must only be called after
// cpu_isa.h says the CPU has them. Include every header before the region: an inline function from a header
// included inside it would be compiled for the wider ISA and could be the copy the linker keeps for all.
// For the same reason, helpers inside a region have internal linkage (static or an anonymous namespace).
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define TSA_X86_KERNELS 1
#if defined(__clang__)
#define TSA_TARGET_AVX2_BEGIN                                                                                \
    _Pragma("clang attribute push(__attribute__((target(\"avx2,fma\"))), apply_to = function)")
#define TSA_TARGET_AVX512_BEGIN                                                                              \
    _Pragma("clang attribute push(__attribute__((target(\"avx512f,avx2,fma\"))), apply_to = function)")
#define TSA_TARGET_END _Pragma("clang attribute pop")
#else
#define TSA_TARGET_AVX2_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define TSA_TARGET_AVX512_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"avx512f,avx2,fma\")")
#define TSA_TARGET_END _Pragma("GCC pop_options")
#endif
#endif
