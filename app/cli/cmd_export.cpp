// `tsa export FILE --view NAME --out PATH [...]`: renders one explorer view to PNG, SVG or PDF (or its data
// to CSV) without a window, through the same controller and views as tsa-explorer, after the background work
// that view needs has finished. Bad files and bad options exit 2 with the reason on stderr.
#include "app/cli/cli_args.h"
#include "app/explorer/analysis_controller.h"
#include "app/explorer/command_line.h"
#include "app/explorer/explorer_params.h"
#include "app/explorer/headless.h"
#include "app/explorer/view_export.h"
#include "app/explorer/view_set.h"
#include "core/param_rules.h"
#include "views/exportable_view.h"

#include <QApplication>
#include <QFileInfo>
#include <QStringList>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

namespace tsa::cli {

namespace {

void printExportUsage(std::FILE* out) {
    const std::string views = tsa::app::explorerViewNames().join(QStringLiteral(", ")).toStdString();
    std::fprintf(
        out,
        "usage: tsa export FILE --view NAME --out PATH [options]\n"
        "\n"
        "Renders one explorer view of a capture without a window: PNG, SVG or PDF (vector, fonts\n"
        "embedded) by the extension of PATH, or the data behind the view with .csv. Waits for the\n"
        "background work the view needs.\n"
        "\n"
        "  --view NAME           %s\n"
        "  --out PATH            output file (.png, .svg, .pdf or .csv), written atomically\n"
        "  --tau T               coverage tau, 0 to 0.5 (default 0.005; 0 keeps every layer dense)\n"
        "  --layer L             model layer to show (default: the first sparse layer)\n"
        "  --head H              query head to show (default 0)\n"
        "  --window W            window W (default 128)\n"
        "  --pool-kernel K       smoothing kernel k, odd (default 7)\n"
        "  --min-tokens N        min_tokens (default 1024)\n"
        "  --sparse-layers MODE  half (default), drift, all or list\n"
        "  --delta D             drift quantile for --sparse-layers drift (default 0.5)\n"
        "  --layer-list LIST     model layers for --sparse-layers list, e.g. 16-31\n"
        "  --colormap NAME       viridis (default), magma, inferno, cividis, greys, rdbu\n"
        "  --metric NAME         overview metric: kept (default), error-p95, retained-mass\n"
        "  --width W, --height H picture size in logical pixels (default 1200 x 800)\n"
        "  --scale S             PNG pixels per logical pixel (default 1); in a PDF, heatmap pixels\n"
        "                        per point (at least 2)\n"
        "  --timeout S           seconds to wait for background work (default 600)\n",
        views.c_str());
}

int usageError(const std::string& message) {
    std::fprintf(stderr, "tsa export: %s\n(see tsa export --help)\n", message.c_str());
    return kExitUsage;
}

} // namespace

int cmdExport(const std::vector<std::string>& argv) {
    Args args({"view", "out", "tau", "layer", "head", "window", "pool-kernel", "min-tokens", "sparse-layers",
               "delta", "layer-list", "colormap", "metric", "width", "height", "scale", "timeout"},
              {"help"});
    if (!args.parse(argv)) return usageError(args.error());
    if (args.has("help")) {
        printExportUsage(stdout);
        return kExitOk;
    }
    if (args.positional().size() != 1)
        return usageError(args.positional().empty() ? "missing FILE" : "expected one FILE");
    const auto view = args.value("view");
    const auto out = args.value("out");
    if (!view) return usageError("missing --view NAME");
    if (!out) return usageError("missing --out PATH");
    const QStringList names = tsa::app::explorerViewNames();
    if (!names.contains(QString::fromStdString(*view)))
        return usageError("unknown view '" + *view +
                          "' (views: " + names.join(QStringLiteral(", ")).toStdString() + ")");
    if (tsa::app::formatForPath(QString::fromStdString(*out)) == tsa::app::ExportFormat::Unknown)
        return usageError("--out " + *out + ": the extension must be .png, .svg, .pdf or .csv");

    tsa::app::ExplorerParams params;
    params.view = QString::fromStdString(*view);
    params.tsa.tau = args.number("tau", params.tsa.tau);
    params.tsa.window = args.integer("window", params.tsa.window);
    params.tsa.poolKernel = args.integer("pool-kernel", params.tsa.poolKernel);
    params.tsa.minTokens = args.integer("min-tokens", params.tsa.minTokens);
    params.plan.delta = args.number("delta", params.plan.delta);
    params.head = int(args.integer("head", 0));
    const long long layer = args.integer("layer", -1);
    const long long width = args.integer("width", 1200), height = args.integer("height", 800);
    const double scale = args.number("scale", 1.0);
    const long long timeout = args.integer("timeout", 600);
    if (args.failed()) return usageError(args.error());
    if (const std::string tauBad = tsa::tauProblem(params.tsa.tau); !tauBad.empty())
        return usageError("--tau: " + tauBad);
    if (params.tsa.window < 1) return usageError("--window must be positive");
    if (params.tsa.poolKernel < 1 || params.tsa.poolKernel % 2 == 0)
        return usageError("--pool-kernel must be odd and positive");
    if (params.tsa.minTokens < 0) return usageError("--min-tokens must not be negative");
    if (params.plan.delta < 0 || params.plan.delta > 1) return usageError("--delta must be in [0, 1]");
    if (params.head < 0) return usageError("--head must not be negative");
    if (width < 200 || height < 150 || width > 8000 || height > 8000)
        return usageError("--width/--height must be between 200x150 and 8000x8000");
    if (!(scale > 0 && scale <= 8)) return usageError("--scale must be in (0, 8]");
    if (timeout < 1) return usageError("--timeout must be positive");
    if (auto mode = args.value("sparse-layers")) {
        bool ok = false;
        params.plan.mode = parseSparseLayerMode(*mode, &ok);
        if (!ok) return usageError("--sparse-layers '" + *mode + "' is not half, drift, all or list");
    }
    if (auto list = args.value("layer-list")) {
        if (!tsa::app::parseLayerList(QString::fromStdString(*list), &params.plan.list))
            return usageError("--layer-list: cannot read '" + *list + "'");
    }
    if (auto colormap = args.value("colormap")) params.colorMap = QString::fromStdString(*colormap);
    if (auto metric = args.value("metric")) {
        params.overviewMetric = QString::fromStdString(*metric);
        const QStringList metrics = {QStringLiteral("kept"), QStringLiteral("error-p95"),
                                     QStringLiteral("retained-mass")};
        if (!metrics.contains(params.overviewMetric))
            return usageError("--metric '" + *metric + "' is not kept, error-p95 or retained-mass");
    }
    const QString file = QString::fromStdString(args.positional()[0]);
    if (!QFileInfo(file).isFile())
        return usageError("cannot open " + args.positional()[0] + ": no such file");

    // Views are widgets: they need a QApplication, and without a display an explicit offscreen platform.
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    static int qtArgc = 1;
    static char qtName[] = "tsa";
    static char* qtArgv[] = {qtName, nullptr};
    std::unique_ptr<QApplication> ownApp;
    if (!QCoreApplication::instance()) ownApp = std::make_unique<QApplication>(qtArgc, qtArgv);

    tsa::app::AnalysisController controller;
    tsa::app::ViewSet views(&controller);
    QString error;
    std::optional<int> layerId;
    if (layer >= 0) layerId = int(layer);
    if (!tsa::app::openForHeadless(controller, file, params, layerId, int(timeout * 1000), &error))
        return usageError(error.toStdString());
    if (!controller.waitUntilReady(views.needsOf(params.view), int(timeout * 1000))) {
        std::fprintf(stderr, "tsa export: timed out after %lld s waiting for the %s view's data\n", timeout,
                     view->c_str());
        return kExitFailure;
    }
    views.flush();
    tsa::views::ExportableView* target = views.view(params.view);
    if (!tsa::app::writeView(*target, QString::fromStdString(*out), QSize(int(width), int(height)), scale,
                             &error)) {
        std::fprintf(stderr, "tsa export: %s\n", error.toLocal8Bit().constData());
        return kExitFailure;
    }
    std::printf("%s: %s view of layer %d, head %d, tau %g\n", out->c_str(), view->c_str(),
                controller.modelLayerId(controller.params().layer), controller.params().head,
                controller.params().tsa.tau);
    return kExitOk;
}

} // namespace tsa::cli
