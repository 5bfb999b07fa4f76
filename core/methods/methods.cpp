// Method names, settings validation, sweeps, the estimate step (including TSA -> method composition in
// compressed index space) and the attention step for any Pattern. Composition costs one gather of Q/K/V
// into [Hq, kept, D] (3 * Hq * kept * D floats) on top of the method's own cost on `kept` tokens.
#include "core/methods/methods.h"

#include "core/kernels/block_sparse_attention.h"
#include "core/param_rules.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace tsa {

namespace {

struct NameEntry {
    MethodKind kind;
    const char* name;
};
constexpr NameEntry kNames[] = {
    {MethodKind::Tsa, "tsa"},
    {MethodKind::MInference, "minference"},
    {MethodKind::FlexPrefill, "flexprefill"},
    {MethodKind::XAttention, "xattention"},
    {MethodKind::Streaming, "streaming"},
    {MethodKind::Oracle, "oracle"},
    {MethodKind::TsaMInference, "tsa+minference"},
    {MethodKind::TsaFlexPrefill, "tsa+flexprefill"},
    {MethodKind::TsaXAttention, "tsa+xattention"},
};

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

Result<Pattern> blockMethod(MethodKind kind, const LayerQkv& qkv, const MethodSettings& s) {
    switch (kind) {
    case MethodKind::MInference:
    case MethodKind::TsaMInference:
        return minferencePattern(qkv.q.cview(), qkv.k.cview(), s.minference);
    case MethodKind::FlexPrefill:
    case MethodKind::TsaFlexPrefill:
        return flexprefillPattern(qkv.q.cview(), qkv.k.cview(), s.flexprefill);
    case MethodKind::XAttention:
    case MethodKind::TsaXAttention:
        return xattentionPattern(qkv.q.cview(), qkv.k.cview(), s.xattention);
    case MethodKind::Streaming:
        return streamingPattern(qkv.qHeads(), qkv.tokens(), s.streaming);
    case MethodKind::Oracle:
        return oraclePattern(qkv.q.cview(), qkv.k.cview(), qkv.v.cview(), s.oracle);
    case MethodKind::Tsa:
        break;
    }
    return Status::error(ErrorCode::InvalidArgument, "not a block-sparse method");
}

} // namespace

const std::vector<MethodKind>& allMethods() {
    static const std::vector<MethodKind> all = [] {
        std::vector<MethodKind> v;
        for (const NameEntry& e : kNames)
            v.push_back(e.kind);
        return v;
    }();
    return all;
}

const char* methodName(MethodKind kind) {
    for (const NameEntry& e : kNames)
        if (e.kind == kind) return e.name;
    return "?";
}

std::optional<MethodKind> parseMethodName(const std::string& name) {
    for (const NameEntry& e : kNames)
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
            for (const NameEntry& e : kNames)
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
    switch (kind) {
    case MethodKind::Tsa:
        return {"tau", {0.1, 0.05, 0.02, 0.01, 0.005, 0.001}};
    case MethodKind::MInference:
    case MethodKind::TsaMInference:
        return {"adaptive_budget", {0.02, 0.05, 0.1, 0.2, 0.4}};
    case MethodKind::FlexPrefill:
    case MethodKind::TsaFlexPrefill:
        return {"gamma", {0.8, 0.9, 0.95, 0.99}};
    case MethodKind::XAttention:
    case MethodKind::TsaXAttention:
        return {"threshold", {0.7, 0.8, 0.9, 0.95}};
    case MethodKind::Streaming:
        return {"local", {128, 256, 512, 1024, 2048}};
    case MethodKind::Oracle:
        return {"density", {0.05, 0.1, 0.2, 0.3, 0.5}};
    }
    return {};
}

void setSweepKnob(MethodKind kind, double value, MethodSettings& s) {
    switch (kind) {
    case MethodKind::Tsa:
        s.tsa.tau = value;
        break;
    case MethodKind::MInference:
    case MethodKind::TsaMInference:
        s.minference.adaptiveBudget = value;
        break;
    case MethodKind::FlexPrefill:
    case MethodKind::TsaFlexPrefill:
        s.flexprefill.gamma = value;
        break;
    case MethodKind::XAttention:
    case MethodKind::TsaXAttention:
        s.xattention.threshold = value;
        break;
    case MethodKind::Streaming:
        s.streaming.localTokens = Index(value);
        break;
    case MethodKind::Oracle:
        s.oracle.density = value;
        break;
    }
}

Result<Pattern> estimatePattern(MethodKind kind, const LayerQkv& qkv, const MethodSettings& settings) {
    if (std::string bad = settings.validate(); !bad.empty())
        return Status::error(ErrorCode::InvalidArgument, bad);
    const bool composed = kind == MethodKind::Tsa || kind == MethodKind::TsaMInference ||
                          kind == MethodKind::TsaFlexPrefill || kind == MethodKind::TsaXAttention;
    if (!composed) return blockMethod(kind, qkv, settings);

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
        if (sel.sparse) {
            pattern.tokenSets.qHeads = sel.qHeads;
            pattern.tokenSets.tokens = sel.tokens;
            pattern.tokenSets.kept = sel.kept;
            pattern.tokenSets.indices = std::move(sel.indices);
        }
    }
    if (kind != MethodKind::Tsa) {
        Result<Pattern> inner = pattern.tokenSets.empty()
                                    ? blockMethod(kind, qkv, settings)
                                    : blockMethod(kind, gatherTokens(qkv, pattern.tokenSets), settings);
        if (!inner.ok()) return inner.status();
        pattern.blocks = std::move(inner->blocks);
        pattern.vertical = std::move(inner->vertical);
        pattern.slash = std::move(inner->slash);
        pattern.params = std::move(inner->params);
    }
    for (const auto& [name, value] : tsaParamList(settings.tsa))
        pattern.params.emplace_back(kind == MethodKind::Tsa ? name : "tsa." + name, value);
    pattern.method = methodName(kind);
    return pattern;
}

Status runPattern(const LayerQkv& qkv, const Pattern& pattern, View3 out, float* lse,
                  const AttentionConfig& config) {
    if (pattern.tokenSets.empty())
        return blockSparseAttention(qkv.q.cview(), qkv.k.cview(), qkv.v.cview(), pattern.blocks, out, lse,
                                    config);
    const TokenSets& sets = pattern.tokenSets;
    const LayerQkv compact = gatherTokens(qkv, sets);
    Tensor3 compactOut(compact.q.heads, sets.kept, compact.q.dim);
    std::vector<float> compactLse(static_cast<std::size_t>(compact.q.heads * sets.kept));
    if (Status st = blockSparseAttention(compact.q.cview(), compact.k.cview(), compact.v.cview(),
                                         pattern.blocks, compactOut.view(), compactLse.data(), config);
        !st.ok())
        return st;
    const Index H = out.heads, L = out.tokens, D = out.dim;
    std::fill(out.data, out.data + H * L * D, 0.0f);
    if (lse) std::fill(lse, lse + H * L, std::numeric_limits<float>::quiet_NaN());
    for (Index h = 0; h < H; ++h) {
        const std::int32_t* idx = sets.head(h);
        for (Index t = 0; t < sets.kept; ++t) {
            std::copy_n(compactOut.row(h, t), D, out.row(h, idx[t]));
            if (lse) lse[h * L + idx[t]] = compactLse[h * sets.kept + t];
        }
    }
    return Status::success();
}

Index patternPairs(const Pattern& pattern, Index h) {
    return computedPairs(pattern.blocks, pattern.length(), h);
}

} // namespace tsa
