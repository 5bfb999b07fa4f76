// `tsa run`: Token Sparse Attention over the layers of a capture, a table per layer, optional safetensors
// output. Results are spooled to a temporary file as layers finish (their sizes are only known after
// selection), then copied behind the header by the atomic writer, so memory holds one layer at a time.
#include "app/cli/cli_args.h"
#include "app/cli/run_report.h"
#include "core/io/capture.h"
#include "core/io/safetensors_writer.h"
#include "core/methods/layer_plan.h"
#include "core/methods/tsa_pipeline.h"
#include "core/param_rules.h"

#include <algorithm>
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

// Everything the command line asked for, checked against the shared rules (core/param_rules.h).
struct RunOptions {
    std::string path;
    TsaParams params;
    LayerPlanConfig plan;
    std::string planText = "half"; // --sparse-layers as typed, for the report
    std::optional<std::string> layers;
    int threads = 0;
    bool computeError = true;
    std::optional<std::string> savePath;
    bool saveOutput = false;
    bool saveDense = false;
    bool json = false;
    bool quiet = false;
};

// --sparse-layers takes a mode name or, in place of "list", the layer list itself.
std::string parsePlanOption(const std::string& text, LayerPlanConfig* plan) {
    const auto mode = sparseLayerModeFromName(text);
    if (mode == SparseLayerMode::List) return "give the layer list itself, e.g. 16-31";
    if (mode) {
        plan->mode = *mode;
        return {};
    }
    plan->mode = SparseLayerMode::List;
    std::string bad = parseLayerList(text, &plan->list);
    if (bad.empty() && plan->list.empty()) bad = "the layer list is empty";
    return bad.empty() ? bad : "expected " + sparseLayerModeChoices() + " or a layer list: " + bad;
}

// Reads and checks the options; returns an exit code when the command is done (help, bad option).
std::optional<int> parseRunOptions(const std::vector<std::string>& argv, RunOptions* o) {
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
    o->path = args.positional()[0];
    o->params.tau = args.number("tau", o->params.tau);
    o->params.window = args.integer("window", o->params.window);
    o->params.poolKernel = args.integer("pool-kernel", o->params.poolKernel);
    o->params.minTokens = args.integer("min-tokens", o->params.minTokens);
    o->plan.delta = args.number("delta", o->plan.delta);
    const long long threads = args.integer("threads", 0);
    if (args.failed()) {
        std::fprintf(stderr, "tsa run: %s\n", args.error().c_str());
        return kExitUsage;
    }
    o->layers = args.value("layers");
    o->planText = args.value("sparse-layers").value_or("half");
    o->threads = int(std::clamp<long long>(threads, -1, 1 << 16)); // out of range is refused below
    o->computeError = !args.has("no-error");
    o->savePath = args.value("save");
    o->saveOutput = args.has("save-output");
    o->saveDense = args.has("save-dense");
    o->json = args.has("json");
    o->quiet = args.has("quiet");

    std::string bad;
    // The option named as typed, then the shared rule's sentence.
    auto check = [&bad](const char* option, const std::string& problem) {
        if (bad.empty() && !problem.empty()) bad = std::string(option) + ": " + problem;
    };
    check("--tau", tauProblem(o->params.tau));
    check("--window", windowProblem(o->params.window));
    check("--pool-kernel", poolKernelProblem(o->params.poolKernel));
    check("--min-tokens", minTokensProblem(o->params.minTokens));
    check("--delta", deltaProblem(o->plan.delta));
    check("--sparse-layers", parsePlanOption(o->planText, &o->plan));
    check("--threads", threads < 0           ? "must not be negative"
                       : threads > (1 << 16) ? "must be at most 65536"
                                             : "");
    if (bad.empty() && (o->saveOutput || o->saveDense) && !o->savePath)
        bad = "--save-output and --save-dense need --save OUT.safetensors";
    if (!bad.empty()) {
        std::fprintf(stderr, "tsa run: %s\n", bad.c_str());
        return kExitUsage;
    }
    return std::nullopt;
}

// Capture indices of the layers to run: all, or those --layers names (each must be in the file).
Result<std::vector<int>> layersToRun(const std::optional<std::string>& layers, const Capture& capture) {
    const CaptureInfo& info = capture.info();
    std::vector<int> ids = info.layerIds;
    if (layers && *layers != "all") {
        std::string bad = parseLayerList(*layers, &ids);
        if (bad.empty() && ids.empty()) bad = "the layer list is empty";
        if (!bad.empty()) return Status::error(ErrorCode::InvalidArgument, "--layers: " + bad);
    }
    std::vector<int> indices;
    for (int id : ids) {
        const int index = capture.indexOfLayerId(id);
        if (index < 0)
            return Status::error(ErrorCode::InvalidArgument, "--layers: layer " + std::to_string(id) +
                                                                 " is not in " + info.path + " (it has " +
                                                                 std::to_string(info.layers) + " layers)");
        indices.push_back(index);
    }
    return indices;
}

// Which of the file's layers run sparse: the shared plan (core/methods/layer_plan.h), including its rule
// for captures that hold only some layers.
Result<CaptureLayerPlan> planRun(const RunOptions& o, const Capture& capture) {
    const CaptureInfo& info = capture.info();
    std::vector<double> drift;
    if (o.plan.mode == SparseLayerMode::Drift) {
        if (!info.hasDrift)
            return Status::error(ErrorCode::InvalidArgument,
                                 "--sparse-layers drift: " + info.path + " has no layers.{l}.drift tensors");
        drift = capture.layerDrift();
    }
    auto plan = planCaptureLayers(info.layerIds, info.modelLayers, o.plan, drift);
    if (!plan.ok()) return Status::error(ErrorCode::InvalidArgument, "--sparse-layers: " + plan.error());
    return plan;
}

// One line of progress on stderr: rewritten in place on a terminal, a line per update in a log.
void reportProgress(std::size_t done, std::size_t total, int layerId, double elapsed) {
    const bool tty = isatty(2);
    const std::string eta =
        done > 0 ? ", about " + formatSeconds(elapsed / double(done) * double(total - done)) + " left" : "";
    std::fprintf(stderr, "%slayer %zu of %zu (model layer %d), %s elapsed%s%s", tty ? "\r" : "", done + 1,
                 total, layerId, formatSeconds(elapsed).c_str(), eta.c_str(), tty ? "   " : "\n");
    std::fflush(stderr);
}

// A finished layer's tensors, parked in the spool until the file's header can be written.
void spoolLayer(int id, const LayerRunResult& r, const RunOptions& o, Spool& spool) {
    const auto& sel = r.selection;
    const std::string prefix = "layers." + std::to_string(id) + ".";
    if (sel.sparse) {
        spool.add({prefix + "indices", DType::I32, {sel.qHeads, sel.kept}}, sel.indices.data(),
                  sel.indices.size() * sizeof(std::int32_t));
        spool.add({prefix + "scores", DType::F32, {r.scores.qHeads, r.scores.prefix}},
                  r.scores.headNorm.data(), r.scores.headNorm.size() * sizeof(float));
    }
    if (o.saveOutput)
        spool.add({prefix + "output", DType::F32, {r.output.heads, r.output.tokens, r.output.dim}},
                  r.output.data.data(), r.output.data.size() * sizeof(float));
    if (o.saveDense)
        spool.add({prefix + "dense_output",
                   DType::F32,
                   {r.denseOutput.heads, r.denseOutput.tokens, r.denseOutput.dim}},
                  r.denseOutput.data.data(), r.denseOutput.data.size() * sizeof(float));
}

// Runs the layers in order, one in memory at a time; returns an exit code on failure or interruption.
std::optional<int> runLayers(const RunOptions& o, const Capture& capture, const std::vector<int>& indices,
                             const CaptureLayerPlan& plan, std::vector<LayerReport>* reports, Spool* spool) {
    const CaptureInfo& info = capture.info();
    const auto started = std::chrono::steady_clock::now();
    auto elapsed = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    };
    for (std::size_t n = 0; n < indices.size(); ++n) {
        const int index = indices[n];
        const int id = info.layerIds[std::size_t(index)];
        if (!o.quiet) reportProgress(n, indices.size(), id, elapsed());
        auto layer = capture.layer(index);
        if (!layer.ok()) {
            std::fprintf(stderr, "\ntsa run: %s\n", layer.error().c_str());
            return kExitUsage;
        }
        for (const auto& w : layer.warnings)
            std::fprintf(stderr, "\ntsa run: warning: %s\n", w.c_str());
        LayerRunConfig config;
        config.params = o.params;
        config.sparseLayer = plan.sparse[std::size_t(index)];
        config.computeMetrics = o.computeError;
        config.computeDense = o.saveDense;
        config.keepOutput = o.saveOutput;
        config.attention.threads = o.threads;
        config.cancel = &g_interrupted;
        auto result = runLayer(*layer.value(), config);
        if (!result.ok()) {
            if (result.status().code == ErrorCode::Cancelled || g_interrupted)
                std::fprintf(stderr, "\ntsa run: interrupted at layer %d; nothing was written\n", id);
            else
                std::fprintf(stderr, "\ntsa run: layer %d of %s: %s\n", id, o.path.c_str(),
                             result.error().c_str());
            return kExitFailure;
        }
        reports->push_back(makeLayerReport(id, result.value(), o.computeError));
        if (o.savePath) {
            spoolLayer(id, result.value(), o, *spool);
            if (!spool->ok()) {
                std::fprintf(stderr, "\ntsa run: writing the temporary spool file failed (disk full?)\n");
                return kExitFailure;
            }
        }
    }
    if (!o.quiet) {
        const bool tty = isatty(2);
        std::fprintf(stderr, "%sdone: %zu layers in %s%s\n", tty ? "\r" : "", indices.size(),
                     formatSeconds(elapsed()).c_str(), tty ? "                              " : "");
    }
    return std::nullopt;
}

// The spooled tensors behind a header carrying the summary, written atomically.
Status writeResults(const std::string& out, const std::string& source, const nlohmann::json& summary,
                    Spool& spool) {
    SafetensorsWriter writer;
    const std::map<std::string, std::string> metadata{
        {"format", "tsa-run/1"}, {"source", source}, {"tsa", summary.dump()}};
    Status st = writer.open(out, spool.specs(), metadata);
    if (st.ok()) st = spool.copyTo(writer);
    if (st.ok() && g_interrupted)
        st = Status::error(ErrorCode::Cancelled, "interrupted while writing " + out);
    if (st.ok()) st = writer.commit();
    if (!st.ok()) writer.cancel();
    return st;
}

} // namespace

int cmdRun(const std::vector<std::string>& argv) {
    RunOptions o;
    if (auto done = parseRunOptions(argv, &o)) return *done;

    auto opened = Capture::open(o.path);
    if (!opened.ok()) {
        std::fprintf(stderr, "tsa run: %s\n", opened.error().c_str());
        return kExitUsage;
    }
    for (const auto& w : opened.warnings)
        std::fprintf(stderr, "tsa run: warning: %s\n", w.c_str());
    const Capture& capture = *opened.value();
    auto indices = layersToRun(o.layers, capture);
    auto plan = indices.ok() ? planRun(o, capture) : Result<CaptureLayerPlan>(indices.status());
    if (!plan.ok()) {
        std::fprintf(stderr, "tsa run: %s\n", plan.error().c_str());
        return kExitUsage;
    }
    if (!plan->note.empty()) std::fprintf(stderr, "tsa run: note: --sparse-layers: %s\n", plan->note.c_str());

    Spool spool;
    if (o.savePath && !spool.open()) {
        std::fprintf(stderr, "tsa run: cannot create a temporary file for the results\n");
        return kExitFailure;
    }
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    std::vector<LayerReport> reports;
    if (auto failed = runLayers(o, capture, *indices, *plan, &reports, &spool)) return *failed;

    const CaptureInfo& info = capture.info();
    const nlohmann::json summary = reportsToJson(reports, o.params, info, o.planText);
    if (o.json)
        std::printf("%s\n", summary.dump(2).c_str());
    else
        printReportTable(stdout, reports, o.params, info, o.planText);
    if (o.savePath) {
        if (Status st = writeResults(*o.savePath, o.path, summary, spool); !st.ok()) {
            std::fprintf(stderr, "tsa run: %s\n", st.message.c_str());
            return kExitFailure;
        }
        if (!o.quiet) std::fprintf(stderr, "wrote %s\n", o.savePath->c_str());
    }
    return kExitOk;
}

} // namespace tsa::cli
