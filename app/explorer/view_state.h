// How the explorer shows its results, apart from what it computes: the colour map, the overview's metric and
// the view on screen. Owned by the ViewSet (the window's views), so changing any of it repaints and never
// recomputes; the AnalysisController's ExplorerParams hold only what the analysis depends on. Sessions and
// the settings store both in the same JSON object as the parameters, under the keys they always had
// ("color_map", "overview_metric", "view"), so files written before the split still open.
#pragma once

#include <QJsonObject>
#include <QString>

namespace tsa::app {

struct ViewState {
    QString colorMap = QStringLiteral("viridis");
    // Retained mass varies per head; kept fraction is equal across a layer's heads by construction.
    QString overviewMetric = QStringLiteral("retained-mass");
    QString view = QStringLiteral("overview");

    bool operator==(const ViewState&) const = default;
};

// Adds the view state's keys to json (a parameters object).
void insertViewState(QJsonObject* json, const ViewState& state);
// Missing keys and wrong types keep base's values.
ViewState viewStateFromJson(const QJsonObject& json, const ViewState& base = {});

} // namespace tsa::app
