#include "views/view_data.h"

#include <cmath>
#include <limits>

namespace tsa::views {

QString denseReasonLabel(tsa::DenseReason reason) {
    // Worded for the UI; core's denseReasonText is for logs and the command line.
    switch (reason) {
    case tsa::DenseReason::None:
        return QString();
    case tsa::DenseReason::NotSparseLayer:
        return QStringLiteral("not a sparse layer");
    case tsa::DenseReason::TooShort:
        return QStringLiteral("too short (L <= min_tokens + W)");
    case tsa::DenseReason::TauZero:
        return QStringLiteral("tau = 0");
    case tsa::DenseReason::BudgetEmpty:
        return QStringLiteral("budget empty (no token below tau)");
    }
    return QStringLiteral("dense");
}

OverviewLayer makeOverviewLayer(int layerId, const tsa::Selection& selection,
                                const tsa::LayerMetrics* metrics) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    OverviewLayer layer;
    layer.layerId = layerId;
    layer.sparse = selection.sparse;
    layer.denseReason = selection.sparse ? QString() : denseReasonLabel(selection.denseReason);
    const auto heads = static_cast<std::size_t>(selection.qHeads);
    layer.keptFraction.assign(heads, static_cast<float>(selection.keptFraction()));
    layer.errorP95.assign(heads, nan);
    layer.retainedMass.assign(heads, nan);
    if (metrics != nullptr && metrics->heads.size() == heads) {
        layer.estimate = metrics->estimate;
        for (std::size_t h = 0; h < heads; ++h) {
            const tsa::HeadMetrics& m = metrics->heads[h];
            layer.errorP95[h] = static_cast<float>(m.rowError.p95);
            layer.retainedMass[h] = static_cast<float>(m.retainedMass.median);
            if (!layer.estimate) continue;
            layer.errorP95Lo.push_back(float(m.rowErrorBounds.p95.lo));
            layer.errorP95Hi.push_back(float(m.rowErrorBounds.p95.hi));
            layer.retainedMassLo.push_back(float(m.retainedMassBounds.median.lo));
            layer.retainedMassHi.push_back(float(m.retainedMassBounds.median.hi));
        }
    }
    return layer;
}

SparsityLayer makeSparsityLayer(int layerId, const tsa::Selection& selection) {
    SparsityLayer layer;
    layer.layerId = layerId;
    layer.sparse = selection.sparse;
    layer.keptFraction = selection.keptFraction();
    layer.denseReason = selection.sparse ? QString() : denseReasonLabel(selection.denseReason);
    return layer;
}

} // namespace tsa::views
