#include "app/explorer/explorer_params.h"

#include "core/analysis/metrics.h"
#include "core/names.h"
#include "views/methods_view.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QObject>
#include <QSettings>
#include <algorithm>
#include <cmath>
#include <limits>

namespace tsa::app {

namespace {

QString fromStd(const std::string& s) {
    return QString::fromStdString(s);
}

// Records a replaced value: "window W must be at least 1, got 0; using 128".
template <typename T>
void replace(T* value, const T& fallback, const std::string& problem, const QString& used,
             QStringList* adjusted) {
    if (problem.empty()) return;
    *value = fallback;
    if (adjusted) adjusted->append(QObject::tr("%1; using %2").arg(fromStd(problem), used));
}

// A choice among names: anything else falls back to the first, with a sentence saying so.
void replaceName(QString* value, const QStringList& names, const QString& what, QStringList* adjusted) {
    if (names.contains(*value)) return;
    if (adjusted)
        adjusted->append(
            QObject::tr("%1 '%2' is not %3; using %4").arg(what, *value, choices(names), names.front()));
    *value = names.front();
}

// A number from JSON as an integer; a value no integer holds becomes one every range check refuses.
Index integral(double v) {
    constexpr double limit = 4.0e18;
    return std::isfinite(v) ? Index(std::clamp(v, -limit, limit)) : std::numeric_limits<Index>::min();
}

} // namespace

QString choices(const QStringList& names) {
    std::vector<std::string> v;
    for (const QString& n : names)
        v.push_back(n.toStdString());
    return fromStd(choiceList(v));
}

QStringList methodsXNames() {
    return {views::methodsXName(views::MethodsX::Density), views::methodsXName(views::MethodsX::Speedup)};
}

QStringList methodsYNames() {
    using views::MethodsY;
    QStringList names;
    for (MethodsY y :
         {MethodsY::ErrorLastW, MethodsY::ErrorKeptP95, MethodsY::RetainedMass, MethodsY::OracleRecall})
        names << views::methodsYName(y);
    return names;
}

QStringList overviewMetricNames() {
    QStringList names;
    for (LayerMeasure m : layerMeasures())
        names << QString::fromLatin1(layerMeasureName(m));
    return names;
}

ExplorerParams sanitised(ExplorerParams p, QStringList* adjusted) {
    const TsaParams d;
    const ExplorerParams base;
    replace(&p.tsa.tau, d.tau, tauProblem(p.tsa.tau), QString::number(d.tau), adjusted);
    replace(&p.tsa.window, d.window, windowProblem(p.tsa.window), QString::number(d.window), adjusted);
    replace(&p.tsa.poolKernel, d.poolKernel, poolKernelProblem(p.tsa.poolKernel),
            QString::number(d.poolKernel), adjusted);
    replace(&p.tsa.minTokens, d.minTokens, minTokensProblem(p.tsa.minTokens), QString::number(d.minTokens),
            adjusted);
    replace(&p.plan.delta, base.plan.delta, deltaProblem(p.plan.delta), QString::number(base.plan.delta),
            adjusted);
    replace(&p.plan.list, std::vector<int>{}, layerPlanProblem(p.plan), QObject::tr("no listed layer"),
            adjusted);
    // Layer -1 means the first sparse layer; the controller clamps both to the file once it is open.
    p.layer = std::max(-1, p.layer);
    p.head = std::max(0, p.head);
    replaceName(&p.effectAxis, {QStringLiteral("tau"), QStringLiteral("kept")}, QObject::tr("effect x axis"),
                adjusted);
    replaceName(&p.effectNeedle, {QStringLiteral("overlap"), QStringLiteral("exact")},
                QObject::tr("needle score"), adjusted);
    replace(&p.method, base.method,
            parseMethodName(p.method.toStdString()) ? std::string()
                                                    : "method '" + p.method.toStdString() + "' is unknown",
            base.method, adjusted);
    replaceName(&p.methodsX, methodsXNames(), QObject::tr("methods x axis"), adjusted);
    replaceName(&p.methodsY, methodsYNames(), QObject::tr("methods y axis"), adjusted);
    // Knobs out of range (a hand-edited session) fall back to the defaults rather than failing every run.
    MethodSettings check = p.methods;
    check.tsa = TsaParams{};
    replace(&p.methods, MethodSettings{}, check.validate(), QObject::tr("the methods' defaults"), adjusted);
    return p;
}

MethodSettings methodSettings(const ExplorerParams& params) {
    MethodSettings s = params.methods;
    s.tsa = params.tsa;
    return s;
}

QJsonObject toJson(const ExplorerParams& p) {
    QJsonObject methods;
    for (const auto& [name, value] : methodParamValues(p.methods))
        if (name.rfind("tsa.", 0) != 0) methods.insert(QString::fromStdString(name), value);
    QJsonArray list;
    for (int l : p.plan.list)
        list.append(l);
    return QJsonObject{
        {QStringLiteral("tau"), p.tsa.tau},
        {QStringLiteral("window"), double(p.tsa.window)},
        {QStringLiteral("pool_kernel"), double(p.tsa.poolKernel)},
        {QStringLiteral("min_tokens"), double(p.tsa.minTokens)},
        {QStringLiteral("sparse_layers"), QString::fromLatin1(sparseLayerModeName(p.plan.mode))},
        {QStringLiteral("delta"), p.plan.delta},
        {QStringLiteral("layer_list"), list},
        {QStringLiteral("layer"), p.layer},
        {QStringLiteral("head"), p.head},
        {QStringLiteral("effect_axis"), p.effectAxis},
        {QStringLiteral("effect_needle"), p.effectNeedle},
        {QStringLiteral("methods"), methods},
        {QStringLiteral("method"), p.method},
        {QStringLiteral("methods_x"), p.methodsX},
        {QStringLiteral("methods_y"), p.methodsY},
        {QStringLiteral("method_overlay"), p.methodOverlay},
        {QStringLiteral("method_overlay_coordinates"),
         p.methodOverlayCompressed ? QStringLiteral("compressed") : QStringLiteral("original")},
    };
}

ExplorerParams readParamsJson(const QJsonObject& j, const ExplorerParams& base) {
    ExplorerParams p = base;
    auto num = [&](const char* key, double fallback) {
        const auto v = j.value(QLatin1String(key));
        return v.isDouble() ? v.toDouble() : fallback;
    };
    auto str = [&](const char* key, const QString& fallback) {
        const auto v = j.value(QLatin1String(key));
        return v.isString() ? v.toString() : fallback;
    };
    p.tsa.tau = num("tau", p.tsa.tau);
    p.tsa.window = integral(num("window", double(p.tsa.window)));
    p.tsa.poolKernel = integral(num("pool_kernel", double(p.tsa.poolKernel)));
    p.tsa.minTokens = integral(num("min_tokens", double(p.tsa.minTokens)));
    p.plan.mode =
        sparseLayerModeFromName(str("sparse_layers", QString()).toStdString()).value_or(p.plan.mode);
    p.plan.delta = num("delta", p.plan.delta);
    if (const auto v = j.value(QLatin1String("layer_list")); v.isArray()) {
        p.plan.list.clear();
        for (const auto& e : v.toArray())
            if (e.isDouble() && e.toInt() >= 0) p.plan.list.push_back(e.toInt());
    }
    p.layer = int(std::clamp<Index>(integral(num("layer", p.layer)), -1, kLayerIdMaximum));
    p.head = int(std::clamp<Index>(integral(num("head", p.head)), 0, 1 << 20));
    p.effectAxis = str("effect_axis", p.effectAxis);
    p.effectNeedle = str("effect_needle", p.effectNeedle);
    // Unknown knob names and non-integers where one is needed are skipped: a newer session still opens.
    const QJsonObject methods = j.value(QLatin1String("methods")).toObject();
    for (auto it = methods.begin(); it != methods.end(); ++it)
        if (it->isDouble() && !it.key().startsWith(QLatin1String("tsa.")))
            setMethodParam(p.methods, it.key().toStdString(), it->toDouble());
    p.method = str("method", p.method);
    p.methodsX = str("methods_x", p.methodsX);
    p.methodsY = str("methods_y", p.methodsY);
    if (const auto v = j.value(QLatin1String("method_overlay")); v.isBool()) p.methodOverlay = v.toBool();
    p.methodOverlayCompressed =
        str("method_overlay_coordinates",
            p.methodOverlayCompressed ? QStringLiteral("compressed") : QStringLiteral("original")) ==
        QLatin1String("compressed");
    return p;
}

ExplorerParams paramsFromJson(const QJsonObject& json, const ExplorerParams& base, QStringList* adjusted) {
    return sanitised(readParamsJson(json, base), adjusted);
}

void saveParams(QSettings& settings, const ExplorerParams& params, const ViewState& viewState) {
    // One JSON value rather than a dozen keys: adding a parameter needs no settings migration.
    QJsonObject json = toJson(params);
    insertViewState(&json, viewState);
    settings.setValue(QStringLiteral("params/json"),
                      QString::fromUtf8(QJsonDocument(json).toJson(QJsonDocument::Compact)));
}

ExplorerParams loadParams(const QSettings& settings, ViewState* viewState) {
    const QByteArray text = settings.value(QStringLiteral("params/json")).toString().toUtf8();
    const QJsonDocument doc = QJsonDocument::fromJson(text);
    if (viewState) *viewState = doc.isObject() ? viewStateFromJson(doc.object()) : ViewState{};
    return doc.isObject() ? readParamsJson(doc.object()) : ExplorerParams{};
}

} // namespace tsa::app
