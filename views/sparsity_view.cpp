#include "views/sparsity_view.h"

#include "views/axis_painter.h"
#include "views/colour_bar.h"
#include "views/csv_writer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QMouseEvent>
#include <QPainter>
#include <cmath>

namespace tsa::views {

SparsityView::SparsityView(QWidget* parent) : PlotView(parent) {}

void SparsityView::setData(SparsityData data) {
    m_data = std::move(data);
    if (m_selectedLayer >= int(m_data.layers.size())) m_selectedLayer = -1;
    update();
}

void SparsityView::setSelectedLayer(int layer) {
    m_selectedLayer = layer;
    update();
}

QString SparsityView::viewTitle() const {
    QString title = QStringLiteral("Kept fraction per layer, tau = %1").arg(fmt::value(m_data.tau));
    double sum = 0;
    int n = 0;
    for (const SparsityLayer& layer : m_data.layers)
        if (layer.sparse && !std::isnan(layer.keptFraction)) {
            sum += 1.0 - layer.keptFraction;
            ++n;
        }
    if (n > 0)
        title += QStringLiteral(", mean sparsity of %1 sparse layers: %2").arg(n).arg(fmt::percent(sum / n));
    if (m_data.tokens > 0) title += QStringLiteral(", L = %1").arg(fmt::integer(m_data.tokens));
    return title;
}

QRectF SparsityView::plotRect(const QSize& size) const {
    const double top = style::kTitleHeight + 32;
    return QRectF(style::kLeftMargin, top, std::max(10.0, size.width() - style::kLeftMargin - 20.0),
                  std::max(10.0, size.height() - top - style::kBottomMargin));
}

void SparsityView::render(QPainter& painter, const QSize& size) const {
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    style::drawTitle(painter, QRectF(10, 0, size.width() - 20, style::kTitleHeight), viewTitle());
    const int n = int(m_data.layers.size());
    if (n == 0) {
        style::drawMessage(painter, all, QStringLiteral("No layers selected yet"));
        painter.restore();
        return;
    }
    const QRectF plot = plotRect(size);
    AxisSpec y{AxisScale{0.0, 1.0, false}, Edge::Left, QStringLiteral("kept fraction |S_h| / L"),
               TickStyle::Percent,         true,       false};
    drawAxis(painter, plot, y);
    const double slot = plot.width() / n;
    const double barW = std::max(1.0, slot * 0.75);
    bool anyDense = false, anySparse = false, anyPending = false;
    for (int i = 0; i < n; ++i) {
        const SparsityLayer& layer = m_data.layers[std::size_t(i)];
        if (std::isnan(layer.keptFraction)) {
            // Not selected yet: an outlined placeholder, not a bar that would read as "all kept".
            const QRectF slotRect(plot.left() + i * slot + (slot - barW) / 2, plot.top(), barW,
                                  plot.height());
            painter.setPen(QPen(QColor(190, 190, 190), 1.0, Qt::DashLine));
            painter.setBrush(style::missing());
            painter.drawRect(slotRect);
            anyPending = true;
            continue;
        }
        const double f = std::clamp(layer.keptFraction, 0.0, 1.0);
        const QRectF bar(plot.left() + i * slot + (slot - barW) / 2, plot.bottom() - f * plot.height(), barW,
                         f * plot.height());
        painter.fillRect(bar, layer.sparse ? style::sparseLayer() : style::denseLayer());
        (layer.sparse ? anySparse : anyDense) = true;
        if (i == m_selectedLayer) {
            painter.setPen(QPen(style::highlight(), 2.0));
            painter.setBrush(Qt::NoBrush);
            painter.drawRect(bar.adjusted(-1, -1, 1, 1));
        }
        // Value on top of sparse bars when there is room.
        if (layer.sparse && barW >= 26) {
            painter.setFont(style::smallFont());
            painter.setPen(style::text());
            painter.drawText(QRectF(bar.left() - 6, bar.top() - 15, barW + 12, 14), Qt::AlignCenter,
                             fmt::percent(f, 0));
        }
    }
    drawCategoryAxis(
        painter, plot, Edge::Bottom, n,
        [this](int i) { return QString::number(m_data.layers[std::size_t(i)].layerId); },
        QStringLiteral("layer"));
    std::vector<LegendItem> legend;
    if (anySparse)
        legend.push_back({style::sparseLayer(), QStringLiteral("sparse layer"), LegendItem::Shape::Box});
    if (anyDense)
        legend.push_back(
            {style::denseLayer(), QStringLiteral("dense layer (all kept)"), LegendItem::Shape::Box});
    if (anyPending)
        legend.push_back({style::missing(), QStringLiteral("computing…"), LegendItem::Shape::Box});
    drawLegend(painter, QPointF(10, style::kTitleHeight), legend, true);
    painter.restore();
}

int SparsityView::layerAt(const QPoint& pos) const {
    const int n = int(m_data.layers.size());
    const QRectF plot = plotRect(size());
    if (n == 0 || !plot.contains(pos)) return -1;
    return std::clamp(int((pos.x() - plot.left()) / plot.width() * n), 0, n - 1);
}

QString SparsityView::toolTipAt(const QPoint& pos) const {
    const int i = layerAt(pos);
    if (i < 0) return {};
    const SparsityLayer& layer = m_data.layers[std::size_t(i)];
    if (std::isnan(layer.keptFraction))
        return QStringLiteral("layer %1: selection computing…\n%2")
            .arg(layer.layerId)
            .arg(layer.sparse ? "sparse layer" : "dense layer");
    QString text = QStringLiteral("layer %1: kept fraction %2 (%3), sparsity %4\n")
                       .arg(layer.layerId)
                       .arg(fmt::value(layer.keptFraction, 6), fmt::percent(layer.keptFraction, 2),
                            fmt::percent(1.0 - layer.keptFraction, 2));
    if (m_data.tokens > 0)
        text += QStringLiteral("kept %1 of %2 tokens per head\n")
                    .arg(fmt::integer(qint64(std::llround(layer.keptFraction * double(m_data.tokens)))),
                         fmt::integer(m_data.tokens));
    text += layer.sparse ? QStringLiteral("sparse layer")
                         : QStringLiteral("dense layer: %1").arg(layer.denseReason);
    return text;
}

QString SparsityView::csv() const {
    CsvWriter out;
    out.row(
        {"layer_index", "layer_id", "sparse", "dense_reason", "kept_fraction", "sparsity", "tau", "tokens"});
    for (int i = 0; i < int(m_data.layers.size()); ++i) {
        const SparsityLayer& layer = m_data.layers[std::size_t(i)];
        out.row({QString::number(i), QString::number(layer.layerId), layer.sparse ? "1" : "0",
                 layer.denseReason, fmt::csvValue(layer.keptFraction),
                 fmt::csvValue(1.0 - layer.keptFraction), fmt::csvValue(m_data.tau),
                 QString::number(m_data.tokens)});
    }
    return out.text();
}

void SparsityView::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return PlotView::mousePressEvent(event);
    const int i = layerAt(event->pos());
    if (i < 0) return;
    setSelectedLayer(i);
    emit layerClicked(i);
}

} // namespace tsa::views
