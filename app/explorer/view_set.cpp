#include "app/explorer/view_set.h"

#include "app/explorer/analysis_controller.h"
#include "app/explorer/methods_model.h"
#include "core/analysis/metrics.h"
#include "views/attention_map_view.h"
#include "views/coverage_view.h"
#include "views/depth_view.h"
#include "views/effect_view.h"
#include "views/error_view.h"
#include "views/how_it_works_panel.h"
#include "views/methods_view.h"
#include "views/overview_view.h"
#include "views/selection_map_view.h"
#include "views/sparsity_view.h"
#include "views/text_view.h"
#include "views/token_range_model.h"

#include <QEvent>
#include <QPointer>
#include <QTimer>
#include <QWidget>
#include <algorithm>
#include <limits>

namespace tsa::app {

namespace {

using Need = AnalysisController::Need;

// The metric's name is core's (LayerMeasure); the overview has its own enum for how to draw it.
views::OverviewMetric overviewMetricFor(const QString& name) {
    switch (layerMeasureFromName(name.toStdString()).value_or(LayerMeasure::KeptFraction)) {
    case LayerMeasure::ErrorP95:
        return views::OverviewMetric::ErrorP95;
    case LayerMeasure::RetainedMass:
        return views::OverviewMetric::RetainedMass;
    case LayerMeasure::KeptFraction:
        break;
    }
    return views::OverviewMetric::KeptFraction;
}

} // namespace

ViewSet::ViewSet(AnalysisController* controller, QObject* parent)
    : QObject(parent), m_controller(controller), m_deferred(new QTimer(this)) {
    m_overview = new views::OverviewView;
    m_selection = new views::SelectionMapView;
    m_coverage = new views::CoverageView;
    m_attention = new views::AttentionMapView;
    m_error = new views::ErrorView;
    m_depth = new views::DepthView;
    m_sparsity = new views::SparsityView;
    m_howItWorks = new views::HowItWorksPanel;
    m_effect = new views::EffectView;
    m_text = new views::TextView;
    m_parts = {{Overview, m_overview}, {SelectionMap, m_selection},
               {Coverage, m_coverage}, {Attention, m_attention},
               {Error, m_error},       {Depth, m_depth},
               {Sparsity, m_sparsity}, {HowItWorks, m_howItWorks},
               {Effect, m_effect}};
    m_parts.emplace_back(Text, m_text);
    m_methods = new views::MethodsView;
    m_methodHeads = new views::MethodHeadsView;
    m_parts.emplace_back(Methods, m_methods);
    m_parts.emplace_back(MethodHeads, m_methodHeads);
    for (const auto& [part, v] : m_parts) {
        m_views.push_back(v);
        v->widget()->installEventFilter(this);
    }
    m_refreshCounts.assign(m_parts.size(), 0);

    m_deferred->setSingleShot(true);
    m_deferred->setInterval(0);
    connect(m_deferred, &QTimer::timeout, this, [this] {
        unsigned visible = 0;
        for (const auto& [part, v] : m_parts)
            if (v->widget()->isVisible()) visible |= part;
        refresh(m_dirty & visible);
    });

    // Clicks in a view pick what every view shows.
    auto pick = [this](int layer, int head) {
        ExplorerParams p = m_controller->params();
        p.layer = layer;
        p.head = head;
        m_controller->setParams(p);
    };
    connect(m_overview, &views::OverviewView::cellClicked, this, pick);
    connect(m_error, &views::ErrorView::cellClicked, this, [this, pick](int layer, int head) {
        // The error grid's extra column is the layer aggregate: keep the current head there.
        pick(layer, head < m_controller->headCount() ? head : m_controller->params().head);
    });
    connect(m_selection, &views::SelectionMapView::headClicked, controller, &AnalysisController::setHead);
    connect(m_depth, &views::DepthView::layerClicked, controller, &AnalysisController::setLayer);
    connect(m_sparsity, &views::SparsityView::layerClicked, controller, &AnalysisController::setLayer);
    // A tau chosen in the effect view becomes the explorer's tau, so the other views show the dense
    // capture's selection at the tau whose end-to-end effect is on screen.
    connect(m_effect, &views::EffectView::runSelected, controller, &AnalysisController::setTau);
    connect(controller, &AnalysisController::effectOpened, this, [this] { markDirty(Effect); });
    connect(controller, &AnalysisController::effectClosed, this, [this] { markDirty(Effect); });
    // The token axes of the selection map, depth and error views show one range: zoom in any, all follow.
    m_tokenRange = new views::TokenRangeModel(this);
    m_selection->setRangeModel(m_tokenRange);
    m_depth->setRangeModel(m_tokenRange);
    m_error->setRangeModel(m_tokenRange);

    // One selected token position, shown by every view that has a token axis; a click in any of them
    // selects it (the text scrolls there).
    connect(m_text, &views::TextView::tokenClicked, this,
            [this](qint64 p) { setSelectedPosition(p, false); });
    connect(m_selection, &views::SelectionMapView::tokenClicked, this,
            [this](qint64 p) { setSelectedPosition(p); });
    connect(m_depth, &views::DepthView::tokenClicked, this, [this](qint64 p) { setSelectedPosition(p); });
    connect(m_attention, &views::AttentionMapView::blockClicked, this,
            [this](qint64, qint64 key) { setSelectedPosition(key); });
    connect(m_coverage, &views::CoverageView::droppedCountClicked, this, [this](qint64 dropped) {
        // The token at that place in the highlighted head's ranking (lowest score first).
        const ExplorerParams& p = m_controller->params();
        auto scores = m_controller->scores(p.layer);
        if (!scores || p.head >= scores->qHeads ||
            Index(scores->headRank.size()) < scores->qHeads * scores->prefix || dropped < 1 ||
            dropped > scores->prefix)
            return;
        setSelectedPosition(scores->headOrder(p.head)[scores->prefix - dropped]);
    });

    // "Jump to the first sparse layer" on a dense layer's lesson.
    connect(m_howItWorks, &views::HowItWorksPanel::jumpToSparseLayerRequested, this, [this] {
        for (int l = 0; l < m_controller->layerCount(); ++l)
            if (m_controller->isSparseLayer(l)) {
                m_controller->setLayer(l);
                return;
            }
    });

    // Methods view (issue 11): its model schedules through the controller; a click sets a knob.
    m_methodsModel = new MethodsModel(controller, this);
    connect(m_methodsModel, &MethodsModel::changed, this, [this] {
        // The attention map only draws a pattern with the overlay on (or to clear one turned off).
        const bool overlay = m_controller->params().methodOverlay || !m_attention->patternOverlay().empty() ||
                             m_attention->compressedPattern().cellCount > 0;
        markDirty(Methods | MethodHeads | (overlay ? Attention : 0u));
    });
    connect(m_methods, &views::MethodsView::pointClicked, m_methodsModel, &MethodsModel::applyKnob);
    connect(m_methods, &views::MethodsView::axesChanged, this, [this](const QString& x, const QString& y) {
        ExplorerParams p = m_controller->params();
        p.methodsX = x;
        p.methodsY = y;
        m_controller->setParams(p);
    });
    connect(m_methods, &views::MethodsView::overlayToggled, this, [this](bool on) {
        ExplorerParams p = m_controller->params();
        p.methodOverlay = on;
        m_controller->setParams(p);
    });
    connect(m_methods, &views::MethodsView::overlayCoordinatesChosen, this, [this](bool compressed) {
        ExplorerParams p = m_controller->params();
        p.methodOverlayCompressed = compressed;
        m_controller->setParams(p);
    });
    connect(m_methods, &views::MethodsView::methodChosen, this, [this](const QString& method) {
        ExplorerParams p = m_controller->params();
        p.method = method;
        m_controller->setParams(p);
    });

    connect(controller, &AnalysisController::fileOpened, this, [this] {
        const auto& strings = m_controller->capture()->tokenStrings();
        m_tokenStrings =
            strings.empty() ? nullptr : std::make_shared<const std::vector<std::string>>(strings);
        const auto& ids = m_controller->capture()->tokenIds();
        m_tokenIds = ids.empty() ? nullptr : std::make_shared<const std::vector<std::int32_t>>(ids);
        setSelectedPosition(-1);
        m_headCurves.clear();
        m_errorMetrics.clear();
        m_tokenRange->setTotal(m_controller->tokenCount());
        m_tokenRange->reset();
        // A new file resets views' data; apply layer, head and colours to them again.
        m_style = Style{};
        refreshStyle();
        markDirty(~0u);
    });
    connect(controller, &AnalysisController::selectionChanged, this, [this] {
        markDirty(SelectionMap | Coverage | Attention | HowItWorks | Overview | Depth | Sparsity | Text);
    });
    connect(controller, &AnalysisController::layersChanged, this,
            [this] { markDirty(Overview | Depth | Sparsity | Effect | Text); });
    connect(controller, &AnalysisController::metricsChanged, this,
            [this](int) { markDirty(Overview | Error); });
    connect(controller, &AnalysisController::attentionMapChanged, this, [this] { markDirty(Attention); });
    connect(controller, &AnalysisController::paramsChanged, this, [this] {
        refreshStyle();
        markDirty(Overview | Depth | Error | HowItWorks | Effect | Text);
    });
    refreshStyle();
    markDirty(~0u);
}

ViewSet::~ViewSet() {
    // Deleting a view sends it Hide: the filter must not look at views already deleted.
    for (auto* v : m_views)
        v->widget()->removeEventFilter(this);
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
    for (auto* v : m_views)
        out << v->viewName();
    return out;
}

int ViewSet::refreshCount(const QString& name) const {
    for (std::size_t i = 0; i < m_parts.size(); ++i)
        if (m_parts[i].second->viewName() == name) return m_refreshCounts[i];
    return -1;
}

int ViewSet::needsOf(const QString& name) const {
    if (name == QLatin1String("effect")) {
        // Without an effect file the view shows how to get one; nothing to wait for.
        if (!m_controller->effect() && !m_controller->isOpeningEffect()) return 0;
        return Need::NeedEffect | (effectEstimateApplies() ? Need::NeedAllSelections : 0);
    }
    return needsOf(name, m_controller->params(), m_viewState);
}

int ViewSet::needsOf(const QString& name, const ExplorerParams& params, const ViewState& viewState) {
    if (name == QLatin1String("overview"))
        return overviewMetricFor(viewState.overviewMetric) == views::OverviewMetric::KeptFraction
                   ? Need::NeedAllSelections
                   : Need::NeedAllSelections | Need::NeedAllMetrics;
    if (name == QLatin1String("attention") && params.methodOverlay)
        return Need::NeedSelection | Need::NeedAttentionMap | Need::NeedExtra;
    if (name == QLatin1String("attention")) return Need::NeedSelection | Need::NeedAttentionMap;
    if (name == QLatin1String("error")) return Need::NeedSelection | Need::NeedAllMetrics;
    if (name == QLatin1String("depth") || name == QLatin1String("sparsity")) return Need::NeedAllSelections;
    if (name == QLatin1String("effect")) return 0; // what the open effect file needs: the member overload
    if (name == QLatin1String("text")) return Need::NeedSelection | Need::NeedAllSelections;
    if (name == QLatin1String("methods") || name == QLatin1String("method-heads"))
        return Need::NeedSelection | Need::NeedExtra;
    return Need::NeedSelection;
}

void ViewSet::flush() {
    m_deferred->stop();
    refresh(m_dirty);
}

unsigned ViewSet::partOf(const QObject* widget) const {
    for (const auto& [part, v] : m_parts)
        if (v->widget() == widget) return part;
    return 0;
}

bool ViewSet::eventFilter(QObject* watched, QEvent* event) {
    // A view that was skipped while hidden catches up before its first paint.
    if (event->type() == QEvent::Show)
        if (const unsigned part = partOf(watched); part & m_dirty) refresh(part);
    // The methods model works while its views (or the attention map's overlay) are on screen: tell it
    // once the tab switch has settled (the window names the new view after showing it). Pointers are
    // compared, not dereferenced, and checked again later: closing the window deletes the views first.
    const QObject* methods = static_cast<QWidget*>(m_methods);
    const QObject* heads = static_cast<QWidget*>(m_methodHeads);
    const QObject* attention = static_cast<QWidget*>(m_attention);
    if ((event->type() == QEvent::Show || event->type() == QEvent::Hide) &&
        (watched == methods || watched == heads || watched == attention)) {
        QPointer<QWidget> m(m_methods), h(m_methodHeads);
        QTimer::singleShot(0, this, [this, m, h] {
            m_methodsModel->setVisible((m && m->isVisible()) || (h && h->isVisible()));
            m_controller->requestSchedule();
        });
    }
    return QObject::eventFilter(watched, event);
}

void ViewSet::markDirty(unsigned parts) {
    m_dirty |= parts;
    unsigned visible = 0;
    for (const auto& [part, v] : m_parts)
        if (v->widget()->isVisible()) visible |= part;
    // The selection path is refreshed in the same event as the tau change; the rest once per turn.
    refresh(m_dirty & visible & kImmediate);
    if (m_dirty & visible & ~kImmediate) m_deferred->start();
}

void ViewSet::refresh(unsigned parts) {
    parts &= m_dirty;
    m_dirty &= ~parts;
    for (std::size_t i = 0; i < m_parts.size(); ++i)
        if (parts & m_parts[i].first) ++m_refreshCounts[i];
    if (parts & Overview) refreshOverview();
    if (parts & SelectionMap) refreshSelectionMap();
    if (parts & Coverage) refreshCoverage();
    if (parts & Attention) refreshAttention();
    if (parts & Error) refreshError();
    if (parts & Depth) refreshDepth();
    if (parts & Sparsity) refreshSparsity();
    if (parts & HowItWorks) refreshHowItWorks();
    if (parts & Effect) refreshEffect();
    if (parts & Text) refreshText();
    if (parts & (Methods | MethodHeads)) refreshMethods();
}

void ViewSet::refreshMethods() {
    const ExplorerParams& p = m_controller->params();
    m_methods->setAxes(views::methodsXFromName(p.methodsX), views::methodsYFromName(p.methodsY));
    m_methods->setData(m_methodsModel->viewData());
    m_methodHeads->setData(m_methodsModel->headsData());
}

void ViewSet::setViewState(const ViewState& state) {
    if (state == m_viewState) return;
    m_viewState = state;
    m_methodsModel->setCurrentView(state.view);
    refreshStyle();
    emit viewStateChanged(m_viewState);
}

void ViewSet::setColorMap(const QString& name) {
    ViewState s = m_viewState;
    s.colorMap = name;
    setViewState(s);
}

void ViewSet::setOverviewMetric(const QString& name) {
    ViewState s = m_viewState;
    s.overviewMetric = name;
    setViewState(s);
}

void ViewSet::setCurrentView(const QString& name) {
    ViewState s = m_viewState;
    s.view = name;
    setViewState(s);
}

void ViewSet::refreshStyle() {
    // Only what changed is applied: several views rebuild caches (or a whole chart) in these setters, so
    // repeating an unchanged colour map or head on every tau step would cost more than the step itself.
    const ExplorerParams& p = m_controller->params();
    const ViewState& v = m_viewState;
    const bool colours = v.colorMap != m_style.colorMap, layer = p.layer != m_style.layer,
               head = p.head != m_style.head, metric = v.overviewMetric != m_style.metric;
    m_style = {v.colorMap, v.overviewMetric, p.layer, p.head};
    if (colours) {
        m_overview->setColourMap(v.colorMap);
        m_selection->setColourMap(v.colorMap);
        m_attention->setColourMap(v.colorMap);
        m_depth->setColourMap(v.colorMap);
        m_effect->setColourMap(v.colorMap);
        m_text->setColourMap(v.colorMap);
    }
    if (metric) m_overview->setMetric(overviewMetricFor(v.overviewMetric));
    if (layer || head) {
        m_overview->setSelected(p.layer, p.head);
        m_error->setSelected(p.layer, p.head);
    }
    if (head) {
        m_selection->setSelectedHead(p.head);
        markDirty(Coverage); // its highlight rebuilds the chart: done lazily with the data
    }
    if (layer) {
        m_depth->setSelectedLayer(p.layer);
        m_sparsity->setSelectedLayer(p.layer);
    }
}

void ViewSet::refreshSelectionMap() {
    const int layer = m_controller->params().layer;
    const CaptureInfo* info = m_controller->info();
    views::SelectionMapData map;
    map.layerId = m_controller->modelLayerId(layer);
    map.selection = m_controller->selection(layer);
    map.scores = m_controller->scores(layer);
    map.groupSize = info && info->kvHeads > 0 ? int(info->qHeads / info->kvHeads) : 1;
    map.tokenStrings = m_tokenStrings;
    m_selection->setData(std::move(map));
}

void ViewSet::refreshCoverage() {
    const ExplorerParams& p = m_controller->params();
    auto sel = m_controller->selection(p.layer);
    auto scores = m_controller->scores(p.layer);
    views::CoverageData coverage;
    coverage.layerId = m_controller->modelLayerId(p.layer);
    coverage.tau = p.tsa.tau;
    coverage.sparse = sel && sel->sparse;
    if (scores) {
        coverage.prefix = scores->prefix;
        coverage.layer = coverageCurve(*scores, -1, p.tsa.tau);
        // Head curves do not depend on tau: sorted once per scores object.
        auto it = std::find_if(m_headCurves.begin(), m_headCurves.end(),
                               [&](const auto& e) { return e.first.lock() == scores; });
        if (it == m_headCurves.end()) {
            std::vector<CoverageCurve> heads;
            for (Index h = 0; h < scores->qHeads; ++h)
                heads.push_back(coverageCurve(*scores, h, p.tsa.tau));
            if (m_headCurves.size() >= 4) m_headCurves.erase(m_headCurves.begin());
            m_headCurves.emplace_back(scores, std::move(heads));
            it = m_headCurves.end() - 1;
        }
        coverage.heads = it->second;
    }
    // Both setters rebuild the chart; call each only when what it shows changed.
    if (m_coverageHead != p.head) {
        m_coverageHead = p.head;
        m_coverage->setHighlightedHead(p.head);
    }
    const bool same = scores && m_coverageKey.scores.lock() == scores && m_coverageKey.tau == p.tsa.tau &&
                      m_coverageKey.sparse == coverage.sparse && m_coverageKey.layerId == coverage.layerId;
    updateCoverageMark();
    if (same) return;
    const bool onlyTau = scores && m_coverageKey.scores.lock() == scores &&
                         m_coverageKey.sparse == coverage.sparse && m_coverageKey.layerId == coverage.layerId;
    m_coverageKey = {scores, p.tsa.tau, coverage.sparse, coverage.layerId};
    if (onlyTau)
        m_coverage->setTau(p.tsa.tau, coverage.layer.budgetDropped);
    else
        m_coverage->setData(std::move(coverage));
}

void ViewSet::refreshAttention() {
    const ExplorerParams& p = m_controller->params();
    views::AttentionBlocks blocks;
    blocks.layerId = m_controller->modelLayerId(p.layer);
    blocks.head = p.head;
    if (auto map = m_controller->attentionMap()) {
        blocks.tokens = map->tokens;
        blocks.blockSize = map->blockSize;
        blocks.blocks = int(map->blocks);
        // Per-row means over sampled rows, drawn as they are.
        blocks.share = map->mass;
        blocks.sampledRows.assign(map->sampledRows.begin(), map->sampledRows.end());
    }
    if (auto sel = m_controller->selection(p.layer); sel && sel->sparse && p.head < sel->qHeads) {
        blocks.sparse = true;
        blocks.kept.assign(sel->head(p.head), sel->head(p.head) + sel->kept);
    }
    std::vector<std::uint8_t> pattern;
    views::AttentionMapView::CompressedPattern compressed;
    auto chosen = m_methodsModel->chosenPattern();
    if (chosen && p.methodOverlay && blocks.blocks > 0 && p.head < chosen->qHeads) {
        if (p.methodOverlayCompressed && !chosen->tokenSets.empty()) {
            // The block stage over the head's kept tokens, on a grid as fine as the map's.
            compressed.length = chosen->length();
            // As many cells as the map has blocks at most, none of them empty.
            compressed.cellSize = (compressed.length + blocks.blocks - 1) / blocks.blocks;
            compressed.cellCount = int((compressed.length + compressed.cellSize - 1) / compressed.cellSize);
            compressed.cells = coarseMask(*chosen, p.head, compressed.cellSize, compressed.cellCount,
                                          PatternSpace::Compressed);
            const std::int32_t* kept = chosen->tokenSets.head(p.head);
            compressed.keptPositions.assign(kept, kept + chosen->tokenSets.kept);
            compressed.label = p.method;
        } else {
            pattern = coarseMask(*chosen, p.head, blocks.blockSize, blocks.blocks);
        }
    }
    m_attention->setData(std::move(blocks));
    m_attention->setPatternOverlay(std::move(pattern), p.method);
    m_attention->setCompressedPattern(std::move(compressed));
}

void ViewSet::refreshOverview() {
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

void ViewSet::refreshError() {
    const int layers = m_controller->layerCount();
    if (int(m_errorMetrics.size()) != layers || m_error->data().layerIds.size() != std::size_t(layers) ||
        m_error->data().window != m_controller->params().tsa.window) {
        views::ErrorData data;
        data.qHeads = m_controller->headCount();
        data.window = m_controller->params().tsa.window;
        for (int l = 0; l < layers; ++l)
            data.layerIds.push_back(m_controller->modelLayerId(l));
        data.metrics.assign(std::size_t(layers), nullptr);
        m_error->setData(std::move(data));
        m_errorMetrics.assign(std::size_t(layers), nullptr);
    }
    // Metrics of earlier parameters stay on screen marked stale until the new ones arrive, layer by layer
    // (blanking the grid on every tau step hid the values the user was comparing against). A layer that
    // is dense now and was dense then has the same exact values: not stale.
    for (int l = 0; l < layers; ++l) {
        bool current = false;
        auto m = m_controller->metrics(l, &current);
        if (m && !current) {
            auto sel = m_controller->selection(l);
            const bool wasDense = std::all_of(m->heads.begin(), m->heads.end(),
                                              [](const HeadMetrics& h) { return h.droppedRows == 0; });
            if (sel && !sel->sparse && wasDense) current = true;
        }
        const bool stale = m && !current;
        if (m != m_errorMetrics[std::size_t(l)] || stale != m_error->isStale(l)) {
            m_errorMetrics[std::size_t(l)] = m;
            m_error->setLayerMetrics(l, m, stale);
        }
    }
    m_error->setSelected(m_controller->params().layer, m_controller->params().head);
}

void ViewSet::refreshDepth() {
    std::vector<int> ids;
    std::vector<std::shared_ptr<const Selection>> selections;
    for (int l = 0; l < m_controller->layerCount(); ++l) {
        ids.push_back(m_controller->modelLayerId(l));
        selections.push_back(m_controller->selection(l));
    }
    m_depth->setData(views::buildDepthData(m_controller->params().head, ids, selections));
    m_depth->setSelectedLayer(m_controller->params().layer);
}

void ViewSet::refreshSparsity() {
    views::SparsityData data;
    data.tau = m_controller->params().tsa.tau;
    data.tokens = m_controller->tokenCount();
    for (int l = 0; l < m_controller->layerCount(); ++l) {
        const int id = m_controller->modelLayerId(l);
        if (auto sel = m_controller->selection(l)) {
            data.layers.push_back(views::makeSparsityLayer(id, *sel));
        } else {
            views::SparsityLayer layer; // not selected yet: unknown, not "all kept"
            layer.layerId = id;
            layer.sparse = m_controller->isSparseLayer(l);
            layer.keptFraction = std::numeric_limits<double>::quiet_NaN();
            data.layers.push_back(layer);
        }
    }
    m_sparsity->setData(std::move(data));
    m_sparsity->setSelectedLayer(m_controller->params().layer);
}

void ViewSet::refreshHowItWorks() {
    const ExplorerParams& p = m_controller->params();
    const CaptureInfo* info = m_controller->info();
    views::HowItWorksData data;
    data.layerId = m_controller->modelLayerId(p.layer);
    data.head = p.head;
    data.groupSize = info && info->kvHeads > 0 ? int(info->qHeads / info->kvHeads) : 1;
    data.params = p.tsa;
    data.scores = m_controller->scores(p.layer);
    data.selection = m_controller->selection(p.layer);
    for (int l = 0; l < m_controller->layerCount() && data.firstSparseLayerId < 0; ++l)
        if (m_controller->isSparseLayer(l)) data.firstSparseLayerId = m_controller->modelLayerId(l);
    m_howItWorks->setData(std::move(data));
}

bool ViewSet::effectEstimateApplies() const {
    // Only a selection made with the effect's own W, k and min_tokens on the same tokens is comparable.
    const auto effect = m_controller->effect();
    const TsaParams& t = m_controller->params().tsa;
    return effect && m_controller->effectMatchesCapture() && t.window == effect->window &&
           t.poolKernel == effect->poolKernel && t.minTokens == effect->minTokens;
}

void ViewSet::refreshEffect() {
    const ExplorerParams& p = m_controller->params();
    const auto effect = m_controller->effect();
    if (m_effect->data() != effect) m_effect->setData(effect);
    m_effect->setXAxis(p.effectAxis == QLatin1String("kept") ? views::EffectXAxis::KeptFraction
                                                             : views::EffectXAxis::Tau);
    m_effect->setNeedleExact(p.effectNeedle == QLatin1String("exact"));
    m_effect->selectNearestTau(p.tsa.tau);
    views::EffectCaptureEstimate estimate;
    if (effect && effectEstimateApplies()) {
        estimate.tau = p.tsa.tau;
        estimate.keptFraction.assign(std::size_t(effect->numLayers),
                                     std::numeric_limits<double>::quiet_NaN());
        for (int l = 0; l < m_controller->layerCount(); ++l) {
            const int id = m_controller->modelLayerId(l);
            const auto sel = m_controller->selection(l);
            if (sel && id >= 0 && id < effect->numLayers && sel->tokens > 0)
                estimate.keptFraction[std::size_t(id)] = double(sel->kept) / double(sel->tokens);
        }
    }
    m_effect->setCaptureEstimate(std::move(estimate));
}

void ViewSet::refreshText() {
    const ExplorerParams& p = m_controller->params();
    const CaptureInfo* info = m_controller->info();
    views::TextViewData data;
    data.layerId = m_controller->modelLayerId(p.layer);
    data.head = p.head;
    data.groupSize = info && info->kvHeads > 0 ? int(info->qHeads / info->kvHeads) : 1;
    data.tokens = m_controller->tokenCount();
    data.tokenStrings = m_tokenStrings;
    data.tokenIds = m_tokenIds;
    data.selection = m_controller->selection(p.layer);
    data.scores = m_controller->scores(p.layer);
    for (int l = 0; l < m_controller->layerCount(); ++l) {
        data.layerIds.push_back(m_controller->modelLayerId(l));
        data.layers.push_back(m_controller->selection(l));
    }
    m_text->setData(std::move(data));
    if (m_text->selectedPosition() != m_selectedPosition)
        m_text->setSelectedPosition(m_selectedPosition, false);
}

void ViewSet::setSelectedPosition(qint64 position, bool scrollText) {
    const Index tokens = m_controller->tokenCount();
    m_selectedPosition = position >= 0 && position < tokens ? position : -1;
    m_text->setSelectedPosition(m_selectedPosition, scrollText);
    m_selection->setMarkedPosition(m_selectedPosition);
    m_depth->setMarkedPosition(m_selectedPosition);
    m_attention->setMarkedPosition(m_selectedPosition);
    updateCoverageMark();
    emit selectedPositionChanged(m_selectedPosition);
}

void ViewSet::updateCoverageMark() {
    // Where the token sits in the highlighted head's ranking: x = tokens dropped up to and including it.
    const ExplorerParams& p = m_controller->params();
    auto scores = m_controller->scores(p.layer);
    const qint64 t = m_selectedPosition;
    if (t < 0 || !scores || p.head >= scores->qHeads || t >= scores->prefix ||
        Index(scores->headRank.size()) < scores->qHeads * scores->prefix) {
        m_coverage->setMarkedToken(-1, {});
        return;
    }
    const std::int32_t* order = scores->headOrder(p.head);
    const qint64 rank = qint64(std::find(order, order + scores->prefix, std::int32_t(t)) - order); // 0 = top
    m_coverage->setMarkedToken(
        scores->prefix - rank,
        QStringLiteral("token %1: rank %2 of %3 by n_h").arg(t).arg(rank + 1).arg(scores->prefix));
}

} // namespace tsa::app
