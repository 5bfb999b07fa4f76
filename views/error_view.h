// Error view: per layer and head statistics of the sparse output against dense attention (median / p95
// per-row error of kept rows, last-W-rows error, retained mass, dropped rows) as a heat grid, and below it
// the per-row error trace of the selected head along the tokens (log y; dropped rows, zero by design, are
// gaps in the line and marked on a strip under it). Layers without metrics yet show "computing…" and
// fill in as the controller delivers them; after a tau change the previous values stay, washed out and
// marked "updating", and are replaced layer by layer. An estimate (sampled rows, see
// core/analysis/metrics_estimate.h) shows each cell's interval (low end | estimate | high end) in a dotted
// frame, the row says "estimate", the trace shows the sampled rows as dots, and the tooltip and CSV say
// "estimate" with the intervals; the exact values replace it. The colour scale is held (see fitColourScale).
// Beside the trace, each kept row's error against the share of its dense attention mass that fell on
// dropped keys: the error follows that share closely. The kept set is chosen from what the last W queries
// attend to, so those rows keep nearly all their mass (small last-W error); rows whose own keys were
// dropped lose much of theirs and set the kept-row p95.
#pragma once

#include "views/axis_scale.h"
#include "views/colour_bar.h"
#include "views/colour_map.h"
#include "views/plot_view.h"
#include "views/token_pan_zoom.h"
#include "views/view_data.h"

#include <cmath>

namespace tsa::views {

class ErrorView : public PlotView {
    Q_OBJECT
public:
    explicit ErrorView(QWidget* parent = nullptr);

    void setData(ErrorData data);
    const ErrorData& data() const { return m_data; }
    // Progressive refinement: one layer's metrics arrived (row index into data().layerIds); null = computing.
    // stale: they are of earlier parameters and stay on screen, washed out, until the new ones arrive.
    void setLayerMetrics(int layer, std::shared_ptr<const tsa::LayerMetrics> metrics, bool stale = false);
    bool isStale(int layer) const;
    // The colour scale is held while values change (tau steps, layers filling in), growing to fit new
    // values but never shrinking on its own, so colours stay comparable; this fits it to what is shown now
    // (also: double-click the colour bar). A new file or another metric fits it too.
    void fitColourScale();
    AxisScale colourScale() const;
    void setMetric(ErrorMetric metric);
    ErrorMetric metric() const { return m_metric; }
    void setSelected(int layer, int head);
    int selectedLayer() const { return m_selectedLayer; }
    int selectedHead() const { return m_selectedHead; }
    void setVisibleRange(qint64 begin, qint64 end);
    TokenRange visibleRange() const { return m_panZoom->range(traceTokens()); }
    // Zoom shared with other views (nullptr: this view's own).
    void setRangeModel(TokenRangeModel* model) { m_panZoom->setModel(model); }
    TokenRangeModel* rangeModel() const { return m_panZoom->model(); }

    static QString metricName(ErrorMetric metric);

    QString viewName() const override { return QStringLiteral("error"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    // kind "head" rows: statistics per layer and head (empty values while computing); kind "trace" rows:
    // per-row error and retained mass of the selected head over the visible range (empty = dropped row).
    QString csv() const override;
    QString toolTipAt(const QPoint& pos) const override;

    // (layer row, head) of a grid cell under pos; head == qHeads is the layer aggregate column.
    QPair<int, int> cellAt(const QPoint& pos) const;

signals:
    void cellClicked(int layer, int head);
    void tokenHovered(qint64 position);
    void visibleRangeChanged(qint64 begin, qint64 end);

protected:
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;

private:
    std::vector<LegendItem> legendItems() const;
    struct Layout {
        QRectF title, legend, grid, bar, trace, dropStrip;
        QRectF scatter; // row error against dropped mass, beside the trace when the view is wide enough
    };
    Layout layoutFor(const QSize& size) const;
    double value(int layer, int head) const;         // head == qHeads: the layer aggregate
    tsa::Interval bounds(int layer, int head) const; // of value(); a point unless the metrics are an estimate
    bool isEstimate(int layer) const;
    void drawEstimateCell(QPainter& painter, const QRectF& cell, int layer, int head, bool stale) const;
    bool layerSparse(int layer) const;
    const tsa::LayerMetrics* metricsAt(int layer) const;
    struct Extent {
        double lo = INFINITY, hi = -INFINITY, minPositive = INFINITY;
    };
    Extent currentExtent() const;
    void holdExtent(); // grows m_held to include the values shown now
    const ColourMap& colourMap() const;
    bool isErrorMetric() const;
    void drawGrid(QPainter& painter, const Layout& l) const;
    void drawTrace(QPainter& painter, const Layout& l) const;
    // Each kept row of the selected head over the visible range: its error against the share of its dense
    // attention mass that fell on dropped keys (1 - retained mass): why the kept-row p95 is large while the
    // last-W error is small (issue 10 item 6; docs/views.md "Which error to read").
    void drawRowsAgainstDroppedMass(QPainter& painter, const Layout& l) const;
    QString droppedMassToolTip() const;
    // Spearman's rank correlation of the selected head's row error and dropped share over the visible
    // range, kept until the metrics, head or range change (two sorts of up to L rows per paint otherwise).
    double rowRankCorrelation() const;
    qint64 traceTokens() const;
    void syncTraceLength();

    ErrorData m_data;
    ErrorMetric m_metric = ErrorMetric::RowErrorP95;
    int m_selectedLayer = -1;
    int m_selectedHead = -1;
    TokenPanZoom* m_panZoom;
    mutable struct {
        std::weak_ptr<const tsa::LayerMetrics> metrics;
        int head = -1;
        TokenRange range;
        double rho = NAN;
    } m_rank;
    Extent m_held;
};

} // namespace tsa::views
