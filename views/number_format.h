// Number formatting shared by axes, tooltips and CSV, so a value reads the same everywhere.
#pragma once

#include <QString>

namespace tsa::views::fmt {

// Short human form with up to `digits` significant digits: 0.00512, 0.00034, 1.2e-07, 3.14; NaN as "n/a".
QString value(double v, int digits = 4);
// Full precision for CSV (round-trips a float/double closely enough for analysis), NaN as empty.
QString csvValue(double v);
// Integer with thousands separators: 131072 -> "131,072".
QString integer(qint64 n);
// Compact token counts for axes: 4096 -> "4096", 8000 -> "8k", 1500 -> "1.5k", 20000 -> "20k", 131072 ->
// "131k".
QString tokenTick(double v);
// Fraction as percent: 0.523 -> "52.3%".
QString percent(double fraction, int decimals = 1);
// Tick label for a linear axis whose ticks are `step` apart (as many decimals as the step needs).
QString linearTick(double v, double step);
// Tick label for a log axis: 1e-05, 0.001, 0.01, 0.1, 1, 10, 100, 1e+04.
QString logTick(double v);

} // namespace tsa::views::fmt
