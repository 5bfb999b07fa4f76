// The Methods view's model (issue 11): for the visible layer, each sparse-attention method measured at
// its current setting and over the sweep of its main knob (core/methods/compare.h), computed one point
// per job through the AnalysisController's runner (ExtraTaskSource), so the newest request wins and the
// status bar shows progress. Order: the dense reference, the current points (TSA and TSA + X first: a
// tau change moves them), then the sweeps. Points are cached by layer, method and every knob the method
// reads, so a tau change recomputes only the TSA and TSA + X points and going back to a tau is free.
// Work is offered only while a view that shows it is the window's view (or the overlay is on).
#pragma once

#include "app/explorer/analysis_controller.h"
#include "core/methods/compare.h"
#include "views/methods_view.h"

#include <QObject>
#include <QPointer>
#include <map>
#include <memory>
#include <string>

namespace tsa::app {

class MethodsModel : public QObject, public ExtraTaskSource {
    Q_OBJECT
public:
    explicit MethodsModel(AnalysisController* controller, QObject* parent = nullptr);
    ~MethodsModel() override;

    // Offer work even when no methods view is the current view (exports, screenshots, tests).
    void setForced(bool on);
    // A methods view is on screen (the window's tab switch reaches the controller's view name only after
    // the tab is shown, and changing that name schedules nothing).
    void setVisible(bool on);
    // The view on screen (ViewState::view): the methods views and the attention map's overlay need work.
    void setCurrentView(const QString& name);

    std::optional<ExtraJob> nextJob() override;
    int pendingJobs() const override;
    bool ready() const override;

    // What the views draw, for the current parameters (missing points are left out).
    views::MethodsData viewData() const;
    views::MethodHeadsData headsData() const;
    // The chosen method's pattern at its current setting on the visible layer; null while not computed.
    std::shared_ptr<const Pattern> chosenPattern() const;

    // Points measured so far (all layers and settings), for tests and diagnostics.
    int computedPoints() const { return int(m_points.size()); }

    // A click on a sweep point: sets that method's knob (tau for TSA) in the explorer's parameters.
    void applyKnob(const QString& method, double value);

signals:
    void changed();

private:
    struct Entry {
        std::shared_ptr<const MethodMeasures> measures;
        std::shared_ptr<const Pattern> pattern; // current points only
        QString error;
    };
    struct Wanted {
        MethodKind kind;
        MethodSettings settings;
        std::string key;
        bool current;
        double knob;
    };
    bool active() const;
    std::vector<Wanted> wanted() const; // in the order they are computed
    std::string pointKey(int layer, MethodKind kind, const MethodSettings& settings) const;
    const Entry* find(const std::string& key) const;

    QPointer<AnalysisController> m_controller;
    bool m_forced = false;
    bool m_visible = false;
    QString m_view = QStringLiteral("overview");
    int m_denseLayer = -1;
    std::shared_ptr<const DenseReference> m_dense;
    QString m_denseError;
    int m_denseErrorLayer = -1;
    std::map<std::string, Entry> m_points;
};

} // namespace tsa::app
