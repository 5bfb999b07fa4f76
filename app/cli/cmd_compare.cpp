// `tsa compare`: sparse-attention methods side by side on the layers of a capture (issue 11): per layer
// and method the density, retained mass, row errors, oracle recall and CPU time against our dense
// kernel; optionally a sweep of each method's main knob, a JSON report and the patterns as safetensors.
#include "app/cli/cli_args.h"
#include "core/io/capture.h"
#include "core/io/safetensors_writer.h"
#include "core/methods/compare.h"
#include "core/param_rules.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace tsa::cli {

namespace {

const char* kCompareHelp =
    "usage: tsa compare FILE [--layers LIST] [--methods LIST] [--sweep] [--json OUT] [--save "
    "OUT.safetensors]\n"
    "                        [--set NAME=VALUE ...] [--last-w W] [--threads N] [--quiet]\n"
    "\n"
    "Runs sparse-attention methods on the layers of a Q/K/V capture and measures each against dense\n"
    "attention: density (share of causal pairs computed), retained attention mass, row error (median, p95,\n"
    "max), error over the last W rows, recall against the oracle at equal budget, CPU time (estimation\n"
    "included) and speedup against the dense kernel.\n"
    "\n"
    "  --layers all|LIST     layers, e.g. 0,3,8-11 (default all)\n"
    "  --methods all|LIST    tsa, minference, flexprefill, xattention, streaming, oracle, tsa+minference,\n"
    "                        tsa+flexprefill, tsa+xattention (default all)\n"
    "  --sweep               also run each method over its main knob (tau, adaptive_budget, gamma,\n"
    "                        threshold, local, density)\n"
    "  --json OUT            write the report as JSON to OUT ('-': stdout)\n"
    "  --save OUT            write every pattern to a safetensors file (see docs/methods.md)\n"
    "  --set NAME=VALUE      set a knob, e.g. --set flexprefill.gamma=0.9 (repeatable, comma-separated)\n"
    "  --last-w W            rows of the last-W error (default: tsa.window, 128)\n"
    "  --threads N           OpenMP threads (default: all)\n"
    "\n"
    "Exit codes: 0 success, 1 failed, 2 bad file or bad option.\n";

nlohmann::json paramsJson(const std::vector<std::pair<std::string, double>>& params) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, value] : params)
        j[name] = value;
    return j;
}

nlohmann::json distributionJson(const Distribution& d) {
    return {{"median", d.median}, {"p95", d.p95}, {"max", d.max}, {"count", d.count}};
}

nlohmann::json measuresJson(const MethodMeasures& m, double denseMs) {
    nlohmann::json j;
    j["method"] = m.method;
    j["params"] = paramsJson(m.params);
    j["density"] = m.layer.density;
    j["retained_mass"] = m.layer.retainedMass;
    j["error_p95"] = m.layer.errorKept.p95;
    j["error_last_w"] = m.layer.errorLastWindow;
    j["oracle_recall"] = m.layer.oracleRecall;
    j["time_ms"] = m.timeMs();
    j["estimate_ms"] = m.estimateMs;
    j["attention_ms"] = m.attentionMs;
    j["dense_time_ms"] = denseMs;
    j["speedup"] = m.timeMs() > 0 ? denseMs / m.timeMs() : 0.0;
    j["error"] = {{"all_rows", distributionJson(m.layer.errorAll)},
                  {"kept_rows", distributionJson(m.layer.errorKept)}};
    nlohmann::json heads = nlohmann::json::array();
    for (std::size_t h = 0; h < m.heads.size(); ++h) {
        const MethodHeadMeasures& hm = m.heads[h];
        heads.push_back({{"head", h},
                         {"density", hm.density},
                         {"retained_mass", hm.retainedMass},
                         {"error_p95", hm.errorKept.p95},
                         {"error_median", hm.errorKept.median},
                         {"error_max", hm.errorKept.max},
                         {"error_all_p95", hm.errorAll.p95},
                         {"error_last_w", hm.errorLastWindow},
                         {"oracle_recall", hm.oracleRecall}});
    }
    j["heads"] = heads;
    return j;
}

// One pattern's tensors, gathered before the writer is opened (the header needs every size).
struct SavedTensor {
    TensorSpec spec;
    std::vector<unsigned char> bytes;
};

template <typename T>
SavedTensor savedTensor(const std::string& name, DType dtype, std::vector<std::int64_t> shape,
                        const std::vector<T>& v) {
    SavedTensor t{{name, dtype, std::move(shape)}, {}};
    t.bytes.resize(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
    return t;
}

// Per-head lists padded with -1 to a rectangle [Hq, longest].
SavedTensor raggedTensor(const std::string& name, const std::vector<std::vector<std::int32_t>>& rows) {
    std::size_t width = 0;
    for (const auto& r : rows)
        width = std::max(width, r.size());
    std::vector<std::int32_t> flat(rows.size() * width, -1);
    for (std::size_t h = 0; h < rows.size(); ++h)
        std::copy(rows[h].begin(), rows[h].end(), flat.begin() + h * width);
    return savedTensor(name, DType::I32, {std::int64_t(rows.size()), std::int64_t(width)}, flat);
}

void addPattern(const std::string& prefix, const Pattern& p, std::vector<SavedTensor>& tensors,
                std::map<std::string, std::string>& metadata) {
    const BlockSparsePattern& b = p.blocks;
    const Index n = p.length();
    const Index blockRows = b.empty() ? 64 : b.blockRows;
    if (!p.tokenSets.empty())
        tensors.push_back(
            savedTensor(prefix + ".tokens", DType::I32, {p.qHeads, p.tokenSets.kept}, p.tokenSets.indices));
    BlockSparsePattern view = b;
    if (b.empty()) view = fullBlockPattern(p.qHeads, n, blockRows);
    const Index qb = (n + blockRows - 1) / blockRows;
    tensors.push_back(
        savedTensor(prefix + ".blocks", DType::U8, {p.qHeads, qb, qb}, blockMask(view, blockRows)));
    std::vector<std::int32_t> spanStart(view.spanStart.begin(), view.spanStart.end());
    std::vector<std::int32_t> columnStart(view.columnStart.begin(), view.columnStart.end());
    std::vector<std::int32_t> spans;
    for (const KeySpan& s : view.spans) {
        spans.push_back(s.begin);
        spans.push_back(s.end);
    }
    tensors.push_back(
        savedTensor(prefix + ".span_start", DType::I32, {std::int64_t(spanStart.size())}, spanStart));
    tensors.push_back(
        savedTensor(prefix + ".spans", DType::I32, {std::int64_t(view.spans.size()), 2}, spans));
    tensors.push_back(
        savedTensor(prefix + ".column_start", DType::I32, {std::int64_t(columnStart.size())}, columnStart));
    tensors.push_back(
        savedTensor(prefix + ".columns", DType::I32, {std::int64_t(view.columns.size())}, view.columns));
    if (!p.vertical.empty()) tensors.push_back(raggedTensor(prefix + ".vertical", p.vertical));
    if (!p.slash.empty()) tensors.push_back(raggedTensor(prefix + ".slash", p.slash));
    nlohmann::json meta = {{"method", p.method},      {"params", paramsJson(p.params)},
                           {"tokens", p.tokens},      {"length", n},
                           {"block_rows", blockRows}, {"key_block", blockRows},
                           {"dense", b.empty()},      {"compressed", !p.tokenSets.empty()}};
    metadata[prefix] = meta.dump();
}

} // namespace

int cmdCompare(const std::vector<std::string>& argv) {
    Args args({"layers", "methods", "json", "save", "set", "last-w", "threads"}, {"sweep", "quiet", "help"});
    if (!args.parse(argv)) {
        std::fprintf(stderr, "tsa compare: %s\n%s", args.error().c_str(), kCompareHelp);
        return kExitUsage;
    }
    if (args.has("help")) {
        std::fputs(kCompareHelp, stdout);
        return kExitOk;
    }
    if (args.positional().size() != 1) {
        std::fprintf(stderr, "tsa compare: expected exactly one capture file\n%s", kCompareHelp);
        return kExitUsage;
    }
    const long long threads = args.integer("threads", 0);
    long long lastW = args.integer("last-w", -1);
    if (args.failed()) {
        std::fprintf(stderr, "tsa compare: %s\n", args.error().c_str());
        return kExitUsage;
    }
    if (threads < 0) {
        std::fprintf(stderr, "tsa compare: --threads must not be negative\n");
        return kExitUsage;
    }
    std::string error;
    std::vector<MethodKind> methods = allMethods();
    if (auto v = args.value("methods")) {
        auto parsed = parseMethodList(*v, error);
        if (!parsed) {
            std::fprintf(stderr, "tsa compare: --methods: %s\n", error.c_str());
            return kExitUsage;
        }
        methods = *parsed;
    }
    MethodSettings settings;
    if (auto v = args.value("set")) {
        if (std::string bad = setMethodParams(settings, *v); !bad.empty()) {
            std::fprintf(stderr, "tsa compare: --set: %s\n", bad.c_str());
            return kExitUsage;
        }
    }
    if (std::string bad = settings.validate(); !bad.empty()) {
        std::fprintf(stderr, "tsa compare: --set: %s\n", bad.c_str());
        return kExitUsage;
    }
    if (lastW < 0) lastW = settings.tsa.window;
    if (lastW < 1) {
        std::fprintf(stderr, "tsa compare: --last-w must be at least 1\n");
        return kExitUsage;
    }

    const std::string path = args.positional()[0];
    auto opened = Capture::open(path);
    if (!opened.ok()) {
        std::fprintf(stderr, "tsa compare: %s\n", opened.error().c_str());
        return kExitUsage;
    }
    const auto capture = opened.value();
    const CaptureInfo& info = capture->info();
    std::vector<int> layerIds = info.layerIds;
    if (auto v = args.value("layers"); v && *v != "all") {
        std::string bad = parseLayerList(*v, &layerIds);
        if (bad.empty() && layerIds.empty()) bad = "the layer list is empty";
        if (!bad.empty()) {
            std::fprintf(stderr, "tsa compare: --layers: %s\n", bad.c_str());
            return kExitUsage;
        }
        for (int id : layerIds)
            if (capture->indexOfLayerId(id) < 0) {
                std::fprintf(stderr, "tsa compare: --layers: layer %d is not in %s\n", id, path.c_str());
                return kExitUsage;
            }
    }
    const bool quiet = args.has("quiet");
    const auto jsonPath = args.value("json");
    const auto savePath = args.value("save");
    AttentionConfig attention;
    attention.threads = int(threads);

    nlohmann::json report;
    report["file"] = path;
    report["layers"] = nlohmann::json::array();
    std::vector<SavedTensor> tensors;
    std::map<std::string, std::string> metadata;
    for (int id : layerIds) {
        auto layer = capture->layer(capture->indexOfLayerId(id));
        if (!layer.ok()) {
            std::fprintf(stderr, "tsa compare: %s\n", layer.error().c_str());
            return kExitUsage;
        }
        const LayerQkv& qkv = **layer;
        auto dense = denseReference(qkv, attention);
        if (!dense.ok()) {
            std::fprintf(stderr, "tsa compare: layer %d: %s\n", id, dense.error().c_str());
            return kExitFailure;
        }
        nlohmann::json layerJson = {
            {"layer", id}, {"tokens", qkv.tokens()}, {"dense_time_ms", dense->timeMs}};
        layerJson["methods"] = nlohmann::json::array();
        if (!quiet && !jsonPath)
            std::printf("layer %d (%lld tokens, dense %.1f ms)\n%-16s %8s %8s %9s %9s %8s %9s %8s\n", id,
                        (long long)qkv.tokens(), dense->timeMs, "method", "density", "mass", "err_p95",
                        "err_lastW", "recall", "time_ms", "speedup");
        for (MethodKind kind : methods) {
            std::vector<double> values = {std::nan("")}; // the current setting
            const SweepKnob knob = sweepKnob(kind);
            if (args.has("sweep")) values.insert(values.end(), knob.values.begin(), knob.values.end());
            for (double value : values) {
                MethodSettings s = settings;
                if (!std::isnan(value)) setSweepKnob(kind, value, s);
                Pattern pattern;
                auto measured = measureMethod(kind, qkv, s, *dense, lastW, attention, &pattern);
                if (!measured.ok()) {
                    std::fprintf(stderr, "tsa compare: layer %d, %s: %s\n", id, methodName(kind),
                                 measured.error().c_str());
                    return measured.status().code == ErrorCode::InvalidArgument ? kExitUsage : kExitFailure;
                }
                layerJson["methods"].push_back(measuresJson(*measured, dense->timeMs));
                if (!quiet && !jsonPath)
                    std::printf("%-16s %8.4f %8.4f %9.2e %9.2e %8.4f %9.2f %8.2f\n", measured->method.c_str(),
                                measured->layer.density, measured->layer.retainedMass,
                                measured->layer.errorKept.p95, measured->layer.errorLastWindow,
                                measured->layer.oracleRecall, measured->timeMs(),
                                dense->timeMs / std::max(1e-9, measured->timeMs()));
                if (savePath) {
                    std::string prefix = "layers." + std::to_string(id) + "." + pattern.method;
                    if (!std::isnan(value)) {
                        char buf[64];
                        std::snprintf(buf, sizeof buf, "@%s=%g", knob.name.c_str(), value);
                        prefix += buf;
                    }
                    addPattern(prefix, pattern, tensors, metadata);
                }
            }
        }
        report["layers"].push_back(layerJson);
    }

    if (jsonPath) {
        const std::string text = report.dump(2) + "\n";
        if (*jsonPath == "-") {
            std::fputs(text.c_str(), stdout);
        } else if (!writeTextFileAtomic(*jsonPath, text, error)) {
            std::fprintf(stderr, "tsa compare: --json: %s\n", error.c_str());
            return kExitFailure;
        }
    }
    if (savePath) {
        metadata["format"] = "tsa-patterns";
        metadata["source"] = path;
        std::vector<TensorSpec> specs;
        for (const SavedTensor& t : tensors)
            specs.push_back(t.spec);
        SafetensorsWriter writer;
        Status st = writer.open(*savePath, specs, metadata);
        for (const SavedTensor& t : tensors)
            if (st.ok()) st = writer.writeBytes(t.bytes.data(), t.bytes.size());
        if (st.ok()) st = writer.commit();
        if (!st.ok()) {
            std::fprintf(stderr, "tsa compare: --save: %s\n", st.message.c_str());
            return st.code == ErrorCode::InvalidArgument ? kExitUsage : kExitFailure;
        }
    }
    return kExitOk;
}

} // namespace tsa::cli
