#include "views/token_range.h"

#include <algorithm>
#include <cmath>

namespace tsa::views {

TokenRange TokenRange::clamped(qint64 total, qint64 minSpan) const {
    if (total <= 0) return {0, 0};
    qint64 span = std::clamp(size(), std::min(minSpan, total), total);
    qint64 b = std::clamp(begin, qint64(0), total - span);
    return {b, b + span};
}

TokenRange TokenRange::zoomed(double factor, double anchor, qint64 total, qint64 minSpan) const {
    const double span = std::max(1.0, double(size()) * factor);
    const double pivot = double(begin) + anchor * double(size());
    const qint64 b = static_cast<qint64>(std::llround(pivot - anchor * span));
    const qint64 s = static_cast<qint64>(std::llround(span));
    return TokenRange{b, b + s}.clamped(total, minSpan);
}

TokenRange TokenRange::panned(qint64 delta, qint64 total) const {
    return TokenRange{begin + delta, end + delta}.clamped(total, 1);
}

} // namespace tsa::views
