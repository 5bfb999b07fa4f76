// What the explorer's analysis depends on, in one value type: the selection parameters, the sparse-layer
// plan and what is being analysed (layer, head). One struct so the controller, the controls, QSettings and
// session files cannot drift apart. How results are shown (colour map, overview metric, the view on screen)
// is the ViewSet's ViewState (view_state.h): changing it recomputes nothing.
#pragma once

#include "app/explorer/view_state.h"
#include "core/methods/layer_plan.h"
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

// The accepted names of the explorer's choices, for options, checks and messages ("a, b or c").
QStringList overviewMetricNames(); // the overview's metric: core's LayerMeasure names
QStringList methodsXNames();       // the methods view's axes (views/methods_view.h)
QStringList methodsYNames();
QString choices(const QStringList& names);

// Brings every value into the shared ranges (core/param_rules.h): a value the rules refuse is replaced by
// its default, and never silently: each replacement adds a sentence to *adjusted naming the parameter, the
// problem and the value used, for the caller to show (the controller emits it as a warning).
ExplorerParams sanitised(ExplorerParams params, QStringList* adjusted = nullptr);

QJsonObject toJson(const ExplorerParams& params);
// Missing keys keep the values of base; wrong types are ignored the same way. The values as stored, not
// checked: sessions refuse what the rules refuse (sessionFromJson), the controller adjusts the rest visibly.
ExplorerParams readParamsJson(const QJsonObject& json, const ExplorerParams& base = {});
// readParamsJson, then sanitised (adjustments into *adjusted).
ExplorerParams paramsFromJson(const QJsonObject& json, const ExplorerParams& base = {},
                              QStringList* adjusted = nullptr);

// The parameters and the view state, in one JSON value (the keys of both, as always). loadParams returns
// the saved parameters as stored (readParamsJson): the controller's setParams adjusts them visibly.
void saveParams(QSettings& settings, const ExplorerParams& params, const ViewState& viewState);
ExplorerParams loadParams(const QSettings& settings, ViewState* viewState = nullptr);

} // namespace tsa::app
