// Selection map: one layer, query heads x token positions. Kept tokens are coloured by the head's
// normalised score n_h (log colour scale), dropped tokens are grey (darker = higher n_h), the last W
// positions (always kept) are orange. Heads are grouped by kv head under GQA. Wheel zooms and drag pans
// along tokens; with more tokens than pixels each pixel shows the max score of its tokens (a sink or needle
// stays visible) blended toward grey by the share of its tokens that were dropped.
#pragma once

#include "views/axis_scale.h"
#include "views/colour_bar.h"
#include "views/colour_map.h"
#include "views/draw_buffer_cache.h"
#include "views/plot_view.h"
#include "views/token_pan_zoom.h"
#include "views/view_data.h"

#include <QImage>

namespace tsa::views {

class SelectionMapView : public PlotView {
    Q_OBJECT
public:
    explicit SelectionMapView(QWidget* parent = nullptr);

    void setData(SelectionMapData data);
    const SelectionMapData& data() const { return m_data; }
    void setColourMap(const QString& name);
    // Highlights one query head's row (the explorer's selected head); -1 for none.
    void setSelectedHead(int head);
    void setVisibleRange(qint64 begin, qint64 end);
    TokenRange visibleRange() const { return m_panZoom->range(m_tokens); }
    void resetZoom();
    // Zoom shared with other views (nullptr: this view's own).
    void setRangeModel(TokenRangeModel* model) { m_panZoom->setModel(model); }
    TokenRangeModel* rangeModel() const { return m_panZoom->model(); }
    // The explorer's selected token position, marked across all heads; -1 for none.
    void setMarkedPosition(qint64 position);
    qint64 markedPosition() const { return m_markedPosition; }

    QString viewName() const override { return QStringLiteral("selection"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    // Visible range; one row per head and token, or per bin of tokens when the visible range holds more
    // than 2M cells (columns position_begin/position_end say which).
    QString csv() const override;
    QString toolTipAt(const QPoint& pos) const override;

    // Token position and head under a widget position, or -1.
    qint64 tokenAt(const QPoint& pos) const;
    int headAt(const QPoint& pos) const;
    // The head drawn with a box (kept across data changes; drawn while it exists in the data).
    int selectedHead() const { return m_selectedHead; }

signals:
    void headClicked(int head);
    void tokenClicked(qint64 position);
    void tokenHovered(qint64 position); // -1 when leaving the plot
    void visibleRangeChanged(qint64 begin, qint64 end);

protected:
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void leaveEvent(QEvent* event) override;

private:
    std::vector<LegendItem> legendItems() const;
    struct Layout {
        QRectF title, legend, plot, bar;
    };
    Layout layoutFor(const QSize& size) const;
    QImage drawBuffer(const QSize& pixels, const TokenRange& range) const;
    int heads() const { return m_heads; }
    qint64 tokens() const { return m_tokens; }
    QString tokenText(qint64 position) const;

    SelectionMapData m_data;
    int m_heads = 0;
    qint64 m_tokens = 0;
    qint64 m_prefix = 0;
    bool m_hasScores = false;
    std::vector<std::uint8_t> m_kept; // [Hq, L]
    std::vector<float> m_score;       // [Hq, L] n_h over the prefix, NaN in the window / when unscored
    AxisScale m_scale;
    QString m_colourMap = QStringLiteral("viridis");
    int m_selectedHead = -1;
    qint64 m_markedPosition = -1;
    TokenPanZoom* m_panZoom;
    DrawBufferCache m_buffer;
};

} // namespace tsa::views
