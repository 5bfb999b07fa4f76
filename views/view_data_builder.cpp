// The only views file that calls into core's functions (tsa::jaccard); kept apart so the rest of the
// views library links against core's headers alone.
#include "views/view_data.h"

#include <numeric>

namespace tsa::views {

DepthData buildDepthData(int head, const std::vector<int>& layerIds,
                         const std::vector<std::shared_ptr<const tsa::Selection>>& selections) {
    DepthData data;
    data.head = head;
    const std::size_t n = std::min(layerIds.size(), selections.size());
    for (std::size_t i = 0; i < n; ++i) {
        DepthLayer layer;
        layer.layerId = layerIds[i];
        if (const auto& s = selections[i]) {
            data.tokens = std::max<qint64>(data.tokens, s->tokens);
            layer.sparse = s->sparse && head < s->qHeads && !s->indices.empty();
            layer.denseReason = layer.sparse ? QString() : denseReasonLabel(s->denseReason);
            if (layer.sparse) layer.kept.assign(s->head(head), s->head(head) + s->kept);
        }
        data.layers.push_back(std::move(layer));
    }
    // Dense layers keep every position; give them the full index set so overlaps read |S| / L.
    std::vector<std::int32_t> all(static_cast<std::size_t>(data.tokens));
    std::iota(all.begin(), all.end(), 0);
    auto setOf = [&](const DepthLayer& layer) -> const std::vector<std::int32_t>& {
        return layer.sparse ? layer.kept : all;
    };
    data.jaccard.assign(n * n, 1.0);
    for (std::size_t a = 0; a < n; ++a)
        for (std::size_t b = a + 1; b < n; ++b) {
            const auto& sa = setOf(data.layers[a]);
            const auto& sb = setOf(data.layers[b]);
            const double j = tsa::jaccard(sa.data(), Index(sa.size()), sb.data(), Index(sb.size()));
            data.jaccard[a * n + b] = j;
            data.jaccard[b * n + a] = j;
        }
    return data;
}

} // namespace tsa::views
