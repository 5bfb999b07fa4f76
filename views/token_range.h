// The visible window of token positions of the zoomable views (selection map, depth map, error trace):
// wheel zoom around the cursor and drag panning, clamped to [0, total).
#pragma once

#include <QtGlobal>

namespace tsa::views {

struct TokenRange {
    qint64 begin = 0;
    qint64 end = 0; // exclusive

    qint64 size() const { return end - begin; }
    bool isEmpty() const { return end <= begin; }
    bool operator==(const TokenRange&) const = default;

    // Keeps the range inside [0, total) and at least minSpan wide (or the whole sequence when shorter).
    TokenRange clamped(qint64 total, qint64 minSpan) const;
    // factor < 1 zooms in; anchor (0..1) is the fraction of the range that stays under the cursor.
    TokenRange zoomed(double factor, double anchor, qint64 total, qint64 minSpan) const;
    TokenRange panned(qint64 delta, qint64 total) const;
};

// Fewest tokens a zoomed view shows: below this the cells get wider than is useful.
constexpr qint64 kMinVisibleTokens = 16;

// Wheel and drag handling shared by the zoomable views; positions are fractions of the plot width.
class TokenZoom {
public:
    // New data: show everything.
    void reset(qint64 total);
    qint64 total() const { return m_total; }
    const TokenRange& range() const { return m_range; }
    // Returns true when the visible range changed.
    bool setRange(TokenRange range);
    // angleDelta in eighths of a degree (QWheelEvent::angleDelta().y()); one notch zooms by 1.25x.
    bool wheel(int angleDelta, double anchor);
    void press(double fraction);
    bool drag(double fraction);
    void release() { m_dragging = false; }
    bool dragging() const { return m_dragging; }

private:
    qint64 m_total = 0;
    TokenRange m_range;
    bool m_dragging = false;
    double m_pressFraction = 0.0;
    TokenRange m_pressRange;
};

} // namespace tsa::views
