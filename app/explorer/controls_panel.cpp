#include "app/explorer/controls_panel.h"

#include "app/explorer/analysis_controller.h"
#include "app/explorer/tau_editor.h"
#include "core/analysis/metrics.h"
#include "core/param_rules.h"
#include "views/colour_map.h"

#include <QAbstractSpinBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>

namespace tsa::app {

namespace {

QString count(qint64 n) {
    return QLocale().toString(n);
}

QString modeName(SparseLayerMode mode) {
    return QString::fromLatin1(sparseLayerModeName(mode));
}

} // namespace

ControlsPanel::ControlsPanel(AnalysisController* controller, QWidget* parent)
    : QWidget(parent), m_controller(controller), m_tau(new TauEditor(this)), m_window(new QSpinBox(this)),
      m_kernel(new QSpinBox(this)), m_minTokens(new QSpinBox(this)), m_mode(new QComboBox(this)),
      m_delta(new QDoubleSpinBox(this)), m_list(new QLineEdit(this)), m_layer(new QComboBox(this)),
      m_head(new QSpinBox(this)), m_kvHead(new QLabel(this)), m_colourMap(new QComboBox(this)),
      m_metric(new QComboBox(this)), m_fileSummary(new QLabel(this)), m_selectionSummary(new QLabel(this)),
      m_scoringDelay(new QTimer(this)) {
    setObjectName(QStringLiteral("controlsPanel"));

    m_window->setObjectName(QStringLiteral("windowBox"));
    // The shared ranges (core/param_rules.h): a session value the rules accept is never cut by the box.
    m_window->setRange(1, int(kWindowMaximum));
    m_window->setToolTip(
        tr("W: the most recent queries that score the prefix; these tokens are always kept"));
    m_kernel->setObjectName(QStringLiteral("kernelBox"));
    m_kernel->setRange(1, int(kPoolKernelMaximum));
    m_kernel->setSingleStep(2);
    m_kernel->setToolTip(tr("k: width of the moving average that smooths the scores (odd)"));
    m_minTokens->setObjectName(QStringLiteral("minTokensBox"));
    m_minTokens->setRange(0, int(kMinTokensMaximum));
    m_minTokens->setSingleStep(128);
    m_minTokens->setGroupSeparatorShown(true);
    m_minTokens->setToolTip(tr("Lower bound on the kept prefix tokens per head"));

    m_mode->setObjectName(QStringLiteral("modeBox"));
    m_mode->addItem(tr("Second half"), modeName(SparseLayerMode::Half));
    m_mode->addItem(tr("By drift (delta)"), modeName(SparseLayerMode::Drift));
    m_mode->addItem(tr("All layers"), modeName(SparseLayerMode::All));
    m_mode->addItem(tr("List"), modeName(SparseLayerMode::List));
    m_mode->setToolTip(tr("Which layers use Token Sparse Attention (spec section 6)"));
    m_delta->setObjectName(QStringLiteral("deltaBox"));
    m_delta->setRange(0.0, 1.0);
    m_delta->setSingleStep(0.05);
    m_delta->setDecimals(2);
    m_delta->setToolTip(tr("Quantile of the normalised drift; layers at or below it are sparse"));
    m_list->setObjectName(QStringLiteral("layerListEdit"));
    m_list->setPlaceholderText(tr("e.g. 16-31 or 4,8,12"));
    m_list->setToolTip(tr("Model layer numbers, comma separated; ranges with a dash"));

    m_layer->setObjectName(QStringLiteral("layerBox"));
    m_layer->setToolTip(tr("Layer shown by the per-layer views (PageUp/PageDown)"));
    m_head->setObjectName(QStringLiteral("headBox"));
    m_head->setToolTip(tr("Query head shown by the per-head views"));
    m_colourMap->setObjectName(QStringLiteral("colourMapBox"));
    m_colourMap->addItems(views::ColourMap::names());
    m_metric->setObjectName(QStringLiteral("metricBox"));
    m_metric->addItem(tr("Kept fraction"), QString::fromLatin1(layerMeasureName(LayerMeasure::KeptFraction)));
    m_metric->addItem(tr("Row error (p95)"), QString::fromLatin1(layerMeasureName(LayerMeasure::ErrorP95)));
    m_metric->addItem(tr("Retained mass (median)"),
                      QString::fromLatin1(layerMeasureName(LayerMeasure::RetainedMass)));

    m_fileSummary->setWordWrap(true);
    m_fileSummary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_selectionSummary->setObjectName(QStringLiteral("selectionSummary"));
    m_selectionSummary->setWordWrap(true);

    auto* selection = new QGroupBox(tr("Selection"), this);
    auto* sf = new QFormLayout(selection);
    sf->addRow(tr("tau"), m_tau);
    sf->addRow(tr("Window W"), m_window);
    sf->addRow(tr("Pool kernel k"), m_kernel);
    sf->addRow(tr("min_tokens"), m_minTokens);

    auto* layers = new QGroupBox(tr("Sparse layers"), this);
    auto* lf = new QFormLayout(layers);
    lf->addRow(tr("Mode"), m_mode);
    lf->addRow(tr("delta"), m_delta);
    lf->addRow(tr("Layers"), m_list);

    auto* focus = new QGroupBox(tr("Show"), this);
    auto* ff = new QFormLayout(focus);
    auto* headRow = new QHBoxLayout;
    headRow->addWidget(m_head, 1);
    headRow->addWidget(m_kvHead);
    ff->addRow(tr("Layer"), m_layer);
    ff->addRow(tr("Head"), headRow);
    ff->addRow(tr("Colour map"), m_colourMap);
    ff->addRow(tr("Overview metric"), m_metric);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_fileSummary);
    layout->addWidget(selection);
    layout->addWidget(layers);
    layout->addWidget(focus);
    layout->addWidget(m_selectionSummary);
    layout->addStretch(1);

    m_scoringDelay->setSingleShot(true);
    m_scoringDelay->setInterval(400);
    connect(m_scoringDelay, &QTimer::timeout, this, &ControlsPanel::applyScoring);

    // Size the fields by a few characters, not by their longest item or largest value (min_tokens allows
    // 1,073,741,824): the dock then fits beside the views in an 800 px window.
    for (QComboBox* box : findChildren<QComboBox*>()) {
        box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
        box->setMinimumContentsLength(9);
    }
    for (QAbstractSpinBox* box : findChildren<QAbstractSpinBox*>()) {
        box->setSizePolicy(QSizePolicy::Ignored, box->sizePolicy().verticalPolicy());
        box->setMinimumWidth(box->fontMetrics().horizontalAdvance(QStringLiteral("1,000,000")) + 30);
    }
    connect(m_tau, &TauEditor::valueChanged, m_controller, &AnalysisController::setTau);
    // W and k rescore every layer: wait until typing or spinning pauses.
    connect(m_window, &QSpinBox::valueChanged, m_scoringDelay, qOverload<>(&QTimer::start));
    connect(m_kernel, &QSpinBox::valueChanged, this, [this](int k) {
        if (k % 2 == 0) {
            // An even kernel has no centre; step past it in the direction the user went.
            const QSignalBlocker b(m_kernel);
            m_kernel->setValue(k + (k > m_controller->params().tsa.poolKernel ? 1 : -1));
        }
        m_scoringDelay->start();
    });
    connect(m_minTokens, &QSpinBox::valueChanged, this, [this](int v) { m_controller->setMinTokens(v); });
    connect(m_mode, &QComboBox::currentIndexChanged, this, &ControlsPanel::applyPlan);
    connect(m_delta, &QDoubleSpinBox::valueChanged, this, &ControlsPanel::applyPlan);
    connect(m_list, &QLineEdit::editingFinished, this, &ControlsPanel::applyPlan);
    connect(m_layer, &QComboBox::activated, this,
            [this](int index) { m_controller->setLayer(m_layer->itemData(index).toInt()); });
    connect(m_head, &QSpinBox::valueChanged, m_controller, &AnalysisController::setHead);
    connect(m_colourMap, &QComboBox::currentTextChanged, this, &ControlsPanel::colorMapChosen);
    connect(m_metric, &QComboBox::currentIndexChanged, this,
            [this](int i) { emit overviewMetricChosen(m_metric->itemData(i).toString()); });

    connect(m_controller, &AnalysisController::fileOpened, this, &ControlsPanel::rebuildLayerList);
    connect(m_controller, &AnalysisController::paramsChanged, this, &ControlsPanel::syncFromController);
    connect(m_controller, &AnalysisController::selectionChanged, this, &ControlsPanel::updateSummary);
    connect(m_controller, &AnalysisController::layersChanged, this, &ControlsPanel::rebuildLayerList);
    connect(m_controller, &AnalysisController::effectOpened, this, &ControlsPanel::rebuildLayerList);
    connect(m_controller, &AnalysisController::effectClosed, this, &ControlsPanel::rebuildLayerList);
    rebuildLayerList();
    syncFromController();
}

void ControlsPanel::applyScoring() {
    ExplorerParams p = m_controller->params();
    p.tsa.window = m_window->value();
    p.tsa.poolKernel = m_kernel->value();
    m_controller->setParams(p);
}

void ControlsPanel::applyPlan() {
    LayerPlanConfig plan = m_controller->params().plan;
    const QString mode = m_mode->currentData().toString();
    plan.mode = sparseLayerModeFromName(mode.toStdString()).value_or(SparseLayerMode::Half);
    plan.delta = m_delta->value();
    // The shared layer-list rule (core/param_rules.h); a refused list keeps the last good one and says why.
    const std::string bad = parseLayerList(m_list->text().toStdString(), &plan.list);
    m_list->setStyleSheet(bad.empty() ? QString() : QStringLiteral("QLineEdit { background: #ffe0e0; }"));
    m_list->setToolTip(bad.empty() ? tr("Model layer numbers, comma separated; ranges with a dash")
                                   : tr("Not used: %1").arg(QString::fromStdString(bad)));
    m_delta->setEnabled(plan.mode == SparseLayerMode::Drift);
    m_list->setEnabled(plan.mode == SparseLayerMode::List);
    m_controller->setPlan(plan);
}

void ControlsPanel::rebuildLayerList() {
    const QSignalBlocker b(m_layer);
    const int layers = m_controller->layerCount();
    if (m_layer->count() != layers) m_layer->clear();
    for (int l = 0; l < layers; ++l) {
        const bool sparse = m_controller->isSparseLayer(l);
        const QString text =
            tr("Layer %1%2").arg(m_controller->modelLayerId(l)).arg(sparse ? tr("  · sparse") : QString());
        if (l < m_layer->count())
            m_layer->setItemText(l, text);
        else
            m_layer->addItem(text, l);
    }
    m_layer->setCurrentIndex(m_controller->params().layer);
    if (const CaptureInfo* info = m_controller->info()) {
        const QString layersText = info->layers == info->modelLayers
                                       ? tr("%1 layers").arg(info->layers)
                                       : tr("%1 of %2 layers").arg(info->layers).arg(info->modelLayers);
        m_fileSummary->setText(
            tr("<b>%1</b><br>%2 tokens · %3 · %4 query / %5 kv heads · head dim %6 · %7%8")
                .arg(QFileInfo(QString::fromStdString(info->path)).fileName().toHtmlEscaped())
                .arg(count(info->tokens))
                .arg(layersText)
                .arg(info->qHeads)
                .arg(info->kvHeads)
                .arg(info->headDim)
                .arg(QString::fromLatin1(dtypeName(info->dtype)))
                .arg(info->model.empty()
                         ? QString()
                         : QStringLiteral(" · ") + QString::fromStdString(info->model).toHtmlEscaped()));
    } else if (m_controller->effect()) {
        m_fileSummary->setText(tr("<b>%1</b><br>effect file (Effect view). Open a capture to see the "
                                  "selection itself: File ▸ Open.")
                                   .arg(QFileInfo(m_controller->effectPath()).fileName().toHtmlEscaped()));
    } else {
        m_fileSummary->setText(tr("No file open. File ▸ Open, or drop a .safetensors / .npz capture here."));
    }
}

void ControlsPanel::syncFromController() {
    const ExplorerParams& p = m_controller->params();
    const QSignalBlocker b1(m_window), b2(m_kernel), b3(m_minTokens), b4(m_mode), b5(m_delta), b6(m_list),
        b7(m_layer), b8(m_head);
    m_tau->setValue(p.tsa.tau);
    // A pending W/k edit must not be overwritten by the old value it is about to replace.
    if (!m_scoringDelay->isActive()) {
        m_window->setValue(int(p.tsa.window));
        m_kernel->setValue(int(p.tsa.poolKernel));
    }
    m_minTokens->setValue(int(p.tsa.minTokens));
    m_mode->setCurrentIndex(m_mode->findData(modeName(p.plan.mode)));
    m_delta->setValue(p.plan.delta);
    if (!m_list->hasFocus()) m_list->setText(QString::fromStdString(layerListText(p.plan.list)));
    m_delta->setEnabled(p.plan.mode == SparseLayerMode::Drift);
    m_list->setEnabled(p.plan.mode == SparseLayerMode::List);
    rebuildLayerList();
    const int heads = m_controller->headCount();
    m_head->setRange(0, std::max(0, heads - 1));
    m_head->setValue(p.head);
    const CaptureInfo* info = m_controller->info();
    if (info && info->kvHeads > 0 && info->qHeads > 0)
        m_kvHead->setText(tr("kv head %1").arg(p.head / (info->qHeads / info->kvHeads)));
    else
        m_kvHead->clear();
    updateSummary();
}

void ControlsPanel::setViewState(const ViewState& state) {
    const QSignalBlocker b1(m_colourMap), b2(m_metric);
    m_colourMap->setCurrentText(state.colorMap);
    m_metric->setCurrentIndex(std::max(0, m_metric->findData(state.overviewMetric)));
}

void ControlsPanel::updateSummary() {
    if (!m_controller->hasCapture()) {
        m_selectionSummary->clear();
        return;
    }
    const int layer = m_controller->params().layer;
    auto sel = m_controller->selection(layer);
    QString text = tr("<b>Layer %1</b> · ").arg(m_controller->modelLayerId(layer));
    if (!sel) {
        text += tr("scoring…");
    } else if (!sel->sparse) {
        // The reason reads "L <= min_tokens + W": plain text inside rich text, so it must be escaped
        // (an unescaped "<" cut the summary off at "too short (L").
        text += tr("dense: %1").arg(QString::fromLatin1(denseReasonText(sel->denseReason)).toHtmlEscaped());
    } else {
        text += tr("sparse<br>keeps %1 of %2 tokens per head (%3%)<br>capacity %4 + W %5 · budget n = %6")
                    .arg(count(sel->kept))
                    .arg(count(sel->tokens))
                    .arg(100.0 * sel->keptFraction(), 0, 'f', 1)
                    .arg(count(sel->capacity))
                    .arg(count(sel->window))
                    .arg(count(sel->budgetCount));
    }
    if (!m_controller->planProblem().isEmpty())
        text += QStringLiteral("<br><span style='color:#a33'>%1</span>")
                    .arg(m_controller->planProblem().toHtmlEscaped());
    m_selectionSummary->setText(text);
}

} // namespace tsa::app
