// The parameter dock's contents: tau, W, pool kernel, min_tokens, the sparse-layer plan, layer and head,
// colour map and overview metric. Parameter edits go straight to the controller; W and the kernel (which
// rescore every layer) wait until typing pauses, everything else applies on each step. The colour map and
// overview metric are the views' state: the panel emits them and the window hands them to the ViewSet.
#pragma once

#include "app/explorer/view_state.h"

#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QSpinBox;
class QTimer;

namespace tsa::app {

class AnalysisController;
class TauEditor;

class ControlsPanel : public QWidget {
    Q_OBJECT
public:
    explicit ControlsPanel(AnalysisController* controller, QWidget* parent = nullptr);

    TauEditor* tauEditor() const { return m_tau; }
    QSpinBox* windowBox() const { return m_window; }
    QSpinBox* kernelBox() const { return m_kernel; }
    QSpinBox* minTokensBox() const { return m_minTokens; }
    QComboBox* modeBox() const { return m_mode; }
    QComboBox* layerBox() const { return m_layer; }
    QSpinBox* headBox() const { return m_head; }
    QComboBox* colourMapBox() const { return m_colourMap; }
    QComboBox* metricBox() const { return m_metric; }

    // The colour map and overview metric boxes show the views' state (ViewSet); choosing in them emits.
    void setViewState(const ViewState& state);

signals:
    void colorMapChosen(const QString& name);
    void overviewMetricChosen(const QString& name);

private:
    void syncFromController();
    void rebuildLayerList();
    void applyScoring();
    void applyPlan();
    void updateSummary();

    AnalysisController* m_controller;
    TauEditor* m_tau;
    QSpinBox* m_window;
    QSpinBox* m_kernel;
    QSpinBox* m_minTokens;
    QComboBox* m_mode;
    QDoubleSpinBox* m_delta;
    QLineEdit* m_list;
    QComboBox* m_layer;
    QSpinBox* m_head;
    QLabel* m_kvHead;
    QComboBox* m_colourMap;
    QComboBox* m_metric;
    QLabel* m_fileSummary;
    QLabel* m_selectionSummary;
    QTimer* m_scoringDelay;
};

} // namespace tsa::app
