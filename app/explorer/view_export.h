// Writing a view to PNG, SVG, PDF or CSV, shared by the window's export actions, "Export All Views", the
// --screenshot path and `tsa export`. Every file goes through QSaveFile: a failed export never leaves a
// half-written file behind or clobbers the previous one.
#pragma once

#include <QImage>
#include <QSize>
#include <QString>

namespace tsa::views {
class ExportableView;
}

namespace tsa::app {

enum class ExportFormat { Png, Svg, Pdf, Csv, Unknown };

ExportFormat formatForPath(const QString& path); // by extension, case-insensitive
QString exportFileFilter();                      // for QFileDialog

// The view painted at a logical size; scale multiplies the pixel count (2 = a crisp image for print).
QImage renderImage(const views::ExportableView& view, const QSize& size, qreal scale = 1.0);

bool writePng(const views::ExportableView& view, const QString& path, const QSize& size, qreal scale,
              QString* error);
bool writeSvg(const views::ExportableView& view, const QString& path, const QSize& size, QString* error);
// Vector PDF (text and lines as vectors, fonts embedded); heatmaps inside at max(scale, 2) pixels per point.
bool writePdf(const views::ExportableView& view, const QString& path, const QSize& size, qreal scale,
              QString* error);
bool writeCsv(const views::ExportableView& view, const QString& path, QString* error);
bool writeImage(const QImage& image, const QString& path, QString* error); // PNG of an already grabbed image
// The one export entry point (window, "Export All Views", `tsa export`, the Python module's render()):
// picks the writer by the extension of path.
bool writeView(const views::ExportableView& view, const QString& path, const QSize& size, qreal scale,
               QString* error);

} // namespace tsa::app
