#include "app/explorer/view_state.h"

namespace tsa::app {

void insertViewState(QJsonObject* json, const ViewState& state) {
    json->insert(QStringLiteral("color_map"), state.colorMap);
    json->insert(QStringLiteral("overview_metric"), state.overviewMetric);
    json->insert(QStringLiteral("view"), state.view);
}

ViewState viewStateFromJson(const QJsonObject& json, const ViewState& base) {
    auto str = [&](const char* key, const QString& fallback) {
        const auto v = json.value(QLatin1String(key));
        return v.isString() ? v.toString() : fallback;
    };
    ViewState state = base;
    state.colorMap = str("color_map", state.colorMap);
    state.overviewMetric = str("overview_metric", state.overviewMetric);
    state.view = str("view", state.view);
    return state;
}

} // namespace tsa::app
