#include "views/text_layout.h"

#include <QFontMetricsF>
#include <algorithm>
#include <cmath>
#include <limits>

namespace tsa::views {

namespace {

constexpr int kTableSize = 0x10000; // the Basic Multilingual Plane, one advance per character

// Tokens narrower than this (a zero-width character) still get room to be hovered and clicked.
constexpr double kMinTokenWidth = 3.0;

// Characters whose advance depends on their neighbours: combining marks, right-to-left letters (joining
// forms), joiners and surrogate halves. A string holding one is measured whole.
bool shapes(char16_t u) {
    if (u < 0x300) return false;
    const QChar c(u);
    if (c.isSurrogate() || c.isMark() || u == 0x200C || u == 0x200D) return true;
    const QChar::Direction d = c.direction();
    return d == QChar::DirR || d == QChar::DirAL;
}

} // namespace

TokenWidths::TokenWidths(const QFont& font)
    : m_font(font), m_table(kTableSize, std::numeric_limits<float>::quiet_NaN()) {}

float TokenWidths::advance(char16_t u) {
    float& a = m_table[u];
    if (std::isnan(a)) a = float(QFontMetricsF(m_font).horizontalAdvance(QChar(u)));
    return a;
}

double TokenWidths::shaped(const QString& text) {
    if (auto it = m_complex.constFind(text); it != m_complex.constEnd()) return it.value();
    const double w = QFontMetricsF(m_font).horizontalAdvance(text);
    m_complex.insert(text, w);
    return w;
}

double TokenWidths::width(const QString& text) {
    double sum = 0;
    for (const QChar c : text) {
        if (shapes(c.unicode())) return shaped(text);
        sum += advance(c.unicode());
    }
    return sum;
}

double TokenWidths::width(std::string_view utf8) {
    double sum = 0;
    for (std::size_t i = 0; i < utf8.size();) {
        const auto b0 = static_cast<unsigned char>(utf8[i]);
        char32_t cp = b0;
        int len = 1;
        if (b0 >= 0xE0 && b0 < 0xF0 && i + 2 < utf8.size()) {
            cp = char32_t(b0 & 0x0F) << 12 | char32_t(static_cast<unsigned char>(utf8[i + 1]) & 0x3F) << 6 |
                 (static_cast<unsigned char>(utf8[i + 2]) & 0x3F);
            len = 3;
        } else if (b0 >= 0xC0 && b0 < 0xE0 && i + 1 < utf8.size()) {
            cp = char32_t(b0 & 0x1F) << 6 | (static_cast<unsigned char>(utf8[i + 1]) & 0x3F);
            len = 2;
        } else if (b0 >= 0x80) {
            cp = 0x10000; // four-byte (outside the plane) or malformed: the QString path decides
        }
        if (cp >= 0x10000 || shapes(char16_t(cp)))
            return width(QString::fromUtf8(utf8.data(), qsizetype(utf8.size())));
        sum += advance(char16_t(cp));
        i += std::size_t(len);
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
