// Running-text layout of a token sequence for the Text view, built to stay fast at 128K tokens.
//
// TokenWidths measures each token's display string with a per-character advance table over the Basic
// Multilingual Plane (kerning is off in the text font, so a run's advance is the sum of its characters');
// strings with characters that shape together (combining marks, right-to-left letters, joiners,
// characters outside the plane) are measured whole with QFontMetricsF and cached by string. TextLayout then
// breaks lines greedily in one O(L) pass over the widths, storing the first token of each line and each
// token's x, so drawing a page touches only the visible lines and hit-testing is a binary search.
#pragma once

#include <QFont>
#include <QHash>
#include <QString>
#include <cstdint>
#include <string_view>
#include <vector>

namespace tsa::views {

class TokenWidths {
public:
    explicit TokenWidths(const QFont& font);
    double width(const QString& text);
    // The same for UTF-8 text, without building a QString unless a character needs shaping.
    double width(std::string_view utf8);
    const QFont& font() const { return m_font; }

private:
    float advance(char16_t u);
    double shaped(const QString& text);

    QFont m_font;
    std::vector<float> m_table;       // advance per BMP character, NaN until measured
    QHash<QString, double> m_complex; // whole-string advances of strings that shape together
};

class TextLayout {
public:
    // widths: per token, logical pixels; breaks: per token, line breaks after it (newlines in the token;
    // a second one leaves a blank line, more are capped at one blank line). lineWidth: the text column.
    // A token wider than the column gets a line of its own and is clamped to the column (drawn elided).
    void build(const std::vector<float>& widths, const std::vector<std::uint8_t>& breaks, double lineWidth);

    qint64 tokenCount() const { return qint64(m_x.size()); }
    qint64 lineCount() const { return qint64(m_lineStart.size()); }
    double lineWidth() const { return m_lineWidth; }
    // Tokens of a line: [lineBegin, lineEnd); blank lines are empty.
    qint64 lineBegin(qint64 line) const { return m_lineStart[std::size_t(line)]; }
    qint64 lineEnd(qint64 line) const;
    // Line holding a token (the last line that starts at or before it).
    qint64 lineOf(qint64 token) const;
    double x(qint64 token) const { return m_x[std::size_t(token)]; }
    double width(qint64 token) const { return m_width[std::size_t(token)]; }
    bool clamped(qint64 token) const { return m_clamped[std::size_t(token)] != 0; }
    // Token under x on a line, -1 beyond the line's last token or on a blank line.
    qint64 tokenAt(qint64 line, double x) const;

private:
    double m_lineWidth = 0;
    std::vector<qint64> m_lineStart;
    std::vector<float> m_x;
    std::vector<float> m_width;
    std::vector<std::uint8_t> m_clamped;
};

} // namespace tsa::views
