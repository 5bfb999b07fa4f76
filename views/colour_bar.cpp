#include "views/colour_bar.h"

#include "views/view_style.h"

#include <QFontMetricsF>
#include <QImage>
#include <QPainter>

namespace tsa::views {

void drawColourBar(QPainter& painter, const QRectF& bar, const ColourMap& map, const AxisScale& scale,
                   const QString& title, TickStyle tickStyle) {
    if (bar.height() < 4) return;
    painter.save();
    // One pixel per colour-map entry, stretched: the bar is an image in exports, like the heatmaps.
    QImage strip(1, 256, QImage::Format_RGB32);
    for (int i = 0; i < 256; ++i)
        strip.setPixel(0, 255 - i, map.entry(i));
    painter.drawImage(bar, strip);
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(bar);
    AxisSpec spec;
    spec.scale = scale;
    spec.edge = Edge::Right;
    spec.title = title;
    spec.style = tickStyle;
    drawAxis(painter, bar, spec);
    painter.restore();
}

namespace {

constexpr double kSwatch = 18.0;
constexpr double kPad = 6.0;
constexpr double kGap = 14.0;

} // namespace

QSizeF legendSize(const std::vector<LegendItem>& items, bool horizontalLayout, double maxWidth) {
    const QFontMetricsF fm(style::smallFont());
    const double rowH = std::max(fm.height(), 12.0) + 3.0;
    double w = 0.0;
    double h = 0.0;
    double rowW = 0.0;
    for (const LegendItem& item : items) {
        const double iw = kSwatch + 5.0 + fm.horizontalAdvance(item.text);
        if (horizontalLayout) {
            // Wrap onto another row rather than run past the view's edge (small windows).
            if (maxWidth > 0 && rowW > 0 && rowW + kGap + iw + 2 * kPad > maxWidth) {
                rowW = 0.0;
                h += rowH;
            }
            rowW += iw + (rowW > 0 ? kGap : 0.0);
            w = std::max(w, rowW);
            if (h == 0.0) h = rowH;
        } else {
            w = std::max(w, iw);
            h += rowH;
        }
    }
    return items.empty() ? QSizeF() : QSizeF(w + 2 * kPad, h + 2 * kPad - 3.0);
}

double legendWrapExtra(const std::vector<LegendItem>& items, double maxWidth) {
    return std::max(0.0, legendSize(items, true, maxWidth).height() - legendSize(items, true).height());
}

void drawLegend(QPainter& painter, const QPointF& topLeft, const std::vector<LegendItem>& items,
                bool horizontalLayout, double maxWidth) {
    if (items.empty()) return;
    painter.save();
    painter.setFont(style::smallFont());
    const QFontMetricsF fm(painter.font());
    if (horizontalLayout && maxWidth <= 0 && painter.device())
        maxWidth = painter.device()->width() / std::max(1.0, style::deviceScale(painter)) - topLeft.x() - 4;
    const QSizeF size = legendSize(items, horizontalLayout, maxWidth);
    painter.setPen(QPen(QColor(200, 200, 200), 1.0));
    painter.setBrush(QColor(255, 255, 255, 235));
    painter.drawRect(QRectF(topLeft, size));
    const double rowH = std::max(fm.height(), 12.0) + 3.0;
    double x = topLeft.x() + kPad;
    double y = topLeft.y() + kPad;
    for (const LegendItem& item : items) {
        const double tw = fm.horizontalAdvance(item.text);
        // The same wrapping rule as legendSize().
        if (horizontalLayout && maxWidth > 0 && x > topLeft.x() + kPad &&
            x + kSwatch + 5 + tw + kPad - topLeft.x() > maxWidth) {
            x = topLeft.x() + kPad;
            y += rowH;
        }
        const double cy = y + (rowH - 3.0) / 2.0;
        switch (item.shape) {
        case LegendItem::Shape::Box:
            painter.setPen(QPen(QColor(90, 90, 90), 0.8));
            painter.setBrush(item.colour);
            painter.drawRect(QRectF(x + 2, cy - 5, kSwatch - 4, 10));
            break;
        case LegendItem::Shape::Line:
        case LegendItem::Shape::ThickLine:
        case LegendItem::Shape::DashedLine: {
            QPen pen(item.colour, item.shape == LegendItem::Shape::ThickLine ? 3.0 : 1.5);
            if (item.shape == LegendItem::Shape::DashedLine) pen.setStyle(Qt::DashLine);
            painter.setPen(pen);
            painter.drawLine(QPointF(x, cy), QPointF(x + kSwatch, cy));
            break;
        }
        }
        painter.setPen(style::text());
        painter.drawText(QRectF(x + kSwatch + 5, y, tw + 2, rowH - 3.0), Qt::AlignLeft | Qt::AlignVCenter,
                         item.text);
        if (horizontalLayout)
            x += kSwatch + 5 + tw + kGap;
        else
            y += rowH;
    }
    painter.restore();
}

} // namespace tsa::views
