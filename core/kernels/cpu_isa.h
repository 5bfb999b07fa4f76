// Which hand-written SIMD kernels run: chosen once at run time from CPUID, so one binary (a Debian package
// built without -march=native) uses AVX-512 where the CPU has it, AVX2 + FMA where it has that, and plain
// C++ elsewhere. TSA_ISA=portable|avx2|avx512 forces a path (tests run every path; a forced path the CPU
// lacks falls back to the best one it has, with a warning, never an illegal instruction).
// The kernels with ISA variants: the online-softmax row primitives (core/kernels/attention_exp.h) used by
// causalAttention and the scoring step, and the AVX-512 window micro-kernel
// (core/kernels/attention_window.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tsa {

enum class Isa { Portable = 0, Avx2 = 1, Avx512 = 2 }; // ordered: each level includes the ones below

const char* isaName(Isa isa); // "portable", "avx2", "avx512"
std::optional<Isa> parseIsa(std::string_view name);

// The best level this CPU (and OS: AVX state saved on context switches) supports; Portable off x86.
Isa supportedIsa();
// Every level this CPU can run, lowest first (for tests and benchmarks).
std::vector<Isa> availableIsas();

// The level the kernels use: TSA_ISA if set and supported, else supportedIsa(). Read on first use.
Isa activeIsa();
// Overrides the active level (tests, benchmarks); a level above supportedIsa() is clamped to it.
// Returns the level now active. Not for use while kernels run on other threads.
Isa setActiveIsa(Isa isa);
// Why the active level is what it is, e.g. "avx2 (TSA_ISA=avx2)" or "avx512 (CPU)"; for reports.
std::string activeIsaDescription();

} // namespace tsa
