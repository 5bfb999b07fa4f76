#include "views/axis_painter.h"

#include "views/number_format.h"
#include "views/view_style.h"

#include <QFontMetricsF>
#include <QPainter>
#include <algorithm>
#include <cmath>

namespace tsa::views {

namespace {

bool horizontal(Edge edge) {
    return edge == Edge::Bottom || edge == Edge::Top;
}

QString tickLabel(double v, TickStyle style, double step, bool log) {
    if (log) return fmt::logTick(v);
    switch (style) {
    case TickStyle::Tokens:
        return fmt::tokenTick(v);
    case TickStyle::Integer:
        return QString::number(static_cast<qint64>(std::llround(v)));
    case TickStyle::Percent:
        return fmt::linearTick(v * 100.0, step * 100.0) + QLatin1Char('%');
    case TickStyle::Number:
        break;
    }
    return fmt::linearTick(v, step);
}

void drawTitleText(QPainter& painter, const QRectF& plot, Edge edge, const QString& title, double offset) {
    if (title.isEmpty()) return;
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    const QFontMetricsF fm(painter.font());
    if (horizontal(edge)) {
        const double y = edge == Edge::Bottom ? plot.bottom() + offset : plot.top() - offset - fm.height();
        painter.drawText(QRectF(plot.left(), y, plot.width(), fm.height()), Qt::AlignCenter,
                         fm.elidedText(title, Qt::ElideRight, plot.width()));
        return;
    }
    painter.save();
    const double x = edge == Edge::Left ? plot.left() - offset - fm.height() : plot.right() + offset;
    painter.translate(x, plot.bottom());
    painter.rotate(-90);
    painter.drawText(QRectF(0, 0, plot.height(), fm.height()), Qt::AlignCenter,
                     fm.elidedText(title, Qt::ElideRight, plot.height()));
    painter.restore();
}

// The axis line along one edge of the plot rectangle.
void drawAxisLine(QPainter& painter, const QRectF& plot, Edge edge) {
    painter.setPen(QPen(style::axis(), 1.0));
    switch (edge) {
    case Edge::Bottom:
        painter.drawLine(plot.bottomLeft(), plot.bottomRight());
        break;
    case Edge::Top:
        painter.drawLine(plot.topLeft(), plot.topRight());
        break;
    case Edge::Left:
        painter.drawLine(plot.topLeft(), plot.bottomLeft());
        break;
    case Edge::Right:
        painter.drawLine(plot.topRight(), plot.bottomRight());
        break;
    }
}

} // namespace

double axisPosition(const QRectF& plot, const AxisSpec& spec, double value) {
    const double u = spec.scale.unit(spec.cellCentred ? value + 0.5 : value);
    if (horizontal(spec.edge)) return plot.left() + u * plot.width();
    return plot.bottom() - u * plot.height();
}

int labelStride(double cellSize, double extent) {
    if (cellSize <= 0) return 1;
    const double need = extent / cellSize;
    if (need <= 1.0) return 1;
    for (int mag = 1;; mag *= 10)
        for (int m : {1, 2, 5})
            if (m * mag >= need) return m * mag;
}

void drawAxis(QPainter& painter, const QRectF& plot, const AxisSpec& spec) {
    painter.save();
    painter.setFont(style::tickFont());
    const QFontMetricsF fm(painter.font());
    const bool horiz = horizontal(spec.edge);
    const double length = horiz ? plot.width() : plot.height();
    const int maxTicks = std::max(2, static_cast<int>(length / (horiz ? 90.0 : 38.0)));

    // A scale may run backwards (hi < lo: query positions growing downwards); ticks need the ordered range.
    double lo = std::min(spec.scale.lo, spec.scale.hi);
    double hi = std::max(spec.scale.lo, spec.scale.hi);
    if (spec.cellCentred) {
        lo -= 0.5;
        hi -= 0.5;
    }
    double step = 1.0;
    std::vector<double> ticks;
    if (spec.scale.log)
        ticks = niceLogTicks(lo, hi, maxTicks);
    else if (spec.style == TickStyle::Integer || spec.style == TickStyle::Tokens)
        ticks = niceIntegerTicks(lo, hi, maxTicks, &step);
    else
        ticks = niceLinearTicks(lo, hi, maxTicks, &step);

    double labelExtent = 0.0;
    for (double t : ticks) {
        const double p = axisPosition(plot, spec, t);
        const QString label = tickLabel(t, spec.style, step, spec.scale.log);
        if (spec.gridLines) {
            painter.setPen(QPen(style::grid(), 1.0));
            if (horiz)
                painter.drawLine(QPointF(p, plot.top()), QPointF(p, plot.bottom()));
            else
                painter.drawLine(QPointF(plot.left(), p), QPointF(plot.right(), p));
        }
        painter.setPen(QPen(style::axis(), 1.0));
        const double w = fm.horizontalAdvance(label);
        switch (spec.edge) {
        case Edge::Bottom:
            painter.drawLine(QPointF(p, plot.bottom()), QPointF(p, plot.bottom() + 4));
            painter.setPen(style::text());
            painter.drawText(QRectF(p - w / 2 - 2, plot.bottom() + 5, w + 4, fm.height()), Qt::AlignCenter,
                             label);
            labelExtent = std::max(labelExtent, fm.height());
            break;
        case Edge::Top:
            painter.drawLine(QPointF(p, plot.top()), QPointF(p, plot.top() - 4));
            painter.setPen(style::text());
            painter.drawText(QRectF(p - w / 2 - 2, plot.top() - 5 - fm.height(), w + 4, fm.height()),
                             Qt::AlignCenter, label);
            labelExtent = std::max(labelExtent, fm.height());
            break;
        case Edge::Left:
            painter.drawLine(QPointF(plot.left() - 4, p), QPointF(plot.left(), p));
            painter.setPen(style::text());
            painter.drawText(QRectF(plot.left() - 6 - w - 2, p - fm.height() / 2, w + 2, fm.height()),
                             Qt::AlignRight | Qt::AlignVCenter, label);
            labelExtent = std::max(labelExtent, w);
            break;
        case Edge::Right:
            painter.drawLine(QPointF(plot.right(), p), QPointF(plot.right() + 4, p));
            painter.setPen(style::text());
            painter.drawText(QRectF(plot.right() + 6, p - fm.height() / 2, w + 2, fm.height()),
                             Qt::AlignLeft | Qt::AlignVCenter, label);
            labelExtent = std::max(labelExtent, w);
            break;
        }
    }
    // The axis line itself.
    drawAxisLine(painter, plot, spec.edge);
    drawTitleText(painter, plot, spec.edge, spec.title, labelExtent + 9.0);
    painter.restore();
}

void drawCategoryAxis(QPainter& painter, const QRectF& plot, Edge edge, int count,
                      const std::function<QString(int)>& label, const QString& title) {
    if (count <= 0) return;
    painter.save();
    painter.setFont(style::tickFont());
    const QFontMetricsF fm(painter.font());
    const bool horiz = horizontal(edge);
    const double cell = (horiz ? plot.width() : plot.height()) / count;
    double widest = 0.0;
    for (int i = 0; i < count; i += std::max(1, count / 64))
        widest = std::max(widest, fm.horizontalAdvance(label(i)));
    widest = std::max(widest, fm.horizontalAdvance(label(count - 1)));
    const int stride = labelStride(cell, horiz ? widest + 6.0 : fm.height() + 1.0);
    double labelExtent = horiz ? fm.height() : 0.0;
    for (int i = 0; i < count; i += stride) {
        const QString text = label(i);
        const double w = fm.horizontalAdvance(text);
        painter.setPen(QPen(style::axis(), 1.0));
        if (horiz) {
            const double x = plot.left() + (i + 0.5) * cell;
            const double y = edge == Edge::Bottom ? plot.bottom() : plot.top();
            const double dir = edge == Edge::Bottom ? 1.0 : -1.0;
            painter.drawLine(QPointF(x, y), QPointF(x, y + 3 * dir));
            painter.setPen(style::text());
            const double ty = edge == Edge::Bottom ? y + 4 : y - 4 - fm.height();
            painter.drawText(QRectF(x - w / 2 - 2, ty, w + 4, fm.height()), Qt::AlignCenter, text);
        } else {
            const double y = plot.top() + (i + 0.5) * cell;
            const double x = edge == Edge::Left ? plot.left() : plot.right();
            const double dir = edge == Edge::Left ? -1.0 : 1.0;
            painter.drawLine(QPointF(x, y), QPointF(x + 3 * dir, y));
            painter.setPen(style::text());
            const QRectF box = edge == Edge::Left
                                   ? QRectF(x - 5 - w - 2, y - fm.height() / 2, w + 2, fm.height())
                                   : QRectF(x + 5, y - fm.height() / 2, w + 2, fm.height());
            painter.drawText(box, (edge == Edge::Left ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignVCenter,
                             text);
            labelExtent = std::max(labelExtent, w);
        }
    }
    drawAxisLine(painter, plot, edge);
    drawTitleText(painter, plot, edge, title, labelExtent + 8.0);
    painter.restore();
}

} // namespace tsa::views
