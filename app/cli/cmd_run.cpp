// `tsa run`: Token Sparse Attention over the layers of a capture, a table per layer, optional safetensors
// output. Results are spooled to a temporary file as layers finish (their sizes are only known after
// selection), then copied behind the header by the atomic writer, so memory holds one layer at a time.
#include "app/cli/cli_args.h"
#include "app/cli/run_report.h"
#include "core/io/capture.h"
#include "core/param_rules.h"
#include "core/methods/tsa_pipeline.h"
#include "core/io/safetensors_writer.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unistd.h>

namespace tsa::cli {

namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void onInterrupt(int) {
    g_interrupted.store(true);
}

const char* kRunHelp =
    "usage: tsa run FILE [options]\n"
    "\n"
    "Runs Token Sparse Attention (Jo et al. 2026) on the layers of a Q/K/V capture and prints, per layer:\n"
    "dense or sparse, tokens dropped by the budget, kept tokens per head, kept fraction, output error of\n"
    "kept rows against dense attention, and the time of each stage.\n"
    "\n"
    "options (defaults are the official ones):\n"
    "  --layers all|LIST          layers to run, e.g. 0,3,8-11 (default all)\n"
    "  --sparse-layers half|drift|all|LIST   which layers are sparse (default half: the second half)\n"
    "  --tau T                    share of attention the dropped tokens may carry, 0 to 0.5 (0.005; 0: "
    "dense)\n"
    "  --window W                 last W queries score the tokens and are always kept (128)\n"
    "  --pool-kernel K            odd width of the score smoothing (7)\n"
    "  --min-tokens M             lower bound on kept prefix tokens per head (1024)\n"
    "  --delta X                  drift quantile for --sparse-layers drift (0.5)\n"
    "  --threads N                worker threads (default: all cores)\n"
    "  --no-error                 skip the dense reference and the error columns (faster)\n"
    "  --save OUT.safetensors     write indices and scores of each sparse layer\n"
    "  --save-output              with --save: also the decompressed output of each layer\n"
    "  --save-dense               with --save: also the dense output of each layer\n"
    "  --json                     print the per-layer summary as JSON instead of a table\n"
    "  --quiet                    no progress on stderr\n"
    "\n"
    "Exit codes: 0 success, 1 failed or interrupted, 2 bad file or bad option.\n";

// Raw bytes of finished tensors, parked on disk until the header can be written.
class Spool {
public:
    ~Spool() {
        if (m_file) std::fclose(m_file);
    }
    bool open() { return (m_file = std::tmpfile()) != nullptr; }
    void add(TensorSpec spec, const void* data, std::size_t bytes) {
        m_ok = m_ok && std::fwrite(data, 1, bytes, m_file) == bytes;
        m_specs.push_back(std::move(spec));
        m_sizes.push_back(bytes);
    }
    bool ok() const { return m_ok; }
    const std::vector<TensorSpec>& specs() const { return m_specs; }
    Status copyTo(SafetensorsWriter& writer) {
        std::rewind(m_file);
        std::vector<unsigned char> buffer(std::size_t(1) << 22);
        for (std::size_t bytes : m_sizes) {
            while (bytes > 0) {
                const std::size_t chunk = std::min(bytes, buffer.size());
                if (std::fread(buffer.data(), 1, chunk, m_file) != chunk)
                    return Status::error(ErrorCode::Io, "reading back the temporary spool file failed");
                Status st = writer.writeBytes(buffer.data(), chunk);
                if (!st.ok()) return st;
                bytes -= chunk;
            }
        }
        return Status::success();
    }

private:
    std::FILE* m_file = nullptr;
    std::vector<TensorSpec> m_specs;
    std::vector<std::size_t> m_sizes;
    bool m_ok = true;
};

std::string formatSeconds(double s) {
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%.1fs", s);
    else
        std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
    return buf;
}

} // namespace

int cmdRun(const std::vector<std::string>& argv) {
    Args args(
        {"layers", "sparse-layers", "tau", "window", "pool-kernel", "min-tokens", "delta", "threads", "save"},
        {"save-output", "save-dense", "no-error", "json", "quiet", "help"});
    if (!args.parse(argv)) {
        std::fprintf(stderr, "tsa run: %s\n%s", args.error().c_str(), kRunHelp);
        return kExitUsage;
    }
    if (args.has("help")) {
        std::fputs(kRunHelp, stdout);
        return kExitOk;
    }
    if (args.positional().size() != 1) {
        std::fprintf(stderr, "tsa run: expected exactly one capture file\n%s", kRunHelp);
        return kExitUsage;
    }
    TsaParams params;
    params.tau = args.number("tau", params.tau);
    params.window = args.integer("window", params.window);
    params.poolKernel = args.integer("pool-kernel", params.poolKernel);
    params.minTokens = args.integer("min-tokens", params.minTokens);
    const double delta = args.number("delta", 0.5);
    const int threads = int(args.integer("threads", 0));
    if (args.failed()) {
        std::fprintf(stderr, "tsa run: %s\n", args.error().c_str());
        return kExitUsage;
    }
    std::string bad;
    if (const std::string tauBad = tsa::tauProblem(params.tau); !tauBad.empty())
        bad = "--tau: " + tauBad;
    else if (params.window < 1)
        bad = "--window must be at least 1";
    else if (params.poolKernel < 1 || params.poolKernel % 2 == 0)
        bad = "--pool-kernel must be a positive odd number";
    else if (params.minTokens < 0)
        bad = "--min-tokens must not be negative";
    else if (!(delta >= 0.0 && delta <= 1.0))
        bad = "--delta must be in [0, 1]";
    else if (threads < 0)
        bad = "--threads must not be negative";
    else if ((args.has("save-output") || args.has("save-dense")) && !args.has("save"))
        bad = "--save-output and --save-dense need --save OUT.safetensors";
    if (!bad.empty()) {
        std::fprintf(stderr, "tsa run: %s\n", bad.c_str());
        return kExitUsage;
    }

    const std::string path = args.positional()[0];
    auto opened = Capture::open(path);
    if (!opened.ok()) {
        std::fprintf(stderr, "tsa run: %s\n", opened.error().c_str());
        return kExitUsage;
    }
    for (const auto& w : opened.warnings)
        std::fprintf(stderr, "tsa run: warning: %s\n", w.c_str());
    const auto capture = opened.value();
    const CaptureInfo& info = capture->info();

    // Layers to run, by model layer id.
    std::vector<int> runIds = info.layerIds;
    if (auto v = args.value("layers"); v && *v != "all") {
        runIds.clear();
        std::string error;
        if (!parseLayerList(*v, runIds, error)) {
            std::fprintf(stderr, "tsa run: --layers: %s\n", error.c_str());
            return kExitUsage;
        }
        for (int id : runIds)
            if (std::find(info.layerIds.begin(), info.layerIds.end(), id) == info.layerIds.end()) {
                std::fprintf(stderr, "tsa run: --layers: layer %d is not in %s (it has %d layers)\n", id,
                             path.c_str(), info.layers);
                return kExitUsage;
            }
    }

    // Sparse-layer plan over the model's layers.
    LayerPlanConfig plan;
    plan.delta = delta;
    const std::string mode = args.value("sparse-layers").value_or("half");
    bool modeOk = false;
    plan.mode = parseSparseLayerMode(mode, &modeOk);
    if (!modeOk) {
        plan.mode = SparseLayerMode::List;
        std::string error;
        if (!parseLayerList(mode, plan.list, error)) {
            std::fprintf(stderr, "tsa run: --sparse-layers: expected half, drift, all or a layer list: %s\n",
                         error.c_str());
            return kExitUsage;
        }
    } else if (plan.mode == SparseLayerMode::List) {
        std::fprintf(stderr, "tsa run: --sparse-layers: give the layer list itself, e.g. 16-31\n");
        return kExitUsage;
    }
    std::vector<double> drift;
    if (plan.mode == SparseLayerMode::Drift) {
        if (!info.hasDrift) {
            std::fprintf(stderr, "tsa run: --sparse-layers drift: %s has no layers.{l}.drift tensors\n",
                         path.c_str());
            return kExitUsage;
        }
        if (info.layers != info.modelLayers) {
            std::fprintf(
                stderr, "tsa run: --sparse-layers drift: needs the drift of all %d model layers, %s has %d\n",
                info.modelLayers, path.c_str(), info.layers);
            return kExitUsage;
        }
        drift = capture->layerDrift();
    }
    auto sparsePlan = planSparseLayers(info.modelLayers, plan, drift);
    if (!sparsePlan.ok()) {
        std::fprintf(stderr, "tsa run: --sparse-layers: %s\n", sparsePlan.error().c_str());
        return kExitUsage;
    }

    Spool spool;
    const bool save = args.has("save");
    if (save && !spool.open()) {
        std::fprintf(stderr, "tsa run: cannot create a temporary file for the results\n");
        return kExitFailure;
    }
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    const bool quiet = args.has("quiet");
    // On a terminal the progress line rewrites itself; in a log each update is a line of its own.
    const char* lineStart = isatty(2) ? "\r" : "";
    const char* lineEnd = isatty(2) ? "   " : "\n";
    const bool computeError = !args.has("no-error");

    std::vector<LayerReport> reports;
    const auto started = std::chrono::steady_clock::now();
    for (std::size_t n = 0; n < runIds.size(); ++n) {
        const int id = runIds[n];
        const int index =
            int(std::find(info.layerIds.begin(), info.layerIds.end(), id) - info.layerIds.begin());
        const double elapsed =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        if (!quiet) {
            std::string eta =
                n > 0 ? ", about " + formatSeconds(elapsed / double(n) * double(runIds.size() - n)) + " left"
                      : "";
            std::fprintf(stderr, "%slayer %zu of %zu (model layer %d), %s elapsed%s%s", lineStart, n + 1,
                         runIds.size(), id, formatSeconds(elapsed).c_str(), eta.c_str(), lineEnd);
            std::fflush(stderr);
        }
        auto layer = capture->layer(index);
        if (!layer.ok()) {
            std::fprintf(stderr, "\ntsa run: %s\n", layer.error().c_str());
            return kExitUsage;
        }
        for (const auto& w : layer.warnings)
            std::fprintf(stderr, "\ntsa run: warning: %s\n", w.c_str());
        LayerRunConfig config;
        config.params = params;
        config.sparseLayer = (*sparsePlan)[id];
        config.computeMetrics = computeError;
        config.computeDense = args.has("save-dense");
        config.keepOutput = args.has("save-output");
        config.attention.threads = threads;
        config.cancel = &g_interrupted;
        auto result = runLayer(*layer.value(), config);
        if (!result.ok()) {
            if (result.status().code == ErrorCode::Cancelled || g_interrupted) {
                std::fprintf(stderr, "\ntsa run: interrupted at layer %d; nothing was written\n", id);
                return kExitFailure;
            }
            std::fprintf(stderr, "\ntsa run: layer %d of %s: %s\n", id, path.c_str(), result.error().c_str());
            return kExitFailure;
        }
        const LayerRunResult& r = result.value();
        reports.push_back(makeLayerReport(id, r, computeError));
        if (save) {
            const auto& sel = r.selection;
            const std::string prefix = "layers." + std::to_string(id) + ".";
            if (sel.sparse) {
                spool.add({prefix + "indices", DType::I32, {sel.qHeads, sel.kept}}, sel.indices.data(),
                          sel.indices.size() * sizeof(std::int32_t));
                spool.add({prefix + "scores", DType::F32, {r.scores.qHeads, r.scores.prefix}},
                          r.scores.headNorm.data(), r.scores.headNorm.size() * sizeof(float));
            }
            if (args.has("save-output"))
                spool.add({prefix + "output", DType::F32, {r.output.heads, r.output.tokens, r.output.dim}},
                          r.output.data.data(), r.output.data.size() * sizeof(float));
            if (args.has("save-dense"))
                spool.add({prefix + "dense_output",
                           DType::F32,
                           {r.denseOutput.heads, r.denseOutput.tokens, r.denseOutput.dim}},
                          r.denseOutput.data.data(), r.denseOutput.data.size() * sizeof(float));
            if (!spool.ok()) {
                std::fprintf(stderr, "\ntsa run: writing the temporary spool file failed (disk full?)\n");
                return kExitFailure;
            }
        }
    }
    if (!quiet) {
        const double total =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        std::fprintf(stderr, "%sdone: %zu layers in %s%s\n", lineStart, runIds.size(),
                     formatSeconds(total).c_str(), isatty(2) ? "                              " : "");
    }

    const nlohmann::json summary = reportsToJson(reports, params, info, mode);
    if (args.has("json"))
        std::printf("%s\n", summary.dump(2).c_str());
    else
        printReportTable(stdout, reports, params, info, mode);

    if (save) {
        SafetensorsWriter writer;
        std::map<std::string, std::string> metadata{
            {"format", "tsa-run/1"}, {"source", path}, {"tsa", summary.dump()}};
        const std::string out = *args.value("save");
        Status st = writer.open(out, spool.specs(), metadata);
        if (st.ok()) st = spool.copyTo(writer);
        if (st.ok() && g_interrupted)
            st = Status::error(ErrorCode::Cancelled, "interrupted while writing " + out);
        if (st.ok()) st = writer.commit();
        if (!st.ok()) {
            writer.cancel();
            std::fprintf(stderr, "tsa run: %s\n", st.message.c_str());
            return kExitFailure;
        }
        if (!quiet) std::fprintf(stderr, "wrote %s\n", out.c_str());
    }
    return kExitOk;
}

} // namespace tsa::cli
