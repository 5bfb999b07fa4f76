// The explorer's views and the glue that feeds them from the AnalysisController: one object shared by the
// window (which puts the widgets in tabs), --screenshot and `tsa export` (which render them without a
// window), so all three show the same picture.
//
// Updates are lazy per view: a controller signal marks the views that depend on it dirty; a visible view
// is refreshed at once (selection path: synchronously, so a tau change reaches the screen in the same
// event) or on the next event-loop turn (per-layer views, coalesced); a hidden view only when it is shown
// or when flush() is called before an export. A hidden Qt Charts view therefore costs nothing while
// the slider moves.
#pragma once

#include "app/explorer/explorer_params.h"
#include "app/explorer/view_state.h"
#include "core/analysis/metrics.h"

#include <QObject>
#include <QString>
#include <QStringList>
#include <memory>
#include <string>
#include <vector>

class QTimer;

namespace tsa::views {
class AttentionMapView;
class CoverageView;
class DepthView;
class EffectView;
class ErrorView;
class ExportableView;
class HowItWorksPanel;
class MethodHeadsView;
class MethodsView;
class OverviewView;
class SelectionMapView;
class SparsityView;
class TextView;
class TokenRangeModel;
} // namespace tsa::views

namespace tsa::app {

class AnalysisController;
class MethodsModel;

class ViewSet : public QObject {
    Q_OBJECT
public:
    explicit ViewSet(AnalysisController* controller, QObject* parent = nullptr);
    ~ViewSet() override; // deletes the views nobody adopted

    // In tab order.
    const std::vector<views::ExportableView*>& views() const { return m_views; }
    views::ExportableView* view(const QString& name) const;
    QStringList names() const;
    // AnalysisController::Need flags a view waits for before a screenshot or an export.
    int needsOf(const QString& name) const;
    // The part that depends on parameters and the view state only (the overview's metric decides), before
    // any file is open; never error metrics for the effect view (what its open effect file needs is the
    // member's answer).
    static int needsOf(const QString& name, const ExplorerParams& params, const ViewState& viewState);
    // Brings every view up to date now, visible or not (exports, screenshots, tests).
    void flush();
    // Refreshes counted per view since construction (tests check that hidden views are skipped).
    int refreshCount(const QString& name) const;
    MethodsModel* methodsModel() const { return m_methodsModel; }

    // How the views show their data (colour map, overview metric, the view on screen): the views' own
    // state, never the controller's, so changing it repaints and recomputes nothing.
    const ViewState& viewState() const { return m_viewState; }
    void setViewState(const ViewState& state);
    void setColorMap(const QString& name);
    void setOverviewMetric(const QString& name);
    // The view on screen (the window's tab, or the one an export renders).
    void setCurrentView(const QString& name);
    // The visible token range of the zoomable views (selection map, depth, error trace), shared by them.
    views::TokenRangeModel* tokenRange() const { return m_tokenRange; }

    // The token position selected in any view (a click in the text, the selection map, the depth view,
    // the attention map or the coverage chart), shown by all of them; -1 for none. scrollText: bring it
    // into view in the text (false when the click came from the text itself).
    void setSelectedPosition(qint64 position, bool scrollText = true);
    qint64 selectedPosition() const { return m_selectedPosition; }

signals:
    void selectedPositionChanged(qint64 position);
    void viewStateChanged(const ViewState& state);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    enum Part : unsigned {
        Overview = 1u << 0,
        SelectionMap = 1u << 1,
        Coverage = 1u << 2,
        Attention = 1u << 3,
        Error = 1u << 4,
        Depth = 1u << 5,
        Sparsity = 1u << 6,
        HowItWorks = 1u << 7,
        Effect = 1u << 8,
        Text = 1u << 9,
        Methods = 1u << 10,
        MethodHeads = 1u << 11,
    };
    static constexpr unsigned kImmediate = SelectionMap | Coverage | Attention | HowItWorks | Text;

    void markDirty(unsigned parts);
    void refresh(unsigned parts);
    unsigned partOf(const QObject* widget) const;
    void refreshOverview();
    void refreshSelectionMap();
    void refreshCoverage();
    void refreshAttention();
    void refreshError();
    void refreshDepth();
    void refreshSparsity();
    void refreshHowItWorks();
    void refreshEffect();
    bool effectEstimateApplies() const; // the capture's selections can be compared with the effect's
    void refreshStyle();
    void refreshText();
    void refreshMethods();
    void updateCoverageMark();

    AnalysisController* m_controller;
    std::vector<views::ExportableView*> m_views;
    std::vector<std::pair<unsigned, views::ExportableView*>> m_parts;
    std::vector<int> m_refreshCounts;
    views::OverviewView* m_overview = nullptr;
    views::SelectionMapView* m_selection = nullptr;
    views::CoverageView* m_coverage = nullptr;
    views::AttentionMapView* m_attention = nullptr;
    views::ErrorView* m_error = nullptr;
    views::DepthView* m_depth = nullptr;
    views::SparsityView* m_sparsity = nullptr;
    views::HowItWorksPanel* m_howItWorks = nullptr;
    views::EffectView* m_effect = nullptr;
    views::TextView* m_text = nullptr;
    views::MethodsView* m_methods = nullptr;
    views::MethodHeadsView* m_methodHeads = nullptr;
    MethodsModel* m_methodsModel = nullptr;
    ViewState m_viewState;
    views::TokenRangeModel* m_tokenRange = nullptr;
    qint64 m_selectedPosition = -1;
    std::shared_ptr<const std::vector<std::int32_t>> m_tokenIds;
    unsigned m_dirty = 0;
    struct Style {
        QString colorMap;
        QString metric;
        int layer = -2;
        int head = -2;
    } m_style;
    // What the coverage chart shows now, so an unchanged chart is not rebuilt.
    struct CoverageKey {
        std::weak_ptr<const LayerScores> scores;
        double tau = -1;
        bool sparse = false;
        int layerId = -2;
    } m_coverageKey;
    int m_coverageHead = -2;
    QTimer* m_deferred;
    std::shared_ptr<const std::vector<std::string>> m_tokenStrings;
    // Per-head coverage curves of recent LayerScores objects (weak: a freed object can never match).
    std::vector<std::pair<std::weak_ptr<const LayerScores>, std::vector<CoverageCurve>>> m_headCurves;
    // The error view takes metrics per layer; what it was last given, to send only what changed.
    std::vector<std::shared_ptr<const LayerMetrics>> m_errorMetrics;
};

} // namespace tsa::app
