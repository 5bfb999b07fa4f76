// Sparsity: kept fraction |S_h| / L per layer as bars (every head of a layer keeps the same count), sparse
// and dense layers in different colours, tau and the mean in-layer sparsity of the sparse layers in the
// title.
#pragma once

#include "views/plot_view.h"
#include "views/view_data.h"

namespace tsa::views {

class SparsityView : public PlotView {
    Q_OBJECT
public:
    explicit SparsityView(QWidget* parent = nullptr);

    void setData(SparsityData data);
    const SparsityData& data() const { return m_data; }
    void setSelectedLayer(int layer); // row index; -1 for none

    QString viewName() const override { return QStringLiteral("sparsity"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    QString csv() const override;
    QString toolTipAt(const QPoint& pos) const override;
    int layerAt(const QPoint& pos) const;

signals:
    void layerClicked(int layer);

protected:
    void mousePressEvent(QMouseEvent* event) override;

private:
    QRectF plotRect(const QSize& size) const;

    SparsityData m_data;
    int m_selectedLayer = -1;
};

} // namespace tsa::views
