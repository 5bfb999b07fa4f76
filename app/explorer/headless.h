// The explorer without a person in front of it: --screenshot (the window's own rendering of one view,
// after that view's background work finished), --bench-ui (tau change to repainted selection view) and
// the shared "open this file with these parameters and wait" step that `tsa export` also uses.
#pragma once

#include "app/explorer/command_line.h"

#include <QString>
#include <optional>

namespace tsa::app {

class AnalysisController;

// Opens file with params, waits for it, then shows model layer layerId (when given). false with a
// message naming the problem when the file cannot be opened or the layer/head do not exist.
bool openForHeadless(AnalysisController& controller, const QString& file, const ExplorerParams& params,
                     std::optional<int> layerId, int timeoutMs, QString* error);

// Opens what a headless run was given: file (a capture or an effect file, told apart by its metadata
// format) and effect (an effect file beside the capture; may be empty), then resolves the view to show
// into *view (empty: the effect view for an effect file alone, else the overview). false with a message
// naming the problem when a file cannot be opened or the view cannot show an effect file alone.
bool openHeadlessInputs(AnalysisController& controller, const QString& file, const QString& effect,
                        const ExplorerParams& params, std::optional<int> layerId, int timeoutMs,
                        QString* view, QString* error);

// Both return the process exit code (0, 1 failure, 2 bad file or option) and print to stdout/stderr.
int runScreenshot(const CommandLine& commandLine);
int runBenchUi(const CommandLine& commandLine);

} // namespace tsa::app
