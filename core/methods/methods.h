// The sparse-attention methods side by side: their names, one settings struct holding every knob, the
// sweep of each method's main knob, and the two steps every method shares: estimate a Pattern from a
// layer's post-RoPE Q/K, then compute attention for it (token sets gathered, block-sparse kernel, rows
// scattered back). Adding a method: its file in core/methods/, one entry in the lists of methods.cpp.
#pragma once

#include "core/kernels/attention.h"
#include "core/methods/flexprefill.h"
#include "core/methods/minference.h"
#include "core/methods/oracle.h"
#include "core/methods/pattern.h"
#include "core/methods/streaming.h"
#include "core/methods/xattention.h"
#include "core/methods/tsa_selection.h"
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
    std::string name; // "tau", "adaptive_budget", ...
    std::vector<double> values;
};
SweepKnob sweepKnob(MethodKind kind);
void setSweepKnob(MethodKind kind, double value, MethodSettings& settings);

// Estimates the pattern of `kind` on one layer (for tsa+X: TSA's token sets, then X on the compressed
// sequence of each head, in compressed index space, as the authors' hijack orders it; when TSA keeps the
// layer dense, X runs on the full sequence as the hijack does). Pattern::method names the method,
// Pattern::params every knob (tsa+X: TSA's prefixed "tsa.").
Result<Pattern> estimatePattern(MethodKind kind, const LayerQkv& qkv, const MethodSettings& settings);

// Attention for a pattern: out [Hq, L, D] (dropped rows zero), lse [Hq, L] (NaN for dropped rows, -inf for
// rows computing no key). With token sets, each head's kept rows of Q and K/V are gathered into compact
// [Hq, kept, D] tensors, the block stage runs on them and the rows are scattered back.
Status runPattern(const LayerQkv& qkv, const Pattern& pattern, View3 out, float* lse,
                  const AttentionConfig& config = {});

// Computed causal pairs of head h (in the index space the attention runs in).
Index patternPairs(const Pattern& pattern, Index h);

} // namespace tsa
