// One view of a capture rendered to a file without a window: the step behind `tsa export` and the Python
// module's render(). Both front ends fill an ExportRequest and call exportView(), so they accept the same
// values, refuse the same ones with the same messages (naming the `tsa export` option), and write the same
// bytes through the same writers (view_export.h picks the format by the file's extension).
#pragma once

#include "app/explorer/explorer_params.h"

#include <QSize>
#include <QString>
#include <optional>

namespace tsa::app {

struct ExportRequest {
    QString file;   // capture (.safetensors, .npz), or an effect file for the effect view
    QString effect; // effect file (tools/tsa_eval.py) shown beside the capture; may be empty
    QString out;    // .png, .svg, .pdf, .csv, or .html for the text view (see formatForPath)
    ExplorerParams params;
    ViewState viewState;        // viewState.view names the view
    std::optional<int> layerId; // model layer to show; unset: the first sparse layer
    QSize size{1200, 800};      // logical pixels
    double scale = 1.0;         // PNG pixels per logical pixel
    int timeoutSeconds = 600;   // for the background work the view needs
    QString textMeasure;        // text view colour (TextView::measureKeys()); empty: the default
};

// Exit codes of exportView, the same as the command line's.
constexpr int kExportOk = 0;
constexpr int kExportFailed = 1;   // the view could not be computed or written (timeout, disk)
constexpr int kExportBadInput = 2; // bad file or bad value

// The first problem with the request's values ("--tau must be 0 or between 1e-4 and 0.5"), or an empty
// string. Does not open the file.
QString exportRequestError(const ExportRequest& request);

// "half", "drift", "all" or "list" into plan->mode; an error message naming --sparse-layers otherwise.
QString parseSparseLayersOption(const QString& text, LayerPlanConfig* plan);
// "16-31,40" into plan->list; an error message naming --layer-list otherwise.
QString parseLayerListOption(const QString& text, LayerPlanConfig* plan);

// Validates, opens the file, waits for the view's data, writes request.out atomically. Creates an
// offscreen QApplication when the process has none (views are widgets), and keeps it for later calls.
// Returns a kExport* code; on success *summary describes what was written, otherwise *error says why.
int exportView(const ExportRequest& request, QString* summary, QString* error);

} // namespace tsa::app
