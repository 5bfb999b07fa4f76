// Everything the user can set in the explorer, in one value type: the selection parameters, the sparse-layer
// plan, what is being looked at (layer, head, view) and how (colour map, overview metric). One struct so the
// controller, the controls, QSettings and session files cannot drift apart.
#pragma once

#include "core/methods/methods.h"
#include "core/methods/tsa_selection.h"
#include "core/param_rules.h"

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
    // Retained mass varies per head; kept fraction is equal across a layer's heads by construction.
    QString overviewMetric = QStringLiteral("retained-mass");
    QString view = QStringLiteral("overview");
    QString effectAxis = QStringLiteral("tau");       // effect view's x axis: "tau" or "kept"
    QString effectNeedle = QStringLiteral("overlap"); // effect view's needle score: "overlap" or "exact"
    // Methods view (issue 11): every knob of the other methods (TSA's are `tsa` above, methods.tsa is
    // unused), the method the per-head table and the attention map's overlay show, and the plot's axes.
    MethodSettings methods;
    QString method = QStringLiteral("tsa");
    QString methodsX = QStringLiteral("density"); // "density" or "speedup"
    QString methodsY =
        QStringLiteral("error-last-w");   // "error-last-w", "error-p95", "retained-mass", "recall"
    bool methodOverlay = false;           // draw the chosen method's pattern on the attention map
    bool methodOverlayCompressed = false; // ... as its block mask over TSA's kept tokens (compressed index)
};

// The settings a method runs with: the explorer's TSA parameters and the methods' knobs together.
MethodSettings methodSettings(const ExplorerParams& params);

// The tau slider's log range. Its first position is tau 0 (dense); smaller positive values are valid
// (tsa::tauProblem is the rule) and typed into the field, the slider then rests at its lowest log step.
constexpr double kTauMin = 1e-4;
constexpr double kTauMax = tsa::kTauMaximum;

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
