// Fonts, colours and small painting helpers every view shares, so on-screen views and PNG/SVG exports
// look alike. Fonts use pixel sizes: point sizes would scale with the paint device's DPI (QImage and
// QSvgGenerator default to 72 dpi, the screen to 96), so exports would come out smaller than the window.
#pragma once

#include <QColor>
#include <QFont>
#include <QRectF>
#include <QString>

class QPainter;

namespace tsa::views::style {

QFont titleFont();
QFont labelFont();
QFont tickFont();
QFont smallFont();

QColor background();
QColor text();
QColor axis();
QColor grid();
QColor missing();      // data not available yet / not applicable
QColor highlight();    // selected cell outline, hover marker
QColor sparseLayer();  // bars and marks of sparse layers
QColor denseLayer();   // bars and marks of dense layers
QColor windowTokens(); // the last W positions (always kept)
QColor tauLine();
QColor budgetLine();

// Standard margins around a plot: room for tick labels and axis titles.
constexpr double kTitleHeight = 26.0;
constexpr double kLeftMargin = 66.0;
constexpr double kBottomMargin = 44.0;
constexpr double kRightPad = 14.0;
constexpr double kColourBarReserve = 96.0; // colour bar, its tick labels and its rotated title

void fillBackground(QPainter& painter, const QRectF& rect);
// Title left-aligned in the title strip, elided to the width.
void drawTitle(QPainter& painter, const QRectF& rect, const QString& title);
// Centred grey message for empty states ("No data", "computing...").
void drawMessage(QPainter& painter, const QRectF& rect, const QString& message);
// A banner across the top of a plot (e.g. "dense layer: too short"), on a translucent box.
void drawBanner(QPainter& painter, const QRectF& plot, const QString& message);
// The explorer's selected token position (shared by the text, selection map, depth, attention and coverage
// views): a line in the highlight colour over a white halo, so it reads on any colour.
void drawPositionMarker(QPainter& painter, const QPointF& from, const QPointF& to);
// Device pixels per logical unit of the painter (HiDPI, export scale), to size draw buffers.
double deviceScale(const QPainter& painter);

} // namespace tsa::views::style
