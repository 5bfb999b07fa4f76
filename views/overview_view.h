// Overview: a layers x heads grid of one metric (kept fraction, p95 row error or retained mass), the
// entry point of the explorer. Dense layers are hatched and marked in a strip left of the grid; a click
// selects (layer, head) and the selected cell is outlined.
#pragma once

#include "views/axis_scale.h"
#include "views/colour_map.h"
#include "views/plot_view.h"
#include "views/view_data.h"

namespace tsa::views {

class OverviewView : public PlotView {
    Q_OBJECT
public:
    explicit OverviewView(QWidget* parent = nullptr);

    void setData(OverviewData data);
    const OverviewData& data() const { return m_data; }
    void setMetric(OverviewMetric metric);
    OverviewMetric metric() const { return m_metric; }
    // layer: row index into data().layers; -1 clears.
    void setSelected(int layer, int head);
    int selectedLayer() const { return m_selectedLayer; }
    int selectedHead() const { return m_selectedHead; }
    void setColourMap(const QString& name); // for the kept-fraction and retained-mass metrics

    static QString metricName(OverviewMetric metric);

    QString viewName() const override { return QStringLiteral("overview"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    QString csv() const override;
    QString toolTipAt(const QPoint& pos) const override;

    // (layer row, head) under a widget position, or (-1, -1).
    QPair<int, int> cellAt(const QPoint& pos) const;

signals:
    void cellClicked(int layer, int head);
    void layerClicked(int layer);
    void headClicked(int head);

protected:
    void mousePressEvent(QMouseEvent* event) override;

private:
    struct Layout {
        QRectF title;
        QRectF legend;
        QRectF plot;
        QRectF bar;
    };
    Layout layoutFor(const QSize& size) const;
    const std::vector<float>* metricValues(const OverviewLayer& layer) const;

public:
    // Fitted to the values shown (kept fraction and retained mass stretch over their data).
    AxisScale colourScale() const;

private:
    const ColourMap& colourMap() const;
    QString colourBarTitle() const;

    OverviewData m_data;
    OverviewMetric m_metric = OverviewMetric::RetainedMass;
    int m_selectedLayer = -1;
    int m_selectedHead = -1;
    QString m_colourMap = QStringLiteral("viridis");
};

} // namespace tsa::views
