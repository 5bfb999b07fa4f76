#include "views/depth_view.h"

#include "views/colour_bar.h"
#include "views/csv_writer.h"
#include "views/heatmap_renderer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QMouseEvent>
#include <QPainter>
#include <cmath>

namespace tsa::views {

namespace {

const QRgb kKeptColour = qRgb(35, 55, 110);
const QRgb kDroppedColour = qRgb(238, 238, 238);
const QRgb kDenseColour = qRgb(196, 196, 196);

QRgb mixRgb(QRgb a, QRgb b, double t) {
    auto m = [t](int x, int y) { return int(std::lround(x * t + y * (1.0 - t))); };
    return qRgb(m(qRed(a), qRed(b)), m(qGreen(a), qGreen(b)), m(qBlue(a), qBlue(b)));
}

} // namespace

DepthView::DepthView(QWidget* parent)
    : PlotView(parent), m_panZoom(new TokenPanZoom(this, [this] { return layoutFor(size()).map; })) {
    connect(m_panZoom, &TokenPanZoom::rangeChanged, this, [this](qint64 begin, qint64 end) {
        update();
        emit visibleRangeChanged(begin, end);
    });
}

void DepthView::setData(DepthData data) {
    m_data = std::move(data);
    const qint64 L = m_data.tokens;
    m_kept.assign(std::size_t(qint64(layers()) * L), 0);
    for (int r = 0; r < layers(); ++r) {
        const DepthLayer& layer = m_data.layers[std::size_t(r)];
        std::uint8_t* row = m_kept.data() + qint64(r) * L;
        if (!layer.sparse)
            std::fill(row, row + L, 1);
        else
            for (std::int32_t p : layer.kept)
                if (p >= 0 && p < L) row[p] = 1;
    }
    // A new length shows everything; the same length (a tau step) keeps the zoom.
    if (L > 0) m_panZoom->model()->setTotal(L);
    if (m_selectedLayer >= layers()) m_selectedLayer = -1;
    m_buffer.invalidate();
    update();
}

void DepthView::setColourMap(const QString& name) {
    m_colourMap = name;
    update();
}

void DepthView::setSelectedLayer(int layer) {
    m_selectedLayer = layer;
    update();
}

void DepthView::setVisibleRange(qint64 begin, qint64 end) {
    m_panZoom->model()->setRange({begin, end});
}

void DepthView::resetZoom() {
    m_panZoom->model()->reset();
}

bool DepthView::hasJaccard() const {
    return layers() > 0 && m_data.jaccard.size() == std::size_t(layers()) * std::size_t(layers());
}

QString DepthView::viewTitle() const {
    return QStringLiteral("Depth: head %1 across layers (kept tokens and kept-set overlap)").arg(m_data.head);
}

std::vector<LegendItem> DepthView::legendItems() {
    return {{QColor::fromRgb(kKeptColour), QStringLiteral("kept"), LegendItem::Shape::Box},
            {QColor::fromRgb(kDroppedColour), QStringLiteral("dropped"), LegendItem::Shape::Box},
            {QColor::fromRgb(kDenseColour), QStringLiteral("dense layer (all kept)"), LegendItem::Shape::Box},
            {style::sparseLayer(), QStringLiteral("sparse layer mark"), LegendItem::Shape::Box},
            {style::denseLayer(), QStringLiteral("dense layer mark"), LegendItem::Shape::Box}};
}

DepthView::Layout DepthView::layoutFor(const QSize& size) const {
    Layout l;
    const double w = size.width();
    const double h = size.height();
    l.title = QRectF(10, 0, w - 20, style::kTitleHeight);
    l.legend = QRectF(10, style::kTitleHeight, w - 20, 24);
    const double top = style::kTitleHeight + 32 + legendWrapExtra(legendItems(), w - 14);
    const double plotH = std::max(10.0, h - top - style::kBottomMargin);
    const double mapLeft = style::kLeftMargin + 10;
    // The Jaccard matrix is square; beside the map it gets at most 40% of the width. In a narrow view that
    // left it a few dozen pixels, so there it goes under the map instead.
    const double besideSide = std::min(plotH, 0.4 * w - style::kColourBarReserve - 50);
    if (besideSide >= 120.0 || w >= 900.0) {
        const double side = std::max(10.0, besideSide);
        l.bar = QRectF(w - style::kColourBarReserve + 10, top, 14, side);
        l.matrix = QRectF(l.bar.left() - 16 - side, top, side, side);
        l.map = QRectF(mapLeft, top, std::max(10.0, l.matrix.left() - 56 - mapLeft), plotH);
        return l;
    }
    const double mapH = std::max(10.0, plotH * 0.5);
    l.map = QRectF(mapLeft, top, std::max(10.0, w - mapLeft - style::kRightPad - 10), mapH);
    const double matrixTop = l.map.bottom() + style::kBottomMargin + 8;
    const double side = std::max(10.0, std::min(h - matrixTop - style::kBottomMargin + 10,
                                                w - mapLeft - style::kColourBarReserve - 20));
    l.matrix = QRectF(mapLeft, matrixTop, side, side);
    l.bar = QRectF(l.matrix.right() + 16, matrixTop, 14, side);
    return l;
}

QRectF DepthView::matrixRect(const QSize& size) const {
    return layoutFor(size).matrix;
}

QImage DepthView::drawBuffer(const QSize& pixels, const TokenRange& range) const {
    if (pixels.isEmpty() || range.isEmpty() || layers() == 0) return {};
    const int w = pixels.width();
    const int h = pixels.height();
    // Mean of the kept flags: the kept share of each pixel's tokens.
    const std::vector<float> share = aggregateGrid(m_kept.data(), m_data.tokens, 0, layers(), range.begin,
                                                   range.end, h, w, Aggregate::Mean);
    QImage image(w, h, QImage::Format_RGB32);
    for (int y = 0; y < h; ++y) {
        const BinRange rows = binRange(0, layers(), h, y);
        const bool dense = !m_data.layers[std::size_t(rows.begin)].sparse;
        auto* line = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = 0; x < w; ++x)
            line[x] =
                dense ? kDenseColour : mixRgb(kKeptColour, kDroppedColour, share[std::size_t(y) * w + x]);
    }
    return image;
}

void DepthView::render(QPainter& painter, const QSize& size) const {
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    const Layout l = layoutFor(size);
    style::drawTitle(painter, l.title, viewTitle());
    if (layers() == 0 || m_data.tokens == 0) {
        style::drawMessage(painter, all, QStringLiteral("No head selected"));
        painter.restore();
        return;
    }
    const TokenRange range = visibleRange();
    const double scale = style::deviceScale(painter);
    const QSize pixels(std::max(1, int(std::lround(l.map.width() * scale))),
                       std::max(1, int(std::lround(l.map.height() * scale))));
    painter.drawImage(l.map, m_buffer.image(pixels, range, [this](const QSize& px, const TokenRange& r) {
        return drawBuffer(px, r);
    }));
    const int n = layers();
    const double rowH = l.map.height() / n;
    // Layer kind strip, as in the overview.
    for (int r = 0; r < n; ++r)
        painter.fillRect(QRectF(l.map.left() - 10, l.map.top() + r * rowH, 7, rowH + 0.5),
                         m_data.layers[std::size_t(r)].sparse ? style::sparseLayer() : style::denseLayer());
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(l.map);
    auto layerLabel = [this](int r) { return QString::number(m_data.layers[std::size_t(r)].layerId); };
    drawCategoryAxis(painter, QRectF(l.map.left() - 12, l.map.top(), l.map.width() + 12, l.map.height()),
                     Edge::Left, n, layerLabel, QStringLiteral("layer"));
    AxisSpec x;
    x.scale = AxisScale{double(range.begin), double(range.end), false};
    x.edge = Edge::Bottom;
    x.style = TickStyle::Tokens;
    x.cellCentred = true;
    x.title = range.size() > qint64(l.map.width())
                  ? QStringLiteral("token position (colour: kept share per pixel)")
                  : QStringLiteral("token position");
    drawAxis(painter, l.map, x);

    if (hasJaccard()) {
        const ColourMap& map = ColourMap::byName(m_colourMap);
        const double cell = l.matrix.width() / n;
        for (int a = 0; a < n; ++a)
            for (int b = 0; b < n; ++b) {
                const double v = m_data.jaccard[std::size_t(a) * n + b];
                painter.fillRect(
                    QRectF(l.matrix.left() + b * cell, l.matrix.top() + a * cell, cell + 0.5, cell + 0.5),
                    std::isnan(v) ? style::missing() : QColor::fromRgb(map.rgbAt(v)));
            }
        for (int r = 0; r < n; ++r) {
            const QColor kind =
                m_data.layers[std::size_t(r)].sparse ? style::sparseLayer() : style::denseLayer();
            painter.fillRect(QRectF(l.matrix.left() - 9, l.matrix.top() + r * cell, 6, cell + 0.5), kind);
            painter.fillRect(QRectF(l.matrix.left() + r * cell, l.matrix.bottom() + 3, cell + 0.5, 6), kind);
        }
        painter.setPen(QPen(style::axis(), 1.0));
        painter.setBrush(Qt::NoBrush);
        painter.drawRect(l.matrix);
        if (m_selectedLayer >= 0 && m_selectedLayer < n) {
            painter.setPen(QPen(style::highlight(), 2.0));
            painter.drawRect(
                QRectF(l.matrix.left(), l.matrix.top() + m_selectedLayer * cell, l.matrix.width(), cell));
            painter.drawRect(
                QRectF(l.matrix.left() + m_selectedLayer * cell, l.matrix.top(), cell, l.matrix.height()));
        }
        drawCategoryAxis(
            painter, QRectF(l.matrix.left() - 10, l.matrix.top(), l.matrix.width() + 10, l.matrix.height()),
            Edge::Left, n, layerLabel, QString());
        drawCategoryAxis(painter,
                         QRectF(l.matrix.left(), l.matrix.top(), l.matrix.width(), l.matrix.height() + 10),
                         Edge::Bottom, n, layerLabel, QStringLiteral("layer (Jaccard of kept sets)"));
        drawColourBar(painter, l.bar, map, AxisScale{0.0, 1.0, false}, QStringLiteral("Jaccard overlap"));
    } else {
        painter.setPen(QPen(QColor(200, 200, 200), 1.0, Qt::DashLine));
        painter.drawRect(l.matrix);
        style::drawMessage(painter, l.matrix, QStringLiteral("Layer overlap not computed yet"));
    }
    if (m_selectedLayer >= 0 && m_selectedLayer < n) {
        painter.setPen(QPen(style::highlight(), 2.0));
        painter.setBrush(Qt::NoBrush);
        painter.drawRect(QRectF(l.map.left(), l.map.top() + m_selectedLayer * rowH, l.map.width(), rowH));
    }
    if (m_markedPosition >= range.begin && m_markedPosition < range.end) {
        const double x = l.map.left() + (double(m_markedPosition - range.begin) + 0.5) /
                                            double(range.size()) * l.map.width();
        style::drawPositionMarker(painter, QPointF(x, l.map.top()), QPointF(x, l.map.bottom()));
    }
    drawLegend(painter, l.legend.topLeft(), legendItems(), true);
    painter.restore();
}

QString DepthView::toolTipAt(const QPoint& pos) const {
    const Layout l = layoutFor(size());
    const int n = layers();
    if (n == 0) return {};
    if (l.map.contains(pos) && m_data.tokens > 0) {
        const int r = std::clamp(int((pos.y() - l.map.top()) / l.map.height() * n), 0, n - 1);
        const DepthLayer& layer = m_data.layers[std::size_t(r)];
        const TokenRange range = visibleRange();
        const int columns = std::max(1, int(std::lround(l.map.width())));
        const BinRange bin = binRange(range.begin, range.size(), columns,
                                      std::clamp<qint64>(qint64(pos.x() - l.map.left()), 0, columns - 1));
        const std::uint8_t* row = m_kept.data() + qint64(r) * m_data.tokens;
        QString text = QStringLiteral("layer %1, head %2").arg(layer.layerId).arg(m_data.head);
        text += layer.sparse ? QStringLiteral(" (sparse)\n")
                             : QStringLiteral(" (dense: %1)\n").arg(layer.denseReason);
        if (bin.end - bin.begin == 1)
            return text + QStringLiteral("position %1: %2")
                              .arg(fmt::integer(bin.begin), row[bin.begin] ? "kept" : "dropped");
        qint64 kept = 0;
        for (qint64 t = bin.begin; t < bin.end; ++t)
            kept += row[t];
        return text + QStringLiteral("positions %1–%2: kept %3 of %4")
                          .arg(fmt::integer(bin.begin), fmt::integer(bin.end - 1), fmt::integer(kept),
                               fmt::integer(bin.end - bin.begin));
    }
    if (hasJaccard() && l.matrix.contains(pos)) {
        const int a = std::clamp(int((pos.y() - l.matrix.top()) / l.matrix.height() * n), 0, n - 1);
        const int b = std::clamp(int((pos.x() - l.matrix.left()) / l.matrix.width() * n), 0, n - 1);
        return QStringLiteral("layers %1 and %2, head %3\nJaccard overlap of kept sets: %4")
            .arg(m_data.layers[std::size_t(a)].layerId)
            .arg(m_data.layers[std::size_t(b)].layerId)
            .arg(m_data.head)
            .arg(fmt::value(m_data.jaccard[std::size_t(a) * n + b], 6));
    }
    return {};
}

QString DepthView::csv() const {
    CsvWriter out;
    out.row({"kind", "head", "layer_id", "other_layer_id", "position_begin", "position_end", "value"});
    const qint64 L = m_data.tokens;
    for (int r = 0; r < layers(); ++r) {
        const std::uint8_t* row = m_kept.data() + qint64(r) * L;
        const QString id = QString::number(m_data.layers[std::size_t(r)].layerId);
        for (qint64 t = 0; t < L;) {
            if (!row[t]) {
                ++t;
                continue;
            }
            qint64 e = t;
            while (e < L && row[e])
                ++e;
            out.row({"kept_run", QString::number(m_data.head), id, QString(), QString::number(t),
                     QString::number(e), "1"});
            t = e;
        }
    }
    if (hasJaccard())
        for (int a = 0; a < layers(); ++a)
            for (int b = 0; b < layers(); ++b)
                out.row({"jaccard", QString::number(m_data.head),
                         QString::number(m_data.layers[std::size_t(a)].layerId),
                         QString::number(m_data.layers[std::size_t(b)].layerId), QString(), QString(),
                         fmt::csvValue(m_data.jaccard[std::size_t(a) * layers() + b])});
    return out.text();
}

void DepthView::mouseMoveEvent(QMouseEvent* event) {
    const Layout l = layoutFor(size());
    if (l.map.contains(event->position()) && m_data.tokens > 0)
        emit tokenHovered(m_panZoom->tokenAtX(event->position().x(), m_data.tokens));
}

void DepthView::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return PlotView::mouseReleaseEvent(event);
    if (!m_panZoom->isClick(event->position()) || layers() == 0) return;
    const Layout l = layoutFor(size());
    const int n = layers();
    if (l.map.contains(event->position())) {
        const int r = std::clamp(int((event->position().y() - l.map.top()) / l.map.height() * n), 0, n - 1);
        setSelectedLayer(r);
        emit layerClicked(r);
        if (m_data.tokens > 0) emit tokenClicked(m_panZoom->tokenAtX(event->position().x(), m_data.tokens));
    } else if (hasJaccard() && l.matrix.contains(event->position())) {
        const int a =
            std::clamp(int((event->position().y() - l.matrix.top()) / l.matrix.height() * n), 0, n - 1);
        const int b =
            std::clamp(int((event->position().x() - l.matrix.left()) / l.matrix.width() * n), 0, n - 1);
        emit layerPairClicked(a, b);
    }
}

void DepthView::setMarkedPosition(qint64 position) {
    m_markedPosition = position;
    update();
}

} // namespace tsa::views
