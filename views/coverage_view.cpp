#include "views/coverage_view.h"

#include "views/axis_scale.h"
#include "views/csv_writer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QChart>
#include <QChartView>
#include <QCheckBox>
#include <QCoreApplication>
#include <QFontMetricsF>
#include <QGraphicsScene>
#include <QHBoxLayout>
#include <QHelpEvent>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QMouseEvent>
#include <QPainter>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <QValueAxis>
#include <algorithm>
#include <cmath>

namespace tsa::views {

namespace {

const QColor kHeadColour(120, 140, 170, 110);
const QColor kLayerColour(20, 20, 20);

double decadeFloor(double v) {
    return std::pow(10.0, std::floor(std::log10(v)));
}

} // namespace

CoverageView::CoverageView(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    auto* bar = new QHBoxLayout;
    bar->setContentsMargins(8, 4, 8, 0);
    m_logBox = new QCheckBox(tr("Log y axis"), this);
    m_logBox->setChecked(m_logY);
    bar->addWidget(m_logBox);
    bar->addStretch(1);
    layout->addLayout(bar);
    m_chartView = new QChartView(this);
    m_chartView->setRenderHint(QPainter::Antialiasing);
    m_chartView->setMouseTracking(true);
    m_chartView->viewport()->installEventFilter(this);
    layout->addWidget(m_chartView, 1);
    connect(m_logBox, &QCheckBox::toggled, this, &CoverageView::setLogY);
    rebuild();
}

void CoverageView::setData(CoverageData data) {
    m_data = std::move(data);
    rebuild();
}

void CoverageView::setLogY(bool log) {
    if (m_logY == log) return;
    m_logY = log;
    m_logBox->setChecked(log);
    rebuild();
    emit logYChanged(log);
}

void CoverageView::setMarkedToken(qint64 droppedCount, const QString& label) {
    if (droppedCount == m_marked && label == m_markedLabel) return;
    m_marked = droppedCount;
    m_markedLabel = label;
    rebuild();
}

void CoverageView::setHighlightedHead(int head) {
    m_highlightedHead = head;
    rebuild();
}

QString CoverageView::viewTitle() const {
    if (m_data.layer.dropped.empty()) return QStringLiteral("Coverage");
    QString title =
        QStringLiteral("Coverage: layer %1, tau = %2").arg(m_data.layerId).arg(fmt::value(m_data.tau));
    if (m_data.sparse && m_data.layer.budgetDropped > 0)
        title += QStringLiteral(", budget n + 1 = %1 tokens").arg(fmt::integer(m_data.layer.budgetDropped));
    else
        title += QStringLiteral(" (dense)");
    return title;
}

double CoverageView::logFloor() const {
    // At least two decades below tau so the crossing is readable, never below 1e-12 (scores are fp32).
    double minPositive = 1.0;
    auto scan = [&](const tsa::CoverageCurve& c) {
        for (double v : c.cumulative)
            if (v > 0) minPositive = std::min(minPositive, v);
    };
    scan(m_data.layer);
    for (const auto& c : m_data.heads)
        scan(c);
    // Four decades below tau is where the budget is decided; deeper only adds decades of near-zero heads.
    double floor = std::max(minPositive, m_data.tau > 0 ? m_data.tau * 1e-4 : 1e-6);
    floor = std::min(floor, m_data.tau > 0 ? m_data.tau / 100.0 : 1e-4);
    return decadeFloor(std::max(floor, 1e-12));
}

void CoverageView::populate(QChart* chart, const QSize& size) const {
    chart->setAnimationOptions(QChart::NoAnimation);
    chart->setBackgroundBrush(style::background());
    chart->setBackgroundRoundness(0);
    chart->setMargins(QMargins(6, 4, 10, 4));
    chart->setTitleFont(style::titleFont());
    chart->setTitle(viewTitle());
    chart->setTitleBrush(style::text());
    chart->legend()->setFont(style::smallFont());
    chart->legend()->setAlignment(size.width() > 700 ? Qt::AlignRight : Qt::AlignBottom);

    const double floor = logFloor();
    const double xMax = std::max<double>(
        1.0, m_data.prefix > 0 ? double(m_data.prefix)
                               : (m_data.layer.dropped.empty() ? 1.0 : m_data.layer.dropped.back()));
    auto clampY = [&](double y) { return m_logY ? std::max(y, floor) : y; };
    auto addCurve = [&](const tsa::CoverageCurve& c, const QString& name, const QPen& pen) {
        auto* s = new QLineSeries(chart);
        s->setName(name);
        s->setPen(pen);
        QList<QPointF> points;
        points.reserve(qsizetype(c.dropped.size()));
        for (std::size_t i = 0; i < c.dropped.size() && i < c.cumulative.size(); ++i)
            points.append(QPointF(c.dropped[i], clampY(c.cumulative[i])));
        s->replace(points);
        chart->addSeries(s);
        return s;
    };
    for (std::size_t h = 0; h < m_data.heads.size(); ++h) {
        if (int(h) == m_highlightedHead) continue;
        auto* s = addCurve(m_data.heads[h], QStringLiteral("heads (n_h)"), QPen(kHeadColour, 1.0));
        if (h > 0 && !(m_highlightedHead == 0 && h == 1)) s->setProperty("hideMarker", true);
    }
    if (m_highlightedHead >= 0 && m_highlightedHead < int(m_data.heads.size()))
        addCurve(m_data.heads[std::size_t(m_highlightedHead)],
                 QStringLiteral("head %1").arg(m_highlightedHead), QPen(style::highlight(), 2.0));
    if (!m_data.layer.dropped.empty())
        addCurve(m_data.layer, QStringLiteral("layer (G)"), QPen(kLayerColour, 3.0));

    const double yLo = m_logY ? floor : 0.0;
    auto* tau = new QLineSeries(chart);
    tau->setObjectName(QStringLiteral("tau"));
    tau->setName(QStringLiteral("tau = %1").arg(fmt::value(m_data.tau)));
    QPen tauPen(style::tauLine(), 1.5, Qt::DashLine);
    tau->setPen(tauPen);
    tau->append(0.0, clampY(m_data.tau));
    tau->append(xMax, clampY(m_data.tau));
    chart->addSeries(tau);
    if (m_data.sparse && m_data.layer.budgetDropped > 0) {
        auto* budget = new QLineSeries(chart);
        budget->setObjectName(QStringLiteral("budget"));
        budget->setName(QStringLiteral("budget n + 1 = %1").arg(fmt::integer(m_data.layer.budgetDropped)));
        budget->setPen(QPen(style::budgetLine(), 1.5, Qt::DashDotLine));
        budget->append(double(m_data.layer.budgetDropped), yLo);
        budget->append(double(m_data.layer.budgetDropped), 1.0);
        chart->addSeries(budget);
    }

    if (m_marked >= 0 && m_marked <= qint64(xMax)) {
        auto* marker = new QLineSeries(chart);
        marker->setObjectName(QStringLiteral("marked"));
        marker->setName(m_markedLabel);
        marker->setPen(QPen(style::highlight(), 2.0, Qt::DotLine)); // dotted: the head curve is solid
        marker->append(double(m_marked), yLo);
        marker->append(double(m_marked), 1.0);
        chart->addSeries(marker);
    }

    auto* x = new QValueAxis(chart);
    x->setTitleText(QStringLiteral("tokens dropped (lowest scores first)"));
    x->setRange(0.0, xMax);
    x->setLabelFormat(QStringLiteral("%.0f"));
    double step = 1.0;
    // As many ticks as their labels fit: Qt Charts elides labels that collide ("2... 4..." at 800 px).
    const QFontMetricsF tickMetrics(style::tickFont());
    const double labelWidth = tickMetrics.horizontalAdvance(QString::number(qint64(xMax))) + 28.0;
    const double plotWidth = std::max(100.0, size.width() * (size.width() > 700 ? 0.62 : 0.8) - 70.0);
    niceIntegerTicks(0.0, xMax, std::clamp(int(plotWidth / labelWidth), 2, 11), &step);
    x->setTickType(QValueAxis::TicksDynamic);
    x->setTickAnchor(0.0);
    x->setTickInterval(step);
    QAbstractAxis* y = nullptr;
    if (m_logY) {
        auto* logAxis = new QLogValueAxis(chart);
        logAxis->setBase(10.0);
        logAxis->setRange(floor, 1.0);
        logAxis->setLabelFormat(QStringLiteral("%g"));
        logAxis->setMinorTickCount(0);
        y = logAxis;
    } else {
        auto* linAxis = new QValueAxis(chart);
        linAxis->setRange(0.0, 1.0);
        linAxis->setLabelFormat(QStringLiteral("%.1f"));
        linAxis->setTickCount(6);
        y = linAxis;
    }
    y->setTitleText(m_logY ? QStringLiteral("cumulative mass dropped (log)")
                           : QStringLiteral("cumulative mass dropped"));
    for (QAbstractAxis* axis : {static_cast<QAbstractAxis*>(x), y}) {
        axis->setLabelsFont(style::tickFont());
        axis->setTitleFont(style::labelFont());
        axis->setGridLineColor(style::grid());
        axis->setLinePenColor(style::axis());
        axis->setLabelsColor(style::text());
    }
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    for (QAbstractSeries* s : chart->series()) {
        s->attachAxis(x);
        s->attachAxis(y);
        if (s->property("hideMarker").toBool())
            for (QLegendMarker* marker : chart->legend()->markers(s))
                marker->setVisible(false);
    }
    if (m_data.layer.dropped.empty() && m_data.heads.empty())
        chart->setTitle(QStringLiteral("Coverage: no layer scored"));
}

void CoverageView::setTau(double tau, qint64 budgetDropped) {
    m_data.tau = tau;
    m_data.layer.budgetDropped = budgetDropped;
    for (auto& head : m_data.heads)
        head.budgetDropped = budgetDropped;
    QChart* chart = m_chartView->chart();
    QLineSeries* tauLine = nullptr;
    QLineSeries* budget = nullptr;
    for (QAbstractSeries* series : chart->series()) {
        if (series->objectName() == QLatin1String("tau")) tauLine = qobject_cast<QLineSeries*>(series);
        if (series->objectName() == QLatin1String("budget")) budget = qobject_cast<QLineSeries*>(series);
    }
    const bool wantBudget = m_data.sparse && budgetDropped > 0;
    if (!tauLine || wantBudget != (budget != nullptr)) {
        rebuild(); // the set of series changes: lay the chart out anew
        return;
    }
    const double y = m_logY ? std::max(tau, logFloor()) : tau;
    const QList<QPointF> tauPoints = tauLine->points();
    tauLine->replace({QPointF(tauPoints.front().x(), y), QPointF(tauPoints.back().x(), y)});
    tauLine->setName(QStringLiteral("tau = %1").arg(fmt::value(tau)));
    if (budget) {
        const QList<QPointF> budgetPoints = budget->points();
        budget->replace({QPointF(double(budgetDropped), budgetPoints.front().y()),
                         QPointF(double(budgetDropped), budgetPoints.back().y())});
        budget->setName(QStringLiteral("budget n + 1 = %1").arg(fmt::integer(budgetDropped)));
    }
    chart->setTitle(viewTitle());
}

void CoverageView::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    // Tick count and legend side depend on the width: rebuild once the resizing settles.
    if (std::abs(m_chartView->width() - m_builtWidth) < 60 || m_resizePending) return;
    m_resizePending = true;
    QTimer::singleShot(0, this, [this] {
        m_resizePending = false;
        if (std::abs(m_chartView->width() - m_builtWidth) >= 60) rebuild();
    });
}

double CoverageView::xTickStep() const {
    const auto axes = m_chartView->chart()->axes(Qt::Horizontal);
    auto* x = axes.isEmpty() ? nullptr : qobject_cast<QValueAxis*>(axes.first());
    return x ? x->tickInterval() : 0.0;
}

void CoverageView::rebuild() {
    auto* chart = new QChart;
    m_builtWidth = m_chartView->width();
    populate(chart, m_chartView->size());
    QChart* old = m_chartView->chart();
    m_chartView->setChart(chart);
    delete old;
}

void CoverageView::render(QPainter& painter, const QSize& size) const {
    // A fresh chart laid out at the requested size, so exports do not depend on the window's size.
    QGraphicsScene scene;
    auto* chart = new QChart;
    populate(chart, size);
    scene.addItem(chart);
    chart->setGeometry(QRectF(0, 0, size.width(), size.height()));
    scene.setSceneRect(0, 0, size.width(), size.height());
    // Lay the chart out now: QChart would otherwise wait for the event loop.
    QEvent layoutRequest(QEvent::LayoutRequest);
    QCoreApplication::sendEvent(chart, &layoutRequest);
    painter.save();
    painter.fillRect(QRectF(0, 0, size.width(), size.height()), style::background());
    painter.setRenderHint(QPainter::Antialiasing);
    scene.render(&painter, QRectF(0, 0, size.width(), size.height()),
                 QRectF(0, 0, size.width(), size.height()));
    painter.restore();
}

QString CoverageView::csv() const {
    CsvWriter out;
    out.row({"layer_id", "curve", "tokens_dropped", "cumulative_mass", "tau", "budget_dropped"});
    auto write = [&](const tsa::CoverageCurve& c, const QString& name) {
        for (std::size_t i = 0; i < c.dropped.size() && i < c.cumulative.size(); ++i)
            out.row({QString::number(m_data.layerId), name, fmt::csvValue(c.dropped[i]),
                     fmt::csvValue(c.cumulative[i]), fmt::csvValue(m_data.tau),
                     QString::number(c.budgetDropped)});
    };
    write(m_data.layer, QStringLiteral("layer"));
    for (std::size_t h = 0; h < m_data.heads.size(); ++h)
        write(m_data.heads[h], QStringLiteral("head %1").arg(h));
    return out.text();
}

QString CoverageView::toolTipAt(const QPoint& pos) const {
    QChart* chart = m_chartView->chart();
    if (!chart || (m_data.layer.dropped.empty() && m_data.heads.empty())) return {};
    // QGraphicsView::mapToScene takes viewport coordinates; the viewport is a descendant of this widget.
    const QPointF scenePos = m_chartView->mapToScene(m_chartView->viewport()->mapFrom(this, pos));
    const QPointF chartPos = chart->mapFromScene(scenePos);
    if (!chart->plotArea().contains(chartPos)) return {};
    const QPointF value = chart->mapToValue(chartPos);
    const double floor = logFloor();
    double best = 12.0;
    QString text;
    auto consider = [&](const tsa::CoverageCurve& c, const QString& name) {
        if (c.dropped.empty()) return;
        auto it = std::lower_bound(c.dropped.begin(), c.dropped.end(), value.x());
        for (auto cand : {it, it == c.dropped.begin() ? it : it - 1}) {
            if (cand == c.dropped.end()) continue;
            const std::size_t i = std::size_t(cand - c.dropped.begin());
            const double y = m_logY ? std::max(c.cumulative[i], floor) : c.cumulative[i];
            const QPointF p = chart->mapToPosition(QPointF(c.dropped[i], y));
            const double d = std::hypot(p.x() - chartPos.x(), p.y() - chartPos.y());
            if (d < best) {
                best = d;
                text = QStringLiteral("%1\ndropping the %2 lowest-scored tokens drops mass %3")
                           .arg(name, fmt::integer(qint64(c.dropped[i])), fmt::value(c.cumulative[i], 6));
            }
        }
    };
    consider(m_data.layer, QStringLiteral("layer %1 (G)").arg(m_data.layerId));
    for (std::size_t h = 0; h < m_data.heads.size(); ++h)
        consider(m_data.heads[h], QStringLiteral("head %1 (n_h)").arg(h));
    if (text.isEmpty())
        text = QStringLiteral("tokens dropped %1, mass %2")
                   .arg(fmt::integer(qint64(std::max(0.0, value.x()))), fmt::value(value.y(), 4));
    if (m_data.sparse && m_data.layer.budgetDropped > 0)
        text += QStringLiteral("\nbudget: %1 tokens dropped (tau = %2)")
                    .arg(fmt::integer(m_data.layer.budgetDropped), fmt::value(m_data.tau));
    return text;
}

bool CoverageView::eventFilter(QObject* watched, QEvent* event) {
    if (watched == m_chartView->viewport() && event->type() == QEvent::MouseButtonRelease) {
        auto* mouse = static_cast<QMouseEvent*>(event);
        QChart* chart = m_chartView->chart();
        const QPointF chartPos = chart->mapFromScene(m_chartView->mapToScene(mouse->pos()));
        if (mouse->button() == Qt::LeftButton && chart->plotArea().contains(chartPos) && m_data.prefix > 0)
            emit droppedCountClicked(
                std::clamp<qint64>(qint64(std::lround(chart->mapToValue(chartPos).x())), 1, m_data.prefix));
    }
    if (watched == m_chartView->viewport() && event->type() == QEvent::ToolTip) {
        auto* help = static_cast<QHelpEvent*>(event);
        // The viewport is a child: map up from it (QWidget::mapFrom needs an ancestor and crashed here).
        const QString text = toolTipAt(m_chartView->viewport()->mapTo(this, help->pos()));
        if (text.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(help->globalPos(), text, m_chartView);
        return true;
    }
    return QWidget::eventFilter(watched, event);
}

} // namespace tsa::views
