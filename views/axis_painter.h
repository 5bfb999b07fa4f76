// Axes drawn outside a plot rectangle: ticks, tick labels and a title, for value axes (linear or log) and
// for category axes (heads, layers) whose labels are thinned so they never overlap.
#pragma once

#include "views/axis_scale.h"

#include <QRectF>
#include <QString>
#include <functional>

class QPainter;

namespace tsa::views {

enum class Edge { Left, Bottom, Right, Top };
enum class TickStyle { Number, Tokens, Integer, Percent };

struct AxisSpec {
    AxisScale scale;
    Edge edge = Edge::Bottom;
    QString title;
    TickStyle style = TickStyle::Number;
    bool gridLines = false; // light lines across the plot at each tick
    // Integer positions are cell-centred (token t covers [t, t+1)): ticks land on t + 0.5.
    bool cellCentred = false;
};

// Position of a value along the edge of plot (x for Bottom/Top, y for Left/Right, y growing upwards).
double axisPosition(const QRectF& plot, const AxisSpec& spec, double value);

void drawAxis(QPainter& painter, const QRectF& plot, const AxisSpec& spec);

// count cells along the edge; label(i) for cell i; title beyond the labels. Cells run top to bottom on
// Left/Right edges and left to right on Bottom/Top edges.
void drawCategoryAxis(QPainter& painter, const QRectF& plot, Edge edge, int count,
                      const std::function<QString(int)>& label, const QString& title);

// Stride (1, 2, 5, 10, ...) so labels of `extent` pixels on cells of `cellSize` pixels do not overlap.
int labelStride(double cellSize, double extent);

} // namespace tsa::views
