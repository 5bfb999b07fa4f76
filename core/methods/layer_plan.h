// The sparse-layer plan (spec section 6): which layers of a model run sparse. Every method is planned per
// layer the same way, so the plan is its own part, not TSA's: `tsa run`, the explorer and the Python
// module all ask planCaptureLayers, so a file gets the same sparse layers everywhere.
//
// Rule for a capture that holds only some of the model's layers (docs/layer_plan.md):
//   half, all, list  are rules over model layer ids (the second half of the model, every layer, the listed
//                    ids), whichever layers the file holds;
//   drift            takes the delta quantile over the drift of the layers the file holds (the drift of the
//                    others is unknown), and says so in CaptureLayerPlan::note.
#pragma once

#include "core/status.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tsa {

enum class SparseLayerMode { Half, Drift, All, List };

struct LayerPlanConfig {
    SparseLayerMode mode = SparseLayerMode::Half;
    double delta = 0.5; // Drift: quantile of the normalised layer drift at or below which a layer is sparse
    std::vector<int> list; // List: model layer ids
};

// The one table of mode names ("half", "drift", "all", "list"), shared by options, controls and sessions.
const char* sparseLayerModeName(SparseLayerMode mode);
std::optional<SparseLayerMode> sparseLayerModeFromName(std::string_view name);
// "half, drift, all or list": for messages and help texts.
std::string sparseLayerModeChoices();

// numLayers: layers of the model. layerDrift: one drift value per layer (mean of the per-token drift),
// needed by Drift mode. Returns one flag per layer.
Result<std::vector<bool>> planSparseLayers(int numLayers, const LayerPlanConfig& config,
                                           const std::vector<double>& layerDrift = {});

struct CaptureLayerPlan {
    std::vector<bool> sparse; // one flag per layer the capture holds (index into layerIds)
    std::string note;         // how the rule was applied when the capture is partial; empty otherwise
};

// The plan for the layers a capture holds. layerIds: model layer id of each present layer (ascending);
// modelLayers: layers of the model; layerDrift: one value per present layer (only read in Drift mode;
// empty when the file has no drift). Errors name the problem (a listed layer the model lacks, no drift).
Result<CaptureLayerPlan> planCaptureLayers(const std::vector<int>& layerIds, int modelLayers,
                                           const LayerPlanConfig& config,
                                           const std::vector<double>& layerDrift = {});

} // namespace tsa
