// Base of the QPainter-drawn views: the widget paints through render() (so the screen, PNG and SVG show
// the same picture) and shows toolTipAt() on hover. Subclasses keep their draw buffers in mutable caches
// that render() refreshes only when data, visible range or pixel size changed.
#pragma once

#include "views/exportable_view.h"

#include <QWidget>

namespace tsa::views {

class PlotView : public QWidget, public ExportableView {
    Q_OBJECT
public:
    explicit PlotView(QWidget* parent = nullptr);

    QWidget* widget() override { return this; }
    // QWidget has render() overloads too; the ExportableView one is the one views mean.
    using ExportableView::render;
    // Hover text at a widget position with exact values; empty where nothing is under the cursor.
    // Public so tests and the explorer's status bar can use it without synthesising hover events.
    virtual QString toolTipAt(const QPoint& pos) const = 0;
    QSize sizeHint() const override { return {760, 440}; }
    QSize minimumSizeHint() const override { return {320, 220}; }

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override;
};

} // namespace tsa::views
