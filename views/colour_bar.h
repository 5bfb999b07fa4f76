// Colour bars (a colour map against a value scale, with ticks) and legends (discrete swatches), drawn
// by the views themselves so PNG and SVG exports carry them.
#pragma once

#include "views/axis_painter.h"
#include "views/axis_scale.h"
#include "views/colour_map.h"

#include <QColor>
#include <QRectF>
#include <QString>
#include <vector>

class QPainter;

namespace tsa::views {

// Vertical bar in `bar` (about 14 px wide), low values at the bottom; tick labels to its right and the
// title rotated beyond them. Reserve style::kColourBarReserve pixels for bar, labels and title.
void drawColourBar(QPainter& painter, const QRectF& bar, const ColourMap& map, const AxisScale& scale,
                   const QString& title, TickStyle tickStyle = TickStyle::Number);

struct LegendItem {
    enum class Shape { Box, Line, ThickLine, DashedLine };
    QColor colour;
    QString text;
    Shape shape = Shape::Box;
};

// Size of a legend laid out in one column (vertical) or in rows (horizontal), wrapping onto another row
// where a row would be wider than maxWidth (0: no limit).
QSizeF legendSize(const std::vector<LegendItem>& items, bool horizontalLayout, double maxWidth = 0.0);
// Draws the legend with its top-left at `topLeft`, on a white box so it reads over data. A horizontal
// legend wraps at maxWidth; 0 means at the right edge of the paint device (small windows clipped it).
void drawLegend(QPainter& painter, const QPointF& topLeft, const std::vector<LegendItem>& items,
                bool horizontalLayout, double maxWidth = 0.0);
// Height a horizontal legend gains by wrapping at maxWidth: layouts move their plot down by it.
double legendWrapExtra(const std::vector<LegendItem>& items, double maxWidth);

} // namespace tsa::views
