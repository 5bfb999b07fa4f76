#include "views/axis_scale.h"

#include <algorithm>
#include <cmath>

namespace tsa::views {

double AxisScale::unit(double v) const {
    if (log) {
        const double l = std::log10(std::max(lo, 1e-300));
        const double h = std::log10(std::max(hi, 1e-300));
        if (!(v > 0.0)) return 0.0;
        return h > l ? (std::log10(v) - l) / (h - l) : 0.5;
    }
    return hi != lo ? (v - lo) / (hi - lo) : 0.5; // hi < lo: a reversed axis
}

double AxisScale::unitClamped(double v) const {
    const double u = unit(v);
    return u < 0.0 ? 0.0 : (u > 1.0 ? 1.0 : u);
}

double AxisScale::value(double u) const {
    if (log) {
        const double l = std::log10(lo);
        const double h = std::log10(hi);
        return std::pow(10.0, l + u * (h - l));
    }
    return lo + u * (hi - lo);
}

AxisScale AxisScale::linear(double lo, double hi) {
    if (!std::isfinite(lo) || !std::isfinite(hi)) return {0.0, 1.0, false};
    if (hi <= lo) {
        const double pad = lo == 0.0 ? 1.0 : std::fabs(lo) * 0.5;
        return {lo - pad, hi + pad, false};
    }
    return {lo, hi, false};
}

AxisScale AxisScale::logarithmic(double lo, double hi, double floor) {
    floor = std::max(floor, 1e-300);
    if (!std::isfinite(hi) || hi <= floor) hi = 1.0;
    if (!std::isfinite(lo) || lo < floor) lo = floor;
    if (hi <= lo) {
        lo = hi / 10.0;
        hi = hi * 10.0;
    }
    return {lo, hi, true};
}

AxisScale errorColourScale(double minPositive, double maxValue) {
    const double centre = -2.0;
    double d = 1.0;
    if (minPositive > 0) d = std::max(d, centre - std::log10(minPositive));
    if (maxValue > 0) d = std::max(d, std::log10(maxValue) - centre);
    d = std::min(std::ceil(d - 1e-9), 6.0);
    return AxisScale{std::pow(10.0, centre - d), std::pow(10.0, centre + d), true};
}

namespace {

double niceStep(double range, int maxTicks) {
    const double raw = range / std::max(1, maxTicks);
    const double mag = std::pow(10.0, std::floor(std::log10(raw)));
    const double norm = raw / mag;
    const double nice = norm <= 1.0 ? 1.0 : (norm <= 2.0 ? 2.0 : (norm <= 5.0 ? 5.0 : 10.0));
    return nice * mag;
}

} // namespace

std::vector<double> niceLinearTicks(double lo, double hi, int maxTicks, double* stepOut) {
    std::vector<double> ticks;
    if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return ticks;
    const double step = niceStep(hi - lo, maxTicks);
    if (stepOut) *stepOut = step;
    const double eps = step * 1e-9;
    for (double t = std::ceil((lo - eps) / step) * step; t <= hi + eps; t += step)
        ticks.push_back(t);
    return ticks;
}

std::vector<double> niceIntegerTicks(double lo, double hi, int maxTicks, double* stepOut) {
    std::vector<double> ticks;
    if (!(hi > lo)) return ticks;
    const double step = std::max(1.0, niceStep(hi - lo, maxTicks));
    if (stepOut) *stepOut = step;
    for (double t = std::ceil(lo / step) * step; t <= hi + 1e-9; t += step)
        ticks.push_back(t);
    return ticks;
}

std::vector<double> niceLogTicks(double lo, double hi, int maxTicks) {
    std::vector<double> ticks;
    if (!(lo > 0.0) || !(hi > lo)) return ticks;
    const int e0 = static_cast<int>(std::ceil(std::log10(lo) - 1e-9));
    const int e1 = static_cast<int>(std::floor(std::log10(hi) + 1e-9));
    const int decades = e1 - e0 + 1;
    if (decades < 2) {
        // Under two decades a pure power-of-ten axis would show one label or none: add 2x and 5x.
        for (int e = e0 - 1; e <= e1; ++e)
            for (double m : {1.0, 2.0, 5.0}) {
                const double t = m * std::pow(10.0, e);
                if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push_back(t);
            }
        return ticks;
    }
    const int stride = std::max(1, (decades + maxTicks - 1) / std::max(1, maxTicks));
    for (int e = e0; e <= e1; ++e)
        if ((e - e0) % stride == 0) ticks.push_back(std::pow(10.0, e));
    return ticks;
}

} // namespace tsa::views
