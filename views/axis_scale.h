// Mapping between data values and the unit interval, linear or logarithmic, and "nice" tick positions.
// Used by axes and colour bars alike so a colour bar's ticks line up with the colours of the plot.
#pragma once

#include <vector>

namespace tsa::views {

struct AxisScale {
    double lo = 0.0;
    double hi = 1.0;
    bool log = false;

    // Value -> [0, 1] (not clamped). On a log scale values <= 0 map to the low end, never to NaN.
    double unit(double v) const;
    double unitClamped(double v) const;
    // [0, 1] -> value.
    double value(double u) const;
    bool valid() const { return hi > lo && (!log || lo > 0.0); }

    // A linear scale over [lo, hi]; widened when the range is empty so it can still be drawn.
    static AxisScale linear(double lo, double hi);
    // A log scale over [lo, hi]; lo is raised to a positive floor (zeros cannot sit on a log axis).
    static AxisScale logarithmic(double lo, double hi, double floor = 1e-12);
};

// Log scale for output errors, centred on 1% (white on the diverging "rdbu" map: blue below 1%, red
// above) and widened by whole decades to cover [minPositive, maxValue].
AxisScale errorColourScale(double minPositive, double maxValue);

// 1-2-5 steps, at most about maxTicks ticks inside [lo, hi].
std::vector<double> niceLinearTicks(double lo, double hi, int maxTicks, double* stepOut = nullptr);
// Powers of ten inside [lo, hi] (thinned to maxTicks); adds 2x and 5x ticks when the range spans under two
// decades.
std::vector<double> niceLogTicks(double lo, double hi, int maxTicks);
// Integer-valued 1-2-5 ticks (token positions, layer and head indices): the step is at least 1.
std::vector<double> niceIntegerTicks(double lo, double hi, int maxTicks, double* stepOut = nullptr);

} // namespace tsa::views
