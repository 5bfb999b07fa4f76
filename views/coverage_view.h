// Coverage: cumulative attention mass of the dropped tokens against the number of tokens dropped (scores
// sorted ascending), per head (thin lines, n_h) and for the layer (thick line, G), with the tau line and
// the budget n + 1 marked where the layer curve crosses tau. Qt Charts; log y by default because tau is
// tiny (values below the axis floor are clamped to it: a log axis cannot show zero).
#pragma once

#include "views/exportable_view.h"
#include "views/view_data.h"

#include <QWidget>

class QChart;
class QChartView;
class QCheckBox;

namespace tsa::views {

class CoverageView : public QWidget, public ExportableView {
    Q_OBJECT
public:
    explicit CoverageView(QWidget* parent = nullptr);

    void setData(CoverageData data);
    // A tau change only moves the tau line and the budget marker (the curves do not depend on tau): updates
    // those two series in place instead of rebuilding the chart, so the visible view follows the slider.
    void setTau(double tau, qint64 budgetDropped);
    const CoverageData& data() const { return m_data; }
    void setLogY(bool log);
    bool logY() const { return m_logY; }
    // Draws one head's curve in colour on top of the others; -1 for none.
    void setHighlightedHead(int head);
    // The explorer's selected token: a vertical line where it sits in the highlighted head's ranking,
    // at x = tokens dropped up to and including it (its place counted from the lowest score); -1 for none.
    void setMarkedToken(qint64 droppedCount, const QString& label);
    qint64 markedToken() const { return m_marked; }

    QString viewName() const override { return QStringLiteral("coverage"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    QString csv() const override;
    QWidget* widget() override { return this; }
    using QWidget::render;

    // Hover text at a position in this widget: the nearest curve point (within 12 px) with exact values.
    QString toolTipAt(const QPoint& pos) const;
    // Smallest y shown on the log axis; values below are clamped to it.
    double logFloor() const;
    // The step between x ticks of the chart on screen (tests check the labels fit).
    double xTickStep() const;

signals:
    void logYChanged(bool log);
    // A click in the plot: the number of tokens dropped (x) under the cursor, rounded.
    void droppedCountClicked(qint64 droppedCount);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    void populate(QChart* chart, const QSize& size) const;
    void rebuild();

    CoverageData m_data;
    bool m_logY = true;
    int m_highlightedHead = -1;
    qint64 m_marked = -1;
    QString m_markedLabel;
    QChartView* m_chartView = nullptr;
    QCheckBox* m_logBox = nullptr;
    int m_builtWidth = 0; // chart view width the ticks and legend were chosen for
    bool m_resizePending = false;
};

} // namespace tsa::views
