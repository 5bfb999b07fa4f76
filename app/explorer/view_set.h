// The explorer's views and the glue that feeds them from the AnalysisController: one object shared by the
// window (which puts the widgets in tabs), --screenshot and `tsa export` (which render them without a
// window), so all three show the same picture. Each controller signal updates only the views that depend
// on it; the visible layer's selection reaches the selection views synchronously (that is the path the
// 50 ms budget is about), everything else is coalesced per event-loop turn.
#pragma once

#include <QObject>
#include <QString>
#include <QStringList>

#include <vector>

class QTimer;

namespace tsa::views {
class ExportableView;
class OverviewView;
} // namespace tsa::views

namespace tsa::app {

class AnalysisController;

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
    // Pushes everything again (after construction, after a file is opened).
    void refreshAll();
    // Applies the pending coalesced updates now (headless paths render right after waiting).
    void flush();

private:
    void refreshSelectionViews();
    void refreshLayerViews();
    void refreshMetricViews();
    void refreshAttentionMap();
    void refreshStyle();
    void scheduleLayers();

    AnalysisController* m_controller;
    std::vector<views::ExportableView*> m_views;
    views::OverviewView* m_overview = nullptr;
    QTimer* m_layerTimer;
    bool m_metricsDirty = false;
};

} // namespace tsa::app
