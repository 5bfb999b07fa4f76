// `tsa export FILE --view NAME --out PATH [...]`: renders one explorer view to PNG, SVG or PDF (or its data
// to CSV, the text view to HTML) without a window, through the same controller and views as tsa-explorer,
// after the background work that view needs has finished. Bad files and bad options exit 2 with the reason on
// stderr. The work itself is tsa::app::exportView (export_request.h), shared with the Python module's
// render().
#include "app/cli/cli_args.h"
#include "app/explorer/command_line.h"
#include "app/explorer/export_request.h"
#include "core/names.h"

#include <QStringList>
#include <algorithm>
#include <cstdio>
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
        "embedded) by the extension of PATH, the data behind the view with .csv, or a self-contained\n"
        "HTML page with .html (text view only). Waits for the background work the view needs. FILE\n"
        "may also be an effect file (tools/tsa_eval.py) for --view effect.\n"
        "\n"
        "  --view NAME           %s\n"
        "  --out PATH            output file (.png, .svg, .pdf, .csv or .html), written atomically\n"
        "  --tau T               coverage tau, 0 to 0.5 (default 0.005; 0 keeps every layer dense)\n"
        "  --layer L             model layer to show (default: the first sparse layer)\n"
        "  --head H              query head to show (default 0)\n"
        "  --window W            window W (default 128)\n"
        "  --pool-kernel K       smoothing kernel k, odd (default 7)\n"
        "  --min-tokens N        min_tokens (default 1024)\n"
        "  --sparse-layers MODE  half (default), drift, all or list (then --layer-list)\n"
        "  --delta D             drift quantile for --sparse-layers drift (default 0.5)\n"
        "  --layer-list LIST     model layers for --sparse-layers list, e.g. 16-31\n"
        "  --colormap NAME       viridis (default), magma, inferno, cividis, greys, rdbu\n"
        "  --metric NAME         overview metric: kept (default), error-p95, retained-mass\n"
        "  --text-measure NAME   text view colour: kept (default), n_h, g, layers (sparse layers keeping\n"
        "                        the token), heads (heads of the layer keeping it)\n"
        "  --width W, --height H picture size in logical pixels (default 1200 x 800)\n"
        "  --scale S             PNG pixels per logical pixel (default 1); in a PDF, heatmap pixels\n"
        "                        per point (at least 2)\n"
        "  --timeout S           seconds to wait for background work (default 600)\n"
        "  --effect EFFECT       effect file shown by --view effect beside the capture FILE\n"
        "  --effect-x AXIS       effect view's x axis: tau (default) or kept (mean kept fraction)\n"
        "  --needle-score S      effect view's needle heatmap: overlap (default) or exact\n"
        "  --set NAME=VALUE,...  a sparse-attention method's knob for the methods views, e.g.\n"
        "                        flexprefill.block_size=32 (names as in tsa compare; TSA's by --tau etc.)\n"
        "  --method NAME         the method of the method-heads table and the attention map's pattern\n"
        "                        overlay (tsa, minference, ..., tsa+xattention; default tsa)\n"
        "  --method-overlay C    with --view attention: the pattern in original (default) or compressed\n"
        "                        coordinates (composed methods: blocks over the head's kept tokens)\n"
        "  --methods-x X         methods view x axis: density (default) or speedup\n"
        "  --methods-y Y         methods view y axis: error-last-w (default), error-p95, retained-mass,\n"
        "                        recall\n",
        views.c_str());
}

int usageError(const std::string& message) {
    std::fprintf(stderr, "tsa export: %s\n(see tsa export --help)\n", message.c_str());
    return kExitUsage;
}

} // namespace

int cmdExport(const std::vector<std::string>& argv) {
    Args args({"view",        "out",           "tau",           "layer", "head",       "window",
               "pool-kernel", "min-tokens",    "sparse-layers", "delta", "layer-list", "colormap",
               "metric",      "width",         "height",        "scale", "timeout",    "effect",
               "effect-x",    "needle-score",  "text-measure",  "set",   "method",     "methods-x",
               "methods-y",   "method-overlay"},
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

    tsa::app::ExportRequest request;
    tsa::app::ExplorerParams& params = request.params;
    request.viewState.view = QString::fromStdString(*view);
    request.out = QString::fromStdString(*out);
    request.file = QString::fromStdString(args.positional()[0]);
    params.tsa.tau = args.number("tau", params.tsa.tau);
    params.tsa.window = args.integer("window", params.tsa.window);
    params.tsa.poolKernel = args.integer("pool-kernel", params.tsa.poolKernel);
    params.tsa.minTokens = args.integer("min-tokens", params.tsa.minTokens);
    params.plan.delta = args.number("delta", params.plan.delta);
    params.head = int(args.integer("head", 0));
    const long long layer = args.integer("layer", -1);
    if (layer >= 0) request.layerId = int(layer);
    // Clamped before narrowing to int, so a huge number is refused as out of range rather than wrapping.
    auto narrow = [](long long v) { return int(std::clamp<long long>(v, -1, 1 << 30)); };
    request.size = QSize(narrow(args.integer("width", 1200)), narrow(args.integer("height", 800)));
    request.scale = args.number("scale", 1.0);
    request.timeoutSeconds = narrow(args.integer("timeout", 600));
    if (args.failed()) return usageError(args.error());
    if (auto mode = args.value("sparse-layers")) {
        const QString bad = tsa::app::parseSparseLayersOption(QString::fromStdString(*mode), &params.plan);
        if (!bad.isEmpty()) return usageError(bad.toStdString());
    }
    if (auto list = args.value("layer-list")) {
        const QString bad = tsa::app::parseLayerListOption(QString::fromStdString(*list), &params.plan);
        if (!bad.isEmpty()) return usageError(bad.toStdString());
    }
    if (auto colormap = args.value("colormap"))
        request.viewState.colorMap = QString::fromStdString(*colormap);
    if (auto metric = args.value("metric"))
        request.viewState.overviewMetric = QString::fromStdString(*metric);
    if (auto axis = args.value("effect-x")) params.effectAxis = QString::fromStdString(*axis);
    if (auto score = args.value("needle-score")) params.effectNeedle = QString::fromStdString(*score);
    if (auto measure = args.value("text-measure")) request.textMeasure = QString::fromStdString(*measure);
    request.effect = QString::fromStdString(args.value("effect").value_or(std::string()));
    if (auto set = args.value("set")) {
        if (set->rfind("tsa.", 0) == 0 || set->find(",tsa.") != std::string::npos)
            return usageError("--set: TSA's knobs are --tau, --window, --pool-kernel and --min-tokens");
        if (std::string bad = tsa::setMethodParams(params.methods, *set); !bad.empty())
            return usageError("--set: " + bad);
        if (std::string bad = params.methods.validate(); !bad.empty()) return usageError("--set: " + bad);
    }
    if (auto method = args.value("method")) {
        std::string error;
        if (!tsa::parseMethodName(*method)) {
            tsa::parseMethodList(*method, error); // names the method and lists the known ones
            return usageError("--method: " + error);
        }
        params.method = QString::fromStdString(*method);
        // A method named for the attention view means: draw its pattern there.
        params.methodOverlay = *view == "attention";
    }
    if (auto coords = args.value("method-overlay")) {
        if (*coords != "original" && *coords != "compressed")
            return usageError("--method-overlay '" + *coords + "' is not original or compressed");
        params.methodOverlay = *view == "attention";
        params.methodOverlayCompressed = *coords == "compressed";
    }
    // The methods view's axis names: one table (views/methods_view.h), read through explorer_params.h.
    auto axis = [&](const char* option, const QStringList& names, QString* value) {
        const auto v = args.value(option);
        if (!v) return std::string();
        *value = QString::fromStdString(*v);
        if (names.contains(*value)) return std::string();
        return "--" + std::string(option) + " '" + *v + "' is not " + tsa::app::choices(names).toStdString();
    };
    if (std::string bad = axis("methods-x", tsa::app::methodsXNames(), &params.methodsX); !bad.empty())
        return usageError(bad);
    if (std::string bad = axis("methods-y", tsa::app::methodsYNames(), &params.methodsY); !bad.empty())
        return usageError(bad);

    QString summary, error;
    const int code = tsa::app::exportView(request, &summary, &error);
    if (code == tsa::app::kExportBadInput) return usageError(error.toStdString());
    if (code != tsa::app::kExportOk) {
        std::fprintf(stderr, "tsa export: %s\n", error.toLocal8Bit().constData());
        return kExitFailure;
    }
    std::printf("%s\n", summary.toLocal8Bit().constData());
    return kExitOk;
}

} // namespace tsa::cli
