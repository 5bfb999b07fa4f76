#include "app/explorer/placeholder_view.h"

#include <QPainter>

namespace tsa::app {

PlaceholderView::PlaceholderView(QString name, QString title, QWidget* parent)
    : QWidget(parent), m_name(std::move(name)), m_title(std::move(title)) {
    setMinimumSize(320, 220);
}

void PlaceholderView::setText(const QString& text) {
    m_text = text;
    update();
}

void PlaceholderView::render(QPainter& painter, const QSize& size) const {
    painter.fillRect(QRect(QPoint(0, 0), size), Qt::white);
    painter.setPen(QColor(90, 90, 90));
    painter.drawText(QRect(QPoint(0, 0), size).adjusted(24, 24, -24, -24), Qt::AlignCenter | Qt::TextWordWrap,
                     m_title + QStringLiteral("\n\n") + m_text);
}

QString PlaceholderView::csv() const {
    return QStringLiteral("view,message\r\n%1,\"%2\"\r\n").arg(m_name, m_text);
}

void PlaceholderView::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    render(painter, size());
}

} // namespace tsa::app
