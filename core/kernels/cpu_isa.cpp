// Runtime choice of the SIMD kernels: CPUID through the compiler's __builtin_cpu_supports (which also checks
// that the OS saves the AVX / AVX-512 register state), overridden by TSA_ISA. No cost after the first call:
// the level is an atomic read.
#include "core/kernels/cpu_isa.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace tsa {

namespace {

std::atomic<int> g_active{-1};
std::string g_reason; // written once under the call_once below, or by setActiveIsa
std::once_flag g_once;

void resolveFromEnvironment() {
    const Isa best = supportedIsa();
    Isa chosen = best;
    g_reason = "CPU";
    if (const char* env = std::getenv("TSA_ISA"); env && *env) {
        if (const auto wanted = parseIsa(env)) {
            chosen = *wanted <= best ? *wanted : best;
            g_reason = std::string("TSA_ISA=") + env;
            if (*wanted > best) {
                g_reason += ", not supported by this CPU";
                std::fprintf(stderr, "tsa: TSA_ISA=%s is not supported by this CPU; using %s\n", env,
                             isaName(best));
            }
        } else {
            std::fprintf(stderr, "tsa: TSA_ISA=%s is not one of portable, avx2, avx512; using %s\n", env,
                         isaName(best));
            g_reason = std::string("TSA_ISA=") + env + " ignored";
        }
    }
    int expected = -1;
    g_active.compare_exchange_strong(expected, int(chosen));
}

} // namespace

const char* isaName(Isa isa) {
    switch (isa) {
    case Isa::Portable:
        return "portable";
    case Isa::Avx2:
        return "avx2";
    case Isa::Avx512:
        return "avx512";
    }
    return "?";
}

std::optional<Isa> parseIsa(std::string_view name) {
    for (Isa isa : {Isa::Portable, Isa::Avx2, Isa::Avx512})
        if (name == isaName(isa)) return isa;
    return std::nullopt;
}

Isa supportedIsa() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (avx2 && __builtin_cpu_supports("avx512f")) return Isa::Avx512;
    if (avx2) return Isa::Avx2;
#endif
    return Isa::Portable;
}

std::vector<Isa> availableIsas() {
    std::vector<Isa> out;
    for (int i = 0; i <= int(supportedIsa()); ++i)
        out.push_back(Isa(i));
    return out;
}

Isa activeIsa() {
    const int level = g_active.load(std::memory_order_relaxed);
    if (level >= 0) return Isa(level);
    std::call_once(g_once, resolveFromEnvironment);
    return Isa(g_active.load());
}

Isa setActiveIsa(Isa isa) {
    std::call_once(g_once, resolveFromEnvironment);
    const Isa best = supportedIsa();
    const Isa chosen = isa <= best ? isa : best;
    g_active.store(int(chosen));
    g_reason = "set by the program";
    return chosen;
}

std::string activeIsaDescription() {
    const Isa isa = activeIsa();
    return std::string(isaName(isa)) + " (" + g_reason + ")";
}

} // namespace tsa
