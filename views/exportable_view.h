// The contract every view of the explorer fulfils so the window, `tsa export`, `--screenshot` and
// "Export All Views" can treat them alike: render at any size to a QPainter (PNG at a chosen scale,
// SVG through QSvgGenerator, clipboard), and hand out the data behind the picture as CSV.
#pragma once

#include <QString>
#include <QStringList>

class QPainter;
class QSize;
class QWidget;

namespace tsa::views {

class ExportableView {
public:
    virtual ~ExportableView() = default;

    // Stable machine name used by --view and file names ("overview", "selection", ...).
    virtual QString viewName() const = 0;
    // Human title for tabs and dialogs.
    virtual QString viewTitle() const = 0;
    // Paints the whole view, axes, labels and colour bar included, into a target of the given logical size.
    virtual void render(QPainter& painter, const QSize& size) const = 0;
    // The data behind the picture, RFC 4180 CSV with a header row.
    virtual QString csv() const = 0;
    // A self-contained HTML page of the view; empty for views without one (only the text view has one).
    virtual QString html() const { return {}; }
    // The widget itself (views are QWidgets).
    virtual QWidget* widget() = 0;
};

} // namespace tsa::views
