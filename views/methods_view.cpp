// Pareto plot of sparse-attention methods and the per-head table. Cost: O(points) per paint; the table
// is rebuilt when its data changes (heads x 8 cells).
#include "views/methods_view.h"

#include "core/methods/methods.h"
#include "views/axis_painter.h"
#include "views/csv_writer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMouseEvent>
#include <QPaintEvent>
#include <QPainter>
#include <QPainterPath>
#include <algorithm>
#include <cmath>
#include <iterator>

namespace tsa::views {

namespace {

constexpr double kLegendWidth = 215.0;
constexpr double kHitRadius = 8.0;

// The methods in the registry's order (core/methods/methods.cpp): a new method appears here by itself.
const QStringList& methodOrder() {
    static const QStringList order = [] {
        QStringList names;
        for (MethodKind kind : allMethods())
            names.push_back(QString::fromLatin1(methodName(kind)));
        return names;
    }();
    return order;
}

// A composed method (TSA, then X) is drawn in the colour of X, dashed, so it sits visibly beside X.
QString partOf(const QString& method) {
    return method.startsWith(QLatin1String("tsa+")) ? method.mid(4) : method;
}
bool composed(const QString& method) {
    return method.startsWith(QLatin1String("tsa+"));
}

// One colour per method that is not a composition, in registry order (tsa red, minference blue,
// flexprefill green, xattention purple, streaming orange, oracle grey, then more for new methods).
QColor methodColour(const QString& method) {
    static const QRgb palette[] = {0xd62728, 0x1f77b4, 0x2ca02c, 0x9467bd, 0xff7f0e,
                                   0x555555, 0x8c564b, 0xe377c2, 0x17becf, 0xbcbd22};
    const QString base = partOf(method);
    int index = 0;
    for (const QString& m : methodOrder()) {
        if (composed(m)) continue;
        if (m == base) break;
        ++index;
    }
    return QColor::fromRgb(palette[index % int(std::size(palette))]);
}

QString yTitle(MethodsY y) {
    switch (y) {
    case MethodsY::ErrorLastW:
        return QObject::tr("Error of the last W rows (relative Frobenius)");
    case MethodsY::ErrorKeptP95:
        return QObject::tr("p95 row error, kept rows");
    case MethodsY::RetainedMass:
        return QObject::tr("Retained attention mass");
    case MethodsY::OracleRecall:
        return QObject::tr("Recall against the oracle");
    }
    return {};
}

QString yShort(MethodsY y) {
    switch (y) {
    case MethodsY::ErrorLastW:
        return QObject::tr("last-W error");
    case MethodsY::ErrorKeptP95:
        return QObject::tr("p95 kept-row error");
    case MethodsY::RetainedMass:
        return QObject::tr("retained mass");
    case MethodsY::OracleRecall:
        return QObject::tr("oracle recall");
    }
    return {};
}

bool yIsError(MethodsY y) {
    return y == MethodsY::ErrorLastW || y == MethodsY::ErrorKeptP95;
}

} // namespace

MethodsX methodsXFromName(const QString& name) {
    return name == QLatin1String("speedup") ? MethodsX::Speedup : MethodsX::Density;
}
MethodsY methodsYFromName(const QString& name) {
    if (name == QLatin1String("error-p95")) return MethodsY::ErrorKeptP95;
    if (name == QLatin1String("retained-mass")) return MethodsY::RetainedMass;
    if (name == QLatin1String("recall")) return MethodsY::OracleRecall;
    return MethodsY::ErrorLastW;
}
QString methodsXName(MethodsX x) {
    return x == MethodsX::Speedup ? QStringLiteral("speedup") : QStringLiteral("density");
}
QString methodsYName(MethodsY y) {
    switch (y) {
    case MethodsY::ErrorKeptP95:
        return QStringLiteral("error-p95");
    case MethodsY::RetainedMass:
        return QStringLiteral("retained-mass");
    case MethodsY::OracleRecall:
        return QStringLiteral("recall");
    case MethodsY::ErrorLastW:
        break;
    }
    return QStringLiteral("error-last-w");
}

MethodsView::MethodsView(QWidget* parent)
    : PlotView(parent), m_xBox(new QComboBox(this)), m_yBox(new QComboBox(this)),
      m_methodBox(new QComboBox(this)), m_overlayBox(new QCheckBox(tr("Pattern on the attention map"), this)),
      m_coordinatesBox(new QComboBox(this)) {
    // The switches are child widgets above the painted area, so exports (render()) show the plot only.
    m_xBox->addItem(tr("x: density"), QStringLiteral("density"));
    m_xBox->addItem(tr("x: measured speedup"), QStringLiteral("speedup"));
    m_yBox->addItem(tr("y: last-W error"), QStringLiteral("error-last-w"));
    m_yBox->addItem(tr("y: p95 kept-row error"), QStringLiteral("error-p95"));
    m_yBox->addItem(tr("y: retained mass"), QStringLiteral("retained-mass"));
    m_yBox->addItem(tr("y: oracle recall"), QStringLiteral("recall"));
    for (const QString& m : methodOrder())
        m_methodBox->addItem(tr("table and overlay: %1").arg(m), m);
    m_xBox->setObjectName(QStringLiteral("methodsX"));
    m_yBox->setObjectName(QStringLiteral("methodsY"));
    m_methodBox->setObjectName(QStringLiteral("methodChooser"));
    m_overlayBox->setObjectName(QStringLiteral("methodOverlay"));
    connect(m_overlayBox, &QCheckBox::toggled, this, &MethodsView::overlayToggled);
    // Composed methods run their blocks on TSA's compressed sequence: the overlay shows them either over
    // the map in original positions or as the block mask over the kept tokens (compressed index).
    m_coordinatesBox->addItem(tr("in original positions"), false);
    m_coordinatesBox->addItem(tr("in compressed coordinates"), true);
    m_coordinatesBox->setObjectName(QStringLiteral("overlayCoordinates"));
    connect(m_coordinatesBox, &QComboBox::activated, this,
            [this] { emit overlayCoordinatesChosen(m_coordinatesBox->currentData().toBool()); });
    m_controlsHeight = m_xBox->sizeHint().height() + 6;
    auto axes = [this] {
        emit axesChanged(m_xBox->currentData().toString(), m_yBox->currentData().toString());
    };
    connect(m_xBox, &QComboBox::activated, this, axes);
    connect(m_yBox, &QComboBox::activated, this, axes);
    connect(m_methodBox, &QComboBox::activated, this,
            [this] { emit methodChosen(m_methodBox->currentData().toString()); });
}

void MethodsView::resizeEvent(QResizeEvent* event) {
    PlotView::resizeEvent(event);
    int x = 4;
    for (QWidget* box :
         std::initializer_list<QWidget*>{m_xBox, m_yBox, m_methodBox, m_overlayBox, m_coordinatesBox}) {
        const QSize hint = box->sizeHint();
        box->setGeometry(x, 3, hint.width(), hint.height());
        x += hint.width() + 6;
    }
}

void MethodsView::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    painter.fillRect(rect(), style::background());
    painter.translate(0, m_controlsHeight);
    render(painter, widgetPlotSize());
}

void MethodsView::syncControls() {
    const QSignalBlocker bx(m_xBox), by(m_yBox), bm(m_methodBox), bo(m_overlayBox), bc(m_coordinatesBox);
    m_overlayBox->setChecked(m_data.overlay);
    m_coordinatesBox->setCurrentIndex(m_data.overlayCompressed ? 1 : 0);
    m_xBox->setCurrentIndex(m_xBox->findData(methodsXName(m_x)));
    m_yBox->setCurrentIndex(m_yBox->findData(methodsYName(m_y)));
    if (const int i = m_methodBox->findData(m_data.chosen); i >= 0) m_methodBox->setCurrentIndex(i);
}

void MethodsView::setData(MethodsData data) {
    m_data = std::move(data);
    syncControls();
    update();
}

void MethodsView::setAxes(MethodsX x, MethodsY y) {
    if (x == m_x && y == m_y) return;
    m_x = x;
    m_y = y;
    syncControls();
    update();
}

double MethodsView::xOf(const MethodsPoint& p) const {
    return m_x == MethodsX::Speedup ? p.speedup : p.density;
}

double MethodsView::yOf(const MethodsPoint& p) const {
    switch (m_y) {
    case MethodsY::ErrorLastW:
        return p.errorLastW;
    case MethodsY::ErrorKeptP95:
        return p.errorKeptP95;
    case MethodsY::RetainedMass:
        return p.retainedMass;
    case MethodsY::OracleRecall:
        return p.oracleRecall;
    }
    return 0;
}

void MethodsView::axisRanges(double* x0, double* x1, double* y0, double* y1) const {
    double xmax = 0, ymin = 1e300, ymax = 0, yminPos = 1e300;
    auto visit = [&](const MethodsPoint& p) {
        const double x = xOf(p), y = yOf(p);
        if (std::isfinite(x)) xmax = std::max(xmax, x);
        if (std::isfinite(y)) {
            ymin = std::min(ymin, y);
            ymax = std::max(ymax, y);
            if (y > 0) yminPos = std::min(yminPos, y);
        }
    };
    for (const MethodsCurve& c : m_data.curves) {
        for (const MethodsPoint& p : c.sweep)
            visit(p);
        if (c.current) visit(*c.current);
    }
    *x0 = 0;
    *x1 = m_x == MethodsX::Density ? 1.0 : std::max(1.0, xmax * 1.08);
    if (yIsError(m_y)) {
        // Errors span decades (an oracle at high density against streaming at low): a log axis.
        if (yminPos > ymax || ymax <= 0) {
            *y0 = 1e-4;
            *y1 = 1;
        } else {
            // Four decades at most: a method that is all but dense (error 1e-7) sits on the floor instead
            // of squeezing every other curve into the top of the plot.
            *y1 = std::pow(10.0, std::ceil(std::log10(ymax)));
            *y0 = std::max(std::pow(10.0, std::floor(std::log10(yminPos))), *y1 * 1e-4);
            if (*y0 >= *y1) *y0 = *y1 / 10;
        }
    } else {
        *y0 = ymin > ymax ? 0.0 : std::max(0.0, std::floor(ymin * 10 - 0.5) / 10);
        *y1 = 1.0;
    }
}

MethodsView::Layout MethodsView::layoutFor(const QSize& size) const {
    Layout l;
    l.title = QRectF(0, 0, size.width(), style::kTitleHeight);
    const double right = std::max(0.0, size.width() - kLegendWidth);
    l.plot = QRectF(style::kLeftMargin, style::kTitleHeight + 6,
                    std::max(10.0, right - style::kLeftMargin - style::kRightPad),
                    std::max(10.0, size.height() - style::kTitleHeight - 6 - style::kBottomMargin));
    l.legend = QRectF(right, style::kTitleHeight + 6, kLegendWidth, size.height() - style::kTitleHeight);
    return l;
}

QPointF MethodsView::place(const Layout& l, const MethodsPoint& p) const {
    double x0, x1, y0, y1;
    axisRanges(&x0, &x1, &y0, &y1);
    AxisSpec xs{AxisScale::linear(x0, x1), Edge::Bottom};
    AxisSpec ys{yIsError(m_y) ? AxisScale::logarithmic(y0, y1) : AxisScale::linear(y0, y1), Edge::Left};
    return {axisPosition(l.plot, xs, std::clamp(xOf(p), x0, x1)),
            axisPosition(l.plot, ys, std::clamp(yOf(p), y0, y1))};
}

void MethodsView::render(QPainter& painter, const QSize& size) const {
    painter.save();
    painter.setRenderHint(QPainter::Antialiasing);
    style::fillBackground(painter, QRectF(QPointF(0, 0), QSizeF(size)));
    const Layout l = layoutFor(size);
    QString title = tr("Methods");
    if (m_data.layerId >= 0)
        title = tr("Methods on layer %1 (%2 tokens): %3 against %4")
                    .arg(m_data.layerId)
                    .arg(fmt::integer(m_data.tokens))
                    .arg(yShort(m_y), m_x == MethodsX::Speedup ? tr("CPU speedup") : tr("density"));
    style::drawTitle(painter, l.title, title);
    if (m_data.curves.empty()) {
        style::drawMessage(painter, l.plot,
                           !m_data.problem.isEmpty() ? m_data.problem
                           : m_data.layerId >= 0     ? tr("Computing…")
                                                     : tr("No capture open"));
        painter.restore();
        return;
    }
    double x0, x1, y0, y1;
    axisRanges(&x0, &x1, &y0, &y1);
    AxisSpec xs{AxisScale::linear(x0, x1), Edge::Bottom,
                m_x == MethodsX::Speedup ? tr("Measured CPU speedup against dense (estimation included)")
                                         : tr("Density (share of causal query-key pairs computed)"),
                m_x == MethodsX::Speedup ? TickStyle::Number : TickStyle::Percent, true};
    AxisSpec ys{yIsError(m_y) ? AxisScale::logarithmic(y0, y1) : AxisScale::linear(y0, y1), Edge::Left,
                yTitle(m_y), TickStyle::Number, true};
    drawAxis(painter, l.plot, xs);
    drawAxis(painter, l.plot, ys);
    painter.setClipRect(l.plot.adjusted(-6, -6, 6, 6));
    for (const MethodsCurve& c : m_data.curves) {
        const QColor colour = methodColour(c.method);
        QPen pen(colour, composed(c.method) ? 1.6 : 2.0, composed(c.method) ? Qt::DashLine : Qt::SolidLine);
        std::vector<MethodsPoint> pts = c.sweep;
        std::sort(pts.begin(), pts.end(),
                  [this](const MethodsPoint& a, const MethodsPoint& b) { return xOf(a) < xOf(b); });
        QPainterPath path;
        for (std::size_t i = 0; i < pts.size(); ++i) {
            const QPointF q = place(l, pts[i]);
            if (i == 0)
                path.moveTo(q);
            else
                path.lineTo(q);
        }
        painter.setPen(pen);
        painter.setBrush(Qt::NoBrush);
        painter.drawPath(path);
        painter.setPen(QPen(colour.darker(130), 1));
        painter.setBrush(composed(c.method) ? QBrush(Qt::white) : QBrush(colour));
        for (const MethodsPoint& p : pts) {
            const QPointF q = place(l, p);
            if (composed(c.method))
                painter.drawRect(QRectF(q.x() - 3, q.y() - 3, 6, 6));
            else
                painter.drawEllipse(q, 3.0, 3.0);
        }
        if (c.current) {
            // The current setting: a ring, so it reads on top of the curve's own point.
            const QPointF q = place(l, *c.current);
            painter.setBrush(colour);
            painter.setPen(QPen(Qt::black, 1.5));
            if (composed(c.method))
                painter.drawRect(QRectF(q.x() - 5.5, q.y() - 5.5, 11, 11));
            else
                painter.drawEllipse(q, 5.5, 5.5);
        }
    }
    painter.setClipping(false);

    // Legend: one line per method, its knob and current value.
    painter.setFont(style::smallFont());
    const QFontMetricsF fm(painter.font());
    double y = l.legend.top() + 4;
    for (const MethodsCurve& c : m_data.curves) {
        const QColor colour = methodColour(c.method);
        painter.setPen(QPen(colour, 2, composed(c.method) ? Qt::DashLine : Qt::SolidLine));
        painter.drawLine(QPointF(l.legend.left() + 4, y + fm.height() / 2),
                         QPointF(l.legend.left() + 26, y + fm.height() / 2));
        painter.setPen(style::text());
        QString text = c.method;
        if (c.current) {
            // Integer knobs (streaming's local tokens) as integers, not 1.02e+03.
            const double k = c.current->knob;
            const QString value =
                k == std::floor(k) && std::abs(k) >= 1 ? fmt::integer(qint64(k)) : fmt::value(k, 3);
            text += QStringLiteral("  %1 %2").arg(c.knob, value);
        }
        if (!c.error.isEmpty()) text += tr("  (failed)");
        painter.drawText(QRectF(l.legend.left() + 30, y, kLegendWidth - 32, fm.height()), Qt::AlignLeft,
                         fm.elidedText(text, Qt::ElideRight, kLegendWidth - 32));
        y += fm.height() + 3;
    }
    y += 6;
    painter.setPen(style::axis());
    painter.drawText(
        QRectF(l.legend.left() + 4, y, kLegendWidth - 6, 4 * fm.height()), Qt::AlignLeft | Qt::TextWordWrap,
        tr("Outlined: current setting. Dashed, squares: TSA, then the method. Click a point to use it."));
    painter.restore();
}

QSize MethodsView::widgetPlotSize() const {
    return QSize(width(), std::max(1, height() - m_controlsHeight));
}

QPoint MethodsView::toPlot(const QPoint& widgetPos) const {
    return widgetPos - QPoint(0, m_controlsHeight);
}

MethodsView::Hit MethodsView::pointAt(const QPoint& widgetPos) const {
    const Layout l = layoutFor(widgetPlotSize());
    const QPointF pos = toPlot(widgetPos);
    Hit best;
    double bestDist = kHitRadius;
    for (int c = 0; c < int(m_data.curves.size()); ++c) {
        const MethodsCurve& curve = m_data.curves[std::size_t(c)];
        auto consider = [&](const MethodsPoint& p, int index) {
            const QPointF d = place(l, p) - pos;
            const double dist = std::hypot(d.x(), d.y());
            if (dist < bestDist) {
                bestDist = dist;
                best = {c, index};
            }
        };
        if (curve.current) consider(*curve.current, -1);
        for (int i = 0; i < int(curve.sweep.size()); ++i)
            consider(curve.sweep[std::size_t(i)], i);
    }
    return best;
}

QString MethodsView::toolTipAt(const QPoint& pos) const {
    const Hit hit = pointAt(pos);
    if (hit.curve < 0) return {};
    const MethodsCurve& c = m_data.curves[std::size_t(hit.curve)];
    const MethodsPoint& p = hit.point < 0 ? *c.current : c.sweep[std::size_t(hit.point)];
    return tr("<b>%1</b> %2 = %3%4<br>density %5, speedup %6x<br>last-W error %7, p95 kept-row error %8<br>"
              "retained mass %9, oracle recall %10")
        .arg(c.method, c.knob, fmt::value(p.knob), hit.point < 0 ? tr(" (current)") : tr(" (click to use)"))
        .arg(fmt::percent(p.density), fmt::value(p.speedup, 3), fmt::value(p.errorLastW),
             fmt::value(p.errorKeptP95), fmt::value(p.retainedMass), fmt::value(p.oracleRecall));
}

void MethodsView::mousePressEvent(QMouseEvent* event) {
    const Hit hit = pointAt(event->position().toPoint());
    if (hit.curve < 0 || event->button() != Qt::LeftButton) return PlotView::mousePressEvent(event);
    const MethodsCurve& c = m_data.curves[std::size_t(hit.curve)];
    emit pointClicked(c.method, hit.point < 0 ? c.current->knob : c.sweep[std::size_t(hit.point)].knob);
}

QString MethodsView::csv() const {
    CsvWriter w;
    w.row({QStringLiteral("layer"), QStringLiteral("method"), QStringLiteral("knob"), QStringLiteral("value"),
           QStringLiteral("current"), QStringLiteral("density"), QStringLiteral("speedup"),
           QStringLiteral("error_last_w"), QStringLiteral("error_p95_kept"), QStringLiteral("retained_mass"),
           QStringLiteral("oracle_recall")});
    auto row = [&](const MethodsCurve& c, const MethodsPoint& p, bool current) {
        w.row({QString::number(m_data.layerId), c.method, c.knob, fmt::csvValue(p.knob),
               current ? QStringLiteral("1") : QStringLiteral("0"), fmt::csvValue(p.density),
               fmt::csvValue(p.speedup), fmt::csvValue(p.errorLastW), fmt::csvValue(p.errorKeptP95),
               fmt::csvValue(p.retainedMass), fmt::csvValue(p.oracleRecall)});
    };
    for (const MethodsCurve& c : m_data.curves) {
        if (c.current) row(c, *c.current, true);
        for (const MethodsPoint& p : c.sweep)
            row(c, p, false);
    }
    return w.text();
}

// ------------------------------------------------------------------------------------------ heads table

namespace {
const QStringList& headColumns() {
    static const QStringList cols = {QObject::tr("head"),          QObject::tr("density"),
                                     QObject::tr("retained mass"), QObject::tr("error median"),
                                     QObject::tr("error p95"),     QObject::tr("error max"),
                                     QObject::tr("last-W error"),  QObject::tr("oracle recall")};
    return cols;
}
std::vector<double> rowValues(const MethodHeadRow& r) {
    return {double(r.head), r.density,  r.retainedMass, r.errorMedian,
            r.errorP95,     r.errorMax, r.errorLastW,   r.oracleRecall};
}
} // namespace

MethodHeadsView::MethodHeadsView(QWidget* parent) : QTableView(parent) {
    setModel(&m_model);
    setSortingEnabled(true);
    setSelectionBehavior(QAbstractItemView::SelectRows);
    setEditTriggers(QAbstractItemView::NoEditTriggers);
    horizontalHeader()->setStretchLastSection(true);
    verticalHeader()->setVisible(false);
    m_model.setHorizontalHeaderLabels(headColumns());
}

void MethodHeadsView::setData(MethodHeadsData data) {
    m_data = std::move(data);
    m_model.removeRows(0, m_model.rowCount());
    for (const MethodHeadRow& r : m_data.rows) {
        QList<QStandardItem*> items;
        const std::vector<double> v = rowValues(r);
        for (std::size_t c = 0; c < v.size(); ++c) {
            auto* item = new QStandardItem(c == 0 ? QString::number(r.head) : fmt::value(v[c], 4));
            item->setData(v[c], Qt::UserRole); // sorts numerically, not as text
            items << item;
        }
        m_model.appendRow(items);
    }
    m_model.setSortRole(Qt::UserRole);
    setToolTip(m_data.method.isEmpty()
                   ? QString()
                   : tr("%1 on layer %2, per head").arg(m_data.method).arg(m_data.layerId));
}

void MethodHeadsView::render(QPainter& painter, const QSize& size) const {
    painter.save();
    style::fillBackground(painter, QRectF(QPointF(0, 0), QSizeF(size)));
    style::drawTitle(painter, QRectF(0, 0, size.width(), style::kTitleHeight),
                     m_data.method.isEmpty()
                         ? tr("Method heads")
                         : tr("%1 on layer %2: measures per head").arg(m_data.method).arg(m_data.layerId));
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    const QFontMetricsF fm(painter.font());
    const double rowH = fm.height() + 4, colW = size.width() / double(headColumns().size());
    double y = style::kTitleHeight + 4;
    for (int c = 0; c < headColumns().size(); ++c)
        painter.drawText(QRectF(c * colW, y, colW - 4, rowH), Qt::AlignRight | Qt::AlignVCenter,
                         headColumns()[c]);
    y += rowH;
    painter.setPen(style::grid());
    painter.drawLine(QPointF(0, y), QPointF(size.width(), y));
    painter.setPen(style::text());
    for (int r = 0; r < m_model.rowCount() && y + rowH <= size.height(); ++r, y += rowH)
        for (int c = 0; c < m_model.columnCount(); ++c)
            painter.drawText(QRectF(c * colW, y, colW - 4, rowH), Qt::AlignRight | Qt::AlignVCenter,
                             m_model.item(r, c)->text());
    painter.restore();
}

QString MethodHeadsView::csv() const {
    CsvWriter w;
    w.row({QStringLiteral("layer"), QStringLiteral("method"), QStringLiteral("head"),
           QStringLiteral("density"), QStringLiteral("retained_mass"), QStringLiteral("error_median"),
           QStringLiteral("error_p95"), QStringLiteral("error_max"), QStringLiteral("error_last_w"),
           QStringLiteral("oracle_recall")});
    for (int r = 0; r < m_model.rowCount(); ++r) {
        QStringList f = {QString::number(m_data.layerId), m_data.method};
        for (int c = 0; c < m_model.columnCount(); ++c)
            f << (c == 0 ? QString::number(m_model.item(r, c)->data(Qt::UserRole).toInt())
                         : fmt::csvValue(m_model.item(r, c)->data(Qt::UserRole).toDouble()));
        w.row(f);
    }
    return w.text();
}

} // namespace tsa::views
