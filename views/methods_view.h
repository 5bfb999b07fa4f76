// The Methods view (issue 11): sparse-attention methods on one layer as a Pareto plot. x is the density
// (share of causal pairs computed) or the measured CPU speedup against the dense kernel; y one error
// measure. Each method is a curve over the sweep of its main knob, its current setting a ringed point;
// composed methods (TSA + X) are dashed in the colour of X, beside X. A click on a point emits the
// method and knob value so the explorer can set that knob. MethodHeadsView: the per-head measures of one
// method, a sortable table.
#pragma once

#include "views/plot_view.h"

#include <QStandardItemModel>
#include <QTableView>
#include <optional>
#include <vector>

class QCheckBox;
class QComboBox;

namespace tsa::views {

struct MethodsPoint {
    double knob = 0;
    double density = 1;
    double speedup = 1;
    double errorLastW = 0;
    double errorKeptP95 = 0;
    double retainedMass = 1;
    double oracleRecall = 1;
};

struct MethodsCurve {
    QString method; // "tsa", "tsa+flexprefill", ...
    QString knob;   // "tau", "gamma", ...
    std::vector<MethodsPoint> sweep;
    std::optional<MethodsPoint> current;
    QString error; // why the method could not run (invalid knob, ...)
};

struct MethodsData {
    int layerId = -1;
    qint64 tokens = 0;
    std::vector<MethodsCurve> curves;
    QString chosen;                 // the method of the table and overlay
    bool overlay = false;           // the chosen method's pattern is drawn on the attention map
    bool overlayCompressed = false; // ... in the compressed index space of TSA's token sets
    QString problem;                // why nothing can be shown (the layer cannot be read), else empty
};

enum class MethodsX { Density, Speedup };
enum class MethodsY { ErrorLastW, ErrorKeptP95, RetainedMass, OracleRecall };

MethodsX methodsXFromName(const QString& name);
MethodsY methodsYFromName(const QString& name);
QString methodsXName(MethodsX x);
QString methodsYName(MethodsY y);

class MethodsView : public PlotView {
    Q_OBJECT
public:
    explicit MethodsView(QWidget* parent = nullptr);

    void setData(MethodsData data);
    const MethodsData& data() const { return m_data; }
    void setAxes(MethodsX x, MethodsY y);
    MethodsX xAxis() const { return m_x; }
    MethodsY yAxis() const { return m_y; }

    QString viewName() const override { return QStringLiteral("methods"); }
    QString viewTitle() const override { return tr("Methods"); }
    void render(QPainter& painter, const QSize& size) const override;
    // One row per point: method, knob, value, current, every measure.
    QString csv() const override;
    QString toolTipAt(const QPoint& pos) const override;

    struct Hit {
        int curve = -1;
        int point = -1; // index into sweep; -1 with curve >= 0: the current point
    };
    Hit pointAt(const QPoint& pos) const;

signals:
    void pointClicked(const QString& method, double knob);
    void axesChanged(const QString& x, const QString& y);
    void methodChosen(const QString& method);
    void overlayToggled(bool on);
    void overlayCoordinatesChosen(bool compressed);

protected:
    void mousePressEvent(QMouseEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void paintEvent(QPaintEvent* event) override;

private:
    struct Layout {
        QRectF title, plot, legend;
    };
    Layout layoutFor(const QSize& size) const;
    double xOf(const MethodsPoint& p) const;
    double yOf(const MethodsPoint& p) const;
    void axisRanges(double* x0, double* x1, double* y0, double* y1) const;
    QPointF place(const Layout& l, const MethodsPoint& p) const;
    QSize widgetPlotSize() const; // the widget's area below the controls
    QPoint toPlot(const QPoint& widgetPos) const;
    void syncControls();

    MethodsData m_data;
    MethodsX m_x = MethodsX::Density;
    MethodsY m_y = MethodsY::ErrorLastW;
    QComboBox* m_xBox;
    QComboBox* m_yBox;
    QComboBox* m_methodBox;
    QCheckBox* m_overlayBox;
    QComboBox* m_coordinatesBox;
    int m_controlsHeight = 0;
};

struct MethodHeadRow {
    int head = 0;
    double density = 1, retainedMass = 1, errorMedian = 0, errorP95 = 0, errorMax = 0, errorLastW = 0,
           oracleRecall = 1;
};

struct MethodHeadsData {
    QString method;
    int layerId = -1;
    std::vector<MethodHeadRow> rows;
};

class MethodHeadsView : public QTableView, public ExportableView {
    Q_OBJECT
public:
    explicit MethodHeadsView(QWidget* parent = nullptr);
    void setData(MethodHeadsData data);
    const MethodHeadsData& data() const { return m_data; }

    QString viewName() const override { return QStringLiteral("method-heads"); }
    QString viewTitle() const override { return tr("Method heads"); }
    // The table as text, in the current sort order.
    void render(QPainter& painter, const QSize& size) const override;
    QString csv() const override;
    QWidget* widget() override { return this; }
    using QTableView::render;

private:
    MethodHeadsData m_data;
    QStandardItemModel m_model;
};

} // namespace tsa::views
