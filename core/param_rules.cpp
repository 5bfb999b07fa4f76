// Parameter rules shared by every front end (see param_rules.h). Plain checks, no allocation on success.
#include "core/param_rules.h"

#include <algorithm>
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

std::string trimmed(const std::string& text) {
    std::size_t begin = 0, end = text.size();
    while (begin < end && (text[begin] == ' ' || text[begin] == '\t'))
        ++begin;
    while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t'))
        --end;
    return text.substr(begin, end - begin);
}

// A whole non-negative decimal integer up to kLayerIdMaximum (no sign, no spaces inside).
bool readLayerId(const std::string& text, int* id) {
    const char* last = text.data() + text.size();
    const auto [stop, ec] = std::from_chars(text.data(), last, *id);
    return !text.empty() && ec == std::errc() && stop == last && *id >= 0 && *id <= kLayerIdMaximum;
}

// The upper bound every integer knob has: far beyond real settings, it keeps sizes from overflowing.
std::string aboveProblem(const char* name, Index value, Index maximum) {
    if (value <= maximum) return {};
    return std::string(name) + " " + std::to_string(value) + " is above " + std::to_string(maximum);
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

std::string windowProblem(Index window) {
    if (window < 1) return "window W must be at least 1, got " + std::to_string(window);
    return aboveProblem("window W", window, kWindowMaximum);
}

std::string poolKernelProblem(Index kernel) {
    if (kernel < 1 || kernel % 2 == 0)
        return "pool kernel k must be a positive odd number (the smoothing is centred), got " +
               std::to_string(kernel);
    return aboveProblem("pool kernel k", kernel, kPoolKernelMaximum);
}

std::string minTokensProblem(Index minTokens) {
    if (minTokens < 0) return "min_tokens must not be negative, got " + std::to_string(minTokens);
    return aboveProblem("min_tokens", minTokens, kMinTokensMaximum);
}

std::string deltaProblem(double delta) {
    if (!(delta >= 0.0 && delta <= 1.0))
        return "drift quantile delta must be in [0, 1], got " + shortNumber(delta);
    return {};
}

std::string tsaParamsProblem(const TsaParams& p) {
    for (std::string bad : {tauProblem(p.tau), windowProblem(p.window), poolKernelProblem(p.poolKernel),
                            minTokensProblem(p.minTokens)})
        if (!bad.empty()) return bad;
    return {};
}

std::string layerPlanProblem(const LayerPlanConfig& plan) {
    if (std::string bad = deltaProblem(plan.delta); !bad.empty()) return bad;
    for (int l : plan.list)
        if (l < 0 || l > kLayerIdMaximum)
            return "sparse layer list: layer " + std::to_string(l) + " is outside 0.." +
                   std::to_string(kLayerIdMaximum);
    return {};
}

std::string parseTau(const std::string& text, double* tau) {
    const std::string t = trimmed(text);
    if (t.empty()) return "tau is empty; type a number such as 0.005 (0 keeps every layer dense)";
    // from_chars ignores the locale (strtod would read "0,005" under a German locale once Qt set it).
    double v = 0.0;
    const char* last = t.data() + t.size();
    const auto [stop, ec] = std::from_chars(t.data(), last, v);
    if (ec != std::errc() || stop != last) return "tau '" + t + "' is not a number";
    std::string problem = tauProblem(v);
    if (problem.empty() && tau) *tau = v;
    return problem;
}

std::string parseLayerList(const std::string& text, std::vector<int>* layers) {
    std::vector<int> out;
    if (!trimmed(text).empty()) {
        std::size_t start = 0;
        while (true) {
            const std::size_t comma = text.find(',', start);
            const std::string item =
                trimmed(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
            const std::size_t dash = item.find('-', 1);
            int a = 0, b = 0;
            const bool ok = dash == std::string::npos ? readLayerId(item, &a) && (b = a, true)
                                                      : readLayerId(trimmed(item.substr(0, dash)), &a) &&
                                                            readLayerId(trimmed(item.substr(dash + 1)), &b);
            if (!ok)
                return "'" + item + "' is not a layer number (0 to " + std::to_string(kLayerIdMaximum) +
                       ") or a range such as 8-11";
            if (b < a) return "'" + item + "' runs backwards; write the lower layer first";
            for (int l = a; l <= b; ++l)
                out.push_back(l);
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    if (layers) *layers = std::move(out);
    return {};
}

std::string layerListText(const std::vector<int>& layers) {
    std::string text;
    for (int l : layers)
        text += (text.empty() ? "" : ",") + std::to_string(l);
    return text;
}

} // namespace tsa
