// Parameter rules shared by every front end (see param_rules.h). Plain checks, no allocation on success.
#include "core/param_rules.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tsa {

namespace {

std::string shortNumber(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

} // namespace

std::string tauProblem(double tau) {
    if (!std::isfinite(tau)) return "tau must be a finite number";
    if (tau < 0.0)
        return "tau " + shortNumber(tau) +
               " is negative; it is a share of attention mass (0 keeps every layer dense)";
    if (tau > kTauMaximum)
        return "tau " + shortNumber(tau) + " is above " + shortNumber(kTauMaximum) +
               ": the dropped tokens could carry most of the attention (use 0 for dense)";
    return {};
}

std::string parseTau(const std::string& text, double* tau) {
    std::size_t begin = 0, end = text.size();
    while (begin < end && (text[begin] == ' ' || text[begin] == '\t'))
        ++begin;
    while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t'))
        --end;
    const std::string trimmed = text.substr(begin, end - begin);
    if (trimmed.empty()) return "tau is empty; type a number such as 0.005 (0 keeps every layer dense)";
    // from_chars ignores the locale (strtod would read "0,005" under a German locale once Qt set it).
    double v = 0.0;
    const char* last = trimmed.data() + trimmed.size();
    const auto [stop, ec] = std::from_chars(trimmed.data(), last, v);
    if (ec != std::errc() || stop != last) return "tau '" + trimmed + "' is not a number";
    std::string problem = tauProblem(v);
    if (problem.empty() && tau) *tau = v;
    return problem;
}

} // namespace tsa
