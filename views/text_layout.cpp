#include "views/text_layout.h"

#include <QFontMetricsF>
#include <algorithm>
#include <cmath>
#include <limits>

namespace tsa::views {

namespace {

constexpr int kTableSize = 0x300; // Latin, Latin-1, Latin Extended A/B, IPA: no combining marks below

// Tokens narrower than this (a zero-width character) still get room to be hovered and clicked.
constexpr double kMinTokenWidth = 3.0;

} // namespace

TokenWidths::TokenWidths(const QFont& font)
    : m_font(font), m_ascii(kTableSize, std::numeric_limits<float>::quiet_NaN()) {}

double TokenWidths::width(const QString& text) {
    double sum = 0;
    for (const QChar c : text) {
        const char16_t u = c.unicode();
        if (u >= kTableSize) {
            // Shaping can change the advance (marks, joining scripts, pairs): measure the whole string.
            if (auto it = m_complex.constFind(text); it != m_complex.constEnd()) return it.value();
            const double w = QFontMetricsF(m_font).horizontalAdvance(text);
            m_complex.insert(text, w);
            return w;
        }
        float& a = m_ascii[u];
        if (std::isnan(a)) a = float(QFontMetricsF(m_font).horizontalAdvance(c));
        sum += a;
    }
    return sum;
}

void TextLayout::build(const std::vector<float>& widths, const std::vector<std::uint8_t>& breaks,
                       double lineWidth) {
    const std::size_t n = widths.size();
    m_lineWidth = std::max(1.0, lineWidth);
    m_lineStart.clear();
    m_lineStart.reserve(n / 8 + 1);
    m_x.resize(n);
    m_width.resize(n);
    m_clamped.assign(n, 0);
    m_lineStart.push_back(0);
    double x = 0;
    for (std::size_t t = 0; t < n; ++t) {
        double w = std::max(kMinTokenWidth, double(widths[t]));
        if (w > m_lineWidth) {
            w = m_lineWidth;
            m_clamped[t] = 1;
        }
        if (x > 0 && x + w > m_lineWidth) {
            m_lineStart.push_back(qint64(t));
            x = 0;
        }
        m_x[t] = float(x);
        m_width[t] = float(w);
        x += w;
        const int b = t < breaks.size() ? std::min<int>(breaks[t], 2) : 0;
        if (b > 0 && t + 1 < n) {
            // A blank line is a line without tokens: it starts where the next one does.
            for (int k = 1; k < b; ++k)
                m_lineStart.push_back(qint64(t) + 1);
            m_lineStart.push_back(qint64(t) + 1);
            x = 0;
        }
    }
}

qint64 TextLayout::lineEnd(qint64 line) const {
    return line + 1 < lineCount() ? m_lineStart[std::size_t(line + 1)] : tokenCount();
}

qint64 TextLayout::lineOf(qint64 token) const {
    if (m_lineStart.empty()) return -1;
    // upper_bound - 1 is the last line starting at or before the token; blank lines before a token start
    // at the same token, and the token belongs to the last of them.
    const auto it = std::upper_bound(m_lineStart.begin(), m_lineStart.end(), token);
    return std::max<qint64>(0, qint64(it - m_lineStart.begin()) - 1);
}

qint64 TextLayout::tokenAt(qint64 line, double xPos) const {
    if (line < 0 || line >= lineCount() || xPos < 0) return -1;
    const qint64 begin = lineBegin(line), end = lineEnd(line);
    if (begin >= end) return -1;
    // Last token whose x is <= xPos.
    const auto first = m_x.begin() + begin, last = m_x.begin() + end;
    const auto it = std::upper_bound(first, last, float(xPos));
    if (it == first) return -1;
    const qint64 t = qint64(it - m_x.begin()) - 1;
    return xPos < double(m_x[std::size_t(t)]) + double(m_width[std::size_t(t)]) ? t : -1;
}

} // namespace tsa::views
