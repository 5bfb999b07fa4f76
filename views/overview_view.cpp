#include "views/overview_view.h"

#include "views/colour_bar.h"
#include "views/csv_writer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QFontMetricsF>
#include <QMouseEvent>
#include <QPainter>
#include <algorithm>
#include <cmath>

namespace tsa::views {

OverviewView::OverviewView(QWidget* parent) : PlotView(parent) {}

void OverviewView::setData(OverviewData data) {
    m_data = std::move(data);
    if (m_selectedLayer >= int(m_data.layers.size()) || m_selectedHead >= m_data.qHeads) {
        m_selectedLayer = -1;
        m_selectedHead = -1;
    }
    update();
}

void OverviewView::setMetric(OverviewMetric metric) {
    m_metric = metric;
    update();
}

void OverviewView::setSelected(int layer, int head) {
    m_selectedLayer = layer;
    m_selectedHead = head;
    update();
}

void OverviewView::setColourMap(const QString& name) {
    m_colourMap = name;
    update();
}

QString OverviewView::metricName(OverviewMetric metric) {
    switch (metric) {
    case OverviewMetric::KeptFraction:
        return QStringLiteral("kept fraction");
    case OverviewMetric::ErrorP95:
        return QStringLiteral("p95 row error (kept rows)");
    case OverviewMetric::RetainedMass:
        return QStringLiteral("median retained mass");
    }
    return {};
}

QString OverviewView::viewTitle() const {
    return QStringLiteral("Overview: %1 per layer and head").arg(metricName(m_metric));
}

const std::vector<float>* OverviewView::metricValues(const OverviewLayer& layer) const {
    switch (m_metric) {
    case OverviewMetric::KeptFraction:
        return &layer.keptFraction;
    case OverviewMetric::ErrorP95:
        return &layer.errorP95;
    case OverviewMetric::RetainedMass:
        return &layer.retainedMass;
    }
    return nullptr;
}

const ColourMap& OverviewView::colourMap() const {
    return ColourMap::byName(m_metric == OverviewMetric::ErrorP95 ? QStringLiteral("rdbu") : m_colourMap);
}

QString OverviewView::colourBarTitle() const {
    switch (m_metric) {
    case OverviewMetric::KeptFraction:
        return QStringLiteral("kept fraction |S_h| / L");
    case OverviewMetric::ErrorP95:
        return QStringLiteral("p95 row error (white = 1%)");
    case OverviewMetric::RetainedMass:
        return QStringLiteral("median retained mass");
    }
    return {};
}

AxisScale OverviewView::colourScale() const {
    double lo = INFINITY, hi = -INFINITY, minPositive = INFINITY;
    for (const OverviewLayer& layer : m_data.layers)
        for (float v : *metricValues(layer)) {
            if (std::isnan(v)) continue;
            lo = std::min(lo, double(v));
            hi = std::max(hi, double(v));
            if (v > 0) minPositive = std::min(minPositive, double(v));
        }
    switch (m_metric) {
    case OverviewMetric::KeptFraction: {
        // Fitted to the data (a fixed 0..1 made 0.98 look like 1.0), on whole percents.
        if (!std::isfinite(lo)) return AxisScale{0.0, 1.0, false};
        double a = std::floor(lo * 100.0) / 100.0, b = std::ceil(hi * 100.0) / 100.0;
        if (b - a < 0.02) {
            a = std::max(0.0, a - 0.01);
            b = std::min(1.0, b + 0.01);
        }
        return AxisScale{a, std::max(b, a + 0.01), false};
    }
    case OverviewMetric::ErrorP95:
        return errorColourScale(std::isfinite(minPositive) ? minPositive : 0.0, std::isfinite(hi) ? hi : 0.0);
    case OverviewMetric::RetainedMass:
        // Retained mass crowds just below 1; stretch the scale over the data so differences show.
        if (!std::isfinite(lo) || lo >= 1.0) return AxisScale{0.9, 1.0, false};
        return AxisScale{std::floor(lo * 100.0) / 100.0, 1.0, false};
    }
    return {};
}

OverviewView::Layout OverviewView::layoutFor(const QSize& size) const {
    Layout l;
    const double w = size.width();
    const double h = size.height();
    l.title = QRectF(10, 0, w - 20, style::kTitleHeight);
    l.legend = QRectF(10, style::kTitleHeight, w - 20, 24);
    const double top = style::kTitleHeight + 30;
    l.plot = QRectF(style::kLeftMargin + 14, top,
                    std::max(10.0, w - style::kLeftMargin - 14 - style::kColourBarReserve),
                    std::max(10.0, h - top - style::kBottomMargin));
    l.bar = QRectF(l.plot.right() + 16, l.plot.top(), 14, l.plot.height());
    return l;
}

QPair<int, int> OverviewView::cellAt(const QPoint& pos) const {
    const int rows = int(m_data.layers.size());
    const int cols = m_data.qHeads;
    if (rows == 0 || cols == 0) return {-1, -1};
    const QRectF plot = layoutFor(size()).plot;
    if (!plot.contains(pos)) return {-1, -1};
    const int r = std::min(rows - 1, int((pos.y() - plot.top()) / plot.height() * rows));
    const int c = std::min(cols - 1, int((pos.x() - plot.left()) / plot.width() * cols));
    return {r, c};
}

void OverviewView::render(QPainter& painter, const QSize& size) const {
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    const Layout l = layoutFor(size);
    style::drawTitle(painter, l.title, viewTitle());
    const int rows = int(m_data.layers.size());
    const int cols = m_data.qHeads;
    if (rows == 0 || cols == 0) {
        style::drawMessage(painter, all, QStringLiteral("No layers loaded"));
        painter.restore();
        return;
    }
    const ColourMap& map = colourMap();
    const AxisScale scale = colourScale();
    const double cw = l.plot.width() / cols;
    const double ch = l.plot.height() / rows;
    // Cells as vector rectangles: the grid is small (layers x heads), and SVG exports stay sharp.
    painter.setPen(Qt::NoPen);
    bool anyMissing = false;
    for (int r = 0; r < rows; ++r) {
        const OverviewLayer& layer = m_data.layers[r];
        const std::vector<float>& values = *metricValues(layer);
        for (int c = 0; c < cols; ++c) {
            const float v = c < int(values.size()) ? values[c] : NAN;
            const QRectF cell(l.plot.left() + c * cw, l.plot.top() + r * ch, cw + 0.5, ch + 0.5);
            if (!layer.sparse && m_metric != OverviewMetric::KeptFraction) {
                // A dense layer's error is 0 and its mass 1 by construction: not worth a colour.
                painter.fillRect(cell, style::denseLayer().lighter(125));
            } else if (std::isnan(v)) {
                painter.fillRect(cell, style::missing());
                anyMissing = true;
            } else {
                painter.fillRect(cell, QColor::fromRgb(map.rgbAt(scale.unitClamped(v))));
            }
        }
        if (!layer.sparse) {
            // Dense layers: hatched, so their (trivial) values do not read as a sparse result.
            const QRectF rowRect(l.plot.left(), l.plot.top() + r * ch, l.plot.width(), ch);
            painter.fillRect(rowRect, QBrush(QColor(80, 80, 80, 110), Qt::BDiagPattern));
        }
        // Layer kind strip left of the grid.
        painter.fillRect(QRectF(l.plot.left() - 10, l.plot.top() + r * ch, 7, ch + 0.5),
                         layer.sparse ? style::sparseLayer() : style::denseLayer());
    }
    // KV group separators under GQA.
    if (m_data.kvHeads > 1 && cols % m_data.kvHeads == 0) {
        const int group = cols / m_data.kvHeads;
        painter.setPen(QPen(QColor(255, 255, 255), std::max(1.0, std::min(2.0, cw / 6))));
        for (int g = 1; g < m_data.kvHeads; ++g) {
            const double x = l.plot.left() + g * group * cw;
            painter.drawLine(QPointF(x, l.plot.top()), QPointF(x, l.plot.bottom()));
        }
    }
    // "computing…" over rows still waiting for their numbers, on top of the group separators.
    painter.setFont(style::smallFont());
    const QFontMetricsF small(painter.font());
    for (int r = 0; r < rows && ch >= 12; ++r) {
        const OverviewLayer& layer = m_data.layers[std::size_t(r)];
        const std::vector<float>& values = *metricValues(layer);
        const bool estimate = layer.sparse && layer.estimate && m_metric != OverviewMetric::KeptFraction;
        if (estimate) {
            // Sampled rows: a dotted frame and a label; the tooltip and CSV give the intervals.
            painter.save();
            painter.setPen(QPen(QColor(60, 60, 60, 170), 1.0, Qt::DotLine));
            painter.setBrush(Qt::NoBrush);
            painter.drawRect(
                QRectF(l.plot.left() + 1, l.plot.top() + r * ch + 1, l.plot.width() - 2, ch - 2));
            painter.restore();
        } else if (!layer.sparse ||
                   !std::all_of(values.begin(), values.end(), [](float v) { return std::isnan(v); })) {
            continue;
        }
        const QString text = estimate ? QStringLiteral("estimate") : QStringLiteral("computing…");
        const QRectF box(l.plot.center().x() - small.horizontalAdvance(text) / 2 - 4,
                         l.plot.top() + r * ch + (ch - small.height()) / 2, small.horizontalAdvance(text) + 8,
                         small.height());
        painter.fillRect(box, style::missing());
        painter.setPen(QColor(110, 110, 110));
        painter.drawText(box, Qt::AlignCenter, text);
    }
    if (m_selectedLayer >= 0 && m_selectedLayer < rows && m_selectedHead >= 0 && m_selectedHead < cols) {
        painter.setPen(QPen(style::highlight(), 2.5));
        painter.setBrush(Qt::NoBrush);
        painter.drawRect(
            QRectF(l.plot.left() + m_selectedHead * cw, l.plot.top() + m_selectedLayer * ch, cw, ch));
    }
    drawCategoryAxis(
        painter, QRectF(l.plot.left() - 12, l.plot.top(), l.plot.width() + 12, l.plot.height()), Edge::Left,
        rows, [this](int r) { return QString::number(m_data.layers[r].layerId); }, QStringLiteral("layer"));
    drawCategoryAxis(
        painter, l.plot, Edge::Bottom, cols, [](int c) { return QString::number(c); },
        m_data.kvHeads > 1 ? QStringLiteral("query head (white lines: kv groups)")
                           : QStringLiteral("query head"));
    drawColourBar(painter, l.bar, map, scale, colourBarTitle(),
                  m_metric == OverviewMetric::ErrorP95 ? TickStyle::Number : TickStyle::Number);
    std::vector<LegendItem> legend{
        {style::sparseLayer(), QStringLiteral("sparse layer"), LegendItem::Shape::Box},
        {style::denseLayer(), QStringLiteral("dense layer (hatched)"), LegendItem::Shape::Box}};
    if (anyMissing)
        legend.push_back({style::missing(), QStringLiteral("not computed yet"), LegendItem::Shape::Box});
    if (m_metric == OverviewMetric::KeptFraction)
        legend.push_back(
            {style::background(),
             QStringLiteral("kept fraction is equal across a layer's heads: one capacity per layer "
                            "(heads keep different tokens)"),
             LegendItem::Shape::Box});
    drawLegend(painter, l.legend.topLeft(), legend, true);
    painter.restore();
}

QString OverviewView::csv() const {
    CsvWriter out;
    // values: "exact" or "estimate" (sampled rows, 95% intervals in the _lo/_hi columns; blank = unbounded).
    out.row({"layer_index", "layer_id", "head", "kv_head", "sparse", "dense_reason", "kept_fraction",
             "error_p95", "retained_mass_median", "values", "error_p95_lo", "error_p95_hi",
             "retained_mass_median_lo", "retained_mass_median_hi"});
    auto bound = [](const std::vector<float>& v, int h) {
        return h < int(v.size()) && std::isfinite(v[std::size_t(h)]) ? fmt::csvValue(v[std::size_t(h)])
                                                                     : QString();
    };
    const int group = m_data.kvHeads > 0 ? std::max(1, m_data.qHeads / m_data.kvHeads) : 1;
    for (int r = 0; r < int(m_data.layers.size()); ++r) {
        const OverviewLayer& layer = m_data.layers[r];
        auto at = [](const std::vector<float>& v, int h) { return h < int(v.size()) ? double(v[h]) : NAN; };
        for (int h = 0; h < m_data.qHeads; ++h)
            out.row({QString::number(r), QString::number(layer.layerId), QString::number(h),
                     QString::number(h / group), layer.sparse ? "1" : "0", layer.denseReason,
                     fmt::csvValue(at(layer.keptFraction, h)), fmt::csvValue(at(layer.errorP95, h)),
                     fmt::csvValue(at(layer.retainedMass, h)), layer.estimate ? "estimate" : "exact",
                     bound(layer.errorP95Lo, h), bound(layer.errorP95Hi, h), bound(layer.retainedMassLo, h),
                     bound(layer.retainedMassHi, h)});
    }
    return out.text();
}

QString OverviewView::toolTipAt(const QPoint& pos) const {
    const auto [r, c] = cellAt(pos);
    if (r < 0) return {};
    const OverviewLayer& layer = m_data.layers[r];
    const int group = m_data.kvHeads > 0 ? std::max(1, m_data.qHeads / m_data.kvHeads) : 1;
    auto at = [c](const std::vector<float>& v) { return c < int(v.size()) ? double(v[c]) : NAN; };
    QString text = QStringLiteral("layer %1, head %2 (kv %3)\n").arg(layer.layerId).arg(c).arg(c / group);
    text += layer.sparse ? QStringLiteral("sparse layer\n")
                         : QStringLiteral("dense layer: %1\n").arg(layer.denseReason);
    text += QStringLiteral("kept fraction: %1 (%2)\n")
                .arg(fmt::value(at(layer.keptFraction), 6), fmt::percent(at(layer.keptFraction), 2));
    const double err = at(layer.errorP95);
    const double mass = at(layer.retainedMass);
    auto interval = [&](const std::vector<float>& lo, const std::vector<float>& hi) {
        if (!layer.estimate) return QString();
        const double a = at(lo), b = at(hi);
        return QStringLiteral(" ESTIMATE, 95% interval [%1, %2]")
            .arg(fmt::value(a, 4), std::isfinite(b) ? fmt::value(b, 4) : QStringLiteral("?"));
    };
    text += QStringLiteral("p95 row error: %1%2\n")
                .arg(std::isnan(err) ? QStringLiteral("computing…") : fmt::value(err, 6),
                     interval(layer.errorP95Lo, layer.errorP95Hi));
    text += QStringLiteral("median retained mass: %1%2")
                .arg(std::isnan(mass) ? QStringLiteral("computing…") : fmt::value(mass, 6),
                     interval(layer.retainedMassLo, layer.retainedMassHi));
    if (layer.estimate) text += QStringLiteral("\n(estimate from sampled rows; the exact values follow)");
    return text;
}

void OverviewView::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return PlotView::mousePressEvent(event);
    const auto [r, c] = cellAt(event->pos());
    if (r < 0) return;
    setSelected(r, c);
    emit cellClicked(r, c);
    emit layerClicked(r);
    emit headClicked(c);
}

} // namespace tsa::views
