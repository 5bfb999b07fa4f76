#include "app/explorer/view_export.h"

#include "views/exportable_view.h"

#include <QFileInfo>
#include <QPageSize>
#include <QPainter>
#include <QPdfWriter>
#include <QSaveFile>
#include <QSvgGenerator>
#include <algorithm>
#include <cmath>

namespace tsa::app {

namespace {

bool fail(QString* error, const QString& message) {
    if (error) *error = message;
    return false;
}

bool commit(QSaveFile& file, const QString& path, QString* error) {
    if (!file.commit()) return fail(error, QObject::tr("Cannot write %1: %2").arg(path, file.errorString()));
    return true;
}

} // namespace

ExportFormat formatForPath(const QString& path) {
    const QString ext = QFileInfo(path).suffix().toLower();
    if (ext == QLatin1String("png")) return ExportFormat::Png;
    if (ext == QLatin1String("svg")) return ExportFormat::Svg;
    if (ext == QLatin1String("pdf")) return ExportFormat::Pdf;
    if (ext == QLatin1String("csv")) return ExportFormat::Csv;
    return ExportFormat::Unknown;
}

QString exportFileFilter() {
    return QObject::tr("PNG image (*.png);;SVG drawing (*.svg);;PDF document (*.pdf);;CSV data (*.csv)");
}

QImage renderImage(const views::ExportableView& view, const QSize& size, qreal scale) {
    const QSize pixels = (QSizeF(size) * scale).toSize();
    QImage image(pixels, QImage::Format_ARGB32_Premultiplied);
    image.setDevicePixelRatio(scale);
    image.fill(Qt::white);
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.setRenderHint(QPainter::TextAntialiasing);
    view.render(painter, size);
    painter.end();
    return image;
}

bool writeImage(const QImage& image, const QString& path, QString* error) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return fail(error, QObject::tr("Cannot write %1: %2").arg(path, file.errorString()));
    if (!image.save(&file, "PNG")) {
        file.cancelWriting();
        return fail(error, QObject::tr("Cannot encode %1 as PNG").arg(path));
    }
    return commit(file, path, error);
}

bool writePng(const views::ExportableView& view, const QString& path, const QSize& size, qreal scale,
              QString* error) {
    if (size.isEmpty() || !(scale > 0.0) || scale > 16.0)
        return fail(error, QObject::tr("Invalid image size %1 x %2 at scale %3")
                               .arg(size.width())
                               .arg(size.height())
                               .arg(scale));
    return writeImage(renderImage(view, size, scale), path, error);
}

bool writeSvg(const views::ExportableView& view, const QString& path, const QSize& size, QString* error) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return fail(error, QObject::tr("Cannot write %1: %2").arg(path, file.errorString()));
    QSvgGenerator generator;
    generator.setOutputDevice(&file);
    generator.setSize(size);
    generator.setViewBox(QRect(QPoint(0, 0), size));
    generator.setTitle(view.viewTitle());
    generator.setDescription(QObject::tr("TSA Explorer view '%1'").arg(view.viewName()));
    QPainter painter;
    if (!painter.begin(&generator)) {
        file.cancelWriting();
        return fail(error, QObject::tr("Cannot start an SVG drawing for %1").arg(path));
    }
    painter.fillRect(QRect(QPoint(0, 0), size), Qt::white);
    view.render(painter, size);
    painter.end();
    return commit(file, path, error);
}

bool writePdf(const views::ExportableView& view, const QString& path, const QSize& size, qreal scale,
              QString* error) {
    if (size.isEmpty() || !(scale > 0.0) || scale > 16.0)
        return fail(error, QObject::tr("Invalid PDF size %1 x %2 at scale %3")
                               .arg(size.width())
                               .arg(size.height())
                               .arg(scale));
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return fail(error, QObject::tr("Cannot write %1: %2").arg(path, file.errorString()));
    {
        // One logical pixel is one PostScript point, so a 1200 x 800 view is a 1200 x 800 pt page whose
        // text and lines stay vectors (fonts embedded as subsets by Qt's PDF engine). The device works at
        // 72 * k dpi and the painter scales by k, so the heatmaps (the only raster parts) are painted at
        // k = max(scale, 2) pixels per point: sharp in print, without blowing up the file.
        const int k = int(std::ceil(std::max<qreal>(scale, 2.0)));
        QPdfWriter writer(&file);
        writer.setCreator(QStringLiteral("TSA Explorer"));
        writer.setTitle(view.viewTitle());
        writer.setPageSize(QPageSize(QSizeF(size), QPageSize::Point, QString(), QPageSize::ExactMatch));
        writer.setPageMargins(QMarginsF(0, 0, 0, 0));
        writer.setResolution(72 * k);
        QPainter painter;
        if (!painter.begin(&writer)) {
            file.cancelWriting();
            return fail(error, QObject::tr("Cannot start a PDF document for %1").arg(path));
        }
        painter.scale(k, k);
        painter.setRenderHint(QPainter::Antialiasing);
        painter.setRenderHint(QPainter::TextAntialiasing);
        painter.fillRect(QRect(QPoint(0, 0), size), Qt::white);
        view.render(painter, size);
        painter.end(); // writes the PDF trailer into the save file
    }
    return commit(file, path, error);
}

bool writeCsv(const views::ExportableView& view, const QString& path, QString* error) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return fail(error, QObject::tr("Cannot write %1: %2").arg(path, file.errorString()));
    const QByteArray bytes = view.csv().toUtf8();
    if (file.write(bytes) != bytes.size()) {
        file.cancelWriting();
        return fail(error, QObject::tr("Cannot write %1: %2").arg(path, file.errorString()));
    }
    return commit(file, path, error);
}

bool writeView(const views::ExportableView& view, const QString& path, const QSize& size, qreal scale,
               QString* error) {
    switch (formatForPath(path)) {
    case ExportFormat::Png:
        return writePng(view, path, size, scale, error);
    case ExportFormat::Svg:
        return writeSvg(view, path, size, error);
    case ExportFormat::Pdf:
        return writePdf(view, path, size, scale, error);
    case ExportFormat::Csv:
        return writeCsv(view, path, error);
    case ExportFormat::Unknown:
        break;
    }
    return fail(error, QObject::tr("Unknown export format for %1 (use .png, .svg, .pdf or .csv)").arg(path));
}

} // namespace tsa::app
