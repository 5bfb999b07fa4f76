// The sparse-attention methods side by side: their names, one settings struct holding every knob, the
// sweep of each method's main knob, and the two steps every method shares: estimate a Pattern from a
// layer's post-RoPE Q/K, then compute attention for it (runPattern, core/methods/pattern_attention.h: token
// sets gathered, block-sparse kernel, rows scattered back). Every per-method fact (name, estimator, whether
// TSA runs first, the knob a sweep varies and its values) is one row of the registry in methods.cpp; adding
// a method is its file, its MethodKind, its config in MethodSettings with its knobs, and that row
// (docs/methods.md, "Adding a method").
#pragma once

#include "core/kernels/attention.h"
#include "core/methods/flexprefill.h"
#include "core/methods/minference.h"
#include "core/methods/oracle.h"
#include "core/methods/pattern.h"
#include "core/methods/pattern_attention.h"
#include "core/methods/streaming.h"
#include "core/methods/tsa_selection.h"
#include "core/methods/xattention.h"
#include "core/status.h"
#include "core/tensor.h"

#include <atomic>
#include <optional>
#include <string>
#include <vector>

namespace tsa {

enum class MethodKind {
    Tsa,
    MInference,
    FlexPrefill,
    XAttention,
    Streaming,
    Oracle,
    TsaMInference,
    TsaFlexPrefill,
    TsaXAttention,
};

const std::vector<MethodKind>& allMethods();
const char* methodName(MethodKind kind); // "tsa", "minference", ..., "tsa+flexprefill"
// True for TSA and every composition with it: the methods whose pattern starts with TSA's token sets (a tau
// change moves exactly these).
bool usesTsa(MethodKind kind);
std::optional<MethodKind> parseMethodName(const std::string& name);
// "all" or a comma-separated list of names; on failure returns nullopt and sets error naming the entry.
std::optional<std::vector<MethodKind>> parseMethodList(const std::string& text, std::string& error);

struct MethodSettings {
    TsaParams tsa;
    MInferenceConfig minference;
    FlexPrefillConfig flexprefill;
    XAttentionConfig xattention;
    StreamingConfig streaming;
    OracleConfig oracle;
    std::string validate() const; // empty when every knob is valid, else a message naming the parameter
};

std::string validateTsaParams(const TsaParams& params);

// Sets one knob by its qualified name ("flexprefill.gamma", "tsa.tau", ...); returns an error naming it
// when the name is unknown or the value is not an integer where one is needed. Ranges are checked by
// MethodSettings::validate().
std::string setMethodParam(MethodSettings& settings, const std::string& name, double value);
std::vector<std::string> methodParamNames();
// "NAME=VALUE[,NAME=VALUE...]" (the command line's --set): each through setMethodParam; returns an error
// naming the entry that is malformed or unknown, empty on success.
std::string setMethodParams(MethodSettings& settings, const std::string& list);
// Every knob and its value, in methodParamNames() order (sessions, cache keys).
std::vector<std::pair<std::string, double>> methodParamValues(const MethodSettings& settings);

// The knob a sweep varies for a method, its values (ascending density where it can), and how to set it.
struct SweepKnob {
    std::string name;  // "tau", "adaptive_budget", ...
    std::string param; // its qualified name for setMethodParam: "tsa.tau", "minference.adaptive_budget", ...
    std::vector<double> values;
};
SweepKnob sweepKnob(MethodKind kind);
void setSweepKnob(MethodKind kind, double value, MethodSettings& settings);
double sweepKnobValue(MethodKind kind, const MethodSettings& settings); // the knob's current setting

// Estimates the pattern of `kind` on one layer (for tsa+X: TSA's token sets, then X on the compressed
// sequence of each head, in compressed index space, as the authors' hijack orders it; when TSA keeps the
// layer dense, X runs on the full sequence as the hijack does). Pattern::method names the method,
// Pattern::params every knob (tsa+X: TSA's prefixed "tsa.").
Result<Pattern> estimatePattern(MethodKind kind, const LayerQkv& qkv, const MethodSettings& settings);

// Computed causal pairs of head h (in the index space the attention runs in).
Index patternPairs(const Pattern& pattern, Index h);

} // namespace tsa
