// `tsa info FILE [--json]`: describes a Q/K/V capture from its header alone (no tensor data is read), as
// aligned text or as one JSON object. Bad files and bad options exit 2 with the reason on stderr.
#include "app/cli/cli_args.h"
#include "core/capture.h"

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
        "           has_tokens, has_drift, has_token_strings, model, layer_ids, model_layers, layout)\n",
        out);
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
