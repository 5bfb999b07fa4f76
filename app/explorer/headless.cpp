#include "app/explorer/headless.h"

#include "app/explorer/analysis_controller.h"
#include "app/explorer/controls_panel.h"
#include "app/explorer/main_window.h"
#include "app/explorer/session.h"
#include "app/explorer/tau_editor.h"
#include "app/explorer/view_export.h"
#include "app/explorer/view_set.h"
#include "views/exportable_view.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QSlider>
#include <QWidget>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <vector>

namespace tsa::app {

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

double threadCpuMs() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

void printError(const QString& message) {
    std::fprintf(stderr, "tsa-explorer: %s\n", message.toLocal8Bit().constData());
}

} // namespace

bool openForHeadless(AnalysisController& controller, const QString& file, const ExplorerParams& params,
                     std::optional<int> layerId, int timeoutMs, QString* error) {
    QString failure;
    bool opened = false;
    auto c1 = QObject::connect(&controller, &AnalysisController::fileOpenFailed,
                               [&](const QString&, const QString& msg) { failure = msg; });
    auto c2 = QObject::connect(&controller, &AnalysisController::fileOpened,
                               [&](const QString&) { opened = true; });
    controller.setMetricsDelay(0);
    controller.openFileWith(QFileInfo(file).absoluteFilePath(), params);
    QElapsedTimer timer;
    timer.start();
    while (!opened && failure.isEmpty() && timer.elapsed() < timeoutMs)
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
    QObject::disconnect(c1);
    QObject::disconnect(c2);
    if (!opened) {
        *error = failure.isEmpty() ? QStringLiteral("timed out opening %1").arg(file)
                                   : QStringLiteral("cannot open %1: %2").arg(file, failure);
        return false;
    }
    const CaptureInfo* info = controller.info();
    if (layerId) {
        const auto& ids = info->layerIds;
        const auto it = std::find(ids.begin(), ids.end(), *layerId);
        if (it == ids.end()) {
            QStringList present;
            for (int id : ids)
                present << QString::number(id);
            *error = QStringLiteral("layer %1 is not in %2 (layers: %3)")
                         .arg(*layerId)
                         .arg(file, present.join(QLatin1Char(',')));
            return false;
        }
        controller.setLayer(int(it - ids.begin()));
    }
    if (params.head >= info->qHeads) {
        *error = QStringLiteral("head %1 does not exist (%2 query heads)").arg(params.head).arg(info->qHeads);
        return false;
    }
    return true;
}

int runScreenshot(const CommandLine& cl) {
    MainWindow window(nullptr, false);
    window.resize(cl.size);
    ExplorerParams params = window.controller()->params();
    QString file = cl.file;
    QString error;
    // A session file (e.g. the bundled stories260K example) brings its capture and settings; options given
    // on the command line still win.
    if (QFileInfo(file).suffix().compare(QLatin1String("json"), Qt::CaseInsensitive) == 0) {
        const auto session = loadSession(file, &error);
        if (!session) {
            printError(error);
            return kExitUsage;
        }
        file = session->filePath;
        params = session->params;
    }
    cl.applyTo(&params);
    if (params.view.isEmpty() || !window.viewSet()->names().contains(params.view))
        params.view = QStringLiteral("overview");
    window.show();
    if (!openForHeadless(*window.controller(), file, params, cl.layerId, cl.timeoutSeconds * 1000, &error)) {
        printError(error);
        return kExitUsage;
    }
    window.showView(params.view);
    if (!window.controller()->waitUntilReady(window.viewSet()->needsOf(params.view),
                                             cl.timeoutSeconds * 1000)) {
        printError(QStringLiteral("timed out after %1 s waiting for the %2 view's data")
                       .arg(cl.timeoutSeconds)
                       .arg(params.view));
        return kExitFailure;
    }
    window.viewSet()->flush();
    // Let layouts settle and pending paints run, so the grab is what a person would see.
    for (int i = 0; i < 5; ++i)
        QCoreApplication::processEvents();
    auto* view = window.viewSet()->view(params.view);
    const QImage image = cl.fullWindow ? window.grab().toImage() : view->widget()->grab().toImage();
    if (!writeImage(image, cl.screenshot, &error)) {
        printError(error);
        return kExitFailure;
    }
    std::printf("%s: %s view, %dx%d\n", cl.screenshot.toLocal8Bit().constData(),
                params.view.toLocal8Bit().constData(), image.width(), image.height());
    return 0;
}

int runBenchUi(const CommandLine& cl) {
    MainWindow window(nullptr, false);
    window.resize(cl.size);
    ExplorerParams params = window.controller()->params();
    cl.applyTo(&params);
    window.show();
    AnalysisController& controller = *window.controller();
    QString error;
    if (!openForHeadless(controller, cl.file, params, cl.layerId, cl.timeoutSeconds * 1000, &error)) {
        printError(error);
        return kExitUsage;
    }
    if (!cl.layerId) {
        const auto& sparse = controller.sparseLayers();
        const auto first = std::find(sparse.begin(), sparse.end(), true);
        if (first == sparse.end()) {
            printError(QStringLiteral("%1 has no sparse layer under the current plan").arg(cl.file));
            return kExitUsage;
        }
        controller.setLayer(int(first - sparse.begin()));
    }
    // The selection map by default; --view times another view (coverage also follows tau).
    const QString viewName = cl.view.value_or(QStringLiteral("selection"));
    window.showView(viewName);
    if (!controller.waitUntilReady(AnalysisController::NeedSelection, cl.timeoutSeconds * 1000)) {
        printError(QStringLiteral("timed out scoring the layer"));
        return kExitFailure;
    }
    auto* view = window.viewSet()->view(viewName);
    QWidget* target = view ? view->widget() : window.tabs()->currentWidget();
    QSlider* slider = window.controls()->tauEditor()->slider();
    const CaptureInfo* info = controller.info();
    std::printf("bench-ui: %s, layer %d, %lld query heads, %lld tokens, %d tau changes on the slider\n",
                QFileInfo(cl.file).fileName().toLocal8Bit().constData(),
                controller.modelLayerId(controller.params().layer), (long long)info->qHeads,
                (long long)info->tokens, cl.benchChanges);

    // Positions across the slider's whole log range, visited in an interleaved order so consecutive
    // changes are large (small steps could hit the same selection and flatter the numbers).
    std::vector<int> positions;
    for (int i = 0; i < cl.benchChanges; ++i)
        positions.push_back(int(std::lround(double(i) * TauEditor::kSteps / (cl.benchChanges - 1))));
    std::vector<int> order;
    for (int lo = 0, hi = int(positions.size()) - 1; lo <= hi; ++lo, --hi) {
        order.push_back(positions[std::size_t(lo)]);
        if (lo != hi) order.push_back(positions[std::size_t(hi)]);
    }
    if (slider->value() == order.front()) std::rotate(order.begin(), order.begin() + 1, order.end());

    std::vector<double> ms, cpuMs;
    QElapsedTimer timer;
    for (int position : order) {
        QCoreApplication::processEvents(); // leave the event queue as a person's drag would find it
        const double cpu0 = threadCpuMs();
        timer.start();
        slider->setValue(position); // the same signal path as a drag: slider -> controller -> views
        target->repaint();          // synchronous paint of the updated selection view
        ms.push_back(double(timer.nsecsElapsed()) / 1e6);
        cpuMs.push_back(threadCpuMs() - cpu0);
    }
    std::sort(ms.begin(), ms.end());
    std::sort(cpuMs.begin(), cpuMs.end());
    auto quantile = [](const std::vector<double>& v, double q) {
        const double pos = q * double(v.size() - 1);
        const std::size_t lo = std::size_t(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
        return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
    };
    // Wall time is what a person sees; the GUI thread's CPU time is the cost itself, which stays
    // comparable on a machine shared with other work.
    std::printf("min_ms=%.2f max_ms=%.2f gui_cpu_median_ms=%.2f gui_cpu_p95_ms=%.2f\n", ms.front(), ms.back(),
                quantile(cpuMs, 0.5), quantile(cpuMs, 0.95));
    if (cl.benchMetrics) {
        // Progressive refinement of the visible layer: sparse attention on the compact tensors and the
        // section 7 metrics, once the dense reference (tau independent) is cached.
        controller.setMetricsDelay(0);
        if (!controller.waitUntilReady(AnalysisController::NeedMetrics, cl.timeoutSeconds * 1000)) {
            printError(QStringLiteral("timed out computing the dense reference"));
            return kExitFailure;
        }
        std::vector<double> refresh;
        for (double tau : {0.002, 0.02, 0.005}) {
            timer.start();
            controller.setTau(tau);
            if (!controller.waitUntilReady(AnalysisController::NeedMetrics, cl.timeoutSeconds * 1000)) break;
            refresh.push_back(double(timer.nsecsElapsed()) / 1e6);
        }
        std::sort(refresh.begin(), refresh.end());
        if (!refresh.empty())
            std::printf("metrics_after_tau_ms=%.1f (median of %zu, visible layer, dense reference cached)\n",
                        refresh[refresh.size() / 2], refresh.size());
    }
    std::printf("median_ms=%.2f p95_ms=%.2f\n", quantile(ms, 0.5), quantile(ms, 0.95));
    std::fflush(stdout);
    return 0;
}

} // namespace tsa::app
