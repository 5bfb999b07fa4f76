#include "views/token_pan_zoom.h"

#include <QMouseEvent>
#include <QWheelEvent>
#include <QWidget>
#include <algorithm>
#include <cmath>

namespace tsa::views {

namespace {

constexpr double kNotchZoom = 0.8; // one wheel notch (120 eighths of a degree) shows 80% of the tokens
constexpr double kClickSlop = 4.0; // pixels a press may move and still be a click

} // namespace

TokenPanZoom::TokenPanZoom(QWidget* view, Area area)
    : QObject(view), m_view(view), m_area(std::move(area)), m_own(new TokenRangeModel(this)), m_model(m_own) {
    m_connection = connect(m_model, &TokenRangeModel::rangeChanged, this, &TokenPanZoom::rangeChanged);
    view->installEventFilter(this);
}

void TokenPanZoom::setModel(TokenRangeModel* model) {
    model = model ? model : m_own;
    if (model == m_model) return;
    const TokenRange before = m_model->range();
    disconnect(m_connection);
    m_model = model;
    m_dragging = false;
    m_connection = connect(m_model, &TokenRangeModel::rangeChanged, this, &TokenPanZoom::rangeChanged);
    // A shared model may go before the view (the window deletes its parts in any order): fall back to ours.
    disconnect(m_destroyed);
    if (m_model != m_own)
        m_destroyed = connect(m_model, &QObject::destroyed, this, [this] {
            m_model = m_own;
            m_dragging = false;
        });
    if (m_model->range() != before) emit rangeChanged(m_model->range().begin, m_model->range().end);
}

TokenRange TokenPanZoom::range(qint64 tokens) const {
    const TokenRange r = m_model->range();
    if (tokens <= 0) return {};
    if (m_model->total() == tokens) return r;
    return r.isEmpty() ? TokenRange{0, tokens} : r.clamped(tokens, kMinVisibleTokens);
}

double TokenPanZoom::fraction(double x) const {
    const QRectF area = m_area();
    return area.width() > 0 ? (x - area.left()) / area.width() : 0.0;
}

qint64 TokenPanZoom::tokenAtX(double x, qint64 tokens) const {
    const TokenRange r = range(tokens);
    if (r.isEmpty()) return -1;
    return std::clamp<qint64>(r.begin + qint64(fraction(x) * double(r.size())), r.begin, r.end - 1);
}

bool TokenPanZoom::isClick(const QPointF& releasePos) const {
    return (releasePos - m_pressPos).manhattanLength() < kClickSlop;
}

bool TokenPanZoom::eventFilter(QObject* watched, QEvent* event) {
    if (watched != m_view) return false;
    switch (event->type()) {
    case QEvent::Wheel: {
        auto* wheel = static_cast<QWheelEvent*>(event);
        const QPointF pos = wheel->position();
        const int delta = wheel->angleDelta().y();
        if (m_area().contains(pos) && delta != 0)
            m_model->zoom(std::pow(kNotchZoom, delta / 120.0), fraction(pos.x()));
        wheel->accept();
        return true; // never scrolls a parent: the views' wheel is zoom
    }
    case QEvent::MouseButtonPress: {
        auto* mouse = static_cast<QMouseEvent*>(event);
        if (mouse->button() != Qt::LeftButton) return false;
        m_pressPos = mouse->position();
        if (m_area().contains(m_pressPos) && m_model->total() > 0) {
            m_dragging = true;
            m_pressFraction = fraction(m_pressPos.x());
            m_pressRange = m_model->range();
            m_view->setCursor(Qt::ClosedHandCursor);
        }
        return false; // the view still sees the press (selection, hover state)
    }
    case QEvent::MouseMove: {
        if (!m_dragging) return false;
        auto* mouse = static_cast<QMouseEvent*>(event);
        const auto delta = static_cast<qint64>(
            std::llround((m_pressFraction - fraction(mouse->position().x())) * double(m_pressRange.size())));
        m_model->setRange(m_pressRange.panned(delta, m_model->total()));
        return true; // a drag is not a hover
    }
    case QEvent::MouseButtonRelease: {
        auto* mouse = static_cast<QMouseEvent*>(event);
        if (mouse->button() == Qt::LeftButton && m_dragging) {
            m_dragging = false;
            m_view->unsetCursor();
        }
        return false; // the view decides what a click means (isClick)
    }
    case QEvent::MouseButtonDblClick: {
        auto* mouse = static_cast<QMouseEvent*>(event);
        if (mouse->button() != Qt::LeftButton || !m_area().contains(mouse->position())) return false;
        m_model->reset();
        return true;
    }
    default:
        return false;
    }
}

} // namespace tsa::views
