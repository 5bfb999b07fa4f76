#include "app/explorer/headless.h"

#include "app/explorer/analysis_controller.h"
#include "app/explorer/controls_panel.h"
#include "app/explorer/job_runner.h"
#include "app/explorer/main_window.h"
#include "app/explorer/session.h"
#include "app/explorer/tau_editor.h"
#include "app/explorer/view_export.h"
#include "app/explorer/view_set.h"
#include "core/io/effect.h"
#include "views/exportable_view.h"
#include "views/text_view.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QPainter>
#include <QSlider>
#include <QTimer>
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

double quantileOf(std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double pos = q * double(v.size() - 1);
    const std::size_t lo = std::size_t(std::floor(pos)), hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (pos - double(lo)) * (v[hi] - v[lo]);
}

// The text view's own costs at the file's length: opening (a new view: decode the token strings, measure
// them, colour, break lines, draw the first page) and scrolling a page (lay out nothing, draw the page).
void benchTextView(views::TextView& text, int repeats) {
    const views::TextViewData data = text.data();
    const QSize size = text.size();
    std::vector<double> open, openCpu;
    for (int i = 0; i < std::max(3, repeats / 3); ++i) {
        QCoreApplication::processEvents();
        const double cpu0 = threadCpuMs();
        QElapsedTimer timer;
        timer.start();
        views::TextView fresh; // cold: its own width cache, document and layout
        fresh.resize(size);
        fresh.setData(data);
        QImage image(size, QImage::Format_RGB32);
        QPainter painter(&image);
        fresh.render(painter, size);
        painter.end();
        open.push_back(double(timer.nsecsElapsed()) / 1e6);
        openCpu.push_back(threadCpuMs() - cpu0);
    }
    std::vector<double> page, pageCpu;
    text.scrollToToken(0);
    for (int i = 0; i < repeats; ++i) {
        QCoreApplication::processEvents();
        const double cpu0 = threadCpuMs();
        QElapsedTimer timer;
        timer.start();
        // Down to the middle of the document, then back up: every page a different one.
        text.scrollPages(i < repeats / 2 ? 1 : -1);
        text.repaint();
        page.push_back(double(timer.nsecsElapsed()) / 1e6);
        pageCpu.push_back(threadCpuMs() - cpu0);
    }
    std::printf("text: %lld tokens, %lld lines at %dx%d, %d lines per page\n", (long long)data.tokens,
                (long long)text.screenLayout().lineCount(), size.width(), size.height(), text.visibleLines());
    std::printf(
        "text_open_median_ms=%.2f text_open_max_ms=%.2f text_open_gui_cpu_median_ms=%.2f (%zu runs)\n",
        quantileOf(open, 0.5), quantileOf(open, 1.0), quantileOf(openCpu, 0.5), open.size());
    std::printf(
        "text_page_median_ms=%.2f text_page_p95_ms=%.2f text_page_gui_cpu_median_ms=%.2f (%zu pages)\n",
        quantileOf(page, 0.5), quantileOf(page, 0.95), quantileOf(pageCpu, 0.5), page.size());
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
        waitForEvents(50);
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

namespace {

bool openEffectForHeadless(AnalysisController& controller, const QString& file, int timeoutMs,
                           QString* error) {
    QString failure;
    bool opened = false;
    auto c1 = QObject::connect(&controller, &AnalysisController::effectOpenFailed,
                               [&](const QString&, const QString& msg) { failure = msg; });
    auto c2 = QObject::connect(&controller, &AnalysisController::effectOpened,
                               [&](const QString&) { opened = true; });
    controller.openEffect(QFileInfo(file).absoluteFilePath());
    QElapsedTimer timer;
    timer.start();
    while (!opened && failure.isEmpty() && timer.elapsed() < timeoutMs)
        waitForEvents(50);
    QObject::disconnect(c1);
    QObject::disconnect(c2);
    if (!opened)
        *error = failure.isEmpty() ? QStringLiteral("timed out reading %1").arg(file)
                                   : QStringLiteral("cannot open %1: %2").arg(file, failure);
    return opened;
}

} // namespace

bool openHeadlessInputs(AnalysisController& controller, const QString& file, const QString& effect,
                        const ExplorerParams& params, std::optional<int> layerId, int timeoutMs,
                        QString* view, QString* error) {
    const bool fileIsEffect = !file.isEmpty() && isEffectFile(file.toStdString());
    if (fileIsEffect && !effect.isEmpty()) {
        *error = QStringLiteral("%1 is an effect file and --effect names another; give one").arg(file);
        return false;
    }
    const QString effectFile = fileIsEffect ? file : effect;
    const QString captureFile = fileIsEffect ? QString() : file;
    if (view->isEmpty())
        *view = captureFile.isEmpty() ? QStringLiteral("effect") : QStringLiteral("overview");
    if (captureFile.isEmpty() && *view != QLatin1String("effect")) {
        *error = QStringLiteral("%1 is an effect file: it is shown by the effect view (--view effect), the "
                                "%2 view needs a capture")
                     .arg(effectFile, *view);
        return false;
    }
    if (effectFile.isEmpty() && *view == QLatin1String("effect")) {
        *error =
            QStringLiteral("the effect view shows an effect file (tools/tsa_eval.py): give one as FILE or "
                           "with --effect EFFECT");
        return false;
    }
    if (!captureFile.isEmpty() &&
        !openForHeadless(controller, captureFile, params, layerId, timeoutMs, error))
        return false;
    if (captureFile.isEmpty()) controller.setParams(params);
    if (!effectFile.isEmpty() && !openEffectForHeadless(controller, effectFile, timeoutMs, error))
        return false;
    return true;
}

int runScreenshot(const CommandLine& cl) {
    MainWindow window(nullptr, false);
    window.resize(cl.size);
    ExplorerParams params = window.controller()->params();
    ViewState viewState = window.viewSet()->viewState();
    QString file = cl.file;
    QString effect = cl.effect;
    QString error;
    // A session file (e.g. the bundled stories260K example) brings its capture, effect file and settings;
    // options given on the command line still win.
    if (QFileInfo(file).suffix().compare(QLatin1String("json"), Qt::CaseInsensitive) == 0) {
        const auto session = loadSession(file, &error);
        if (!session) {
            printError(error);
            return kExitUsage;
        }
        file = session->filePath;
        if (effect.isEmpty()) effect = session->effectPath;
        params = session->params;
        viewState = session->viewState;
    }
    cl.applyTo(&params);
    // The view asked for on the command line, else the session's; without either, what the file is for.
    cl.applyTo(&viewState);
    QString& view = viewState.view;
    if (!view.isEmpty() && !window.viewSet()->names().contains(view)) view.clear();
    window.viewSet()->setViewState(viewState);
    window.show();
    // Views that do not show error metrics do not wait behind the dense attention they need (a view still
    // to be chosen below might).
    window.controller()->setMetricsEnabled(
        view.isEmpty() || (ViewSet::needsOf(view, params, viewState) &
                           (AnalysisController::NeedMetrics | AnalysisController::NeedAllMetrics)));
    if (!openHeadlessInputs(*window.controller(), file, effect, params, cl.layerId, cl.timeoutSeconds * 1000,
                            &view, &error)) {
        printError(error);
        return kExitUsage;
    }
    window.showView(view);
    if (!window.controller()->waitUntilReady(window.viewSet()->needsOf(view), cl.timeoutSeconds * 1000)) {
        printError(QStringLiteral("timed out after %1 s waiting for the %2 view's data")
                       .arg(cl.timeoutSeconds)
                       .arg(view));
        return kExitFailure;
    }
    window.viewSet()->flush();
    // Let layouts settle and pending paints run, so the grab is what a person would see.
    for (int i = 0; i < 5; ++i)
        QCoreApplication::processEvents();
    auto* target = window.viewSet()->view(view);
    const QImage image = cl.fullWindow ? window.grab().toImage() : target->widget()->grab().toImage();
    if (!writeImage(image, cl.screenshot, &error)) {
        printError(error);
        return kExitFailure;
    }
    std::printf("%s: %s view, %dx%d\n", cl.screenshot.toLocal8Bit().constData(),
                view.toLocal8Bit().constData(), image.width(), image.height());
    return 0;
}

namespace {

// RssAnon of this process in KiB (Linux), 0 where unknown.
long rssAnonKiB() {
    QFile status(QStringLiteral("/proc/self/status"));
    if (!status.open(QIODevice::ReadOnly)) return 0;
    for (const QByteArray& line : status.readAll().split('\n'))
        if (line.startsWith("RssAnon:")) return line.mid(8).trimmed().split(' ').value(0).toLong();
    return 0;
}

// The whole model: every sparse layer's estimate after opening, then every view and layer visited (each
// layer's selection and estimate awaited, the view painted), sampling RssAnon all along.
int benchModel(const CommandLine& cl, MainWindow& window, const ExplorerParams& params) {
    AnalysisController& controller = *window.controller();
    long peak = rssAnonKiB();
    QTimer sampler;
    QObject::connect(&sampler, &QTimer::timeout, [&] { peak = std::max(peak, rssAnonKiB()); });
    sampler.start(100);
    QElapsedTimer timer;
    timer.start();
    QString error;
    if (!openForHeadless(controller, cl.file, params, cl.layerId, cl.timeoutSeconds * 1000, &error)) {
        printError(error);
        return kExitUsage;
    }
    auto allEstimates = [&] {
        for (int l = 0; l < controller.layerCount(); ++l)
            if (controller.isSparseLayer(l) && !controller.hasCurrentEstimate(l)) return false;
        return true;
    };
    while (!allEstimates() && timer.elapsed() < qint64(cl.timeoutSeconds) * 1000)
        waitForEvents(50);
    int sparse = 0;
    for (int l = 0; l < controller.layerCount(); ++l)
        sparse += controller.isSparseLayer(l) ? 1 : 0;
    std::printf("bench-model: %s, %d layers (%d sparse), %lld query heads, %lld tokens\n",
                QFileInfo(cl.file).fileName().toLocal8Bit().constData(), controller.layerCount(), sparse,
                (long long)controller.info()->qHeads, (long long)controller.info()->tokens);
    std::printf("model_estimates_ms=%.0f (open to an estimate for every sparse layer%s)\n",
                double(timer.elapsed()), allEstimates() ? "" : ", TIMED OUT");
    std::fflush(stdout);
    QElapsedTimer visit;
    visit.start();
    for (const QString& name : window.viewSet()->names()) {
        window.showView(name);
        for (int l = 0; l < controller.layerCount(); ++l) {
            controller.setLayer(l);
            controller.waitUntilReady(AnalysisController::NeedSelection | AnalysisController::NeedEstimate,
                                      cl.timeoutSeconds * 1000);
            if (auto* v = window.viewSet()->view(name)) v->widget()->repaint();
            QCoreApplication::processEvents();
            peak = std::max(peak, rssAnonKiB());
        }
    }
    std::printf(
        "visited %lld views x %d layers in %.0f s; rss_anon_peak_mib=%.0f (dense cache %.0f MiB, sums %.0f "
        "MiB)\n",
        (long long)window.viewSet()->names().size(), controller.layerCount(), double(visit.elapsed()) / 1e3,
        double(peak) / 1024.0, double(controller.denseCacheBytes()) / 1048576.0,
        double(controller.sumsCacheBytes()) / 1048576.0);
    std::fflush(stdout);
    return 0;
}

} // namespace

int runBenchUi(const CommandLine& cl) {
    MainWindow window(nullptr, false);
    window.resize(cl.size);
    ExplorerParams params = window.controller()->params();
    cl.applyTo(&params);
    ViewState viewState = window.viewSet()->viewState();
    cl.applyTo(&viewState);
    window.viewSet()->setViewState(viewState);
    window.show();
    AnalysisController& controller = *window.controller();
    if (cl.sumsBudgetMiB) controller.setSumsBudget(std::size_t(*cl.sumsBudgetMiB) << 20);
    if (cl.checkpointsBudgetMiB) controller.setCheckpointsBudget(std::size_t(*cl.checkpointsBudgetMiB) << 20);
    if (cl.benchModel) return benchModel(cl, window, params);
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
        // Error metrics of the visible layer after a tau change, once the dense reference (tau independent)
        // is cached: the estimate (sampled rows, drawn in the Error view), then the exact values
        // (dropped-side sums moved incrementally). Jumps across the range, then single slider steps around
        // tau 0.005.
        controller.setMetricsDelay(0);
        const int timeoutMs = cl.timeoutSeconds * 1000;
        auto* errorView = window.viewSet()->view(QStringLiteral("error"));
        QWidget* errorWidget = errorView ? errorView->widget() : nullptr;
        if (errorWidget) errorWidget->resize(target->size());
        auto median = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            return v.empty() ? NAN : v[v.size() / 2];
        };
        const std::vector<double> jumps{0.002, 0.02, 0.005};
        std::vector<double> estimate, jump, drag;
        // The estimate needs no dense pass: timed first, each until drawn in the Error view, with the
        // window's debounce of exact metrics (a dense pass started between jumps would only be cancelled).
        controller.setMetricsDelay(AnalysisController::Options{}.metricsDelayMs);
        if (!controller.waitUntilReady(AnalysisController::NeedEstimate, timeoutMs)) {
            printError(QStringLiteral("timed out estimating the error"));
            return kExitFailure;
        }
        for (int round = 0; round < std::max(1, cl.benchChanges / 10); ++round)
            for (double tau : jumps) {
                timer.start();
                controller.setTau(tau);
                if (!controller.waitUntilReady(AnalysisController::NeedEstimate, timeoutMs)) break;
                QCoreApplication::processEvents(); // the views take the new metrics
                if (errorWidget) errorWidget->repaint();
                estimate.push_back(double(timer.nsecsElapsed()) / 1e6);
                if (traceJobs()) std::fprintf(stderr, "estimate drawn after %.1f ms\n", estimate.back());
            }
        // Printed at once: the exact part below waits for a dense pass (minutes on a busy machine).
        std::printf("estimate_ms=%.1f (median of %zu jumps 0.002/0.02/0.005, until drawn; max %.1f)\n",
                    median(estimate), estimate.size(),
                    estimate.empty() ? NAN : *std::max_element(estimate.begin(), estimate.end()));
        std::fflush(stdout);
        controller.setMetricsDelay(0);
        // Exact metrics need the layer's dense reference (tau independent, cached once): minutes per layer
        // beyond 64K tokens, so not timed there.
        const bool timeExact = controller.tokenCount() <= 65536;
        if (timeExact && !controller.waitUntilReady(AnalysisController::NeedMetrics, timeoutMs)) {
            printError(QStringLiteral("timed out computing the dense reference"));
            return kExitFailure;
        }
        for (int round = 0; timeExact && round < std::max(1, cl.benchChanges / 10); ++round)
            for (double tau : jumps) {
                timer.start();
                controller.setTau(tau);
                if (!controller.waitUntilReady(AnalysisController::NeedMetrics, timeoutMs)) break;
                jump.push_back(double(timer.nsecsElapsed()) / 1e6);
            }
        const int centre = TauEditor::sliderPosition(0.005);
        if (timeExact) {
            slider->setValue(centre - 11);
            controller.waitUntilReady(AnalysisController::NeedMetrics, timeoutMs);
        }
        for (int step = 0; timeExact && step < 20; ++step) {
            timer.start();
            slider->setValue(centre - 10 + step);
            if (!controller.waitUntilReady(AnalysisController::NeedMetrics, timeoutMs)) break;
            drag.push_back(double(timer.nsecsElapsed()) / 1e6);
        }
        if (!timeExact)
            std::printf("exact metrics not timed beyond 64K tokens (the dense pass takes minutes)\n");
        std::printf("metrics_drag_ms=%.1f (median of %zu single slider steps around tau 0.005; max %.1f)\n",
                    median(drag), drag.size(),
                    drag.empty() ? NAN : *std::max_element(drag.begin(), drag.end()));
        std::printf("metrics_jump_ms=%.1f (median of %zu jumps, visible layer, dense reference cached)\n",
                    median(jump), jump.size());
        std::printf("metrics_after_tau_ms=%.1f (same as metrics_jump_ms)\n", median(jump));
        std::printf("dense_cache_mib=%.0f sums_cache_mib=%.0f\n",
                    double(controller.denseCacheBytes()) / 1048576.0,
                    double(controller.sumsCacheBytes()) / 1048576.0);
    }
    std::printf("median_ms=%.2f p95_ms=%.2f\n", quantile(ms, 0.5), quantile(ms, 0.95));
    if (auto* text = dynamic_cast<views::TextView*>(view)) benchTextView(*text, cl.benchChanges);
    std::fflush(stdout);
    return 0;
}

} // namespace tsa::app
