// The visible window of token positions of the zoomable views (selection map, depth map, error trace) and
// its arithmetic: zoom around an anchor and pan, clamped to [0, total). TokenRangeModel holds one for
// several views; TokenPanZoom turns wheel, drag and double-click into these operations.
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

} // namespace tsa::views
