// The rules a user-typed selection parameter must satisfy, in one place: `tsa run`, `tsa export`, the
// explorer's command line, its tau field and session files all ask here, so no front end accepts a value
// another refuses. Each check returns an empty string for a usable value, else one sentence that names the
// parameter and the problem (callers prefix it with their option or field name where that helps).
#pragma once

#include <string>

namespace tsa {

// tau above one half would let the dropped tokens carry most of the layer's attention: that is no longer an
// approximation of the layer, and the paper's settings are far below it (0.005 by default).
inline constexpr double kTauMaximum = 0.5;

// tau must be a finite number in [0, kTauMaximum]; 0 asks for the dense baseline (every layer dense).
std::string tauProblem(double tau);

// Parses text as tau ("0", "0.005", "1e-5"; surrounding spaces allowed) and checks it with tauProblem.
// Returns an empty string and sets *tau, or the reason the text is refused ("'abc' is not a number").
std::string parseTau(const std::string& text, double* tau);

} // namespace tsa
