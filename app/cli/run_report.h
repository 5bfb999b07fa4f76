// Per-layer summaries of `tsa run`: the printed table and the JSON stored in the output's `tsa` metadata.
#pragma once

#include "core/io/capture.h"
#include "core/methods/tsa_pipeline.h"

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tsa::cli {

struct LayerReport {
    int layer = 0;
    bool sparse = false;
    std::string denseReason;
    Index tokens = 0;
    Index budgetDropped = 0; // n + 1 when sparse
    Index capacity = 0;
    Index kept = 0;
    double keptFraction = 1.0;
    bool hasError = false;
    Distribution rowError;
    double lastWindowError = 0;
    Distribution retainedMass;
    Index droppedRows = 0; // per head
    StageTimings timings;
};

LayerReport makeLayerReport(int layer, const LayerRunResult& result, bool withError);
nlohmann::json reportsToJson(const std::vector<LayerReport>& reports, const TsaParams& params,
                             const CaptureInfo& info, const std::string& sparseMode);
void printReportTable(std::FILE* out, const std::vector<LayerReport>& reports, const TsaParams& params,
                      const CaptureInfo& info, const std::string& sparseMode);

} // namespace tsa::cli
