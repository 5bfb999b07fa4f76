#include "app/cli/run_report.h"

namespace tsa::cli {

LayerReport makeLayerReport(int layer, const LayerRunResult& r, bool withError) {
    LayerReport rep;
    rep.layer = layer;
    rep.sparse = r.selection.sparse;
    rep.denseReason = r.selection.sparse ? "" : denseReasonText(r.selection.denseReason);
    rep.tokens = r.selection.tokens;
    rep.budgetDropped = r.selection.sparse ? r.selection.budgetCount + 1 : 0;
    rep.capacity = r.selection.capacity;
    rep.kept = r.selection.kept;
    rep.keptFraction = r.selection.keptFraction();
    rep.droppedRows = r.selection.tokens - r.selection.kept;
    rep.timings = r.timings;
    rep.hasError = withError;
    if (withError) {
        rep.rowError = r.metrics.layer.rowError;
        rep.lastWindowError = r.metrics.layer.lastWindowError;
        rep.retainedMass = r.metrics.layer.retainedMass;
    }
    return rep;
}

namespace {

nlohmann::json distributionJson(const Distribution& d) {
    return {{"median", d.median}, {"p95", d.p95}, {"max", d.max}, {"mean", d.mean}, {"count", d.count}};
}

} // namespace

nlohmann::json reportsToJson(const std::vector<LayerReport>& reports, const TsaParams& params,
                             const CaptureInfo& info, const std::string& sparseMode) {
    nlohmann::json layers = nlohmann::json::object();
    for (const auto& r : reports) {
        nlohmann::json j = {{"sparse", r.sparse},
                            {"tokens", r.tokens},
                            {"capacity", r.capacity},
                            {"kept", r.kept},
                            {"kept_fraction", r.keptFraction},
                            {"budget_dropped", r.budgetDropped},
                            {"dropped_rows", r.droppedRows},
                            {"timings_ms",
                             {{"scoring", r.timings.scoringMs},
                              {"selection", r.timings.selectionMs},
                              {"gather", r.timings.gatherMs},
                              {"attention", r.timings.attentionMs},
                              {"scatter", r.timings.scatterMs},
                              {"dense", r.timings.denseMs}}}};
        if (!r.sparse) j["dense_reason"] = r.denseReason;
        if (r.hasError)
            j["error"] = {{"row_error", distributionJson(r.rowError)},
                          {"last_window_error", r.lastWindowError},
                          {"retained_mass", distributionJson(r.retainedMass)}};
        layers[std::to_string(r.layer)] = j;
    }
    return {{"file", info.path},
            {"params",
             {{"tau", params.tau},
              {"window", params.window},
              {"pool_kernel", params.poolKernel},
              {"min_tokens", params.minTokens},
              {"sparse_layers", sparseMode}}},
            {"layers", layers}};
}

void printReportTable(std::FILE* out, const std::vector<LayerReport>& reports, const TsaParams& params,
                      const CaptureInfo& info, const std::string& sparseMode) {
    std::fprintf(out, "%s: %d layers, %lld query heads, %lld kv heads, %lld tokens, head dim %lld\n",
                 info.path.c_str(), info.layers, (long long)info.qHeads, (long long)info.kvHeads,
                 (long long)info.tokens, (long long)info.headDim);
    std::fprintf(out, "tau %g, window %lld, pool kernel %lld, min_tokens %lld, sparse layers: %s\n\n",
                 params.tau, (long long)params.window, (long long)params.poolKernel,
                 (long long)params.minTokens, sparseMode.c_str());
    std::fprintf(out, "%5s  %-6s %8s %8s %6s  %9s %9s %9s %9s  %8s %8s %8s %8s %8s %8s\n", "layer", "mode",
                 "budget", "kept/hd", "kept", "err med", "err p95", "err max", "err lastW", "score", "select",
                 "gather", "attn", "scatter", "dense");
    std::fprintf(out, "%5s  %-6s %8s %8s %6s  %9s %9s %9s %9s  %8s %8s %8s %8s %8s %8s\n", "", "", "(n+1)",
                 "", "frac", "", "", "", "", "ms", "ms", "ms", "ms", "ms", "ms");
    for (const auto& r : reports) {
        char err[4][16];
        if (r.hasError) {
            std::snprintf(err[0], 16, "%.2e", r.rowError.median);
            std::snprintf(err[1], 16, "%.2e", r.rowError.p95);
            std::snprintf(err[2], 16, "%.2e", r.rowError.max);
            std::snprintf(err[3], 16, "%.2e", r.lastWindowError);
        } else {
            for (auto& e : err)
                std::snprintf(e, 16, "-");
        }
        std::fprintf(out, "%5d  %-6s %8lld %8lld %6.3f  %9s %9s %9s %9s  %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f",
                     r.layer, r.sparse ? "sparse" : "dense", (long long)r.budgetDropped, (long long)r.kept,
                     r.keptFraction, err[0], err[1], err[2], err[3], r.timings.scoringMs,
                     r.timings.selectionMs, r.timings.gatherMs, r.timings.attentionMs, r.timings.scatterMs,
                     r.timings.denseMs);
        if (!r.sparse) std::fprintf(out, "  (%s)", r.denseReason.c_str());
        std::fputc('\n', out);
    }
}

} // namespace tsa::cli
