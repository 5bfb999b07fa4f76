// Effect: what tau does to the model's answer, from an effect file (tools/tsa_eval.py, tsa-effect/1).
// Top row, one point per tau: KL(dense || sparse) at the last position and its mean over the last N
// positions; top-1 agreement and the mean needle score; perplexity against the dense one. The x axis is
// tau (log scale, tau 0 = dense on its own slot left of an axis break) or, switched, the mean kept
// fraction. Bottom row, for the chosen tau: the needle heatmap (context length x needle depth, colour =
// score) as the paper draws it, and per layer the true kept fraction under interleaved execution with the
// Jaccard overlap between that selection and the one the dense capture gives (what the other views show).
// Clicking a point or Left/Right chooses the tau. A part the file does not have says so in its panel.
#pragma once

#include "core/io/effect.h"
#include "views/plot_view.h"

#include <QRectF>
#include <memory>
#include <vector>

namespace tsa::views {

enum class EffectXAxis { Tau, KeptFraction };

// The open capture's own estimate, for comparison: kept fraction per model layer of the explorer's
// selection on the dense capture at tau (NaN where unknown).
struct EffectCaptureEstimate {
    double tau = -1;
    std::vector<double> keptFraction;
    bool empty() const { return tau < 0 || keptFraction.empty(); }
};

class EffectView : public PlotView {
    Q_OBJECT
public:
    explicit EffectView(QWidget* parent = nullptr);

    void setData(std::shared_ptr<const EffectData> data);
    const std::shared_ptr<const EffectData>& data() const { return m_data; }
    // Index into data()->runs; clamped. Picks the run the heatmap and layer panel show.
    void setSelectedRun(int run);
    int selectedRun() const { return m_run; }
    // Chooses the run whose tau is nearest (the explorer's tau), without emitting runSelected.
    void selectNearestTau(double tau);
    void setXAxis(EffectXAxis axis);
    EffectXAxis xAxis() const { return m_xAxis; }
    void setNeedleExact(bool exact); // exact-match score instead of token overlap in the heatmap
    bool needleExact() const { return m_needleExact; }
    void setColourMap(const QString& name);
    void setCaptureEstimate(EffectCaptureEstimate estimate);

    QString viewName() const override { return QStringLiteral("effect"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    QString csv() const override;
    QString toolTipAt(const QPoint& pos) const override;
    // Run under a position of the top row's plots (nearest point), -1 elsewhere.
    int runAt(const QPoint& pos) const;

    static QString xAxisName(EffectXAxis axis);

signals:
    void runSelected(double tau); // by a click or a key

protected:
    void mousePressEvent(QMouseEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;

private:
    struct Layout {
        QRectF title, subtitle;
        QRectF kl, agreement, ppl; // plot rectangles of the top row
        QRectF needle, needleBar, layers;
    };
    Layout layout(const QSize& size) const;
    double xOf(const QRectF& plot, const EffectRun& run) const; // NaN when the run has no x
    void drawXAxis(QPainter& painter, const QRectF& plot) const;
    void drawRunPanel(QPainter& painter, const QRectF& plot, const QString& title) const;
    void drawKl(QPainter& painter, const QRectF& plot) const;
    void drawAgreement(QPainter& painter, const QRectF& plot) const;
    void drawPerplexity(QPainter& painter, const QRectF& plot) const;
    void drawNeedle(QPainter& painter, const Layout& l) const;
    void drawLayers(QPainter& painter, const QRectF& plot) const;
    QString runText(int run) const;

    std::shared_ptr<const EffectData> m_data;
    int m_run = -1;
    EffectXAxis m_xAxis = EffectXAxis::Tau;
    bool m_needleExact = false;
    QString m_colourMap = QStringLiteral("viridis");
    EffectCaptureEstimate m_estimate;
};

} // namespace tsa::views
