// tsa-explorer's command line (QCommandLineParser): a file, parameter overrides, and the headless modes
// --screenshot and --bench-ui. Parsing is separate from running so it can be tested and so bad options
// are reported (exit code 2) before any window exists.
#pragma once

#include "app/explorer/explorer_params.h"
#include "app/explorer/view_names.h"

#include <QSize>
#include <QString>
#include <QStringList>
#include <optional>

namespace tsa::app {

struct CommandLine {
    QString file;
    // Overrides of the parameters; unset ones keep the defaults (headless) or the saved settings (window).
    std::optional<double> tau;
    std::optional<Index> window;
    std::optional<Index> poolKernel;
    std::optional<Index> minTokens;
    std::optional<SparseLayerMode> mode;
    std::optional<double> delta;
    std::optional<std::vector<int>> layerList;
    std::optional<int> layerId; // model layer number, resolved once the file is open
    std::optional<int> head;
    std::optional<QString> view;
    std::optional<QString> colorMap;
    std::optional<QString> metric;
    QString effect;                    // --effect FILE: an effect file beside the capture
    std::optional<QString> effectAxis; // --effect-x tau|kept
    // Methods views (issue 11), as tsa export takes them: --set NAME=VALUE,... (the methods' knobs, checked
    // here against the defaults and applied over the saved ones), --method NAME, and --method-overlay
    // original|compressed (draws the chosen method's pattern on the attention map in those coordinates).
    std::optional<std::string> methodKnobs;
    std::optional<QString> method;
    std::optional<bool> methodOverlayCompressed;

    QString screenshot;      // OUT.png
    bool fullWindow = false; // screenshot the whole window instead of the view
    QSize size{1440, 900};   // window size for headless runs
    bool benchUi = false;
    int benchChanges = 30;
    bool benchModel = false;   // --bench-ui: whole-model estimates and the memory peak instead
    bool benchMetrics = false; // --bench-ui also times the error-metrics refresh after a tau change
    int timeoutSeconds = 600;
    std::optional<qint64> sumsBudgetMiB;        // --sums-budget
    std::optional<qint64> checkpointsBudgetMiB; // --checkpoints-budget

    bool headless() const { return !screenshot.isEmpty() || benchUi; }
    // Applies the overrides (not the layer, which needs the file).
    void applyTo(ExplorerParams* params) const;
    // --view, --colormap, --metric.
    void applyTo(ViewState* viewState) const;
};

enum class ParseOutcome { Run, ExitOk, ExitUsage };
// args includes the program name (QCoreApplication::arguments()). On ExitOk/ExitUsage, message holds the
// help/version text or the error to print.
ParseOutcome parseCommandLine(const QStringList& args, CommandLine* out, QString* message);

} // namespace tsa::app
