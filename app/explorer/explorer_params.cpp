#include "app/explorer/explorer_params.h"

#include <QJsonArray>
#include <QJsonDocument>
#include <QSettings>
#include <algorithm>

namespace tsa::app {

QString sparseModeName(SparseLayerMode mode) {
    switch (mode) {
    case SparseLayerMode::Half:
        return QStringLiteral("half");
    case SparseLayerMode::Drift:
        return QStringLiteral("drift");
    case SparseLayerMode::All:
        return QStringLiteral("all");
    case SparseLayerMode::List:
        return QStringLiteral("list");
    }
    return QStringLiteral("half");
}

namespace {

SparseLayerMode modeFromName(const QString& name, SparseLayerMode fallback) {
    for (auto m :
         {SparseLayerMode::Half, SparseLayerMode::Drift, SparseLayerMode::All, SparseLayerMode::List})
        if (sparseModeName(m) == name) return m;
    return fallback;
}

} // namespace

QString layerListText(const std::vector<int>& layers) {
    QStringList parts;
    for (int l : layers)
        parts << QString::number(l);
    return parts.join(QLatin1Char(','));
}

bool parseLayerList(const QString& text, std::vector<int>* layers) {
    std::vector<int> out;
    const QStringList parts = text.split(QLatin1Char(','), Qt::SkipEmptyParts);
    for (QString part : parts) {
        part = part.trimmed();
        if (part.isEmpty()) continue;
        bool ok1 = false, ok2 = false;
        const int dash = part.indexOf(QLatin1Char('-'), 1);
        if (dash > 0) {
            const int a = part.left(dash).trimmed().toInt(&ok1), b = part.mid(dash + 1).trimmed().toInt(&ok2);
            if (!ok1 || !ok2 || a < 0 || b < a || b - a > 100000) return false;
            for (int l = a; l <= b; ++l)
                out.push_back(l);
        } else {
            const int a = part.toInt(&ok1);
            if (!ok1 || a < 0) return false;
            out.push_back(a);
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    *layers = std::move(out);
    return true;
}

ExplorerParams sanitised(ExplorerParams p) {
    // A valid tau is kept exactly (0 is the dense baseline, 1e-5 is a legitimate choice); only a value the
    // shared rule refuses falls back to the default.
    if (!tsa::tauProblem(p.tsa.tau).empty()) p.tsa.tau = TsaParams{}.tau;
    p.tsa.window = std::clamp<Index>(p.tsa.window, 1, 1 << 20);
    p.tsa.poolKernel = std::clamp<Index>(p.tsa.poolKernel, 1, 1001);
    if (p.tsa.poolKernel % 2 == 0) p.tsa.poolKernel += 1;
    p.tsa.minTokens = std::clamp<Index>(p.tsa.minTokens, 0, Index(1) << 30);
    if (!(p.plan.delta >= 0.0 && p.plan.delta <= 1.0)) p.plan.delta = 0.5;
    p.layer = std::max(-1, p.layer);
    p.head = std::max(0, p.head);
    if (p.effectAxis != QLatin1String("kept")) p.effectAxis = QStringLiteral("tau");
    if (p.effectNeedle != QLatin1String("exact")) p.effectNeedle = QStringLiteral("overlap");
    if (!parseMethodName(p.method.toStdString())) p.method = QStringLiteral("tsa");
    if (p.methodsX != QLatin1String("speedup")) p.methodsX = QStringLiteral("density");
    static const QStringList ys = {QStringLiteral("error-last-w"), QStringLiteral("error-p95"),
                                   QStringLiteral("retained-mass"), QStringLiteral("recall")};
    if (!ys.contains(p.methodsY)) p.methodsY = ys.front();
    // Knobs out of range (a hand-edited session) fall back to the defaults rather than failing every run.
    MethodSettings check = p.methods;
    check.tsa = TsaParams{};
    if (!check.validate().empty()) p.methods = MethodSettings{};
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
        {QStringLiteral("sparse_layers"), sparseModeName(p.plan.mode)},
        {QStringLiteral("delta"), p.plan.delta},
        {QStringLiteral("layer_list"), list},
        {QStringLiteral("layer"), p.layer},
        {QStringLiteral("head"), p.head},
        {QStringLiteral("color_map"), p.colorMap},
        {QStringLiteral("overview_metric"), p.overviewMetric},
        {QStringLiteral("view"), p.view},
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

ExplorerParams paramsFromJson(const QJsonObject& j, const ExplorerParams& base) {
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
    p.tsa.window = Index(num("window", double(p.tsa.window)));
    p.tsa.poolKernel = Index(num("pool_kernel", double(p.tsa.poolKernel)));
    p.tsa.minTokens = Index(num("min_tokens", double(p.tsa.minTokens)));
    p.plan.mode = modeFromName(str("sparse_layers", sparseModeName(p.plan.mode)), p.plan.mode);
    p.plan.delta = num("delta", p.plan.delta);
    if (const auto v = j.value(QLatin1String("layer_list")); v.isArray()) {
        p.plan.list.clear();
        for (const auto& e : v.toArray())
            if (e.isDouble() && e.toInt() >= 0) p.plan.list.push_back(e.toInt());
    }
    p.layer = int(num("layer", p.layer));
    p.head = int(num("head", p.head));
    p.colorMap = str("color_map", p.colorMap);
    p.overviewMetric = str("overview_metric", p.overviewMetric);
    p.view = str("view", p.view);
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
    return sanitised(p);
}

void saveParams(QSettings& settings, const ExplorerParams& params) {
    // One JSON value rather than a dozen keys: adding a parameter needs no settings migration.
    settings.setValue(QStringLiteral("params/json"),
                      QString::fromUtf8(QJsonDocument(toJson(params)).toJson(QJsonDocument::Compact)));
}

ExplorerParams loadParams(const QSettings& settings) {
    const QByteArray text = settings.value(QStringLiteral("params/json")).toString().toUtf8();
    const QJsonDocument doc = QJsonDocument::fromJson(text);
    return doc.isObject() ? paramsFromJson(doc.object()) : ExplorerParams{};
}

} // namespace tsa::app
