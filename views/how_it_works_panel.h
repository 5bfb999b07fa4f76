// A teaching panel that walks through Token Sparse Attention on the selected head of the loaded data, one
// step at a time (score, budget, select, compress, attend, decompress), each with a small diagram drawn
// from the real numbers and a plain-language explanation. The step chips are clickable, Left/Right (and
// Home/End) step from the keyboard, Prev/Next buttons too; the Score and Select plots zoom with the wheel
// and pan by dragging (double-click: all tokens). On a dense layer a button jumps to the first sparse
// layer. render() paints the current step (without the buttons) for export.
#pragma once

#include "core/synth/toy_example.h"
#include "views/axis_scale.h"
#include "views/plot_view.h"
#include "views/token_pan_zoom.h"
#include "views/view_data.h"

class QPushButton;

namespace tsa::views {

class HowItWorksPanel : public PlotView {
    Q_OBJECT
public:
    enum Step { Score = 0, Budget, Select, Compress, Attend, Decompress };
    static constexpr int kStepCount = 6;

    explicit HowItWorksPanel(QWidget* parent = nullptr);

    void setData(HowItWorksData data);
    const HowItWorksData& data() const { return m_data; }
    void setStep(int step);
    int step() const { return m_step; }
    static QString stepName(int step);
    // The explanation of the current step with this head's numbers filled in.
    QString stepText() const;

    QString viewName() const override { return QStringLiteral("howitworks"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    // The numbers behind the current step's diagram (columns depend on the step).
    QString csv() const override;
    QString toolTipAt(const QPoint& pos) const override;

    // Where step chip i is drawn in a widget of this size (clickable).
    QRectF chipRect(int step, const QSize& size) const;
    // Each head's attention mass outside its kept set (sum of n_h over its dropped prefix positions), the
    // quantity tau bounds for the layer as a whole; empty when the layer is dense or not scored.
    std::vector<double> droppedMassPerHead() const;
    TokenRange visibleRange() const { return m_panZoom->range(tokens()); }
    // Where the 16-token worked example is drawn at a size; empty when the view is too narrow for it.
    QRectF toyRect(const QSize& size) const { return layoutFor(size).toy; }
    void setVisibleRange(qint64 begin, qint64 end);

public slots:
    void next();
    void previous();

signals:
    void stepChanged(int step);
    void jumpToSparseLayerRequested();

protected:
    void resizeEvent(QResizeEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;

private:
    struct Layout {
        QRectF header, diagram, toy, text; // toy: the 16-token example beside the real layer (may be empty)
    };
    Layout layoutFor(const QSize& size) const;
    bool hasScores() const;
    bool hasSelection() const;
    qint64 prefix() const;
    const float* headSeries(const std::vector<float>& all) const;
    std::vector<std::uint8_t> keptMask() const;
    qint64 keptCount() const;
    double cutoffScore() const;

    void drawScore(QPainter& painter, const QRectF& r) const;
    void drawBudget(QPainter& painter, const QRectF& r) const;
    void drawSelect(QPainter& painter, const QRectF& r) const;
    void drawCompress(QPainter& painter, const QRectF& r) const;
    void drawAttend(QPainter& painter, const QRectF& r) const;
    void drawDecompress(QPainter& painter, const QRectF& r) const;
    void drawToy(QPainter& painter, const QRectF& r) const;
    void updateButtons();
    bool zoomable() const { return m_step == Score || m_step == Select; }
    QRectF zoomArea(const QSize& size) const;
    qint64 tokens() const;

    HowItWorksData m_data;
    int m_step = Score;
    QPushButton* m_prev = nullptr;
    QPushButton* m_next = nullptr;
    QPushButton* m_jump = nullptr;
    TokenPanZoom* m_panZoom;
    tsa::ToyExample m_toy; // built once by the core; empty selection if that failed
};

} // namespace tsa::views
