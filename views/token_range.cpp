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

void TokenZoom::reset(qint64 total) {
    m_total = std::max<qint64>(0, total);
    m_range = {0, m_total};
    m_dragging = false;
}

bool TokenZoom::setRange(TokenRange range) {
    const TokenRange next = range.clamped(m_total, kMinVisibleTokens);
    if (next == m_range) return false;
    m_range = next;
    return true;
}

bool TokenZoom::wheel(int angleDelta, double anchor) {
    if (m_total <= 0 || angleDelta == 0) return false;
    const double factor = std::pow(0.8, angleDelta / 120.0);
    return setRange(m_range.zoomed(factor, std::clamp(anchor, 0.0, 1.0), m_total, kMinVisibleTokens));
}

void TokenZoom::press(double fraction) {
    m_dragging = true;
    m_pressFraction = fraction;
    m_pressRange = m_range;
}

bool TokenZoom::drag(double fraction) {
    if (!m_dragging) return false;
    const auto delta =
        static_cast<qint64>(std::llround((m_pressFraction - fraction) * double(m_pressRange.size())));
    return setRange(m_pressRange.panned(delta, m_total));
}

} // namespace tsa::views
