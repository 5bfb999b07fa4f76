#include "app/explorer/command_line.h"

#include "core/analysis/metrics.h"
#include "core/param_rules.h"

#include <QCommandLineParser>
#include <QCoreApplication>

namespace tsa::app {

void CommandLine::applyTo(ExplorerParams* p) const {
    if (tau) p->tsa.tau = *tau;
    if (window) p->tsa.window = *window;
    if (poolKernel) p->tsa.poolKernel = *poolKernel;
    if (minTokens) p->tsa.minTokens = *minTokens;
    if (mode) p->plan.mode = *mode;
    if (delta) p->plan.delta = *delta;
    if (layerList) p->plan.list = *layerList;
    if (head) p->head = *head;
    if (effectAxis) p->effectAxis = *effectAxis;
    if (methodKnobs) {
        // Valid on the defaults (checked when parsed); a saved setting it would make invalid is left as
        // saved.
        MethodSettings s = p->methods;
        if (setMethodParams(s, *methodKnobs).empty() && s.validate().empty()) p->methods = s;
    }
    if (method) p->method = *method;
    if (methodOverlayCompressed) {
        p->methodOverlay = true;
        p->methodOverlayCompressed = *methodOverlayCompressed;
    }
}

void CommandLine::applyTo(ViewState* s) const {
    if (view) s->view = *view;
    if (colorMap) s->colorMap = *colorMap;
    if (metric) s->overviewMetric = *metric;
}

ParseOutcome parseCommandLine(const QStringList& args, CommandLine* out, QString* message) {
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QCoreApplication::translate("main",
                                    "TSA Explorer: explore Token Sparse Attention on Q/K/V captures.\n\n"
                                    "Views (--view): %1")
            .arg(explorerViewNames().join(QStringLiteral(", "))));
    parser.addHelpOption();
    parser.addVersionOption();
    parser.addPositionalArgument(
        QStringLiteral("file"),
        QStringLiteral("Capture (.safetensors, .npz), effect file (tsa-effect/1, from "
                       "tools/tsa_eval.py) or session (.json)"));
    const QCommandLineOption tau(QStringLiteral("tau"),
                                 QStringLiteral("Coverage tau, 0 to 0.5 (0 keeps every layer dense)."),
                                 QStringLiteral("T"));
    const QCommandLineOption window(QStringLiteral("window"), QStringLiteral("Window W."),
                                    QStringLiteral("W"));
    const QCommandLineOption kernel(QStringLiteral("pool-kernel"), QStringLiteral("Pool kernel k (odd)."),
                                    QStringLiteral("K"));
    const QCommandLineOption minTokens(QStringLiteral("min-tokens"), QStringLiteral("min_tokens."),
                                       QStringLiteral("N"));
    const QCommandLineOption mode(QStringLiteral("sparse-layers"),
                                  QString::fromStdString(sparseLayerModeChoices()) + QLatin1Char('.'),
                                  QStringLiteral("MODE"));
    const QCommandLineOption delta(QStringLiteral("delta"),
                                   QStringLiteral("Drift quantile for --sparse-layers drift."),
                                   QStringLiteral("D"));
    const QCommandLineOption list(QStringLiteral("layer-list"),
                                  QStringLiteral("Sparse layers for --sparse-layers list, e.g. 16-31."),
                                  QStringLiteral("LIST"));
    const QCommandLineOption layer(QStringLiteral("layer"), QStringLiteral("Model layer to show."),
                                   QStringLiteral("L"));
    const QCommandLineOption head(QStringLiteral("head"), QStringLiteral("Query head to show."),
                                  QStringLiteral("H"));
    const QCommandLineOption view(
        QStringLiteral("view"),
        QStringLiteral("View to show: %1.").arg(explorerViewNames().join(QStringLiteral(", "))),
        QStringLiteral("NAME"));
    const QCommandLineOption colorMap(
        QStringLiteral("colormap"),
        QStringLiteral("Colour map (viridis, magma, inferno, cividis, greys, rdbu)."),
        QStringLiteral("NAME"));
    const QCommandLineOption metric(
        QStringLiteral("metric"),
        QStringLiteral("Overview metric: %1.").arg(QString::fromStdString(layerMeasureChoices())),
        QStringLiteral("NAME"));
    const QCommandLineOption screenshot(QStringLiteral("screenshot"),
                                        QStringLiteral("Render the view as shown in the window to OUT.png "
                                                       "and exit (waits for the view's background work)."),
                                        QStringLiteral("OUT.png"));
    const QCommandLineOption fullWindow(
        QStringLiteral("full-window"),
        QStringLiteral("With --screenshot: the whole window, not just the view."));
    const QCommandLineOption size(
        QStringLiteral("size"),
        QStringLiteral("Window size for --screenshot and --bench-ui (default 1440x900)."),
        QStringLiteral("WxH"));
    const QCommandLineOption bench(
        QStringLiteral("bench-ui"),
        QStringLiteral("Time tau changes on the first sparse layer until the selection view is repainted; "
                       "prints median_ms and p95_ms."));
    const QCommandLineOption benchMetrics(
        QStringLiteral("bench-metrics"),
        QStringLiteral("With --bench-ui: also time a tau change until the visible layer's error metrics are "
                       "current (dense reference cached)."));
    const QCommandLineOption changes(QStringLiteral("changes"),
                                     QStringLiteral("Number of tau changes for --bench-ui (default 30)."),
                                     QStringLiteral("N"));
    const QCommandLineOption effect(
        QStringLiteral("effect"),
        QStringLiteral(
            "Effect file (tools/tsa_eval.py) to open beside the capture; the Effect view shows it. "
            "An effect file can also be given as FILE on its own."),
        QStringLiteral("EFFECT"));
    const QCommandLineOption effectAxis(QStringLiteral("effect-x"),
                                        QStringLiteral("Effect view's x axis: tau (default) or kept."),
                                        QStringLiteral("AXIS"));
    const QCommandLineOption timeout(
        QStringLiteral("timeout"),
        QStringLiteral("Seconds to wait for background work in headless modes (default 600)."),
        QStringLiteral("S"));
    const QCommandLineOption set(
        QStringLiteral("set"),
        QStringLiteral(
            "Knobs of the sparse-attention methods, e.g. flexprefill.gamma=0.9,xattention.stride=8 "
            "(names as in tsa compare; TSA's by --tau etc.)."),
        QStringLiteral("NAME=VALUE,..."));
    const QCommandLineOption method(
        QStringLiteral("method"),
        QStringLiteral("Method of the per-head table and the pattern overlay (tsa, minference, flexprefill, "
                       "xattention, streaming, oracle, tsa+minference, tsa+flexprefill, tsa+xattention)."),
        QStringLiteral("NAME"));
    const QCommandLineOption overlay(
        QStringLiteral("method-overlay"),
        QStringLiteral("Draw the method's pattern on the attention map, in original or compressed "
                       "coordinates."),
        QStringLiteral("original|compressed"));
    parser.addOptions({tau,          window,  kernel,   minTokens, mode,       delta,      list,   layer,
                       head,         view,    colorMap, metric,    screenshot, fullWindow, size,   bench,
                       benchMetrics, changes, timeout,  effect,    effectAxis, set,        method, overlay});
    const QCommandLineOption sumsBudget(
        QStringLiteral("sums-budget"),
        QStringLiteral("Memory for the partial sums that keep exact error metrics incremental, in MiB "
                       "(default 1024; one 32-head 32K-token layer needs 512). Least recently used layers "
                       "are released first."),
        QStringLiteral("MIB"));
    parser.addOption(sumsBudget);
    const QCommandLineOption checkpointsBudget(
        QStringLiteral("checkpoints-budget"),
        QStringLiteral(
            "Memory for checkpoints of the visible layer's sampled error sums, which keep the error "
            "estimate quick after a tau jump, in MiB (default 128: 16 checkpoints of a 32-head "
            "layer; 0 turns them off)."),
        QStringLiteral("MIB"));
    parser.addOption(checkpointsBudget);
    const QCommandLineOption benchModel(
        QStringLiteral("bench-model"),
        QStringLiteral(
            "With --bench-ui: time from opening FILE until every sparse layer has an error estimate, "
            "then visit every view and layer, and report the peak anonymous memory (RssAnon)."));
    parser.addOption(benchModel);

    if (!parser.parse(args)) {
        *message = parser.errorText();
        return ParseOutcome::ExitUsage;
    }
    if (parser.isSet(QStringLiteral("help"))) {
        *message = parser.helpText();
        return ParseOutcome::ExitOk;
    }
    if (parser.isSet(QStringLiteral("version"))) {
        *message =
            QCoreApplication::applicationName() + QLatin1Char(' ') + QCoreApplication::applicationVersion();
        return ParseOutcome::ExitOk;
    }
    CommandLine cl;
    const QStringList positional = parser.positionalArguments();
    if (positional.size() > 1) {
        *message = QStringLiteral("Only one file can be given, got %1").arg(positional.size());
        return ParseOutcome::ExitUsage;
    }
    if (!positional.isEmpty()) cl.file = positional.first();

    QString error;
    auto number = [&](const QCommandLineOption& o) -> std::optional<double> {
        if (!parser.isSet(o) || !error.isEmpty()) return std::nullopt;
        bool ok = false;
        const double v = parser.value(o).toDouble(&ok);
        if (!ok) {
            error = QStringLiteral("--%1: '%2' is not a number").arg(o.names().first(), parser.value(o));
            return std::nullopt;
        }
        return v;
    };
    auto integer = [&](const QCommandLineOption& o, qint64 lo, qint64 hi) -> std::optional<qint64> {
        if (!parser.isSet(o) || !error.isEmpty()) return std::nullopt;
        bool ok = false;
        const qint64 v = parser.value(o).toLongLong(&ok);
        if (!ok || v < lo || v > hi) {
            error = QStringLiteral("--%1: '%2' is not an integer in [%3, %4]")
                        .arg(o.names().first(), parser.value(o))
                        .arg(lo)
                        .arg(hi);
            return std::nullopt;
        }
        return v;
    };
    // The selection parameters follow the shared rules (core/param_rules.h), as in `tsa run` and `tsa
    // export`.
    auto rule = [&](const QCommandLineOption& o, const std::string& problem) {
        if (error.isEmpty() && !problem.empty())
            error = QStringLiteral("--%1: %2").arg(o.names().first(), QString::fromStdString(problem));
        return problem.empty();
    };
    auto wholeNumber = [&](const QCommandLineOption& o) -> std::optional<qint64> {
        if (!parser.isSet(o) || !error.isEmpty()) return std::nullopt;
        bool ok = false;
        const qint64 v = parser.value(o).toLongLong(&ok);
        if (!ok)
            error = QStringLiteral("--%1: '%2' is not an integer").arg(o.names().first(), parser.value(o));
        return ok ? std::optional<qint64>(v) : std::nullopt;
    };
    if (parser.isSet(tau)) {
        double v = 0.0;
        if (rule(tau, tsa::parseTau(parser.value(tau).toStdString(), &v))) cl.tau = v;
    }
    if (auto v = wholeNumber(window); v && rule(window, tsa::windowProblem(*v))) cl.window = *v;
    if (auto v = wholeNumber(kernel); v && rule(kernel, tsa::poolKernelProblem(*v))) cl.poolKernel = *v;
    if (auto v = wholeNumber(minTokens); v && rule(minTokens, tsa::minTokensProblem(*v))) cl.minTokens = *v;
    if (parser.isSet(mode) && error.isEmpty()) {
        cl.mode = sparseLayerModeFromName(parser.value(mode).toStdString());
        if (!cl.mode)
            error = QStringLiteral("--sparse-layers: '%1' is not %2")
                        .arg(parser.value(mode), QString::fromStdString(sparseLayerModeChoices()));
    }
    if (auto v = number(delta); v && rule(delta, tsa::deltaProblem(*v))) cl.delta = *v;
    if (parser.isSet(list)) {
        std::vector<int> layers;
        if (rule(list, tsa::parseLayerList(parser.value(list).toStdString(), &layers))) cl.layerList = layers;
    }
    if (auto v = integer(layer, 0, tsa::kLayerIdMaximum)) cl.layerId = int(*v);
    if (auto v = integer(head, 0, 1 << 20)) cl.head = int(*v);
    if (parser.isSet(view) && error.isEmpty()) {
        cl.view = parser.value(view);
        if (!explorerViewNames().contains(*cl.view))
            error = QStringLiteral("--view: unknown view '%1' (views: %2)")
                        .arg(*cl.view, explorerViewNames().join(QStringLiteral(", ")));
    }
    if (parser.isSet(colorMap)) cl.colorMap = parser.value(colorMap);
    if (parser.isSet(metric) && error.isEmpty()) {
        cl.metric = parser.value(metric);
        if (!layerMeasureFromName(cl.metric->toStdString()))
            error = QStringLiteral("--metric: unknown metric '%1' (%2)")
                        .arg(*cl.metric, QString::fromStdString(layerMeasureChoices()));
    }
    cl.effect = parser.value(effect);
    if (parser.isSet(effectAxis) && error.isEmpty()) {
        cl.effectAxis = parser.value(effectAxis);
        if (*cl.effectAxis != QLatin1String("tau") && *cl.effectAxis != QLatin1String("kept"))
            error = QStringLiteral("--effect-x: '%1' is not tau or kept").arg(*cl.effectAxis);
    }
    if (parser.isSet(set) && error.isEmpty()) {
        const std::string knobs = parser.value(set).toStdString();
        MethodSettings check;
        std::string bad = knobs.rfind("tsa.", 0) == 0 || knobs.find(",tsa.") != std::string::npos
                              ? "TSA's knobs are --tau, --window, --pool-kernel and --min-tokens"
                              : setMethodParams(check, knobs);
        if (bad.empty()) bad = check.validate();
        if (bad.empty())
            cl.methodKnobs = knobs;
        else
            error = QStringLiteral("--set: ") + QString::fromStdString(bad);
    }
    if (parser.isSet(method) && error.isEmpty()) {
        std::string bad;
        if (parseMethodName(parser.value(method).toStdString()))
            cl.method = parser.value(method);
        else if (!parseMethodList(parser.value(method).toStdString(), bad)) // names it, lists the known ones
            error = QStringLiteral("--method: ") + QString::fromStdString(bad);
        else
            error = QStringLiteral("--method: one method, got '%1'").arg(parser.value(method));
    }
    if (parser.isSet(overlay) && error.isEmpty()) {
        const QString v = parser.value(overlay);
        if (v == QLatin1String("original") || v == QLatin1String("compressed"))
            cl.methodOverlayCompressed = v == QLatin1String("compressed");
        else
            error = QStringLiteral("--method-overlay: '%1' is not original or compressed").arg(v);
    }
    cl.screenshot = parser.value(screenshot);
    cl.fullWindow = parser.isSet(fullWindow);
    if (parser.isSet(size) && error.isEmpty()) {
        const QStringList parts = parser.value(size).toLower().split(QLatin1Char('x'));
        bool ok1 = false, ok2 = false;
        const int w = parts.size() == 2 ? parts[0].toInt(&ok1) : 0,
                  h = parts.size() == 2 ? parts[1].toInt(&ok2) : 0;
        if (!ok1 || !ok2 || w < 320 || h < 240 || w > 8000 || h > 8000)
            error = QStringLiteral("--size: '%1' is not WIDTHxHEIGHT (320x240 to 8000x8000)")
                        .arg(parser.value(size));
        else
            cl.size = QSize(w, h);
    }
    cl.benchUi = parser.isSet(bench);
    cl.benchMetrics = parser.isSet(benchMetrics);
    cl.benchModel = parser.isSet(benchModel);
    if (auto v = integer(changes, 2, 10000)) cl.benchChanges = int(*v);
    if (auto v = integer(timeout, 1, 24 * 3600)) cl.timeoutSeconds = int(*v);
    if (auto v = integer(sumsBudget, 0, 1 << 20)) cl.sumsBudgetMiB = *v;
    if (auto v = integer(checkpointsBudget, 0, 1 << 20)) cl.checkpointsBudgetMiB = *v;
    if (error.isEmpty() && cl.headless() && cl.file.isEmpty() && (cl.benchUi || cl.effect.isEmpty()))
        error = cl.benchUi ? QStringLiteral("--bench-ui needs a FILE")
                           : QStringLiteral("--screenshot needs a FILE");
    if (error.isEmpty() && !cl.screenshot.isEmpty() &&
        !cl.screenshot.endsWith(QLatin1String(".png"), Qt::CaseInsensitive))
        error = QStringLiteral("--screenshot: '%1' must end in .png").arg(cl.screenshot);
    if (!error.isEmpty()) {
        *message = error;
        return ParseOutcome::ExitUsage;
    }
    *out = cl;
    return ParseOutcome::Run;
}

} // namespace tsa::app
