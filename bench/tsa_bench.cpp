// tsa-bench: dense causal attention and Token Sparse Attention against this machine's sgemm ceiling, all
// measured in one run so the ratios hold even when absolute numbers drift (shared, noisy machines).
//
//   tsa-bench [--quick] [--json FILE] [--tokens 4096,8192] [--heads 8] [--kv-heads 2] [--dim 128]
//             [--fractions 0.9,0.7,0.5,0.3] [--tau 0.005] [--reps N] [--threads N] [--no-tau]
//             [--query-tile N] [--key-tile N]
//             [--memory] [--memory-only] [--memory-tokens 32768] [--memory-heads 32] [--memory-kv-heads 8]
//             [--block-sparse] [--block-sparse-only] [--block-densities 0.5,0.3,0.1] [--methods-tokens 32768]
//
// Per sequence length: dense attention (the fast kernel on the whole layer), scoring (scoreLayer), the tau
// selection (selectTokens), then sparseAttention on synthetic selections keeping a given fraction of the
// tokens (the last W always kept, the rest a deterministic random subset per head), and the full tau
// pipeline (runLayer) on the synthetic generator's default preset (same head shape).
// --memory runs one layer through runLayer in a child process and reports its peak RSS against the
// layer's fp32 Q/K/V size (what `tsa run` on that layer would hold).
// --block-sparse adds, per length, the block-sparse kernel on random tile masks of given densities
// (kind "block", method "random-tiles": density, speedup against the dense kernel, ideal_speedup =
// 1 / density), and at --methods-tokens the methods of core/methods on the generator's default preset,
// alone and composed with TSA, estimation included (method "flexprefill", "tsa+flexprefill", ...).
// --block-sparse-only skips the kept and tau rows.
#include "core/kernels/attention.h"
#include "core/kernels/attention_gemm.h"
#include "core/kernels/attention_window.h"
#include "core/kernels/block_sparse_attention.h"
#include "core/kernels/cpu_isa.h"
#include "core/methods/methods.h"
#include "core/methods/tsa_pipeline.h"
#include "core/methods/tsa_selection.h"
#include "core/synth/generator.h"

#include <algorithm>
#include <cblas.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <omp.h>
#include <spawn.h>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char** environ;

namespace {

using namespace tsa;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;

struct Options {
    bool quick = false;
    std::string json;
    std::vector<Index> tokens{4096, 8192, 16384, 32768};
    Index heads = 8;
    Index kvHeads = 2;
    Index dim = 128;
    std::vector<double> fractions{0.9, 0.7, 0.5, 0.3};
    double tau = 0.005;
    bool runTau = true;
    int reps = 0; // 0: 3 below 16K tokens, 1 from there on
    int threads = 0;
    Index queryTile = 0; // 0: the kernel's automatic choice
    Index keyTile = 0;   // 0: the kernel's default
    bool memory = false;
    bool memoryOnly = false;
    Index memoryTokens = 32768;
    Index memoryHeads = 32;
    Index memoryKvHeads = 8;
    std::string memoryChildOut; // internal: run the memory child and write its report here
    bool blockSparse = false;
    bool blockSparseOnly = false;
    std::vector<double> blockDensities{0.5, 0.3, 0.1};
    Index methodsTokens = 32768; // 0: no method rows
};

[[noreturn]] void usage(const char* message) {
    std::fprintf(stderr, "tsa-bench: %s\n", message);
    std::fprintf(
        stderr,
        "usage: tsa-bench [--quick] [--json FILE] [--tokens L1,L2,...] [--heads N] [--kv-heads N]\n"
        "                 [--dim D] [--fractions f1,f2,...] [--tau T] [--no-tau] [--reps N]\n"
        "                 [--threads N] [--query-tile N] [--key-tile N] [--memory] [--memory-only] "
        "[--memory-tokens L]\n"
        "                 [--memory-heads N] [--memory-kv-heads N] [--block-sparse] [--block-sparse-only]\n"
        "                 [--block-densities d1,d2,...] [--methods-tokens L]\n");
    std::exit(2);
}

template <typename T>
std::vector<T> parseList(const std::string& text) {
    std::vector<T> values;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        values.push_back(static_cast<T>(std::stod(item)));
    }
    return values;
}

Options parseOptions(int argc, char** argv) {
    Options o;
    bool tokensGiven = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value after " + a).c_str());
            return argv[++i];
        };
        try {
            if (a == "--quick")
                o.quick = true;
            else if (a == "--json")
                o.json = next();
            else if (a == "--tokens")
                o.tokens = parseList<Index>(next()), tokensGiven = true;
            else if (a == "--heads")
                o.heads = std::stoll(next());
            else if (a == "--kv-heads")
                o.kvHeads = std::stoll(next());
            else if (a == "--dim")
                o.dim = std::stoll(next());
            else if (a == "--fractions")
                o.fractions = parseList<double>(next());
            else if (a == "--tau")
                o.tau = std::stod(next());
            else if (a == "--block-sparse")
                o.blockSparse = true;
            else if (a == "--block-sparse-only")
                o.blockSparse = o.blockSparseOnly = true;
            else if (a == "--block-densities") {
                o.blockDensities.clear();
                std::stringstream in(next());
                std::string item;
                while (std::getline(in, item, ','))
                    o.blockDensities.push_back(std::stod(item));
            } else if (a == "--methods-tokens")
                o.methodsTokens = std::stoll(next());
            else if (a == "--no-tau")
                o.runTau = false;
            else if (a == "--query-tile") // documented above but was not parsed
                o.queryTile = std::stoll(next());
            else if (a == "--key-tile")
                o.keyTile = std::stoll(next());
            else if (a == "--reps")
                o.reps = std::stoi(next());
            else if (a == "--threads")
                o.threads = std::stoi(next());
            else if (a == "--memory")
                o.memory = true;
            else if (a == "--memory-only")
                o.memory = o.memoryOnly = true;
            else if (a == "--memory-tokens")
                o.memoryTokens = std::stoll(next());
            else if (a == "--memory-heads")
                o.memoryHeads = std::stoll(next());
            else if (a == "--memory-kv-heads")
                o.memoryKvHeads = std::stoll(next());
            else if (a == "--memory-child")
                o.memoryChildOut = next();
            else if (a == "--help" || a == "-h")
                usage("help");
            else
                usage(("unknown option " + a).c_str());
        } catch (const std::exception&) {
            usage(("bad value for " + a).c_str());
        }
    }
    if (o.quick && !tokensGiven) o.tokens = {4096, 8192};
    if (o.quick && o.heads == 8) o.heads = 4, o.kvHeads = std::min<Index>(o.kvHeads, 4);
    if (o.heads <= 0 || o.kvHeads <= 0 || o.heads % o.kvHeads != 0)
        usage("heads must be a multiple of kv heads");
    if (o.dim <= 0) usage("dim must be positive");
    for (Index L : o.tokens)
        if (L <= 0) usage("token counts must be positive");
    return o;
}

double msSince(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Process CPU time (all threads, user + system) in milliseconds.
double cpuMs() {
    struct rusage u {};
    getrusage(RUSAGE_SELF, &u);
    return (double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 +
            double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-3);
}

// Smallest process CPU time of the last bestMs call's repetitions. On a shared machine, work / (CPU time
// / threads) estimates the wall-clock throughput the same code would have alone on its cores (spinning
// and imbalance still count against it); the benchmark reports it next to the wall-clock figures.
double g_lastBestCpuMs = 0.0;

// Best of reps wall-clock milliseconds.
double bestMs(int reps, const std::function<void()>& f) {
    double best = 1e300;
    g_lastBestCpuMs = 1e300;
    for (int r = 0; r < reps; ++r) {
        const double cpuStart = cpuMs();
        const auto start = Clock::now();
        f();
        best = std::min(best, msSince(start));
        g_lastBestCpuMs = std::min(g_lastBestCpuMs, cpuMs() - cpuStart);
    }
    return best;
}

std::string loadAverage() {
    std::ifstream in("/proc/loadavg");
    std::string a, b, c;
    in >> a >> b >> c;
    return a + " " + b + " " + c;
}

std::string cpuModel() {
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown";
}

// OpenBLAS sgemm on all cores, n x n x n, best of several: the machine's practical fp32 ceiling.
// cpuGflops (optional): the same from CPU time per core (see g_lastBestCpuMs).
double sgemmCeilingGflops(double* cpuGflops = nullptr, int n = 2048, int reps = 7) {
    std::vector<float> a(std::size_t(n) * n), b(a.size()), c(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        a[i] = float((i * 7919) % 1000) / 1000.0f - 0.5f;
        b[i] = float((i * 104729) % 1000) / 1000.0f - 0.5f;
    }
    openblas_set_num_threads(omp_get_num_procs());
    auto run = [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                    c.data(), n);
    };
    run(); // warm-up: thread start, page faults
    const double ms = bestMs(reps, run);
    openblas_set_num_threads(1); // what the attention kernels use inside their OpenMP regions
    const double flops = 2.0 * double(n) * n * n;
    if (cpuGflops) *cpuGflops = flops / (g_lastBestCpuMs / omp_get_num_procs() * 1e-3) / 1e9;
    return flops / (ms * 1e-3) / 1e9;
}

// Deterministic uniform [-1, 1) fill, parallel (32K-token layers hold hundreds of MB).
void fillRandom(Tensor3& t, std::uint64_t seed) {
    const Index n = t.size();
#pragma omp parallel for schedule(static)
    for (Index i = 0; i < n; ++i) {
        std::uint64_t z = seed * 0x9e3779b97f4a7c15ull + std::uint64_t(i) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        t.data[i] = float(double(z >> 40) / double(1ull << 23) - 1.0);
    }
}

LayerQkv randomLayer(Index heads, Index kvHeads, Index tokens, Index dim, std::uint64_t seed) {
    LayerQkv qkv;
    qkv.q = Tensor3(heads, tokens, dim);
    qkv.k = Tensor3(kvHeads, tokens, dim);
    qkv.v = Tensor3(kvHeads, tokens, dim);
    fillRandom(qkv.q, seed);
    fillRandom(qkv.k, seed + 1);
    fillRandom(qkv.v, seed + 2);
    return qkv;
}

// The layer the tau rows run on: the synthetic generator's default preset (sample_data/presets/default.json
// over the built-in defaults) at this length and the benchmark's head shape, first sparse layer (N/2).
bool makePresetLayer(const Options& o, Index tokens, Index heads, Index kvHeads, LayerQkv* out,
                     std::string* name) {
    GeneratorConfig base;
    GeneratorConfig config = base;
    const std::string presetPath = std::string(TSA_BENCH_PRESET_DIR) + "/default.json";
    if (auto loaded = loadGeneratorPreset(presetPath, base); loaded.ok()) config = loaded.value();
    config.tokens = tokens;
    config.qHeads = heads;
    config.kvHeads = kvHeads;
    config.headDim = o.dim;
    auto generator = Generator::create(config);
    if (!generator.ok()) {
        std::fprintf(stderr, "tsa-bench: generator: %s\n", generator.error().c_str());
        return false;
    }
    auto layer = generator->layer(config.layers / 2, o.threads);
    if (!layer.ok()) {
        std::fprintf(stderr, "tsa-bench: generator: %s\n", layer.error().c_str());
        return false;
    }
    *out = std::move(layer->qkv);
    *name = "generator preset '" + config.preset + "', layer " + std::to_string(config.layers / 2) + " of " +
            std::to_string(config.layers);
    return true;
}

// A selection keeping `kept` tokens per head: the W window tokens plus a deterministic random subset of
// the prefix per head (sorted), the shape selectTokens produces.
Selection syntheticSelection(Index heads, Index tokens, Index window, Index kept, std::uint64_t seed) {
    Selection s;
    s.sparse = true;
    s.denseReason = DenseReason::None;
    s.qHeads = heads;
    s.tokens = tokens;
    s.window = window;
    s.prefix = tokens - window;
    s.capacity = kept - window;
    s.kept = kept;
    s.indices.resize(std::size_t(heads * kept));
    std::vector<std::int32_t> perm(static_cast<std::size_t>(s.prefix));
    for (Index h = 0; h < heads; ++h) {
        std::iota(perm.begin(), perm.end(), 0);
        std::uint64_t state = seed + 977 * std::uint64_t(h);
        for (Index i = 0; i < s.capacity; ++i) { // partial Fisher-Yates
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            const Index j = i + Index((state >> 33) % std::uint64_t(s.prefix - i));
            std::swap(perm[i], perm[j]);
        }
        std::int32_t* row = s.indices.data() + h * kept;
        std::copy(perm.begin(), perm.begin() + s.capacity, row);
        std::sort(row, row + s.capacity);
        for (Index j = 0; j < window; ++j)
            row[s.capacity + j] = std::int32_t(s.prefix + j);
    }
    return s;
}

struct RunRow {
    std::string kind; // "kept" or "tau"
    Index tokens = 0, heads = 0, kvHeads = 0, dim = 0;
    double keptFraction = 1.0;
    double tau = 0.0;
    double windowMassMs = 0; // windowAttentionMass over all heads (the scoring core, for comparison)
    double denseCpuMs = 0;   // process CPU time / threads of the dense run
    double tsaCpuMs = 0;     // the same for scoring + selection + sparse attention
    double denseMs = 0, tsaMs = 0, attentionMs = 0, scoringMs = 0, selectionMs = 0, gatherMs = 0,
           scatterMs = 0;
    double overheadMs() const { return scoringMs + selectionMs + gatherMs + scatterMs; }
    double speedup() const { return tsaMs > 0 ? denseMs / tsaMs : 0; }
    double idealSpeedup() const { return keptFraction > 0 ? 1.0 / (keptFraction * keptFraction) : 0; }
    double denseFlops() const { return 2.0 * double(heads) * double(tokens) * double(tokens) * dim; }
    double denseGflops() const { return denseFlops() / (denseMs * 1e6); }
    double denseCpuGflops() const { return denseFlops() / (denseCpuMs * 1e6); }
    // tsa_ms against dense_ms / ideal_speedup: 1.0 is perfect, the target is <= 1.11.
    double vsIdeal() const { return denseMs > 0 ? tsaMs / (denseMs / idealSpeedup()) : 0; }
    double vsIdealCpu() const { return denseCpuMs > 0 ? tsaCpuMs / (denseCpuMs / idealSpeedup()) : 0; }
    std::string source;
};

// The sgemm ceiling by wall clock and by CPU time per core, measured in the same run.
struct Ceiling {
    double wall = 0;
    double cpu = 0;
};

Json toJson(const RunRow& r, const Ceiling& sgemm) {
    Json j;
    j["kind"] = r.kind;
    j["source"] = r.source;
    j["tokens"] = r.tokens;
    j["heads"] = r.heads;
    j["kv_heads"] = r.kvHeads;
    j["head_dim"] = r.dim;
    j["kept_fraction"] = r.keptFraction;
    if (r.kind == "tau") j["tau"] = r.tau;
    j["dense_ms"] = r.denseMs;
    j["tsa_ms"] = r.tsaMs;
    j["attention_ms"] = r.attentionMs;
    j["scoring_ms"] = r.scoringMs;
    j["selection_ms"] = r.selectionMs;
    j["gather_ms"] = r.gatherMs;
    j["scatter_ms"] = r.scatterMs;
    j["overhead_ms"] = r.overheadMs();
    j["speedup"] = r.speedup();
    j["ideal_speedup"] = r.idealSpeedup();
    j["tsa_vs_ideal"] = r.vsIdeal();
    j["dense_cpu_ms"] = r.denseCpuMs;
    j["tsa_cpu_ms"] = r.tsaCpuMs;
    j["tsa_vs_ideal_cpu"] = r.vsIdealCpu();
    j["dense_gflops"] = r.denseGflops();
    j["dense_fraction_of_sgemm"] = r.denseGflops() / sgemm.wall;
    j["dense_cpu_gflops"] = r.denseCpuGflops();
    j["dense_cpu_fraction_of_sgemm_cpu"] = r.denseCpuGflops() / sgemm.cpu;
    j["scoring_fraction_of_dense"] = r.scoringMs / r.denseMs;
    if (r.windowMassMs > 0) j["window_mass_ms"] = r.windowMassMs;
    return j;
}

void printHeader() {
    std::printf("%-5s %6s %5s %4s %5s | %9s %9s %9s %8s %8s | %6s %6s %7s %7s | %7s %6s %5s\n", "kind", "L",
                "Hq/kv", "D", "kept", "dense_ms", "tsa_ms", "attn_ms", "score_ms", "ovh_ms", "speedup",
                "ideal", "vsIdeal", "cpuIdl", "denseGF", "%sgemm", "cpu%");
}

void printRow(const RunRow& r, const Ceiling& sgemm) {
    char heads[32];
    std::snprintf(heads, sizeof heads, "%ld/%ld", long(r.heads), long(r.kvHeads));
    std::printf("%-5s %6ld %5s %4ld %5.3f | %9.1f %9.1f %9.1f %8.2f %8.2f | %6.2fx %6.2f %7.3f %7.3f | "
                "%7.1f %5.1f%% %4.0f%%\n",
                r.kind.c_str(), long(r.tokens), heads, long(r.dim), r.keptFraction, r.denseMs, r.tsaMs,
                r.attentionMs, r.scoringMs, r.overheadMs(), r.speedup(), r.idealSpeedup(), r.vsIdeal(),
                r.vsIdealCpu(), r.denseGflops(), 100.0 * r.denseGflops() / sgemm.wall,
                100.0 * r.denseCpuGflops() / sgemm.cpu);
    std::fflush(stdout);
}

double denseMs(const LayerQkv& qkv, const AttentionConfig& config, int reps, double* cpuMsPerThread) {
    Tensor3 out(qkv.qHeads(), qkv.tokens(), qkv.headDim());
    const double ms = bestMs(reps, [&] {
        const Status st =
            causalAttention(qkv.q.view(), qkv.k.view(), qkv.v.view(), out.view(), nullptr, config);
        if (!st.ok()) throw std::runtime_error(st.message);
    });
    const int threads = config.threads > 0 ? config.threads : omp_get_max_threads();
    *cpuMsPerThread = g_lastBestCpuMs / threads;
    return ms;
}

// Kept-fraction rows for one length: dense, scoring and selection once, then one sparse run per fraction.
void benchLength(const Options& o, Index L, const Ceiling& sgemm, std::vector<RunRow>& rows,
                 const AttentionConfig& ac) {
    const int reps = o.reps > 0 ? o.reps : (o.quick || L >= 16384 ? 1 : 3);
    const int threads = ac.threads > 0 ? ac.threads : omp_get_max_threads();
    LayerQkv qkv = randomLayer(o.heads, o.kvHeads, L, o.dim, 1000 + std::uint64_t(L));
    const TsaParams params;
    RunRow base;
    base.kind = "kept";
    base.source = "uniform random q/k/v";
    base.tokens = L;
    base.heads = o.heads;
    base.kvHeads = o.kvHeads;
    base.dim = o.dim;
    base.denseMs = denseMs(qkv, ac, reps, &base.denseCpuMs);

    // Scoring and selection cost do not depend on which tokens end up kept: measure once per length.
    ScoringConfig sc;
    sc.window = params.window;
    sc.poolKernel = params.poolKernel;
    sc.threads = o.threads;
    sc.rankHeads = false; // as runLayer scores: one selection, no per-head sort
    Result<LayerScores> scores = Status::error(ErrorCode::InvalidArgument, "too short to score");
    if (L > params.window) {
        base.scoringMs = bestMs(reps, [&] { scores = scoreLayer(qkv, sc); });
        base.tsaCpuMs = g_lastBestCpuMs / threads;
        if (scores.ok()) {
            base.selectionMs = bestMs(reps, [&] {
                TsaParams p = params;
                p.tau = o.tau;
                volatile Index kept = selectTokens(scores.value(), o.heads, L, p).kept;
                (void)kept;
            });
            base.tsaCpuMs += g_lastBestCpuMs / threads;
        }
        // The raw-score part of scoring done by the tiled windowAttentionMass, parallel over heads as
        // scoreLayer is: what scoring could cost (smoothing and sorting come on top).
        std::vector<float> raw(static_cast<std::size_t>(o.heads * (L - params.window)));
        const Index group = o.heads / o.kvHeads, prefix = L - params.window;
        base.windowMassMs = bestMs(reps, [&] {
#pragma omp parallel num_threads(threads)
            {
                std::vector<float> scratch;
#pragma omp for schedule(dynamic, 1)
                for (Index h = 0; h < o.heads; ++h)
                    windowAttentionMass(qkv.q.row(h, prefix), qkv.k.row(h / group, 0), L, params.window,
                                        o.dim, raw.data() + h * prefix, scratch);
            }
        });
        std::printf(
            "       L %ld: scoreLayer %.1f ms = %.2f%% of dense; windowAttentionMass alone %.1f ms = %.2f%% "
            "(W/L = %.2f%%)\n",
            long(L), base.scoringMs, 100.0 * base.scoringMs / base.denseMs, base.windowMassMs,
            100.0 * base.windowMassMs / base.denseMs, 100.0 * double(params.window) / double(L));
    }

    Tensor3 out(o.heads, L, o.dim);
    std::vector<float> lse(static_cast<std::size_t>(o.heads * L));
    for (double f : o.fractions) {
        const Index kept = std::clamp<Index>(Index(std::llround(f * double(L))), params.window + 1, L);
        if (L <= params.window + 1) continue;
        const Selection sel = syntheticSelection(o.heads, L, params.window, kept, 77 + std::uint64_t(L));
        RunRow r = base;
        r.keptFraction = double(kept) / double(L);
        StageTimings best;
        double bestTotal = 1e300, bestCpu = 1e300;
        for (int rep = 0; rep < reps; ++rep) {
            StageTimings t;
            const double cpuStart = cpuMs();
            const Status st = sparseAttention(qkv, sel, out.view(), lse.data(), ac, &t);
            if (!st.ok()) throw std::runtime_error(st.message);
            bestCpu = std::min(bestCpu, cpuMs() - cpuStart);
            if (t.tsaMs() < bestTotal) bestTotal = t.tsaMs(), best = t;
        }
        r.tsaCpuMs += bestCpu / threads;
        r.attentionMs = best.attentionMs;
        r.gatherMs = best.gatherMs;
        r.scatterMs = best.scatterMs;
        r.tsaMs = r.attentionMs + r.overheadMs();
        printRow(r, sgemm);
        rows.push_back(r);
    }

    if (!o.runTau) return;
    LayerQkv preset;
    std::string name;
    if (!makePresetLayer(o, L, o.heads, o.kvHeads, &preset, &name)) return;
    RunRow r;
    r.kind = "tau";
    r.source = name;
    r.tau = o.tau;
    r.tokens = L;
    r.heads = preset.qHeads();
    r.kvHeads = preset.kvHeads();
    r.dim = preset.headDim();
    r.denseMs = denseMs(preset, ac, reps, &r.denseCpuMs);
    LayerRunConfig rc;
    rc.params.tau = o.tau;
    rc.attention = ac;
    rc.keepOutput = false;
    double bestTotal = 1e300;
    r.tsaCpuMs = 1e300;
    for (int rep = 0; rep < reps; ++rep) {
        const double cpuStart = cpuMs();
        Result<LayerRunResult> res = runLayer(preset, rc);
        if (!res.ok()) throw std::runtime_error(res.error());
        r.tsaCpuMs = std::min(r.tsaCpuMs, (cpuMs() - cpuStart) / threads);
        const StageTimings& t = res->timings;
        if (t.tsaMs() >= bestTotal) continue;
        bestTotal = t.tsaMs();
        r.keptFraction = res->selection.keptFraction();
        r.attentionMs = t.attentionMs;
        r.scoringMs = t.scoringMs;
        r.selectionMs = t.selectionMs;
        r.gatherMs = t.gatherMs;
        r.scatterMs = t.scatterMs;
        r.tsaMs = t.tsaMs();
    }
    printRow(r, sgemm);
    rows.push_back(r);
}

// Block-sparse rows: a JSON object per run (kind "block").
// cpu: process CPU time per thread of the dense run and of the method run (see g_lastBestCpuMs), whose
// ratio is less sensitive than wall time to other processes taking turns on the cores.
struct CpuPair {
    double dense = 0, method = 0;
};

Json blockRow(const std::string& method, const std::string& source, const LayerQkv& qkv, double density,
              double denseMsValue, double estimateMs, double attentionMs, CpuPair cpu) {
    Json j;
    j["kind"] = "block";
    j["method"] = method;
    j["source"] = source;
    j["tokens"] = qkv.tokens();
    j["heads"] = qkv.qHeads();
    j["kv_heads"] = qkv.kvHeads();
    j["head_dim"] = qkv.headDim();
    j["density"] = density;
    j["dense_ms"] = denseMsValue;
    j["estimate_ms"] = estimateMs;
    j["attention_ms"] = attentionMs;
    j["time_ms"] = estimateMs + attentionMs;
    j["speedup"] = denseMsValue / (estimateMs + attentionMs);
    j["ideal_speedup"] = 1.0 / density;
    j["speedup_vs_ideal"] = (denseMsValue / (estimateMs + attentionMs)) * density;
    j["dense_cpu_ms"] = cpu.dense;
    j["time_cpu_ms"] = cpu.method;
    j["speedup_cpu"] = cpu.dense / cpu.method;
    j["speedup_vs_ideal_cpu"] = cpu.dense / cpu.method * density;
    std::printf("block %-16s L %6ld  density %.3f  dense %9.1f ms  estimate %8.1f ms  attention %9.1f ms  "
                "speedup %5.2fx  ideal %5.2fx  ratio %.3f  (CPU-time ratio %.3f)\n",
                method.c_str(), long(qkv.tokens()), density, denseMsValue, estimateMs, attentionMs,
                j["speedup"].get<double>(), 1.0 / density, j["speedup_vs_ideal"].get<double>(),
                j["speedup_vs_ideal_cpu"].get<double>());
    std::fflush(stdout);
    return j;
}

double layerDensity(const Pattern& p) {
    double pairs = 0;
    for (Index h = 0; h < p.qHeads; ++h)
        pairs += double(patternPairs(p, h));
    return pairs / (double(p.qHeads) * double(p.tokens) * double(p.tokens + 1) / 2.0);
}

// Random 128-tiles at a target density (diagonal tiles always kept, others with that probability) on
// uniform random q/k/v; then, at --methods-tokens, every method alone and after TSA on the preset layer.
void benchBlockSparse(const Options& o, Index L, std::vector<Json>& rows, const AttentionConfig& ac) {
    const int reps = o.reps > 0 ? o.reps : (o.quick || L >= 16384 ? 1 : 3);
    LayerQkv qkv = randomLayer(o.heads, o.kvHeads, L, o.dim, 2000 + std::uint64_t(L));
    const int threads = ac.threads > 0 ? ac.threads : omp_get_max_threads();
    Tensor3 out(o.heads, L, o.dim);
    const Index block = 128, nb = (L + block - 1) / block;
    for (double d : o.blockDensities) {
        std::vector<std::uint8_t> mask(static_cast<std::size_t>(o.heads * nb * nb), 0);
        std::uint64_t state = 12345 + std::uint64_t(L);
        for (Index h = 0; h < o.heads; ++h)
            for (Index a = 0; a < nb; ++a)
                for (Index c = 0; c <= a; ++c) {
                    state = state * 6364136223846793005ull + 1442695040888963407ull;
                    mask[(h * nb + a) * nb + c] = c == a || double(state >> 11) * 0x1.0p-53 < d;
                }
        Pattern p;
        p.qHeads = o.heads;
        p.tokens = L;
        p.blocks = blockPatternFromMask(mask.data(), o.heads, L, block, block);
        // Dense and sparse back to back for each density, so both see the same load.
        CpuPair cpu;
        const double dense = denseMs(qkv, ac, reps, &cpu.dense);
        const double ms = bestMs(reps, [&] {
            const Status st = blockSparseAttention(qkv.q.view(), qkv.k.view(), qkv.v.view(), p.blocks,
                                                   out.view(), nullptr, ac);
            if (!st.ok()) throw std::runtime_error(st.message);
        });
        cpu.method = g_lastBestCpuMs / threads;
        rows.push_back(
            blockRow("random-tiles", "uniform random q/k/v", qkv, layerDensity(p), dense, 0.0, ms, cpu));
    }
    if (L != o.methodsTokens) return;
    LayerQkv preset;
    std::string name;
    if (!makePresetLayer(o, L, o.heads, o.kvHeads, &preset, &name)) return;
    CpuPair cpu;
    const double presetDense = denseMs(preset, ac, reps, &cpu.dense);
    const MethodSettings settings;
    for (MethodKind kind :
         {MethodKind::Tsa, MethodKind::FlexPrefill, MethodKind::TsaFlexPrefill, MethodKind::XAttention,
          MethodKind::TsaXAttention, MethodKind::MInference, MethodKind::TsaMInference}) {
        double best = 1e300, bestEstimate = 0, bestAttention = 0, density = 1;
        cpu.method = 1e300;
        for (int r = 0; r < reps; ++r) {
            const double cpuStart = cpuMs();
            auto t0 = Clock::now();
            Result<Pattern> p = estimatePattern(kind, preset, settings);
            if (!p.ok()) throw std::runtime_error(p.error());
            const double estimate = msSince(t0);
            t0 = Clock::now();
            Tensor3 o2(preset.qHeads(), L, preset.headDim());
            const Status st = runPattern(preset, *p, o2.view(), nullptr, ac);
            if (!st.ok()) throw std::runtime_error(st.message);
            const double attention = msSince(t0);
            cpu.method = std::min(cpu.method, (cpuMs() - cpuStart) / threads);
            if (estimate + attention < best)
                best = estimate + attention, bestEstimate = estimate, bestAttention = attention,
                density = layerDensity(*p);
        }
        rows.push_back(
            blockRow(methodName(kind), name, preset, density, presetDense, bestEstimate, bestAttention, cpu));
    }
}

// Child side of --memory: one layer through runLayer (as `tsa run` does), report written to a file; the
// parent reads the child's peak RSS from wait4.
int memoryChild(const Options& o) {
    struct rusage before {};
    getrusage(RUSAGE_SELF, &before);
    LayerQkv qkv;
    std::string name = "uniform random q/k/v";
    if (!makePresetLayer(o, o.memoryTokens, o.memoryHeads, o.memoryKvHeads, &qkv, &name))
        qkv = randomLayer(o.memoryHeads, o.memoryKvHeads, o.memoryTokens, o.dim, 4242);
    LayerRunConfig rc;
    rc.params.tau = o.tau;
    rc.attention.threads = o.threads;
    const auto start = Clock::now();
    Result<LayerRunResult> res = runLayer(qkv, rc);
    const double ms = msSince(start);
    if (!res.ok()) {
        std::fprintf(stderr, "memory child: %s\n", res.error().c_str());
        return 1;
    }
    Json j;
    j["source"] = name;
    j["tokens"] = qkv.tokens();
    j["heads"] = qkv.qHeads();
    j["kv_heads"] = qkv.kvHeads();
    j["head_dim"] = qkv.headDim();
    j["qkv_bytes"] = qkv.bytes();
    j["baseline_rss_bytes"] = double(before.ru_maxrss) * 1024.0;
    j["kept_fraction"] = res->selection.keptFraction();
    j["run_ms"] = ms;
    std::ofstream(o.memoryChildOut) << j.dump(2) << "\n";
    return 0;
}

Json runMemory(const Options& o, const char* self) {
    char path[] = "/tmp/tsa-bench-memory-XXXXXX";
    const int fd = mkstemp(path);
    if (fd < 0) throw std::runtime_error("cannot create a temporary file");
    close(fd);
    std::vector<std::string> args{self,
                                  "--memory-child",
                                  path,
                                  "--memory-tokens",
                                  std::to_string(o.memoryTokens),
                                  "--memory-heads",
                                  std::to_string(o.memoryHeads),
                                  "--memory-kv-heads",
                                  std::to_string(o.memoryKvHeads),
                                  "--dim",
                                  std::to_string(o.dim),
                                  "--tau",
                                  std::to_string(o.tau),
                                  "--threads",
                                  std::to_string(o.threads)};
    std::vector<char*> argv;
    for (std::string& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    // A fresh process (not fork): the child's peak RSS is then only the layer run, and OpenMP's thread pool
    // is not duplicated across fork.
    if (posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0)
        throw std::runtime_error("cannot start the memory child");
    int status = 0;
    struct rusage usage {};
    wait4(pid, &status, 0, &usage);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("memory child failed");
    Json j = Json::parse(std::ifstream(path));
    std::remove(path);
    const double peak = double(usage.ru_maxrss) * 1024.0;
    j["peak_rss_bytes"] = peak;
    j["peak_over_qkv"] = peak / j["qkv_bytes"].get<double>();
    std::printf(
        "memory: %ld tokens, %ld/%ld heads, D %ld (%s), kept %.3f: peak RSS %.0f MiB = %.2fx the fp32 "
        "QKV (%.0f MiB), run %.1f s\n",
        long(j["tokens"].get<Index>()), long(j["heads"].get<Index>()), long(j["kv_heads"].get<Index>()),
        long(j["head_dim"].get<Index>()), j["source"].get<std::string>().c_str(),
        j["kept_fraction"].get<double>(), peak / 1048576.0, j["peak_over_qkv"].get<double>(),
        j["qkv_bytes"].get<double>() / 1048576.0, j["run_ms"].get<double>() / 1000.0);
    return j;
}

} // namespace

int main(int argc, char** argv) {
    const Options o = parseOptions(argc, argv);
    if (!o.memoryChildOut.empty()) return memoryChild(o);
    try {
        Json report;
        report["machine"] = {{"cpu", cpuModel()},
                             {"cores", omp_get_num_procs()},
                             {"threads", o.threads > 0 ? o.threads : omp_get_max_threads()},
                             {"tile_gemm", detail::tileGemmBackend()},
                             {"kernels", activeIsaDescription()},
#ifdef TSA_BUILT_NATIVE
                             {"march_native", true},
#else
                             {"march_native", false},
#endif
                             {"load_average_start", loadAverage()}};
        Json memory;
        if (o.memory) memory = runMemory(o, argv[0]);

        std::vector<RunRow> rows;
        Ceiling sgemm;
        if (!o.memoryOnly) {
            sgemm.wall = sgemmCeilingGflops(&sgemm.cpu);
            AttentionConfig ac;
            ac.threads = o.threads;
            ac.queryTile = o.queryTile;
            if (o.keyTile > 0) ac.keyTile = o.keyTile;
            const std::string queryTile = ac.queryTile > 0 ? std::to_string(ac.queryTile) : "auto";
            std::printf("sgemm ceiling (OpenBLAS, %d threads, 2048^3, best of 7): %.1f GFLOP/s (CPU-time "
                        "based %.1f); "
                        "tile GEMM: %s; kernels: %s; "
                        "tiles %s x %ld\n",
                        omp_get_num_procs(), sgemm.wall, sgemm.cpu, detail::tileGemmBackend(),
                        activeIsaDescription().c_str(), queryTile.c_str(), long(ac.keyTile));
            report["machine"]["query_tile"] = ac.queryTile;
            report["machine"]["key_tile"] = ac.keyTile;
            printHeader();
            std::vector<Json> blockRows;
            for (Index L : o.tokens) {
                if (!o.blockSparseOnly) benchLength(o, L, sgemm, rows, ac);
                if (o.blockSparse) benchBlockSparse(o, L, blockRows, ac);
            }
            report["block_runs"] = blockRows;
            // The ceiling again at the end: a drop means the machine got busier during the run.
            Ceiling end;
            end.wall = sgemmCeilingGflops(&end.cpu);
            std::printf(
                "sgemm ceiling at the end: %.1f GFLOP/s, CPU-time based %.1f (start %.1f, %.1f); load "
                "average %s\n",
                end.wall, end.cpu, sgemm.wall, sgemm.cpu, loadAverage().c_str());
            report["sgemm_gflops_end"] = end.wall;
            report["sgemm_cpu_gflops"] = sgemm.cpu;
            report["sgemm_cpu_gflops_end"] = end.cpu;
        }
        report["machine"]["load_average_end"] = loadAverage();
        Json runs = Json::array();
        for (const RunRow& r : rows)
            runs.push_back(toJson(r, sgemm));
        if (report.contains("block_runs")) {
            for (const Json& b : report["block_runs"])
                runs.push_back(b);
            report.erase("block_runs");
        }
        Json out;
        out["sgemm_gflops"] = o.memoryOnly ? Json() : Json(sgemm.wall); // null: not measured
        out["runs"] = runs;
        for (auto& [key, value] : report.items())
            out[key] = value;
        if (o.memory) out["memory"] = memory;
        if (!o.json.empty()) {
            std::ofstream file(o.json);
            file << out.dump(2) << "\n";
            if (!file) throw std::runtime_error("cannot write " + o.json);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tsa-bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
