// The rules a user-typed parameter must satisfy, in one place: `tsa run`, `tsa compare`, `tsa export`, the
// explorer's command line, its controls, session files, the Python module and core's own entry points all
// ask here, so no front end accepts a value another refuses. Each check returns an empty string for a
// usable value, else one sentence that names the parameter and the problem (callers prefix it with their
// option or field name where that helps, e.g. "--window: ").
#pragma once

#include "core/methods/layer_plan.h"
#include "core/methods/tsa_selection.h"
#include "core/tensor.h"

#include <string>
#include <vector>

namespace tsa {

// tau above one half would let the dropped tokens carry most of the layer's attention: that is no longer an
// approximation of the layer, and the paper's settings are far below it (0.005 by default).
inline constexpr double kTauMaximum = 0.5;
// The upper bounds are far beyond any real setting; they keep typed values from overflowing the sizes
// computed from them (W x L scratch, kernel loops).
inline constexpr Index kWindowMaximum = Index(1) << 20;
inline constexpr Index kPoolKernelMaximum = 1001;
inline constexpr Index kMinTokensMaximum = Index(1) << 30;
// No model has this many layers; bounds a typed range such as 0-99999999.
inline constexpr int kLayerIdMaximum = 100000;

// tau must be a finite number in [0, kTauMaximum]; 0 asks for the dense baseline (every layer dense).
std::string tauProblem(double tau);
// window W: the last W queries score the prefix and are always kept; 1 to kWindowMaximum.
std::string windowProblem(Index window);
// pool kernel k: width of the centred moving average; odd (it has a centre), 1 to kPoolKernelMaximum.
std::string poolKernelProblem(Index kernel);
// min_tokens: lower bound on the kept prefix tokens per head; 0 to kMinTokensMaximum.
std::string minTokensProblem(Index minTokens);
// delta: the drift quantile of --sparse-layers drift, in [0, 1].
std::string deltaProblem(double delta);

// The first problem of a TSA setting (tau, W, k, min_tokens in that order), or empty.
std::string tsaParamsProblem(const TsaParams& params);
// The first problem of a layer plan (delta; list entries in 0..kLayerIdMaximum), or empty. Whether a listed
// layer exists is a question for the file (planCaptureLayers).
std::string layerPlanProblem(const LayerPlanConfig& plan);

// Parses text as tau ("0", "0.005", "1e-5"; surrounding spaces allowed) and checks it with tauProblem.
// Returns an empty string and sets *tau, or the reason the text is refused ("'abc' is not a number").
std::string parseTau(const std::string& text, double* tau);

// The one layer-list syntax ("0,3,8-11", spaces around items allowed): non-negative layer ids and
// ascending ranges. The result is sorted with duplicates removed; empty text gives an empty list (a
// caller that needs a layer says so). Returns an empty string and sets *layers, or the problem with the
// offending item ("'x' is not a layer number or a range such as 8-11"); *layers is untouched then.
std::string parseLayerList(const std::string& text, std::vector<int>* layers);
// "4,9,16,17,18": the text parseLayerList reads back to the same list.
std::string layerListText(const std::vector<int>& layers);

} // namespace tsa
