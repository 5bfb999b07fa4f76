#include "app/explorer/view_set.h"

#include "app/explorer/analysis_controller.h"
#include "app/explorer/placeholder_view.h"
#include "views/overview_view.h"

#include <QTimer>
#include <QWidget>

#include <limits>

namespace tsa::app {

namespace {

using Need = AnalysisController::Need;

views::OverviewMetric overviewMetricFor(const QString& name) {
    if (name == QLatin1String("error-p95")) return views::OverviewMetric::ErrorP95;
    if (name == QLatin1String("retained-mass")) return views::OverviewMetric::RetainedMass;
    return views::OverviewMetric::KeptFraction;
}

} // namespace

ViewSet::ViewSet(AnalysisController* controller, QObject* parent)
    : QObject(parent), m_controller(controller), m_layerTimer(new QTimer(this)) {
    m_overview = new views::OverviewView;
    m_views.push_back(m_overview);
    const std::pair<const char*, const char*> pending[] = {
        {"selection", "Selection map"}, {"coverage", "Coverage"},  {"attention", "Attention map"},
        {"error", "Error"},             {"depth", "Depth"},        {"sparsity", "Sparsity"},
        {"how-it-works", "How it works"},
    };
    for (const auto& [name, title] : pending) {
        auto* p = new PlaceholderView(QString::fromLatin1(name), tr(title));
        p->setText(tr("This view is still being written."));
        m_views.push_back(p);
    }

    m_layerTimer->setSingleShot(true);
    m_layerTimer->setInterval(0);
    connect(m_layerTimer, &QTimer::timeout, this, &ViewSet::flush);

    connect(m_overview, &views::OverviewView::cellClicked, this, [this](int layer, int head) {
        ExplorerParams p = m_controller->params();
        p.layer = layer;
        p.head = head;
        m_controller->setParams(p);
    });

    connect(controller, &AnalysisController::selectionChanged, this, &ViewSet::refreshSelectionViews);
    connect(controller, &AnalysisController::layersChanged, this, &ViewSet::scheduleLayers);
    connect(controller, &AnalysisController::metricsChanged, this, [this](int) {
        m_metricsDirty = true;
        scheduleLayers();
    });
    connect(controller, &AnalysisController::attentionMapChanged, this, &ViewSet::refreshAttentionMap);
    connect(controller, &AnalysisController::paramsChanged, this, [this] {
        refreshStyle();
        refreshSelectionViews();
        refreshAttentionMap();
        m_metricsDirty = true;
        scheduleLayers();
    });
    refreshAll();
}

ViewSet::~ViewSet() {
    for (auto* v : m_views)
        if (v->widget() && !v->widget()->parent()) delete v->widget();
}

views::ExportableView* ViewSet::view(const QString& name) const {
    for (auto* v : m_views)
        if (v->viewName() == name) return v;
    return nullptr;
}

QStringList ViewSet::names() const {
    QStringList out;
    for (auto* v : m_views) out << v->viewName();
    return out;
}

int ViewSet::needsOf(const QString& name) const {
    if (name == QLatin1String("overview"))
        return m_controller->params().overviewMetric == QLatin1String("kept")
                   ? Need::NeedAllSelections
                   : Need::NeedAllSelections | Need::NeedAllMetrics;
    if (name == QLatin1String("attention")) return Need::NeedSelection | Need::NeedAttentionMap;
    if (name == QLatin1String("error")) return Need::NeedSelection | Need::NeedAllMetrics;
    if (name == QLatin1String("depth") || name == QLatin1String("sparsity")) return Need::NeedAllSelections;
    return Need::NeedSelection;
}

void ViewSet::refreshAll() {
    refreshStyle();
    refreshSelectionViews();
    refreshAttentionMap();
    m_metricsDirty = true;
    flush();
}

void ViewSet::flush() {
    m_layerTimer->stop();
    refreshLayerViews();
    if (m_metricsDirty) refreshMetricViews();
    m_metricsDirty = false;
}

void ViewSet::scheduleLayers() {
    if (!m_layerTimer->isActive()) m_layerTimer->start();
}

void ViewSet::refreshStyle() {
    const ExplorerParams& p = m_controller->params();
    m_overview->setColourMap(p.colorMap);
    m_overview->setMetric(overviewMetricFor(p.overviewMetric));
}

void ViewSet::refreshSelectionViews() {
    // Selection map, coverage and how-it-works land here with the real views.
}

void ViewSet::refreshLayerViews() {
    views::OverviewData data;
    if (const CaptureInfo* info = m_controller->info()) {
        data.qHeads = int(info->qHeads);
        data.kvHeads = int(info->kvHeads);
        const float nan = std::numeric_limits<float>::quiet_NaN();
        for (int l = 0; l < m_controller->layerCount(); ++l) {
            const int id = m_controller->modelLayerId(l);
            auto sel = m_controller->selection(l);
            bool current = false;
            auto metrics = m_controller->metrics(l, &current);
            if (sel) {
                data.layers.push_back(views::makeOverviewLayer(id, *sel, current ? metrics.get() : nullptr));
            } else {
                views::OverviewLayer layer;
                layer.layerId = id;
                layer.sparse = m_controller->isSparseLayer(l);
                layer.keptFraction.assign(std::size_t(data.qHeads), nan);
                layer.errorP95.assign(std::size_t(data.qHeads), nan);
                layer.retainedMass.assign(std::size_t(data.qHeads), nan);
                data.layers.push_back(std::move(layer));
            }
        }
    }
    m_overview->setData(std::move(data));
    m_overview->setSelected(m_controller->params().layer, m_controller->params().head);
}

void ViewSet::refreshMetricViews() {
    // Error view lands here.
}

void ViewSet::refreshAttentionMap() {
    // Attention map view lands here.
}

} // namespace tsa::app
