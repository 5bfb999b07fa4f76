#include "views/plot_view.h"

#include <QHelpEvent>
#include <QPainter>
#include <QToolTip>

namespace tsa::views {

PlotView::PlotView(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setAttribute(Qt::WA_OpaquePaintEvent);
}

void PlotView::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    render(painter, size());
}

bool PlotView::event(QEvent* event) {
    if (event->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(event);
        const QString text = toolTipAt(help->pos());
        if (text.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(help->globalPos(), text, this);
        return true;
    }
    return QWidget::event(event);
}

} // namespace tsa::views
