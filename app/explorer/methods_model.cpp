#include "app/explorer/methods_model.h"

#include <QStringList>
#include <algorithm>
#include <functional>
#include <sstream>

namespace tsa::app {

namespace {

// TSA and its compositions first: a tau change moves exactly these, and they should come back first.
std::vector<MethodKind> computeOrder() {
    std::vector<MethodKind> order = allMethods();
    std::stable_partition(order.begin(), order.end(), usesTsa);
    return order;
}

views::MethodsPoint toPoint(const MethodMeasures& m, double knob, double denseMs) {
    views::MethodsPoint p;
    p.knob = knob;
    p.density = m.layer.density;
    p.speedup = m.timeMs() > 0 ? denseMs / m.timeMs() : 0.0;
    p.errorLastW = m.layer.errorLastWindow;
    p.errorKeptP95 = m.layer.errorKept.p95;
    p.retainedMass = m.layer.retainedMass;
    p.oracleRecall = m.layer.oracleRecall;
    return p;
}

} // namespace

MethodsModel::MethodsModel(AnalysisController* controller, QObject* parent)
    : QObject(parent), m_controller(controller) {
    connect(controller, &AnalysisController::fileOpened, this, [this] {
        m_points.clear();
        m_dense.reset();
        m_denseLayer = -1;
        m_denseError.clear();
        m_denseErrorLayer = -1;
        emit changed();
    });
    connect(controller, &AnalysisController::paramsChanged, this, &MethodsModel::changed);
    controller->setExtraTaskSource(this);
}

MethodsModel::~MethodsModel() {
    if (m_controller) m_controller->setExtraTaskSource(nullptr);
}

void MethodsModel::setForced(bool on) {
    m_forced = on;
    if (m_controller) m_controller->requestSchedule();
}

void MethodsModel::setVisible(bool on) {
    if (on == m_visible) return;
    m_visible = on;
    if (m_controller) m_controller->requestSchedule();
}

void MethodsModel::setCurrentView(const QString& name) {
    if (name == m_view) return;
    m_view = name;
    if (m_controller) m_controller->requestSchedule();
}

bool MethodsModel::active() const {
    if (!m_controller || !m_controller->hasCapture()) return false;
    const ExplorerParams& p = m_controller->params();
    return m_forced || m_visible || m_view == QLatin1String("methods") ||
           m_view == QLatin1String("method-heads") ||
           (p.methodOverlay && m_view == QLatin1String("attention"));
}

std::string MethodsModel::pointKey(int layer, MethodKind kind, const MethodSettings& settings) const {
    // Only the knobs the method reads: "tsa+flexprefill" reads tsa.* and flexprefill.*.
    std::ostringstream key;
    key.precision(17);
    const std::string name = methodName(kind);
    key << layer << '|' << name << '|' << m_controller->params().tsa.window; // the last-W error's W
    std::vector<std::string> prefixes;
    for (std::size_t start = 0;;) {
        const std::size_t plus = name.find('+', start);
        prefixes.push_back(name.substr(start, plus - start) + ".");
        if (plus == std::string::npos) break;
        start = plus + 1;
    }
    for (const auto& [param, value] : methodParamValues(settings))
        for (const std::string& prefix : prefixes)
            if (param.rfind(prefix, 0) == 0) key << '|' << param << '=' << value;
    return key.str();
}

std::vector<MethodsModel::Wanted> MethodsModel::wanted() const {
    std::vector<Wanted> out;
    const ExplorerParams& p = m_controller->params();
    const MethodSettings base = methodSettings(p);
    if (!m_forced && !m_visible && m_view == QLatin1String("attention")) {
        // The overlay alone needs the chosen method's current pattern, not every sweep.
        if (const auto kind = parseMethodName(p.method.toStdString()))
            out.push_back({*kind, base, pointKey(p.layer, *kind, base), true, sweepKnobValue(*kind, base)});
        return out;
    }
    for (MethodKind kind : computeOrder())
        out.push_back({kind, base, pointKey(p.layer, kind, base), true, sweepKnobValue(kind, base)});
    for (MethodKind kind : computeOrder())
        for (double v : sweepKnob(kind).values) {
            MethodSettings s = base;
            setSweepKnob(kind, v, s);
            out.push_back({kind, s, pointKey(p.layer, kind, s), false, v});
        }
    return out;
}

const MethodsModel::Entry* MethodsModel::find(const std::string& key) const {
    const auto it = m_points.find(key);
    return it == m_points.end() ? nullptr : &it->second;
}

std::optional<ExtraJob> MethodsModel::nextJob() {
    if (!active()) return std::nullopt;
    const int layer = m_controller->params().layer;
    auto capture = m_controller->capture();
    const int threads = m_controller->threads();
    QPointer<MethodsModel> self(this);
    const QString layerName = tr("layer %1").arg(m_controller->modelLayerId(layer));
    if (m_denseLayer != layer) {
        if (m_denseErrorLayer == layer) return std::nullopt; // unreadable: reported by the other views
        ExtraJob job;
        job.key = std::hash<std::string>{}("dense|" + std::to_string(layer));
        job.label = tr("Dense reference of %1 for the methods").arg(layerName);
        job.work = [=](const std::atomic<bool>& cancel) -> std::function<void()> {
            // A layer that cannot be read or computed is remembered, not offered again (no retry loop).
            auto failed = [self, layer, capture](const QString& msg) -> std::function<void()> {
                return [self, layer, msg, capture] {
                    if (!self || capture != self->m_controller->capture()) return;
                    self->m_denseError = msg;
                    self->m_denseErrorLayer = layer;
                    emit self->changed();
                };
            };
            auto qkv = capture->layer(layer);
            if (!qkv.ok()) return failed(QString::fromStdString(qkv.error()));
            AttentionConfig config;
            config.threads = threads;
            config.cancel = &cancel;
            auto dense = denseReference(**qkv, config);
            if (!dense.ok()) return cancel.load() ? nullptr : failed(QString::fromStdString(dense.error()));
            auto shared = std::make_shared<const DenseReference>(std::move(*dense));
            return [self, layer, shared, capture] {
                if (!self || capture != self->m_controller->capture()) return;
                self->m_dense = shared;
                self->m_denseLayer = layer;
                emit self->changed();
            };
        };
        return job;
    }
    for (const Wanted& w : wanted()) {
        if (find(w.key)) continue;
        ExtraJob job;
        job.key = std::hash<std::string>{}(w.key);
        job.label =
            tr("%1 at %2 %3 on %4")
                .arg(QString::fromLatin1(methodName(w.kind)), QString::fromStdString(sweepKnob(w.kind).name),
                     QString::number(w.knob), layerName);
        auto dense = m_dense;
        const Index lastW = m_controller->params().tsa.window;
        job.work = [=](const std::atomic<bool>&) -> std::function<void()> {
            Entry entry;
            auto qkv = capture->layer(layer);
            if (!qkv.ok()) {
                entry.error = QString::fromStdString(qkv.error());
            } else {
                AttentionConfig config;
                config.threads = threads;
                Pattern pattern;
                auto m = measureMethod(w.kind, **qkv, w.settings, *dense, lastW, config,
                                       w.current ? &pattern : nullptr);
                if (m.ok()) {
                    entry.measures = std::make_shared<const MethodMeasures>(std::move(*m));
                    if (w.current) entry.pattern = std::make_shared<const Pattern>(std::move(pattern));
                } else {
                    entry.error = QString::fromStdString(m.error());
                }
            }
            const std::string key = w.key;
            return [self, key, entry, capture] {
                if (!self || capture != self->m_controller->capture()) return;
                // Many tau steps leave many TSA points; a bound keeps a long session's memory flat.
                if (self->m_points.size() > 4000) self->m_points.clear();
                self->m_points[key] = entry;
                emit self->changed();
            };
        };
        return job;
    }
    return std::nullopt;
}

int MethodsModel::pendingJobs() const {
    if (!active()) return 0;
    int n = m_denseLayer == m_controller->params().layer ? 0 : 1;
    for (const Wanted& w : wanted())
        if (!find(w.key)) ++n;
    return n;
}

bool MethodsModel::ready() const {
    if (!m_controller || !m_controller->hasCapture()) return true;
    if (m_denseErrorLayer == m_controller->params().layer) return true;
    return m_denseLayer == m_controller->params().layer && pendingJobs() == 0;
}

views::MethodsData MethodsModel::viewData() const {
    views::MethodsData d;
    if (!m_controller || !m_controller->hasCapture()) return d;
    const ExplorerParams& p = m_controller->params();
    d.layerId = m_controller->modelLayerId(p.layer);
    d.tokens = m_controller->tokenCount();
    d.chosen = p.method;
    d.overlay = p.methodOverlay;
    d.overlayCompressed = p.methodOverlayCompressed;
    if (m_denseErrorLayer == p.layer) d.problem = tr("Cannot compute this layer: %1").arg(m_denseError);
    if (m_denseLayer != p.layer || !m_dense) return d;
    const double denseMs = m_dense->timeMs;
    std::map<MethodKind, views::MethodsCurve> curves;
    for (const Wanted& w : wanted()) {
        views::MethodsCurve& c = curves[w.kind];
        c.method = QString::fromLatin1(methodName(w.kind));
        c.knob = QString::fromStdString(sweepKnob(w.kind).name);
        const Entry* e = find(w.key);
        if (!e) continue;
        if (!e->error.isEmpty()) c.error = e->error;
        if (!e->measures) continue;
        const views::MethodsPoint point = toPoint(*e->measures, w.knob, denseMs);
        if (w.current)
            c.current = point;
        else
            c.sweep.push_back(point);
    }
    for (MethodKind kind : allMethods())
        if (curves.count(kind)) d.curves.push_back(curves[kind]);
    return d;
}

views::MethodHeadsData MethodsModel::headsData() const {
    views::MethodHeadsData d;
    if (!m_controller || !m_controller->hasCapture()) return d;
    const ExplorerParams& p = m_controller->params();
    d.method = p.method;
    d.layerId = m_controller->modelLayerId(p.layer);
    const auto kind = parseMethodName(p.method.toStdString());
    if (!kind) return d;
    const MethodSettings s = methodSettings(p);
    const Entry* e = find(pointKey(p.layer, *kind, s));
    if (!e || !e->measures) return d;
    for (std::size_t h = 0; h < e->measures->heads.size(); ++h) {
        const MethodHeadMeasures& m = e->measures->heads[h];
        d.rows.push_back({int(h), m.density, m.retainedMass, m.errorKept.median, m.errorKept.p95,
                          m.errorKept.max, m.errorLastWindow, m.oracleRecall});
    }
    return d;
}

std::shared_ptr<const Pattern> MethodsModel::chosenPattern() const {
    if (!m_controller || !m_controller->hasCapture()) return nullptr;
    const ExplorerParams& p = m_controller->params();
    const auto kind = parseMethodName(p.method.toStdString());
    if (!kind) return nullptr;
    const Entry* e = find(pointKey(p.layer, *kind, methodSettings(p)));
    return e ? e->pattern : nullptr;
}

void MethodsModel::applyKnob(const QString& method, double value) {
    const auto kind = parseMethodName(method.toStdString());
    if (!kind || !m_controller) return;
    ExplorerParams p = m_controller->params();
    MethodSettings s = methodSettings(p);
    setSweepKnob(*kind, value, s);
    p.tsa = s.tsa;
    s.tsa = p.methods.tsa;
    p.methods = s;
    m_controller->setParams(p);
}

} // namespace tsa::app
