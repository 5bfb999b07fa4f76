// Depth view of one query head: which tokens each layer keeps (layers x token positions, zoomable like the
// selection map) and how much the kept sets of two layers overlap (Jaccard matrix, 0..1). The paper's
// point in one picture: importance shifts across depth, so a token dropped here is needed further down.
#pragma once

#include "views/axis_scale.h"
#include "views/colour_bar.h"
#include "views/draw_buffer_cache.h"
#include "views/plot_view.h"
#include "views/token_pan_zoom.h"
#include "views/view_data.h"

#include <QImage>

namespace tsa::views {

class DepthView : public PlotView {
    Q_OBJECT
public:
    explicit DepthView(QWidget* parent = nullptr);

    void setData(DepthData data);
    const DepthData& data() const { return m_data; }
    void setColourMap(const QString& name); // of the Jaccard matrix
    void setSelectedLayer(int layer);       // row index; highlighted in both panels
    void setVisibleRange(qint64 begin, qint64 end);
    TokenRange visibleRange() const { return m_panZoom->range(m_data.tokens); }
    void resetZoom();
    // Zoom shared with other views (nullptr: this view's own).
    void setRangeModel(TokenRangeModel* model) { m_panZoom->setModel(model); }
    TokenRangeModel* rangeModel() const { return m_panZoom->model(); }
    // The explorer's selected token position, marked across all layers; -1 for none.
    void setMarkedPosition(qint64 position);
    qint64 markedPosition() const { return m_markedPosition; }

    QString viewName() const override { return QStringLiteral("depth"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    // Long format: kind "kept_run" rows (layer_id, position_begin, position_end of each run of kept
    // positions) and kind "jaccard" rows (layer_id, other_layer_id, value).
    QString csv() const override;
    QString toolTipAt(const QPoint& pos) const override;
    // Where the layer-overlap matrix is drawn at a size (tests check it stays readable in small windows).
    QRectF matrixRect(const QSize& size) const;

signals:
    void layerClicked(int layer);
    void layerPairClicked(int layerA, int layerB);
    void tokenHovered(qint64 position);
    void tokenClicked(qint64 position); // a click in the kept map (it also selects the layer)
    void visibleRangeChanged(qint64 begin, qint64 end);

protected:
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;

private:
    static std::vector<LegendItem> legendItems();
    struct Layout {
        QRectF title, legend, map, matrix, bar;
    };
    Layout layoutFor(const QSize& size) const;
    QImage drawBuffer(const QSize& pixels, const TokenRange& range) const;
    int layers() const { return int(m_data.layers.size()); }
    bool hasJaccard() const;

    DepthData m_data;
    std::vector<std::uint8_t> m_kept; // [layers, tokens]
    QString m_colourMap = QStringLiteral("viridis");
    int m_selectedLayer = -1;
    qint64 m_markedPosition = -1;
    TokenPanZoom* m_panZoom;
    DrawBufferCache m_buffer;
};

} // namespace tsa::views
