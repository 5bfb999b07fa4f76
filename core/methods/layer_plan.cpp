// The sparse-layer plan (spec section 6) and its rule for partial captures (see layer_plan.h). Cost:
// O(layers log layers) for the drift quantile, nothing per token.
#include "core/methods/layer_plan.h"

#include "core/names.h"
#include "core/param_rules.h"

#include <algorithm>
#include <cmath>

namespace tsa {

namespace {

constexpr NamedValue<SparseLayerMode> kModeNames[] = {{SparseLayerMode::Half, "half"},
                                                      {SparseLayerMode::Drift, "drift"},
                                                      {SparseLayerMode::All, "all"},
                                                      {SparseLayerMode::List, "list"}};

} // namespace

const char* sparseLayerModeName(SparseLayerMode mode) {
    return nameIn(kModeNames, mode);
}

std::optional<SparseLayerMode> sparseLayerModeFromName(std::string_view name) {
    return valueNamed(kModeNames, name);
}

std::string sparseLayerModeChoices() {
    return choicesIn(kModeNames);
}

Result<std::vector<bool>> planSparseLayers(int numLayers, const LayerPlanConfig& config,
                                           const std::vector<double>& layerDrift) {
    if (numLayers < 0) return Status::error(ErrorCode::InvalidArgument, "negative layer count");
    std::vector<bool> sparse(std::size_t(numLayers), false);
    switch (config.mode) {
    case SparseLayerMode::Half:
        for (int l = numLayers / 2; l < numLayers; ++l)
            sparse[l] = true;
        break;
    case SparseLayerMode::All:
        std::fill(sparse.begin(), sparse.end(), true);
        break;
    case SparseLayerMode::List:
        for (int l : config.list) {
            if (l < 0 || l >= numLayers)
                return Status::error(ErrorCode::InvalidArgument, "sparse layer " + std::to_string(l) +
                                                                     " is outside 0.." +
                                                                     std::to_string(numLayers - 1));
            sparse[l] = true;
        }
        break;
    case SparseLayerMode::Drift: {
        if (int(layerDrift.size()) != numLayers)
            return Status::error(ErrorCode::InvalidArgument,
                                 "drift mode needs one drift value per layer (" + std::to_string(numLayers) +
                                     "), the file has " + std::to_string(layerDrift.size()));
        if (std::string bad = deltaProblem(config.delta); !bad.empty())
            return Status::error(ErrorCode::InvalidArgument, bad);
        if (numLayers == 0) break;
        double total = 0.0;
        for (double d : layerDrift) {
            if (!std::isfinite(d))
                return Status::error(ErrorCode::InvalidArgument, "drift has a non-finite value");
            total += d;
        }
        std::vector<double> d(layerDrift.size());
        for (std::size_t i = 0; i < d.size(); ++i)
            d[i] = total > 0 ? layerDrift[i] / total : 0.0;
        std::vector<double> sorted = d;
        std::sort(sorted.begin(), sorted.end());
        // numpy/torch default quantile: linear interpolation between closest ranks.
        const double pos = config.delta * double(sorted.size() - 1);
        const std::size_t lo = std::size_t(std::floor(pos));
        const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
        const double threshold = sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
        for (std::size_t i = 0; i < d.size(); ++i)
            sparse[i] = d[i] <= threshold;
        break;
    }
    }
    return sparse;
}

Result<CaptureLayerPlan> planCaptureLayers(const std::vector<int>& layerIds, int modelLayers,
                                           const LayerPlanConfig& config,
                                           const std::vector<double>& layerDrift) {
    const int present = int(layerIds.size());
    CaptureLayerPlan plan;
    plan.sparse.assign(layerIds.size(), false);
    if (config.mode == SparseLayerMode::Drift) {
        if (layerDrift.empty())
            return Status::error(ErrorCode::InvalidArgument,
                                 "drift mode needs the drift of each layer (layers.{l}.drift tensors); the "
                                 "file has none");
        // The quantile over the layers present: with every layer captured this is the paper's rule; with
        // some, the drift of the others is unknown, so the file's layers are ranked among themselves.
        auto flags = planSparseLayers(present, config, layerDrift);
        if (!flags.ok()) return flags.status();
        plan.sparse = std::move(*flags);
        if (present < modelLayers)
            plan.note = "drift quantile over the " + std::to_string(present) + " captured layers of " +
                        std::to_string(modelLayers);
        return plan;
    }
    auto flags = planSparseLayers(modelLayers, config);
    if (!flags.ok()) return flags.status();
    for (int i = 0; i < present; ++i) {
        const int id = layerIds[std::size_t(i)];
        plan.sparse[std::size_t(i)] = id >= 0 && id < modelLayers && (*flags)[std::size_t(id)];
    }
    return plan;
}

} // namespace tsa
