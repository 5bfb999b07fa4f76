// Test-data writer for effect files (tsa-effect/1, docs/effect.md): builds the `effect` JSON and the kept /
// kept_dense tensors in memory and writes them with the project's SafetensorsWriter, so the reader is tested
// on real files, malformed ones included (each field of the spec can be broken on purpose).
// realisticEffect() makes a file shaped like tools/tsa_eval.py's output on stories260K (5 layers, 8 query
// heads, 512 tokens, W 32, min_tokens 64, all layers sparse, the default tau grid): kept sets come from
// per-head scores (a sink, a few heavy keys, noise) and the interleaved run's scores drift from the dense
// ones with depth and tau, so the Jaccard overlap falls the way it does in a real model.
#pragma once

#include "core/io/effect.h"
#include "core/io/safetensors_writer.h"
#include "core/synth/generator_rng.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <string>
#include <vector>

namespace tsa::testdata {

struct KeptSets {
    int run = 0;
    int layer = 0;
    Index heads = 0;
    Index n = 0;
    std::vector<std::int32_t> kept;      // [heads, n]
    std::vector<std::int32_t> keptDense; // [heads, n]
    bool writeDense = true;
    DType dtype = DType::I32; // the kept tensor's dtype (a wrong one is a malformed case)
};

struct EffectFileSpec {
    std::map<std::string, std::string> metadata; // format, effect, token_strings
    nlohmann::ordered_json effect;
    std::vector<std::int32_t> tokens;
    bool writeTokens = true;
    std::vector<KeptSets> sets;
    std::vector<std::string> extraTensors; // F32 [1] tensors outside the format (ignored by the reader)
};

inline Status writeEffectFile(const std::string& path, const EffectFileSpec& spec) {
    std::map<std::string, std::string> metadata = spec.metadata;
    if (!metadata.count("format")) metadata["format"] = kEffectFormat;
    if (!metadata.count("effect")) metadata["effect"] = spec.effect.dump();
    std::vector<TensorSpec> tensors;
    if (spec.writeTokens) tensors.push_back({"tokens", DType::I32, {Index(spec.tokens.size())}});
    for (const KeptSets& s : spec.sets) {
        const std::string base = "runs." + std::to_string(s.run) + ".layers." + std::to_string(s.layer);
        tensors.push_back({base + ".kept", s.dtype, {s.heads, s.n}});
        if (s.writeDense) tensors.push_back({base + ".kept_dense", DType::I32, {s.heads, s.n}});
    }
    for (const std::string& name : spec.extraTensors)
        tensors.push_back({name, DType::F32, {1}});
    SafetensorsWriter writer;
    if (Status s = writer.open(path, tensors, metadata); !s.ok()) return s;
    auto ints = [&](const std::vector<std::int32_t>& v) { return writer.writeBytes(v.data(), v.size() * 4); };
    if (spec.writeTokens)
        if (Status s = ints(spec.tokens); !s.ok()) return s;
    for (const KeptSets& s : spec.sets) {
        if (s.dtype == DType::I32) {
            if (Status st = ints(s.kept); !st.ok()) return st;
        } else {
            std::vector<float> f(s.kept.begin(), s.kept.end());
            if (Status st = writer.writeFloats(f.data(), f.size()); !st.ok()) return st;
        }
        if (s.writeDense)
            if (Status st = ints(s.keptDense); !st.ok()) return st;
    }
    for (std::size_t i = 0; i < spec.extraTensors.size(); ++i) {
        const float one = 1.0f;
        if (Status s = writer.writeFloats(&one, 1); !s.ok()) return s;
    }
    return writer.commit();
}

// Mean over heads of |A ∩ B| / |A ∪ B|, by std::set_intersection (independent of the reader's merge).
inline double meanJaccard(const KeptSets& s) {
    double sum = 0;
    for (Index h = 0; h < s.heads; ++h) {
        const auto a = s.kept.begin() + h * s.n, b = s.keptDense.begin() + h * s.n;
        std::vector<std::int32_t> common;
        std::set_intersection(a, a + s.n, b, b + s.n, std::back_inserter(common));
        sum += double(common.size()) / double(2 * s.n - Index(common.size()));
    }
    return sum / double(s.heads);
}

// The smallest valid file: 2 layers (layer 1 sparse), 2 heads, 8 tokens, taus {0, 0.01}; run 1 keeps 4
// tokens per head with a known overlap (head 0: {0,1,6,7} vs {0,2,6,7} -> 3/5; head 1: equal -> 1).
inline EffectFileSpec minimalEffect() {
    EffectFileSpec spec;
    spec.tokens = {1, 5, 9, 13, 17, 21, 25, 29};
    nlohmann::ordered_json e;
    e["format"] = kEffectFormat;
    e["model"] = "tiny";
    e["model_type"] = "llama";
    e["num_layers"] = 2;
    e["q_heads"] = 2;
    e["kv_heads"] = 1;
    e["head_dim"] = 4;
    e["params"] = {{"window", 2},  {"pool_kernel", 3}, {"min_tokens", 4}, {"sparse_layers", "list"},
                   {"delta", 0.5}, {"layers", {1}}};
    e["workload"] = {{"kind", "text"},
                     {"source", "story.txt"},
                     {"last_n", 4},
                     {"selection_case", {{"length", 8}, {"depth", nullptr}}}};
    e["taus"] = {0, 0.01};
    e["dense"] = {{"ppl", 3.0}, {"prefill_ms", 1.5}, {"answers", nlohmann::ordered_json::array()}};
    nlohmann::ordered_json runs = nlohmann::ordered_json::array();
    runs.push_back({{"tau", 0},
                    {"kl_last", 0.0},
                    {"kl_mean", 0.0},
                    {"top1_agreement", 1.0},
                    {"ppl", 3.0},
                    {"mean_kept_fraction", 1.0},
                    {"layer_kept_fraction", {1.0, 1.0}},
                    {"jaccard_vs_dense", {nullptr, 1.0}},
                    {"prefill_ms", 1.4},
                    {"needle", nlohmann::ordered_json::array()},
                    {"future_key", "ignored"}});
    runs.push_back({{"tau", 0.01},
                    {"kl_last", 0.02},
                    {"kl_mean", 0.01},
                    {"top1_agreement", 0.75},
                    {"ppl", 3.2},
                    {"mean_kept_fraction", 0.5},
                    {"layer_kept_fraction", {1.0, 0.5}},
                    {"jaccard_vs_dense", {nullptr, 0.8}},
                    {"prefill_ms", 1.1},
                    {"needle", nlohmann::ordered_json::array()}});
    e["runs"] = runs;
    spec.effect = e;
    KeptSets s;
    s.run = 1;
    s.layer = 1;
    s.heads = 2;
    s.n = 4;
    s.kept = {0, 1, 6, 7, 0, 3, 6, 7};
    s.keptDense = {0, 2, 6, 7, 0, 3, 6, 7};
    spec.sets.push_back(s);
    return spec;
}

enum class EffectWorkload { Text, Needle };

// A file shaped like tsa_eval.py's output on stories260K (see the header comment).
inline EffectFileSpec realisticEffect(EffectWorkload workload, std::uint64_t seed = 7) {
    const int layers = 5;
    const Index heads = 8, tokens = 512, window = 32, minTokens = 64;
    const std::vector<double> taus = {0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05};
    EffectFileSpec spec;
    std::uint64_t state = seed;
    for (Index t = 0; t < tokens; ++t)
        spec.tokens.push_back(std::int32_t(gen::splitmix64(state) % 512));
    const bool needle = workload == EffectWorkload::Needle;

    nlohmann::ordered_json e;
    e["format"] = kEffectFormat;
    e["model"] = "../shared/data/stories260k/hf";
    e["model_type"] = "llama";
    e["num_layers"] = layers;
    e["q_heads"] = heads;
    e["kv_heads"] = 4;
    e["head_dim"] = 8;
    e["device"] = "cpu";
    e["dtype"] = "float32";
    e["transformers"] = "4.46.3";
    e["torch"] = "2.5.1";
    e["params"] = {{"window", window},       {"pool_kernel", 7}, {"min_tokens", minTokens},
                   {"sparse_layers", "all"}, {"delta", 0.5},     {"layers", {0, 1, 2, 3, 4}}};
    e["workload"] = {
        {"kind", needle ? "needle" : "text"},
        {"source", needle ? "built-in needle" : "story.txt"},
        {"last_n", 64},
        {"selection_case", {{"length", tokens}, {"depth", needle ? nlohmann::ordered_json(0.5) : nullptr}}}};
    e["taus"] = taus;
    const double densePpl = 2.87;
    e["dense"] = {{"ppl", needle ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(densePpl)},
                  {"prefill_ms", 41.0},
                  {"answers", nlohmann::ordered_json::array()}};

    // Per head: base scores over the prefix [0, L - W) (a sink, heavy keys, noise).
    auto uniform = [&state] { return double(gen::splitmix64(state) >> 11) * 0x1.0p-53; };
    std::vector<std::vector<double>> baseScores(std::size_t(layers * heads));
    for (auto& s : baseScores) {
        s.resize(std::size_t(tokens - window));
        for (std::size_t t = 0; t < s.size(); ++t)
            s[t] = -std::log(uniform() + 1e-12) * (t == 0 ? 40.0 : (t % 37 == 3 ? 6.0 : 1.0));
    }
    auto topSet = [&](const std::vector<double>& scores, Index n) {
        std::vector<std::int32_t> order(scores.size());
        std::iota(order.begin(), order.end(), 0);
        const Index fromPrefix = n - window;
        std::partial_sort(
            order.begin(), order.begin() + fromPrefix, order.end(),
            [&](std::int32_t a, std::int32_t b) { return scores[std::size_t(a)] > scores[std::size_t(b)]; });
        std::vector<std::int32_t> out(order.begin(), order.begin() + fromPrefix);
        for (Index t = tokens - window; t < tokens; ++t)
            out.push_back(std::int32_t(t));
        std::sort(out.begin(), out.end());
        return out;
    };

    nlohmann::ordered_json runs = nlohmann::ordered_json::array();
    for (std::size_t r = 0; r < taus.size(); ++r) {
        const double tau = taus[r];
        const double strength = tau > 0 ? std::clamp(std::log10(tau / 0.0005) / 2.0, 0.0, 1.2) : 0.0;
        nlohmann::ordered_json keptFractions = nlohmann::ordered_json::array();
        nlohmann::ordered_json jaccards = nlohmann::ordered_json::array();
        double meanKept = 0;
        for (int l = 0; l < layers; ++l) {
            if (tau == 0) {
                keptFractions.push_back(1.0);
                jaccards.push_back(1.0);
                meanKept += 1.0 / layers;
                continue;
            }
            const double f = std::clamp(1.0 - (0.22 + 0.09 * l) * strength, double(minTokens) / tokens, 1.0);
            const Index n = std::max<Index>(window + 1, Index(std::lround(f * double(tokens))));
            KeptSets s;
            s.run = int(r);
            s.layer = l;
            s.heads = heads;
            s.n = n;
            for (Index h = 0; h < heads; ++h) {
                const auto& base = baseScores[std::size_t(l * heads + h)];
                std::vector<double> drifted = base;
                // Earlier sparse layers change the residual stream: more with depth and with tau.
                const double drift = 0.15 * l * strength;
                for (double& v : drifted)
                    v *= std::exp(drift * (uniform() - 0.5) * 4.0);
                const auto a = topSet(drifted, n), b = topSet(base, n);
                s.kept.insert(s.kept.end(), a.begin(), a.end());
                s.keptDense.insert(s.keptDense.end(), b.begin(), b.end());
            }
            keptFractions.push_back(double(n) / double(tokens));
            jaccards.push_back(meanJaccard(s));
            meanKept += double(n) / double(tokens) / layers;
            spec.sets.push_back(std::move(s));
        }
        const double loss = 1.0 - meanKept;
        const double klMean = 0.004 * strength + 0.9 * loss * loss * loss;
        nlohmann::ordered_json run;
        run["tau"] = tau;
        run["kl_last"] = tau == 0 ? 0.0 : 1.3 * klMean + 0.002;
        run["kl_mean"] = tau == 0 ? 0.0 : klMean;
        run["top1_agreement"] = tau == 0 ? 1.0 : std::max(0.0, 1.0 - 0.05 * strength - 2.2 * loss * loss);
        run["ppl"] =
            needle ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(densePpl * std::exp(klMean));
        run["mean_kept_fraction"] = meanKept;
        run["layer_kept_fraction"] = keptFractions;
        run["jaccard_vs_dense"] = jaccards;
        run["prefill_ms"] = 41.0 * (0.55 + 0.45 * meanKept) + 3.0;
        nlohmann::ordered_json cases = nlohmann::ordered_json::array();
        if (needle) {
            for (Index length : {128, 256, 384, 512})
                for (double depth : {0.0, 0.25, 0.5, 0.75, 1.0}) {
                    // Long contexts with the needle in the middle go first, as in the paper's heatmaps.
                    const double risk = strength * strength * (double(length) / 512.0) *
                                        (1.0 - 0.7 * std::fabs(depth - 0.5) * 2.0);
                    const double overlap = std::clamp(1.0 - 1.6 * std::max(0.0, risk - 0.35), 0.0, 1.0);
                    const double rounded = std::round(overlap * 4.0) / 4.0;
                    cases.push_back({{"length", length},
                                     {"depth", depth},
                                     {"answer", rounded >= 1.0 ? "eat a sandwich" : "sit in the park"},
                                     {"expected", "eat a sandwich"},
                                     {"exact", rounded >= 1.0 ? 1 : 0},
                                     {"overlap", rounded}});
                }
        }
        run["needle"] = cases;
        runs.push_back(run);
    }
    e["runs"] = runs;
    spec.effect = e;
    nlohmann::json strings = nlohmann::json::array();
    for (Index t = 0; t < tokens; ++t)
        strings.push_back(std::string("t").append(std::to_string(spec.tokens[std::size_t(t)])));
    spec.metadata["token_strings"] = strings.dump();
    return spec;
}

} // namespace tsa::testdata
