// Synthetic Q/K/V that behaves like a real model's prefill capture: post-RoPE queries and keys with
// attention sinks, local (streaming) heads, retrieval heads that find far needle tokens, heavy-hitter
// heads driven by a per-layer token importance field that shifts across depth, diffuse heads, GQA,
// per-token drift and values with mild structure. docs/generator.md explains every knob and how the
// statistics compare with a real model.
//
// Everything is a pure function of (config, seed): a layer can be generated alone, in any order and on
// any number of threads, with the same bytes.
#pragma once

#include "core/io/dtype.h"
#include "core/status.h"
#include "core/tensor.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tsa {

// The attention behaviour a query head is built for (in one layer; roles are re-drawn per layer).
enum class HeadRole { Sink, Local, Heavy, Retrieval, Diffuse };
const char* headRoleName(HeadRole role);

struct GeneratorConfig {
    std::string preset = "default";
    std::string description;
    std::uint64_t seed = 1;

    // Shape. Defaults give a small, quick capture.
    int layers = 4;
    Index qHeads = 8;
    Index kvHeads = 2;
    Index tokens = 2048;
    Index headDim = 64;

    // RoPE (rotate-half layout). Pairs p = 0..D/2-1 rotate at theta^(-2p/D); the last pairs are the
    // slow ones. They are split into bands from the slow end: sink pairs, semantic pairs, and the rest
    // (positional band).
    double ropeTheta = 500000.0; // Llama-3-like: slow pairs stay coherent at 32K+
    int sinkPairs = 1;
    int semanticPairs = 4;

    // Attention sinks (logits are q.k/sqrt(D) at full head gain).
    double sinkLogit = 5.0;      // token 0, above the adjacent token's logit
    double delimiterLogit = 3.0; // "." and newline tokens: weak secondary sinks
    double delimiterRate = 0.08; // fraction of text tokens that are delimiters

    // Distance decay built into the positional band: attention ~ (1 + distance)^-decay.
    double localDecay = 2.2;        // local / streaming heads
    double baseDecay = 1.8;         // every other head (RoPE long-term decay)
    double positionalRange = 65536; // distances the decay is fitted over (the "trained context")

    // Heavy hitters: a per-layer Gaussian importance field z_l(t), logit += gain * heavyHitterLogit * z.
    double heavyHitterLogit = 1.0;
    double heavyHitterShift = 0.2; // 0: the same field in every layer, 1: independent per layer
    double heavyHitterSpan = 8.0;  // correlation length of the field along the sequence, tokens (0: i.i.d.)

    // Retrieval: needle tokens whose keys share a direction with the queries of the question part.
    int needles = 4;
    double needleLogit = 16.0;
    double questionFraction = 0.05; // last part of the sequence whose queries look for the needles

    // Unstructured content: per-element standard deviation of the q and k noise.
    double noise = 1.0;
    double headJitter = 0.15; // lognormal spread of each head's gains

    // Head mix (fractions of the query heads of a layer; normalised).
    double sinkHeads = 0.25;
    double localHeads = 0.25;
    double heavyHeads = 0.25;
    double retrievalHeads = 0.125;
    double diffuseHeads = 0.125;   // in the first layer; tapers linearly to diffuseHeadsLast
    double diffuseHeadsLast = 0.0; // in the last layer (broad attention is an early-layer trait)

    // Values.
    double valueStd = 1.0;
    double valueMean = 0.5;      // shared per-kv-head mean direction, as real V have
    double sinkValueScale = 0.1; // real sinks carry near-zero values ("no-op" attention)

    // Per-token drift ||h_out - h_in|| / ||h_in||: a U-shaped profile over depth, jittered per layer.
    double driftBase = 0.15;
    double driftEdge = 0.6;        // extra drift of the first and last layers
    double driftJitter = 0.25;     // lognormal per-layer jitter
    double driftTokenSpread = 0.3; // lognormal per-token spread
};

// Strict: unknown keys and wrong types are errors (a typo in a preset must not pass silently). Keys
// not present keep the value from base.
Result<GeneratorConfig> generatorConfigFromJson(const std::string& jsonText,
                                                const GeneratorConfig& base = {});
Result<GeneratorConfig> loadGeneratorPreset(const std::string& path, const GeneratorConfig& base = {});
// The effective configuration as JSON (every knob, seed included).
std::string generatorConfigToJson(const GeneratorConfig& config, int indent = -1);
Status validateGeneratorConfig(const GeneratorConfig& config);

// The synthetic text that goes with the capture.
struct SyntheticSequence {
    std::vector<std::int32_t> tokenIds;
    std::vector<std::string> tokenStrings;
    std::vector<Index> needles;    // positions of the needle tokens, ascending
    std::vector<Index> delimiters; // positions of delimiter tokens, ascending
    Index questionStart = 0;       // first query of the question part
};

struct GeneratedLayer {
    int layer = 0;
    LayerQkv qkv;
    std::vector<float> drift;    // [L]
    std::vector<HeadRole> roles; // [Hq]
};

class Generator {
public:
    static Result<Generator> create(const GeneratorConfig& config);

    const GeneratorConfig& config() const { return m_config; }
    const SyntheticSequence& sequence() const { return m_sequence; }

    // Thread-safe, any order. threads: 0 uses the OpenMP default; the result never depends on it.
    Result<GeneratedLayer> layer(int index, int threads = 0) const;
    std::vector<HeadRole> roles(int index) const;
    // The heavy-hitter importance field z_l [L] of a layer.
    std::vector<float> importance(int index) const;
    std::vector<float> drift(int index) const;
    // Positional band pair weights w_p and q-k phase offsets delta_p, fitted so that the kernel
    // sum_p w_p cos(d theta_p + delta_p) ~ -ln(1 + d) + c over [1, positionalRange].
    const std::vector<double>& positionalWeights() const { return m_positionalWeights; }
    const std::vector<double>& positionalPhases() const { return m_positionalPhases; }
    double positionalKernel(double distance) const;

private:
    Generator() = default;
    GeneratorConfig m_config;
    SyntheticSequence m_sequence;
    std::vector<double> m_frequencies;       // theta_p, p = 0..D/2-1
    std::vector<double> m_positionalWeights; // one per positional-band pair
    std::vector<double> m_positionalPhases;
    std::vector<float> m_cos; // [L, D/2] cos(t theta_p)
    std::vector<float> m_sin;
};

struct SyntheticWriteOptions {
    DType dtype = DType::BF16;
    int threads = 0;
    // Called after each layer is written (layer index, total); returning false cancels.
    std::function<bool(int, int)> progress;
};

struct SyntheticWriteSummary {
    std::string path;
    int layers = 0;
    std::uint64_t bytes = 0;
};

// Writes a capture in the project format (layers.{l}.q|k|v, layers.{l}.drift, tokens, metadata), one
// layer at a time: memory stays at one layer whatever the depth.
Result<SyntheticWriteSummary> writeSyntheticCapture(const GeneratorConfig& config, const std::string& path,
                                                    const SyntheticWriteOptions& options = {});

// Metadata written into a synthetic capture (exposed for tests and tools).
std::string tokenStringsJson(const std::vector<std::string>& strings);

} // namespace tsa
