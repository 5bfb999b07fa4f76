// `tsa info FILE [--json]`: describes a Q/K/V capture from its header alone (no tensor data is read), as
// aligned text or as one JSON object; an effect file (tsa-effect/1) is summarised run by run instead. Bad
// files and bad options exit 2 with the reason on stderr.
#include "app/cli/cli_args.h"
#include "core/io/capture.h"
#include "core/io/effect.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

namespace tsa::cli {

namespace {

void printInfoUsage(std::FILE* out) {
    std::fputs(
        "usage: tsa info FILE [--json]\n"
        "\n"
        "Describes a Q/K/V capture (.safetensors or .npz): layers, query and kv heads, tokens, head dim,\n"
        "dtype, and whether token ids, token strings and per-token drift are present.\n"
        "  --json   print one JSON object (keys layers, q_heads, kv_heads, tokens, head_dim, dtype,\n"
        "           has_tokens, has_drift, has_token_strings, model, layer_ids, model_layers, layout)\n"
        "An effect file (tools/tsa_eval.py, format tsa-effect/1) is summarised instead: model, parameters,\n"
        "workload and one line per tau (kept fraction, KL, top-1 agreement, perplexity, needle score,\n"
        "mean Jaccard overlap of the interleaved and dense-capture selections).\n",
        out);
}

// Mean over the layers with a value of the best Jaccard overlap (kept sets, else the JSON's).
double meanJaccard(const EffectRun& run) {
    double sum = 0;
    int n = 0;
    for (const EffectLayer& l : run.layers)
        if (l.sparse && std::isfinite(l.bestJaccard())) {
            sum += l.bestJaccard();
            ++n;
        }
    return n ? sum / n : std::nan("");
}

// A measure the file does not have (null in the JSON) reads "n/a", not "nan".
std::string numberText(double v, const char* format) {
    if (!std::isfinite(v)) return "n/a";
    char buf[32];
    std::snprintf(buf, sizeof buf, format, v);
    return buf;
}

nlohmann::ordered_json jsonNumber(double v) {
    return std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
}

int infoEffect(const std::string& path, bool json) {
    auto effect = readEffect(path);
    for (const std::string& w : effect.warnings)
        std::fprintf(stderr, "tsa info: warning: %s\n", w.c_str());
    if (!effect.ok()) {
        std::fprintf(stderr, "tsa info: %s\n", effect.error().c_str());
        return kExitUsage;
    }
    const EffectData& d = *effect;
    if (json) {
        nlohmann::ordered_json j;
        j["file"] = d.path;
        j["format"] = kEffectFormat;
        j["model"] = d.model;
        j["model_type"] = d.modelType;
        j["num_layers"] = d.numLayers;
        j["q_heads"] = d.qHeads;
        j["kv_heads"] = d.kvHeads;
        j["sparse_layers"] = d.layers;
        j["window"] = d.window;
        j["pool_kernel"] = d.poolKernel;
        j["min_tokens"] = d.minTokens;
        j["workload"] = d.workloadKind;
        j["tokens"] = d.selectionLength;
        j["taus"] = d.taus;
        j["has_kept_sets"] = d.hasKeptSets();
        j["has_needle"] = d.hasNeedle();
        j["max_jaccard_difference"] = d.maxJaccardDifference();
        nlohmann::ordered_json runs = nlohmann::ordered_json::array();
        for (const EffectRun& r : d.runs)
            runs.push_back({{"tau", r.tau},
                            {"mean_kept_fraction", jsonNumber(r.meanKeptFraction)},
                            {"kl_last", jsonNumber(r.klLast)},
                            {"kl_mean", jsonNumber(r.klMean)},
                            {"top1_agreement", jsonNumber(r.top1Agreement)},
                            {"ppl", jsonNumber(r.ppl)},
                            {"needle_overlap", jsonNumber(r.needleOverlap())},
                            {"mean_jaccard", jsonNumber(meanJaccard(r))}});
        j["runs"] = runs;
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return kExitOk;
    }
    std::string layers;
    for (std::size_t i = 0; i < d.layers.size(); ++i)
        layers += (i ? "," : "") + std::to_string(d.layers[i]);
    std::printf("file:          %s\n", d.path.c_str());
    std::printf("format:        %s (effect of tau on the model's answer)\n", kEffectFormat);
    std::printf("model:         %s (%s", d.model.c_str(),
                d.modelType.empty() ? "unknown type" : d.modelType.c_str());
    if (!d.dtype.empty())
        std::printf(", %s on %s", d.dtype.c_str(), d.device.empty() ? "?" : d.device.c_str());
    std::printf(")\n");
    std::printf("layers:        %d, sparse: %s (%s)\n", d.numLayers, layers.c_str(), d.sparseLayers.c_str());
    std::printf("heads:         %lld query, %lld kv, head dim %lld\n", (long long)d.qHeads,
                (long long)d.kvHeads, (long long)d.headDim);
    std::printf("parameters:    W %lld, k %lld, min_tokens %lld\n", (long long)d.window,
                (long long)d.poolKernel, (long long)d.minTokens);
    std::printf("workload:      %s (%s), L = %lld, last %lld positions\n", d.workloadKind.c_str(),
                d.workloadSource.c_str(), (long long)d.selectionLength, (long long)d.lastN);
    std::printf("dense:         ppl %s, prefill %s ms\n", numberText(d.densePpl, "%.6g").c_str(),
                numberText(d.densePrefillMs, "%.4g").c_str());
    std::printf("kept sets:     %s", d.hasKeptSets() ? "yes" : "no");
    if (d.hasKeptSets())
        std::printf(" (Jaccard from the sets vs the JSON: max difference %.2g)", d.maxJaccardDifference());
    std::printf("\n\n%10s %8s %10s %10s %7s %9s %7s %8s %10s\n", "tau", "kept", "KL last", "KL mean", "top-1",
                "ppl", "needle", "Jaccard", "prefill ms");
    for (const EffectRun& r : d.runs)
        std::printf("%10g %8s %10s %10s %7s %9s %7s %8s %10s\n", r.tau,
                    numberText(100.0 * r.meanKeptFraction, "%.1f%%").c_str(),
                    numberText(r.klLast, "%.3g").c_str(), numberText(r.klMean, "%.3g").c_str(),
                    numberText(100.0 * r.top1Agreement, "%.1f%%").c_str(), numberText(r.ppl, "%.5g").c_str(),
                    numberText(r.needleOverlap(), "%.3g").c_str(), numberText(meanJaccard(r), "%.3f").c_str(),
                    numberText(r.prefillMs, "%.4g").c_str());
    return kExitOk;
}

// "0-4" for a contiguous run, else the ids listed.
std::string layerIdText(const std::vector<int>& ids) {
    if (ids.empty()) return "";
    if (ids.back() - ids.front() + 1 == int(ids.size()))
        return ids.size() == 1 ? std::to_string(ids[0])
                               : std::to_string(ids.front()) + "-" + std::to_string(ids.back());
    std::string s;
    for (std::size_t i = 0; i < ids.size(); ++i)
        s += (i ? "," : "") + std::to_string(ids[i]);
    return s;
}

} // namespace

int cmdInfo(const std::vector<std::string>& argv) {
    Args args({}, {"json", "help"});
    if (!args.parse(argv)) {
        std::fprintf(stderr, "tsa info: %s\n", args.error().c_str());
        printInfoUsage(stderr);
        return kExitUsage;
    }
    if (args.has("help")) {
        printInfoUsage(stdout);
        return kExitOk;
    }
    if (args.positional().size() != 1) {
        std::fputs(args.positional().empty() ? "tsa info: missing FILE\n" : "tsa info: expected one FILE\n",
                   stderr);
        printInfoUsage(stderr);
        return kExitUsage;
    }
    const std::string& path = args.positional()[0];
    if (isEffectFile(path)) return infoEffect(path, args.has("json"));
    auto capture = Capture::open(path);
    for (const std::string& w : capture.warnings)
        std::fprintf(stderr, "tsa info: warning: %s\n", w.c_str());
    if (!capture.ok()) {
        std::fprintf(stderr, "tsa info: %s\n", capture.error().c_str());
        return kExitUsage;
    }
    const CaptureInfo& info = (*capture)->info();

    if (args.has("json")) {
        nlohmann::ordered_json j;
        j["file"] = info.path;
        j["layers"] = info.layers;
        j["q_heads"] = info.qHeads;
        j["kv_heads"] = info.kvHeads;
        j["tokens"] = info.tokens;
        j["head_dim"] = info.headDim;
        j["dtype"] = dtypeName(info.dtype);
        j["has_tokens"] = info.hasTokenIds;
        j["has_drift"] = info.hasDrift;
        j["has_token_strings"] = info.hasTokenStrings;
        j["model"] = info.model;
        j["layer_ids"] = info.layerIds;
        j["model_layers"] = info.modelLayers;
        j["layout"] = info.layout;
        // Replace invalid UTF-8 (a model name from a foreign writer) instead of throwing.
        std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        return kExitOk;
    }

    auto yesNo = [](bool b) { return b ? "yes" : "no"; };
    std::printf("file:          %s\n", info.path.c_str());
    if (!info.model.empty()) std::printf("model:         %s\n", info.model.c_str());
    std::printf("layers:        %d (ids %s", info.layers, layerIdText(info.layerIds).c_str());
    if (info.modelLayers != info.layers) std::printf(", of %d model layers", info.modelLayers);
    std::printf(")\n");
    std::printf("query heads:   %lld\n", static_cast<long long>(info.qHeads));
    std::printf("kv heads:      %lld (group size %lld)\n", static_cast<long long>(info.kvHeads),
                static_cast<long long>(info.kvHeads > 0 ? info.qHeads / info.kvHeads : 0));
    std::printf("tokens:        %lld\n", static_cast<long long>(info.tokens));
    std::printf("head dim:      %lld\n", static_cast<long long>(info.headDim));
    std::printf("dtype:         %s\n", dtypeName(info.dtype));
    std::printf("layout:        %s\n", info.layout.c_str());
    std::printf("token ids:     %s\n", yesNo(info.hasTokenIds));
    std::printf("token strings: %s\n", yesNo(info.hasTokenStrings));
    std::printf("drift:         %s\n", yesNo(info.hasDrift));
    return kExitOk;
}

} // namespace tsa::cli
