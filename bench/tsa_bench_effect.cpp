// tsa-bench-effect: time to read and validate an effect file (tsa-effect/1) of a large model, the work the
// explorer does off the GUI thread when one is opened: header and JSON, then every kept / kept_dense pair
// copied, checked (ascending, inside [0, L)) and reduced to per-head Jaccard overlaps.
//
//   tsa-bench-effect [--tokens 8192] [--layers 32] [--heads 32] [--reps 3] [--out PATH] [--keep]
//
// Writes a synthetic file of that shape (the default tau grid, kept fractions 1 - 0.06 t for run t, the
// kept set the first n positions and the dense one the last n, so every Jaccard is known), times readEffect
// --reps times and prints each time and the median. The file is removed afterwards unless --keep.
#include "core/io/effect.h"
#include "core/io/safetensors_writer.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <unistd.h>
#include <vector>

using namespace tsa;

int main(int argc, char** argv) {
    Index tokens = 8192, heads = 32;
    int layers = 32, reps = 3;
    std::string out = "/tmp/tsa-bench-effect-" + std::to_string(::getpid()) + ".safetensors";
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "tsa-bench-effect: %s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--tokens")
            tokens = std::atoll(next());
        else if (a == "--layers")
            layers = std::atoi(next());
        else if (a == "--heads")
            heads = std::atoll(next());
        else if (a == "--reps")
            reps = std::atoi(next());
        else if (a == "--out")
            out = next();
        else if (a == "--keep")
            keep = true;
        else {
            std::fprintf(stderr, "usage: tsa-bench-effect [--tokens L] [--layers N] [--heads H] [--reps R] "
                                 "[--out PATH] [--keep]\n");
            return 2;
        }
    }
    if (tokens < 64 || layers < 1 || heads < 1 || reps < 1) {
        std::fprintf(stderr, "tsa-bench-effect: --tokens >= 64, --layers, --heads, --reps >= 1\n");
        return 2;
    }

    const std::vector<double> taus = {0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05};
    const int runs = int(taus.size());
    std::vector<Index> n(static_cast<std::size_t>(runs));
    nlohmann::json effect, runList = nlohmann::json::array();
    std::vector<int> all(static_cast<std::size_t>(layers));
    std::iota(all.begin(), all.end(), 0);
    effect["format"] = kEffectFormat;
    effect["num_layers"] = layers;
    effect["q_heads"] = heads;
    effect["params"] = {{"layers", all}};
    effect["taus"] = taus;
    std::vector<TensorSpec> specs{{"tokens", DType::I32, {tokens}}};
    for (int r = 0; r < runs; ++r) {
        n[std::size_t(r)] = tokens - Index(0.06 * r * double(tokens));
        runList.push_back({{"tau", taus[std::size_t(r)]}});
        if (r == 0) continue; // tau 0 keeps everything: no tensors
        for (int l = 0; l < layers; ++l) {
            const std::string base = "runs." + std::to_string(r) + ".layers." + std::to_string(l);
            specs.push_back({base + ".kept", DType::I32, {heads, n[std::size_t(r)]}});
            specs.push_back({base + ".kept_dense", DType::I32, {heads, n[std::size_t(r)]}});
        }
    }
    effect["runs"] = runList;
    SafetensorsWriter writer;
    Status s = writer.open(out, specs, {{"format", kEffectFormat}, {"effect", effect.dump()}});
    std::vector<std::int32_t> ids(static_cast<std::size_t>(tokens));
    std::iota(ids.begin(), ids.end(), 0);
    if (s.ok()) s = writer.writeBytes(ids.data(), ids.size() * 4);
    for (int r = 1; r < runs && s.ok(); ++r) {
        const Index count = n[std::size_t(r)];
        std::vector<std::int32_t> first, last;
        for (Index h = 0; h < heads; ++h)
            for (Index i = 0; i < count; ++i) {
                first.push_back(std::int32_t(i));
                last.push_back(std::int32_t(tokens - count + i));
            }
        for (int l = 0; l < layers && s.ok(); ++l) {
            s = writer.writeBytes(first.data(), first.size() * 4);
            if (s.ok()) s = writer.writeBytes(last.data(), last.size() * 4);
        }
    }
    if (s.ok()) s = writer.commit();
    if (!s.ok()) {
        std::fprintf(stderr, "tsa-bench-effect: %s\n", s.message.c_str());
        return 1;
    }

    std::vector<double> ms;
    std::uint64_t bytes = 0;
    for (int rep = 0; rep < reps; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        auto result = readEffect(out);
        const auto t1 = std::chrono::steady_clock::now();
        if (!result.ok()) {
            std::fprintf(stderr, "tsa-bench-effect: %s\n", result.error().c_str());
            return 1;
        }
        // The known answer: first n vs last n of L overlap in 2n - L positions.
        const double nLast = double(n.back());
        const double expected = (2 * nLast - double(tokens)) / double(tokens);
        if (std::abs(result->runs.back().layers.front().jaccard - expected) > 1e-9) {
            std::fprintf(stderr, "tsa-bench-effect: Jaccard %.6f, expected %.6f\n",
                         result->runs.back().layers.front().jaccard, expected);
            return 1;
        }
        ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        std::printf("read %d: %.1f ms\n", rep + 1, ms.back());
    }
    if (FILE* f = std::fopen(out.c_str(), "rb")) {
        std::fseek(f, 0, SEEK_END);
        bytes = std::uint64_t(std::ftell(f));
        std::fclose(f);
    }
    if (!keep) std::remove(out.c_str());
    std::sort(ms.begin(), ms.end());
    std::printf("tokens=%lld layers=%d heads=%lld file_mb=%.1f median_ms=%.1f\n", (long long)tokens, layers,
                (long long)heads, double(bytes) / 1e6, ms[ms.size() / 2]);
    return 0;
}
