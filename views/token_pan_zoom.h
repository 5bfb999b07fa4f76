// Wheel zoom about the cursor, drag pan and double-click reset along a view's token axis, in one place. A
// view composes it (it is an event filter on the view, as PlotJuggler's PlotWidgetBase composes its zoom
// and pan helpers) instead of writing its own wheel, press, move, release and double-click handlers. The
// view names the rectangle its token axis spans; the range lives in a TokenRangeModel, the view's own or
// one shared with other views. The view keeps its click handling and asks isClick() whether a release
// ended a click or a drag.
#pragma once

#include "views/token_range_model.h"

#include <QObject>
#include <QPointF>
#include <QRectF>
#include <functional>

class QWidget;

namespace tsa::views {

class TokenPanZoom : public QObject {
    Q_OBJECT
public:
    using Area = std::function<QRectF()>; // widget coordinates of the token axis' plot, at event time
    TokenPanZoom(QWidget* view, Area area);

    TokenRangeModel* model() const { return m_model; }
    // Shares another model (nullptr: back to the view's own). Emits rangeChanged when the range differs.
    void setModel(TokenRangeModel* model);
    // The model's range clamped to the view's data length (a shared model may briefly be of another file).
    TokenRange range(qint64 tokens) const;
    // Token under a widget x inside the area, for a view whose data is `tokens` long.
    qint64 tokenAtX(double x, qint64 tokens) const;
    bool dragging() const { return m_dragging; }
    // The last left press was released within a few pixels of where it started: a click, not a drag.
    bool isClick(const QPointF& releasePos) const;

signals:
    void rangeChanged(qint64 begin, qint64 end); // of the model in use

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    double fraction(double x) const;

    QWidget* m_view;
    Area m_area;
    TokenRangeModel* m_own;
    TokenRangeModel* m_model;
    QMetaObject::Connection m_connection;
    QMetaObject::Connection m_destroyed;
    bool m_dragging = false;
    double m_pressFraction = 0.0;
    TokenRange m_pressRange;
    QPointF m_pressPos{-1e9, -1e9};
};

} // namespace tsa::views
