// The visible token range shared by the zoomable views (selection map, depth map, error trace): one model,
// many views, as Sonic Visualiser's ViewManager keeps its views' zoom in step. A view zooms by setting the
// model's range; every view showing the model follows, whichever one the user touched. The range is held
// clamped to the data ([0, total), at least kMinVisibleTokens wide).
#pragma once

#include "views/token_range.h"

#include <QObject>

namespace tsa::views {

class TokenRangeModel : public QObject {
    Q_OBJECT
public:
    explicit TokenRangeModel(QObject* parent = nullptr);

    qint64 total() const { return m_total; }
    const TokenRange& range() const { return m_range; }
    bool isZoomed() const { return m_range != TokenRange{0, m_total}; }

    // The data's length. A new length shows everything; the same length keeps the zoom (a tau change
    // refreshes the views' data and must not undo the user's zoom).
    void setTotal(qint64 total);
    // Clamped to the data; returns true (and emits) when the visible range changed.
    bool setRange(TokenRange range);
    bool reset() { return setRange({0, m_total}); }
    // factor < 1 zooms in, keeping the token at anchor (0..1 across the range) in place.
    bool zoom(double factor, double anchor);

signals:
    void rangeChanged(qint64 begin, qint64 end);

private:
    qint64 m_total = 0;
    TokenRange m_range;
};

} // namespace tsa::views
