// Text: the capture's tokens as running text, each token coloured by a measure of the current layer and
// head: kept / dropped (dropped tokens faded), the head's normalised score n_h, the layer score G, or
// persistence (in how many sparse layers the head keeps the token, or how many heads of this layer keep
// it). The last W tokens (always kept) are underlined in orange. Token strings are decoded for display
// (core/io/token_text.h); without strings the text shows token ids, without ids positions.
//
// Built for 128K tokens: token widths come from a per-character advance table, lines are broken in one
// O(L) pass (TextLayout) and only the visible lines are drawn. The scroll position is an anchor token, so
// a resize or an export at another size starts at the same place. Beside the text a minimap shows the
// kept share of the current head over the whole document (click or drag to jump); matches of the search
// field and the selected position are ticked on it. Clicking a token selects that position (tokenClicked),
// which the explorer shows in the other views too.
#pragma once

#include "core/io/token_text.h"
#include "views/axis_scale.h"
#include "views/plot_view.h"
#include "views/text_layout.h"
#include "views/view_data.h"

#include <QImage>
#include <memory>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QToolButton;

namespace tsa::views {

enum class TextMeasure { Kept, HeadScore, LayerScore, LayerPersistence, HeadPersistence };

class TextView : public PlotView {
    Q_OBJECT
public:
    explicit TextView(QWidget* parent = nullptr);
    ~TextView() override;

    void setData(TextViewData data);
    const TextViewData& data() const { return m_data; }
    void setMeasure(TextMeasure measure);
    TextMeasure measure() const { return m_measure; }
    static QString measureName(TextMeasure measure);
    // Short names for the command line: kept, n_h, g, layers, heads; false for an unknown name.
    static QStringList measureKeys();
    static bool measureFromKey(const QString& key, TextMeasure* measure);
    void setColourMap(const QString& name);

    // The position selected in the explorer (-1: none). scroll: bring it into view.
    void setSelectedPosition(qint64 position, bool scroll = true);
    qint64 selectedPosition() const { return m_selected; }
    // Scrolling: the first token of the top line, and whole lines (negative: up).
    qint64 topToken() const { return m_topToken; }
    void scrollToToken(qint64 token); // puts the token's line a third down the text area
    void scrollLines(qint64 lines);
    void scrollPages(int pages);
    int visibleLines() const; // on screen

    // Search over the decoded text (case-insensitive plain text, or a regular expression as written).
    // Returns false with a message in searchError() for a bad expression.
    bool setSearch(const QString& pattern, bool regex);
    qint64 matchCount() const { return qint64(m_matches.size()); }
    qint64 currentMatch() const { return m_currentMatch; } // -1 before the first step
    QString searchError() const { return m_searchError; }
    // Steps to the next (previous) match after (before) the current one, wrapping; selects and scrolls.
    bool findNext();
    bool findPrevious();
    // First token of each match (for tests).
    std::vector<qint64> matchTokens() const;

    // Display text of a token (what the view draws; "∅" for an empty one).
    QString displayText(qint64 position) const;
    const TextLayout& screenLayout() const; // the on-screen layout (tests)

    QString viewName() const override { return QStringLiteral("text"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    // One row per token: position, id, string (escaped), kept, n_h, G, kept layers and heads, window.
    QString csv() const override;
    // A self-contained HTML page: the whole document as coloured spans, the measure in each title.
    QString html() const override;
    QString toolTipAt(const QPoint& pos) const override;
    // Token under a widget position, or -1.
    qint64 tokenAt(const QPoint& pos) const;

signals:
    void tokenClicked(qint64 position);
    void measureChanged(TextMeasure measure);

protected:
    void paintEvent(QPaintEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;

private:
    struct Layout {
        QRectF title, legend, text, minimap, bar;
    };
    // One entry per distinct token string (or id): a 128K-token document from a real tokenizer has a few
    // thousand, but every token may be distinct, so the QStrings are made only when drawn or searched.
    struct Distinct {
        std::string display; // UTF-8, from tsa::displayToken
        qint64 first = 0;    // first position holding it (its raw string, for the search text)
        float width = 0;
        std::uint8_t breaks = 0;
        bool placeholder = false;
    };
    const QString& displayOf(std::int32_t index) const;
    QString searchOf(std::int32_t index) const;
    Layout layoutFor(const QSize& size, bool onScreen) const;
    const TextLayout& layoutForWidth(double width) const;
    double lineHeight() const;
    void rebuildDocument();
    void rebuildMeasure();
    void buildSearchText() const;
    bool continuousMeasure() const { return m_measure != TextMeasure::Kept; }
    // Background and text colour of a token for the current measure.
    void tokenColours(qint64 t, QRgb* background, QRgb* text) const;
    QString measureText(qint64 t) const; // the measure of one token, for titles and tooltips
    QString tokenLabel(qint64 t) const;  // "id 123 \" the\"" for tooltips
    QImage minimapImage(const QSize& pixels, const TextLayout& layout) const;
    void drawText(QPainter& painter, const QRectF& area, const TextLayout& layout, qint64 topToken) const;
    void jumpFromMinimap(const QPointF& pos);
    void updateMatchLabel();

    TextViewData m_data;
    TextMeasure m_measure = TextMeasure::Kept;
    QString m_colourMap = QStringLiteral("viridis");
    QFont m_font;
    std::unique_ptr<TokenWidths> m_widths;

    // The document (rebuilt when the token strings, ids or length change).
    const void* m_docKey[2] = {nullptr, nullptr};
    qint64 m_docTokens = -1;
    tsa::TokenEncoding m_encoding = tsa::TokenEncoding::Plain;
    std::vector<Distinct> m_distinct;
    mutable std::vector<QString> m_displayCache; // per distinct, null until first drawn
    std::vector<std::int32_t> m_docIndex;        // per token: index into m_distinct
    std::vector<float> m_tokenWidth;
    std::vector<std::uint8_t> m_tokenBreaks;
    quint64 m_docVersion = 0;

    // The measure (rebuilt on every setData and measure change).
    qint64 m_prefix = 0;                    // P: positions before the window
    std::vector<std::uint8_t> m_kept;       // current head
    std::vector<std::int32_t> m_keptPrefix; // running count of m_kept, [L + 1], for the minimap
    std::vector<float> m_value;             // measure value per token, NaN: none
    AxisScale m_scale;
    int m_sparseLayers = 0; // sparse layers with a selection (persistence across layers)
    quint64 m_measureVersion = 0;

    qint64 m_topToken = 0;
    qint64 m_selected = -1;

    // Search.
    mutable QString m_searchText;              // concatenated search text, built on first search
    mutable std::vector<qint64> m_searchStart; // per token: offset in m_searchText, [L + 1]
    mutable quint64 m_searchDocVersion = 0;
    std::vector<std::pair<qint64, qint64>> m_matches; // token ranges [first, last]
    qint64 m_currentMatch = -1;
    QString m_searchError;

    // Caches.
    mutable std::unique_ptr<TextLayout> m_layout; // for m_layoutWidth
    mutable double m_layoutWidth = -1;
    mutable quint64 m_layoutDocVersion = 0;
    mutable std::unique_ptr<TextLayout> m_exportLayout;
    mutable double m_exportLayoutWidth = -1;
    mutable quint64 m_exportLayoutDocVersion = 0;
    mutable QImage m_minimap;
    mutable quint64 m_minimapKey[3] = {0, 0, 0};
    mutable bool m_paintingOnScreen = false;
    bool m_draggingMinimap = false;

    // On-screen controls (not part of exports).
    QWidget* m_controls = nullptr;
    QComboBox* m_measureBox = nullptr;
    QLineEdit* m_searchField = nullptr;
    QCheckBox* m_regexBox = nullptr;
    QToolButton* m_prevButton = nullptr;
    QToolButton* m_nextButton = nullptr;
    QLabel* m_matchLabel = nullptr;
};

} // namespace tsa::views
