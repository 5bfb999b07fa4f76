// The methods' registry (one row per method: name, estimator, TSA first or not, sweep knob), settings
// validation, sweeps and the estimate step (including TSA -> method composition in compressed index space).
// Composition costs one gather of Q/K/V into [Hq, kept, D] (3 * Hq * kept * D floats) on top of the method's
// own cost on `kept` tokens.
#include "core/methods/methods.h"

#include "core/param_rules.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace tsa {

namespace {

// Estimates the block stage of a method over q/k [Hq, n, D] (compressed when TSA ran first).
using BlockEstimator = Result<Pattern> (*)(const LayerQkv& qkv, const MethodSettings& settings);

// The registry: every per-method fact, one row per method. Compositions name their block method's estimator
// and set tsaFirst; TSA alone has no estimator (its pattern is the token sets).
struct MethodEntry {
    MethodKind kind;
    const char* name;
    bool tsaFirst;
    BlockEstimator estimate;
    const char* knob; // the qualified parameter a sweep varies
    std::vector<double> sweep;
};

Result<Pattern> estimateMInference(const LayerQkv& l, const MethodSettings& s) {
    return minferencePattern(l.q.cview(), l.k.cview(), s.minference);
}
Result<Pattern> estimateFlexPrefill(const LayerQkv& l, const MethodSettings& s) {
    return flexprefillPattern(l.q.cview(), l.k.cview(), s.flexprefill);
}
Result<Pattern> estimateXAttention(const LayerQkv& l, const MethodSettings& s) {
    return xattentionPattern(l.q.cview(), l.k.cview(), s.xattention);
}
Result<Pattern> estimateStreaming(const LayerQkv& l, const MethodSettings& s) {
    return streamingPattern(l.qHeads(), l.tokens(), s.streaming);
}
Result<Pattern> estimateOracle(const LayerQkv& l, const MethodSettings& s) {
    return oraclePattern(l.q.cview(), l.k.cview(), l.v.cview(), s.oracle);
}

const std::vector<MethodEntry>& registry() {
    static const std::vector<MethodEntry> entries = {
        {MethodKind::Tsa, "tsa", true, nullptr, "tsa.tau", {0.1, 0.05, 0.02, 0.01, 0.005, 0.001}},
        {MethodKind::MInference,
         "minference",
         false,
         estimateMInference,
         "minference.adaptive_budget",
         {0.02, 0.05, 0.1, 0.2, 0.4}},
        {MethodKind::FlexPrefill,
         "flexprefill",
         false,
         estimateFlexPrefill,
         "flexprefill.gamma",
         {0.8, 0.9, 0.95, 0.99}},
        {MethodKind::XAttention,
         "xattention",
         false,
         estimateXAttention,
         "xattention.threshold",
         {0.7, 0.8, 0.9, 0.95}},
        {MethodKind::Streaming,
         "streaming",
         false,
         estimateStreaming,
         "streaming.local",
         {128, 256, 512, 1024, 2048}},
        {MethodKind::Oracle, "oracle", false, estimateOracle, "oracle.density", {0.05, 0.1, 0.2, 0.3, 0.5}},
        {MethodKind::TsaMInference,
         "tsa+minference",
         true,
         estimateMInference,
         "minference.adaptive_budget",
         {0.02, 0.05, 0.1, 0.2, 0.4}},
        {MethodKind::TsaFlexPrefill,
         "tsa+flexprefill",
         true,
         estimateFlexPrefill,
         "flexprefill.gamma",
         {0.8, 0.9, 0.95, 0.99}},
        {MethodKind::TsaXAttention,
         "tsa+xattention",
         true,
         estimateXAttention,
         "xattention.threshold",
         {0.7, 0.8, 0.9, 0.95}},
    };
    return entries;
}

const MethodEntry& entry(MethodKind kind) {
    for (const MethodEntry& e : registry())
        if (e.kind == kind) return e;
    return registry().front(); // not reached: a MethodKind without a row is a bug the registry test names
}

std::vector<std::pair<std::string, double>> tsaParamList(const TsaParams& p) {
    return {{"tau", p.tau},
            {"window", double(p.window)},
            {"pool_kernel", double(p.poolKernel)},
            {"min_tokens", double(p.minTokens)}};
}

// Q/K/V of each head's kept tokens: q [Hq, kept, D]; k, v [Hq, kept, D] (the query head's kv head).
LayerQkv gatherTokens(const LayerQkv& qkv, const TokenSets& sets) {
    const Index H = qkv.qHeads(), n = sets.kept, D = qkv.headDim(), group = qkv.groupSize();
    LayerQkv compact{Tensor3(H, n, D), Tensor3(H, n, D), Tensor3(H, n, D)};
#pragma omp parallel for schedule(static)
    for (Index h = 0; h < H; ++h) {
        const std::int32_t* idx = sets.head(h);
        for (Index t = 0; t < n; ++t) {
            std::copy_n(qkv.q.row(h, idx[t]), D, compact.q.row(h, t));
            std::copy_n(qkv.k.row(h / group, idx[t]), D, compact.k.row(h, t));
            std::copy_n(qkv.v.row(h / group, idx[t]), D, compact.v.row(h, t));
        }
    }
    return compact;
}

} // namespace

const std::vector<MethodKind>& allMethods() {
    static const std::vector<MethodKind> all = [] {
        std::vector<MethodKind> v;
        for (const MethodEntry& e : registry())
            v.push_back(e.kind);
        return v;
    }();
    return all;
}

const char* methodName(MethodKind kind) {
    return entry(kind).name;
}

bool usesTsa(MethodKind kind) {
    return entry(kind).tsaFirst;
}

std::optional<MethodKind> parseMethodName(const std::string& name) {
    for (const MethodEntry& e : registry())
        if (name == e.name) return e.kind;
    return std::nullopt;
}

std::optional<std::vector<MethodKind>> parseMethodList(const std::string& text, std::string& error) {
    if (text == "all") return allMethods();
    std::vector<MethodKind> kinds;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        const auto kind = parseMethodName(item);
        if (!kind) {
            error = "unknown method '" + item + "' (known: all";
            for (const MethodEntry& e : registry())
                error += std::string(", ") + e.name;
            error += ")";
            return std::nullopt;
        }
        if (std::find(kinds.begin(), kinds.end(), *kind) == kinds.end()) kinds.push_back(*kind);
    }
    if (kinds.empty()) {
        error = "empty method list";
        return std::nullopt;
    }
    return kinds;
}

std::string validateTsaParams(const TsaParams& p) {
    // The shared rules (core/param_rules.h), each prefixed with the name of its --set knob.
    const std::pair<const char*, std::string> checks[] = {
        {"tsa.tau", tauProblem(p.tau)},
        {"tsa.window", windowProblem(p.window)},
        {"tsa.pool_kernel", poolKernelProblem(p.poolKernel)},
        {"tsa.min_tokens", minTokensProblem(p.minTokens)}};
    for (const auto& [knob, problem] : checks)
        if (!problem.empty()) return std::string(knob) + ": " + problem;
    return {};
}

std::string MethodSettings::validate() const {
    for (const std::string& bad : {validateTsaParams(tsa), minference.validate(), flexprefill.validate(),
                                   xattention.validate(), streaming.validate(), oracle.validate()})
        if (!bad.empty()) return bad;
    return {};
}

namespace {

struct ParamRef {
    const char* name;
    double* real = nullptr;
    Index* integer = nullptr;
};

std::vector<ParamRef> paramRefs(MethodSettings& s) {
    return {
        {"tsa.tau", &s.tsa.tau},
        {"tsa.window", nullptr, &s.tsa.window},
        {"tsa.pool_kernel", nullptr, &s.tsa.poolKernel},
        {"tsa.min_tokens", nullptr, &s.tsa.minTokens},
        {"minference.adaptive_budget", &s.minference.adaptiveBudget},
        {"minference.vertical_share", &s.minference.verticalShare},
        {"minference.slash_share", &s.minference.slashShare},
        {"minference.vertical_size", nullptr, &s.minference.verticalSize},
        {"minference.slash_size", nullptr, &s.minference.slashSize},
        {"minference.min_vertical", nullptr, &s.minference.minVertical},
        {"minference.min_slash", nullptr, &s.minference.minSlash},
        {"minference.last_queries", nullptr, &s.minference.lastQueries},
        {"minference.forced_columns", nullptr, &s.minference.forcedColumns},
        {"minference.forced_diagonals", nullptr, &s.minference.forcedDiagonals},
        {"minference.block_rows", nullptr, &s.minference.blockRows},
        {"minference.score_head_dim", nullptr, &s.minference.scoreHeadDim},
        {"flexprefill.block_size", nullptr, &s.flexprefill.blockSize},
        {"flexprefill.gamma", &s.flexprefill.gamma},
        {"flexprefill.tau", &s.flexprefill.tau},
        {"flexprefill.min_budget", nullptr, &s.flexprefill.minBudget},
        {"flexprefill.max_budget", nullptr, &s.flexprefill.maxBudget},
        {"flexprefill.cover_divisor", nullptr, &s.flexprefill.coverDivisor},
        {"xattention.block_size", nullptr, &s.xattention.blockSize},
        {"xattention.stride", nullptr, &s.xattention.stride},
        {"xattention.threshold", &s.xattention.threshold},
        {"xattention.norm", &s.xattention.norm},
        {"streaming.sink", nullptr, &s.streaming.sinkTokens},
        {"streaming.local", nullptr, &s.streaming.localTokens},
        {"streaming.block_rows", nullptr, &s.streaming.blockRows},
        {"oracle.density", &s.oracle.density},
        {"oracle.tile", nullptr, &s.oracle.tile},
    };
}

} // namespace

std::string setMethodParam(MethodSettings& settings, const std::string& name, double value) {
    for (const ParamRef& p : paramRefs(settings)) {
        if (name != p.name) continue;
        if (p.real) {
            *p.real = value;
        } else {
            if (!(std::isfinite(value) && value == std::floor(value) && std::abs(value) < 9.0e15))
                return name + " must be an integer, got " + std::to_string(value);
            *p.integer = Index(value);
        }
        return {};
    }
    std::string known;
    for (const std::string& n : methodParamNames())
        known += (known.empty() ? "" : ", ") + n;
    return "unknown parameter '" + name + "' (known: " + known + ")";
}

std::vector<std::string> methodParamNames() {
    MethodSettings scratch;
    std::vector<std::string> names;
    for (const ParamRef& p : paramRefs(scratch))
        names.push_back(p.name);
    return names;
}

std::string setMethodParams(MethodSettings& settings, const std::string& list) {
    std::size_t start = 0;
    while (start <= list.size()) {
        const std::size_t comma = std::min(list.find(',', start), list.size());
        const std::string item = list.substr(start, comma - start);
        start = comma + 1;
        const auto eq = item.find('=');
        char* end = nullptr;
        const double value = eq == std::string::npos ? 0.0 : std::strtod(item.c_str() + eq + 1, &end);
        if (eq == std::string::npos || end == item.c_str() + eq + 1 || *end != '\0')
            return "expected NAME=NUMBER, got '" + item + "'";
        if (std::string bad = setMethodParam(settings, item.substr(0, eq), value); !bad.empty()) return bad;
    }
    return {};
}

std::vector<std::pair<std::string, double>> methodParamValues(const MethodSettings& settings) {
    MethodSettings copy = settings; // paramRefs hands out mutable pointers
    std::vector<std::pair<std::string, double>> values;
    for (const ParamRef& p : paramRefs(copy))
        values.emplace_back(p.name, p.real ? *p.real : double(*p.integer));
    return values;
}

SweepKnob sweepKnob(MethodKind kind) {
    const MethodEntry& e = entry(kind);
    const std::string param = e.knob;
    return {param.substr(param.find('.') + 1), param, e.sweep};
}

void setSweepKnob(MethodKind kind, double value, MethodSettings& settings) {
    // Sweep values are valid for their knob (integers where it needs one), so this cannot fail.
    setMethodParam(settings, entry(kind).knob, value);
}

double sweepKnobValue(MethodKind kind, const MethodSettings& settings) {
    const std::string param = entry(kind).knob;
    for (const auto& [name, value] : methodParamValues(settings))
        if (name == param) return value;
    return 0.0;
}

Result<Pattern> estimatePattern(MethodKind kind, const LayerQkv& qkv, const MethodSettings& settings) {
    if (std::string bad = settings.validate(); !bad.empty())
        return Status::error(ErrorCode::InvalidArgument, bad);
    const MethodEntry& method = entry(kind);
    if (!method.tsaFirst) return method.estimate(qkv, settings);

    Pattern pattern;
    pattern.qHeads = qkv.qHeads();
    pattern.tokens = qkv.tokens();
    if (!layerStaysDense(qkv.tokens(), settings.tsa)) {
        ScoringConfig scoring;
        scoring.window = settings.tsa.window;
        scoring.poolKernel = settings.tsa.poolKernel;
        scoring.rankHeads = false;
        auto scores = scoreLayer(qkv, scoring);
        if (!scores.ok()) return scores.status();
        Selection sel = selectTokens(*scores, qkv.qHeads(), qkv.tokens(), settings.tsa);
        // TSA's pattern is its selection's token sets (a dense selection has none).
        if (sel.sparse) pattern.tokenSets = std::move(static_cast<TokenSets&>(sel));
    }
    if (method.estimate) {
        Result<Pattern> inner = pattern.tokenSets.empty()
                                    ? method.estimate(qkv, settings)
                                    : method.estimate(gatherTokens(qkv, pattern.tokenSets), settings);
        if (!inner.ok()) return inner.status();
        pattern.blocks = std::move(inner->blocks);
        pattern.vertical = std::move(inner->vertical);
        pattern.slash = std::move(inner->slash);
        pattern.params = std::move(inner->params);
    }
    for (const auto& [name, value] : tsaParamList(settings.tsa))
        pattern.params.emplace_back(method.estimate ? "tsa." + name : name, value);
    pattern.method = method.name;
    return pattern;
}

Index patternPairs(const Pattern& pattern, Index h) {
    return computedPairs(pattern.blocks, pattern.length(), h);
}

} // namespace tsa
