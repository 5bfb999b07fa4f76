#include "app/explorer/export_request.h"

#include "app/explorer/analysis_controller.h"
#include "app/explorer/command_line.h"
#include "app/explorer/headless.h"
#include "app/explorer/view_export.h"
#include "app/explorer/view_set.h"
#include "core/param_rules.h"
#include "views/exportable_view.h"
#include "views/text_view.h"

#include <QApplication>
#include <QFileInfo>
#include <QStringList>
#include <algorithm>
#include <limits>

namespace tsa::app {

namespace {

// Views are widgets: they need a QApplication, and without a display an explicit offscreen platform.
// Created once and never destroyed: a library caller (the Python module) renders many times in one
// process, and Qt does not support a second QApplication after the first is gone.
void ensureApplication() {
    if (QCoreApplication::instance()) return;
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    static int argc = 1;
    static char name[] = "tsa";
    static char* argv[] = {name, nullptr};
    new QApplication(argc, argv); // NOLINT: intentionally process-lifetime
}

} // namespace

QString exportRequestError(const ExportRequest& r) {
    const ExplorerParams& p = r.params;
    const ViewState& v = r.viewState;
    const QStringList names = explorerViewNames();
    if (!names.contains(v.view))
        return QStringLiteral("unknown view '%1' (views: %2)").arg(v.view, names.join(QStringLiteral(", ")));
    const ExportFormat format = formatForPath(r.out);
    if (format == ExportFormat::Unknown)
        return QStringLiteral("--out %1: the extension must be .png, .svg, .pdf, .csv or .html").arg(r.out);
    if (format == ExportFormat::Html && v.view != QLatin1String("text"))
        return QStringLiteral("--out %1: HTML export is for the text view only (--view text)").arg(r.out);
    // The shared rules (core/param_rules.h), as in tsa run, the window's command line and sessions.
    const std::pair<const char*, std::string> checks[] = {
        {"--tau", tsa::tauProblem(p.tsa.tau)},
        {"--window", tsa::windowProblem(p.tsa.window)},
        {"--pool-kernel", tsa::poolKernelProblem(p.tsa.poolKernel)},
        {"--min-tokens", tsa::minTokensProblem(p.tsa.minTokens)},
        {"--delta", tsa::deltaProblem(p.plan.delta)},
        {"--layer-list", tsa::layerPlanProblem(p.plan)},
    };
    for (const auto& [option, problem] : checks)
        if (!problem.empty())
            return QStringLiteral("%1: %2").arg(QLatin1String(option), QString::fromStdString(problem));
    if (p.head < 0) return QStringLiteral("--head must not be negative");
    if (!overviewMetricNames().contains(v.overviewMetric))
        return QStringLiteral("--metric '%1' is not %2")
            .arg(v.overviewMetric, choices(overviewMetricNames()));
    if (p.effectAxis != QLatin1String("tau") && p.effectAxis != QLatin1String("kept"))
        return QStringLiteral("--effect-x '%1' is not tau or kept").arg(p.effectAxis);
    if (p.effectNeedle != QLatin1String("overlap") && p.effectNeedle != QLatin1String("exact"))
        return QStringLiteral("--needle-score '%1' is not overlap or exact").arg(p.effectNeedle);
    if (!r.textMeasure.isEmpty()) {
        views::TextMeasure measure;
        if (!views::TextView::measureFromKey(r.textMeasure, &measure))
            return QStringLiteral("--text-measure '%1' is not one of %2")
                .arg(r.textMeasure, views::TextView::measureKeys().join(QStringLiteral(", ")));
        if (v.view != QLatin1String("text"))
            return QStringLiteral("--text-measure is for the text view (--view text)");
    }
    if (r.size.width() < 200 || r.size.height() < 150 || r.size.width() > 8000 || r.size.height() > 8000)
        return QStringLiteral("--width/--height must be between 200x150 and 8000x8000");
    if (!(r.scale > 0 && r.scale <= 8)) return QStringLiteral("--scale must be in (0, 8]");
    if (r.timeoutSeconds < 1) return QStringLiteral("--timeout must be positive");
    if (!QFileInfo(r.file).isFile()) return QStringLiteral("cannot open %1: no such file").arg(r.file);
    if (!r.effect.isEmpty() && !QFileInfo(r.effect).isFile())
        return QStringLiteral("--effect %1: no such file").arg(r.effect);
    return {};
}

QString parseSparseLayersOption(const QString& text, LayerPlanConfig* plan) {
    const auto mode = sparseLayerModeFromName(text.toStdString());
    if (!mode)
        return QStringLiteral("--sparse-layers '%1' is not %2")
            .arg(text, QString::fromStdString(sparseLayerModeChoices()));
    plan->mode = *mode;
    return {};
}

QString parseLayerListOption(const QString& text, LayerPlanConfig* plan) {
    const std::string bad = parseLayerList(text.toStdString(), &plan->list);
    return bad.empty() ? QString() : QStringLiteral("--layer-list: %1").arg(QString::fromStdString(bad));
}

int exportView(const ExportRequest& request, QString* summary, QString* error) {
    if (QString bad = exportRequestError(request); !bad.isEmpty()) {
        *error = bad;
        return kExportBadInput;
    }
    ensureApplication();
    AnalysisController controller;
    ViewSet views(&controller);
    const int timeoutMs = std::min(request.timeoutSeconds, std::numeric_limits<int>::max() / 1000) * 1000;
    QString view = request.viewState.view;
    views.setViewState(request.viewState);
    // Error metrics need the dense attention of every sparse layer: not computed for views that do not show
    // them.
    using Need = AnalysisController::Need;
    controller.setMetricsEnabled(ViewSet::needsOf(view, request.params, request.viewState) &
                                 (Need::NeedMetrics | Need::NeedAllMetrics));
    if (!openHeadlessInputs(controller, request.file, request.effect, request.params, request.layerId,
                            timeoutMs, &view, error))
        return kExportBadInput;
    views.setCurrentView(view);
    if (!controller.waitUntilReady(views.needsOf(view), timeoutMs)) {
        *error = QStringLiteral("timed out after %1 s waiting for the %2 view's data")
                     .arg(request.timeoutSeconds)
                     .arg(view);
        return kExportFailed;
    }
    views.flush();
    views::ExportableView* target = views.view(view);
    if (auto* text = dynamic_cast<views::TextView*>(target)) {
        views::TextMeasure measure = views::TextMeasure::Kept;
        if (!request.textMeasure.isEmpty()) views::TextView::measureFromKey(request.textMeasure, &measure);
        text->setMeasure(measure);
    }
    if (!writeView(*target, request.out, request.size, request.scale, error)) return kExportFailed;
    if (!controller.hasCapture()) // an effect file alone
        *summary =
            QStringLiteral("%1: %2 view, tau %3").arg(request.out, view).arg(controller.params().tsa.tau);
    else
        *summary = QStringLiteral("%1: %2 view of layer %3, head %4, tau %5")
                       .arg(request.out, view)
                       .arg(controller.modelLayerId(controller.params().layer))
                       .arg(controller.params().head)
                       .arg(controller.params().tsa.tau);
    return kExportOk;
}

} // namespace tsa::app
