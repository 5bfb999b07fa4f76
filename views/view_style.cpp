#include "views/view_style.h"

#include <QFontMetricsF>
#include <QPaintDevice>
#include <QPainter>
#include <cmath>

namespace tsa::views::style {

namespace {

QFont makeFont(int pixels, bool bold = false) {
    QFont font(QStringLiteral("DejaVu Sans"));
    font.setPixelSize(pixels);
    font.setBold(bold);
    font.setStyleHint(QFont::SansSerif);
    return font;
}

} // namespace

QFont titleFont() {
    return makeFont(14, true);
}
QFont labelFont() {
    return makeFont(12);
}
QFont tickFont() {
    return makeFont(11);
}
QFont smallFont() {
    return makeFont(10);
}

QColor background() {
    return QColor(255, 255, 255);
}
QColor text() {
    return QColor(32, 32, 32);
}
QColor axis() {
    return QColor(70, 70, 70);
}
QColor grid() {
    return QColor(228, 228, 228);
}
QColor missing() {
    return QColor(243, 243, 243);
}
QColor highlight() {
    return QColor(230, 20, 60);
}
QColor sparseLayer() {
    return QColor(31, 119, 180);
}
QColor denseLayer() {
    return QColor(170, 170, 170);
}
QColor windowTokens() {
    return QColor(255, 127, 14);
}
QColor tauLine() {
    // Purple, not red: red is the selected head (highlight) and both appear in the coverage legend.
    return QColor(118, 42, 170);
}
QColor budgetLine() {
    return QColor(44, 160, 44);
}

void fillBackground(QPainter& painter, const QRectF& rect) {
    painter.fillRect(rect, background());
}

void drawTitle(QPainter& painter, const QRectF& rect, const QString& title) {
    painter.save();
    painter.setFont(titleFont());
    painter.setPen(text());
    const QFontMetricsF fm(painter.font());
    const QString elided = fm.elidedText(title, Qt::ElideRight, rect.width());
    painter.drawText(rect, Qt::AlignLeft | Qt::AlignVCenter, elided);
    painter.restore();
}

void drawMessage(QPainter& painter, const QRectF& rect, const QString& message) {
    painter.save();
    painter.setFont(labelFont());
    painter.setPen(QColor(120, 120, 120));
    painter.drawText(rect, Qt::AlignCenter | Qt::TextWordWrap, message);
    painter.restore();
}

void drawBanner(QPainter& painter, const QRectF& plot, const QString& message) {
    painter.save();
    painter.setFont(labelFont());
    const QFontMetricsF fm(painter.font());
    const double w = std::min(plot.width() - 8.0, fm.horizontalAdvance(message) + 16.0);
    const QRectF box(plot.center().x() - w / 2.0, plot.top() + 6.0, w, fm.height() + 8.0);
    painter.setPen(QPen(QColor(90, 90, 90), 1.0));
    painter.setBrush(QColor(255, 255, 255, 225));
    painter.drawRoundedRect(box, 4, 4);
    painter.setPen(text());
    painter.drawText(box, Qt::AlignCenter, fm.elidedText(message, Qt::ElideRight, w - 8.0));
    painter.restore();
}

double deviceScale(const QPainter& painter) {
    double scale = std::sqrt(std::fabs(painter.worldTransform().determinant()));
    if (const QPaintDevice* device = painter.device()) scale *= device->devicePixelRatioF();
    return scale > 0.0 ? scale : 1.0;
}

void drawPositionMarker(QPainter& painter, const QPointF& from, const QPointF& to) {
    painter.save();
    painter.setPen(QPen(QColor(255, 255, 255, 220), 4.0));
    painter.drawLine(from, to);
    painter.setPen(QPen(highlight(), 2.0));
    painter.drawLine(from, to);
    painter.restore();
}

} // namespace tsa::views::style
