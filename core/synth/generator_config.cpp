// GeneratorConfig <-> JSON (presets and the `generator` metadata of a synthetic capture) and validation.
#include "core/synth/generator.h"

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <variant>

namespace tsa {

namespace {

using Json = nlohmann::ordered_json;

// One field of the config, by JSON name. A single table drives parsing and serialisation so the two
// can never disagree about a key.
using FieldPtr = std::variant<double GeneratorConfig::*, int GeneratorConfig::*, Index GeneratorConfig::*,
                              std::string GeneratorConfig::*, std::uint64_t GeneratorConfig::*>;
struct Field {
    const char* name;
    FieldPtr ptr;
};

const std::vector<Field>& fields() {
    using C = GeneratorConfig;
    static const std::vector<Field> table = {
        {"preset", &C::preset},
        {"description", &C::description},
        {"seed", &C::seed},
        {"layers", &C::layers},
        {"q_heads", &C::qHeads},
        {"kv_heads", &C::kvHeads},
        {"tokens", &C::tokens},
        {"head_dim", &C::headDim},
        {"rope_theta", &C::ropeTheta},
        {"sink_pairs", &C::sinkPairs},
        {"semantic_pairs", &C::semanticPairs},
        {"sink_logit", &C::sinkLogit},
        {"delimiter_logit", &C::delimiterLogit},
        {"delimiter_rate", &C::delimiterRate},
        {"local_decay", &C::localDecay},
        {"base_decay", &C::baseDecay},
        {"positional_range", &C::positionalRange},
        {"heavy_hitter_logit", &C::heavyHitterLogit},
        {"heavy_hitter_shift", &C::heavyHitterShift},
        {"heavy_hitter_span", &C::heavyHitterSpan},
        {"needles", &C::needles},
        {"needle_logit", &C::needleLogit},
        {"question_fraction", &C::questionFraction},
        {"noise", &C::noise},
        {"head_jitter", &C::headJitter},
        {"sink_heads", &C::sinkHeads},
        {"local_heads", &C::localHeads},
        {"heavy_heads", &C::heavyHeads},
        {"retrieval_heads", &C::retrievalHeads},
        {"diffuse_heads", &C::diffuseHeads},
        {"diffuse_heads_last", &C::diffuseHeadsLast},
        {"value_std", &C::valueStd},
        {"value_mean", &C::valueMean},
        {"sink_value_scale", &C::sinkValueScale},
        {"drift_base", &C::driftBase},
        {"drift_edge", &C::driftEdge},
        {"drift_jitter", &C::driftJitter},
        {"drift_token_spread", &C::driftTokenSpread},
    };
    return table;
}

template <typename T>
bool readInteger(const Json& v, T& out) {
    if (v.is_number_integer()) {
        if (v.is_number_unsigned()) {
            const auto u = v.get<std::uint64_t>();
            if constexpr (std::is_signed_v<T>) {
                if (u > std::uint64_t(std::numeric_limits<T>::max())) return false;
            }
            out = T(u);
            return true;
        }
        const auto s = v.get<std::int64_t>();
        if constexpr (std::is_unsigned_v<T>) {
            if (s < 0) return false;
        } else {
            if (s < std::int64_t(std::numeric_limits<T>::min()) ||
                s > std::int64_t(std::numeric_limits<T>::max()))
                return false;
        }
        out = T(s);
        return true;
    }
    // 4096.0 is accepted as an integer; 4096.5 is not.
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (std::floor(d) != d || d < double(std::numeric_limits<T>::min()) ||
            d > double(std::numeric_limits<T>::max()))
            return false;
        out = T(d);
        return true;
    }
    return false;
}

} // namespace

Result<GeneratorConfig> generatorConfigFromJson(const std::string& jsonText, const GeneratorConfig& base) {
    Json j;
    try {
        j = Json::parse(jsonText);
    } catch (const std::exception& e) {
        return Status::error(ErrorCode::Format, std::string("generator config: invalid JSON: ") + e.what());
    }
    if (!j.is_object()) return Status::error(ErrorCode::Format, "generator config: expected a JSON object");
    GeneratorConfig config = base;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        const Json& v = it.value();
        const Field* field = nullptr;
        for (const Field& f : fields())
            if (key == f.name) field = &f;
        if (!field)
            return Status::error(ErrorCode::InvalidArgument, "generator config: unknown key '" + key + "'");
        bool ok = true;
        std::visit(
            [&](auto ptr) {
                using T = std::remove_reference_t<decltype(config.*ptr)>;
                if constexpr (std::is_same_v<T, std::string>) {
                    ok = v.is_string();
                    if (ok) config.*ptr = v.get<std::string>();
                } else if constexpr (std::is_same_v<T, double>) {
                    ok = v.is_number();
                    if (ok) config.*ptr = v.get<double>();
                } else {
                    ok = readInteger(v, config.*ptr);
                }
            },
            field->ptr);
        if (!ok)
            return Status::error(ErrorCode::InvalidArgument, "generator config: key '" + key +
                                                                 "' has the wrong type or range (" +
                                                                 v.dump() + ")");
    }
    return config;
}

Result<GeneratorConfig> loadGeneratorPreset(const std::string& path, const GeneratorConfig& base) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::error(ErrorCode::Io, "cannot open generator preset '" + path + "'");
    std::stringstream ss;
    ss << in.rdbuf();
    auto r = generatorConfigFromJson(ss.str(), base);
    if (!r.ok()) return Status::error(r.status().code, path + ": " + r.error());
    // A preset file without a "preset" key is named after the file (model = "synthetic:<name>").
    if (!Json::parse(ss.str()).contains("preset")) {
        std::string name =
            path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
        if (auto dot = name.rfind('.'); dot != std::string::npos && dot > 0) name = name.substr(0, dot);
        r->preset = name;
    }
    return r;
}

std::string generatorConfigToJson(const GeneratorConfig& config, int indent) {
    Json j = Json::object();
    for (const Field& f : fields())
        std::visit([&](auto ptr) { j[f.name] = config.*ptr; }, f.ptr);
    return j.dump(indent);
}

Status validateGeneratorConfig(const GeneratorConfig& c) {
    auto bad = [](const std::string& msg) {
        return Status::error(ErrorCode::InvalidArgument, "generator: " + msg);
    };
    if (c.layers < 1 || c.layers > 4096) return bad("layers must be in [1, 4096]");
    if (c.qHeads < 1 || c.qHeads > 1024) return bad("q_heads must be in [1, 1024]");
    if (c.kvHeads < 1 || c.kvHeads > c.qHeads) return bad("kv_heads must be in [1, q_heads]");
    if (c.qHeads % c.kvHeads != 0) return bad("q_heads must be a multiple of kv_heads (GQA)");
    if (c.tokens < 2 || c.tokens > (Index(1) << 22)) return bad("tokens must be in [2, 4194304]");
    if (c.headDim < 8 || c.headDim > 512 || c.headDim % 2 != 0)
        return bad("head_dim must be even, in [8, 512]");
    const Index pairs = c.headDim / 2;
    // semantic_pairs is reduced to fit small heads (Generator::create); sink_pairs is not.
    if (c.sinkPairs < 1 || c.semanticPairs < 1 || c.sinkPairs + 2 > pairs)
        return bad(
            "sink_pairs and semantic_pairs must be >= 1, and sink_pairs must leave at least one semantic and "
            "one positional pair (head_dim/2 = " +
            std::to_string(pairs) + ")");
    if (!(c.ropeTheta > 1.0) || !std::isfinite(c.ropeTheta)) return bad("rope_theta must be > 1");
    if (!(c.positionalRange >= 16.0) || !std::isfinite(c.positionalRange))
        return bad("positional_range must be >= 16");
    const double nonNegative[] = {
        c.sinkLogit,       c.delimiterLogit,   c.delimiterRate,   c.localDecay,      c.baseDecay,
        c.positionalRange, c.heavyHitterLogit, c.heavyHitterSpan, c.needleLogit,     c.noise,
        c.headJitter,      c.sinkHeads,        c.localHeads,      c.heavyHeads,      c.retrievalHeads,
        c.diffuseHeads,    c.diffuseHeadsLast, c.valueStd,        c.valueMean,       c.sinkValueScale,
        c.driftBase,       c.driftEdge,        c.driftJitter,     c.driftTokenSpread};
    for (double v : nonNegative)
        if (!(v >= 0.0) || !std::isfinite(v))
            return bad("logits, decays, rates, fractions and scales must be finite and >= 0");
    if (c.delimiterRate > 0.5) return bad("delimiter_rate must be <= 0.5");
    if (c.heavyHitterShift < 0.0 || c.heavyHitterShift > 1.0)
        return bad("heavy_hitter_shift must be in [0, 1]");
    if (c.sinkHeads + c.localHeads + c.heavyHeads + c.retrievalHeads <= 0.0 &&
        std::min(c.diffuseHeads, c.diffuseHeadsLast) <= 0.0)
        return bad(
            "the head mix (sink_heads, local_heads, heavy_heads, retrieval_heads, diffuse_heads[_last]) is "
            "all zero");
    if (c.diffuseHeads > 1.0 || c.diffuseHeadsLast > 1.0)
        return bad("diffuse_heads[_last] are fractions, <= 1");
    if (c.needles < 0 || c.needles > (1 << 20)) return bad("needles must be in [0, 1048576]");
    if (!(c.questionFraction > 0.0) || c.questionFraction > 1.0)
        return bad("question_fraction must be in (0, 1]");
    if (c.driftBase + c.driftEdge <= 0.0) return bad("drift_base + drift_edge must be > 0");
    return Status::success();
}

} // namespace tsa
