// Everything the user can set in the explorer, in one value type: the selection parameters, the sparse-layer
// plan, what is being looked at (layer, head, view) and how (colour map, overview metric). One struct so the
// controller, the controls, QSettings and session files cannot drift apart.
#pragma once

#include "core/methods/methods.h"
#include "core/selection.h"

#include <QJsonObject>
#include <QString>
#include <QStringList>

class QSettings;

namespace tsa::app {

struct ExplorerParams {
    TsaParams tsa;
    LayerPlanConfig plan;
    int layer = -1; // position in CaptureInfo::layerIds (not the model layer id); -1: first sparse layer
    int head = 0;   // query head
    QString colorMap = QStringLiteral("viridis");
    QString overviewMetric = QStringLiteral("kept");
    QString view = QStringLiteral("overview");
    QString effectAxis = QStringLiteral("tau");       // effect view's x axis: "tau" or "kept"
    QString effectNeedle = QStringLiteral("overlap"); // effect view's needle score: "overlap" or "exact"
    // Methods view (issue 11): every knob of the other methods (TSA's are `tsa` above, methods.tsa is
    // unused), the method the per-head table and the attention map's overlay show, and the plot's axes.
    MethodSettings methods;
    QString method = QStringLiteral("tsa");
    QString methodsX = QStringLiteral("density"); // "density" or "speedup"
    QString methodsY =
        QStringLiteral("error-last-w"); // "error-last-w", "error-p95", "retained-mass", "recall"
    bool methodOverlay = false;         // draw the chosen method's pattern on the attention map
};

// The settings a method runs with: the explorer's TSA parameters and the methods' knobs together.
MethodSettings methodSettings(const ExplorerParams& params);

// Slider and spin box ranges; tau 0 is allowed by the core (layer stays dense) but not on a log scale.
constexpr double kTauMin = 1e-4;
constexpr double kTauMax = 0.5;

QString sparseModeName(SparseLayerMode mode);          // "half", "drift", "all", "list"
QString layerListText(const std::vector<int>& layers); // "16,17,20"
// Parses "16,17, 20-23"; returns false on anything else.
bool parseLayerList(const QString& text, std::vector<int>* layers);

// Clamps values into the ranges the controls offer (odd kernel, positive window, ...).
ExplorerParams sanitised(ExplorerParams params);

QJsonObject toJson(const ExplorerParams& params);
// Missing keys keep the values of base; wrong types are ignored the same way.
ExplorerParams paramsFromJson(const QJsonObject& json, const ExplorerParams& base = {});

void saveParams(QSettings& settings, const ExplorerParams& params);
ExplorerParams loadParams(const QSettings& settings);

} // namespace tsa::app
