// tsa-explorer: the window, or one of its headless modes (--screenshot, --bench-ui).
#include "app/explorer/analysis_controller.h"
#include "app/explorer/command_line.h"
#include "app/explorer/headless.h"
#include "app/explorer/main_window.h"
#include "app/explorer/view_set.h"

#include <QApplication>
#include <QIcon>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace {

// Headless modes and --help must work on a machine without a display (CI, ssh): pick the offscreen
// platform for them unless the user chose one. The interactive window still needs a real display.
void chooseHeadlessPlatform(int argc, char** argv) {
    if (std::getenv("QT_QPA_PLATFORM") || std::getenv("DISPLAY") || std::getenv("WAYLAND_DISPLAY")) return;
    for (int i = 1; i < argc; ++i) {
        for (const char* flag :
             {"--screenshot", "--bench-ui", "--help", "-h", "--help-all", "--version", "-v"}) {
            if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) {
                qputenv("QT_QPA_PLATFORM", "offscreen");
                return;
            }
        }
    }
}

} // namespace

int main(int argc, char** argv) {
    chooseHeadlessPlatform(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("TSA Explorer"));
    QApplication::setApplicationName(QStringLiteral("tsa-explorer"));
    QApplication::setApplicationVersion(QStringLiteral("0.1.0"));
    QApplication app(argc, argv);
    // The same icon and desktop file as the installed menu entry (resources/linux/tsa-explorer.desktop).
    QIcon icon;
    icon.addFile(QStringLiteral(":/tsa-explorer-64.png"));
    icon.addFile(QStringLiteral(":/tsa-explorer-256.png"));
    QApplication::setWindowIcon(icon);
    QGuiApplication::setDesktopFileName(QStringLiteral("tsa-explorer"));

    tsa::app::CommandLine commandLine;
    QString message;
    switch (tsa::app::parseCommandLine(QApplication::arguments(), &commandLine, &message)) {
    case tsa::app::ParseOutcome::ExitOk:
        std::fputs(qPrintable(message + QLatin1Char('\n')), stdout);
        return 0;
    case tsa::app::ParseOutcome::ExitUsage:
        std::fprintf(stderr, "tsa-explorer: %s\n(see tsa-explorer --help)\n", qPrintable(message));
        return 2;
    case tsa::app::ParseOutcome::Run:
        break;
    }
    if (!commandLine.screenshot.isEmpty()) return tsa::app::runScreenshot(commandLine);
    if (commandLine.benchUi) return tsa::app::runBenchUi(commandLine);

    tsa::app::MainWindow window;
    window.show();
    auto* controller = window.controller();
    if (commandLine.sumsBudgetMiB) controller->setSumsBudget(std::size_t(*commandLine.sumsBudgetMiB) << 20);
    if (commandLine.checkpointsBudgetMiB)
        controller->setCheckpointsBudget(std::size_t(*commandLine.checkpointsBudgetMiB) << 20);
    if (commandLine.layerId) {
        // A model layer number can only be resolved once the file says which layers it holds.
        const int layerId = *commandLine.layerId;
        auto connection = std::make_shared<QMetaObject::Connection>();
        *connection = QObject::connect(controller, &tsa::app::AnalysisController::fileOpened, controller,
                                       [controller, layerId, connection] {
                                           QObject::disconnect(*connection);
                                           const auto& ids = controller->info()->layerIds;
                                           const auto it = std::find(ids.begin(), ids.end(), layerId);
                                           if (it != ids.end()) controller->setLayer(int(it - ids.begin()));
                                       });
    }
    // Command-line overrides win over the saved parameters for this run.
    tsa::app::ExplorerParams params = controller->params();
    commandLine.applyTo(&params);
    controller->setParams(params);
    tsa::app::ViewState viewState = window.viewSet()->viewState();
    commandLine.applyTo(&viewState);
    window.viewSet()->setViewState(viewState);
    if (commandLine.view) window.showView(*commandLine.view);
    window.startup(commandLine.file);
    if (!commandLine.effect.isEmpty()) window.openEffect(commandLine.effect, !commandLine.view);
    return app.exec();
}
