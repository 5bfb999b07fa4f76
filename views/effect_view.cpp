#include "views/effect_view.h"

#include "views/axis_painter.h"
#include "views/colour_bar.h"
#include "views/colour_map.h"
#include "views/csv_writer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QFileInfo>
#include <QFontMetricsF>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <algorithm>
#include <cmath>
#include <limits>

namespace tsa::views {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kPanelTitle = 18.0; // panel title line above each plot
constexpr double kLegendRow = 20.0;  // legend line between the title and the plot
constexpr double kPickRadius = 14.0; // pixels from a point that still pick its run
// Tau axis, as shares of the plot width: the dense slot, the axis break, where the log scale starts. The
// break sits nearer the dense slot so it clears the first log tick's label.
constexpr double kZeroSlot = 0.04;
constexpr double kAxisBreak = 0.10;
constexpr double kLogStartAfterZero = 0.21;

QColor klLastColour() {
    return QColor(214, 39, 40);
}
QColor klMeanColour() {
    return QColor(255, 127, 14);
}
QColor top1Colour() {
    return QColor(31, 119, 180);
}
QColor needleColour() {
    return QColor(44, 160, 44);
}
QColor pplColour() {
    return QColor(140, 86, 75);
}
QColor jaccardColour() {
    return QColor(148, 103, 189);
}

QString tauText(double tau) {
    return tau == 0.0 ? QStringLiteral("0") : fmt::value(tau, 3);
}

bool finite(double v) {
    return std::isfinite(v);
}

// Smallest and largest finite value of f over the runs.
template <typename F>
std::pair<double, double> runRange(const EffectData& d, F f) {
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (const EffectRun& r : d.runs) {
        const double v = f(r);
        if (!finite(v)) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    return {lo, hi};
}

// The kept-fraction axis: [lo, hi] with lo on a 5% step below the data; [0, 1] when no run has a value.
std::pair<double, double> keptRange(const EffectData& d) {
    auto [lo, hi] = runRange(d, [](const EffectRun& r) { return r.meanKeptFraction; });
    if (!finite(lo) || !finite(hi)) return {0.0, 1.0};
    lo = std::max(0.0, std::floor(lo * 20.0 - 0.5) / 20.0);
    return {lo, std::max(hi, lo + 0.05)};
}

void drawPanelTitle(QPainter& painter, const QRectF& plot, const QString& title) {
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    const QRectF box(plot.left() - 60, plot.top() - kLegendRow - kPanelTitle, plot.width() + 60, kPanelTitle);
    const QFontMetricsF fm(painter.font());
    painter.drawText(box, Qt::AlignLeft | Qt::AlignVCenter,
                     fm.elidedText(title, Qt::ElideRight, box.width()));
}

void drawPanelLegend(QPainter& painter, const QRectF& plot, const std::vector<LegendItem>& items) {
    if (items.empty()) return;
    drawLegend(painter, QPointF(plot.left(), plot.top() - kLegendRow + 1), items, true);
}

} // namespace

EffectView::EffectView(QWidget* parent) : PlotView(parent) {
    setFocusPolicy(Qt::ClickFocus);
}

void EffectView::setData(std::shared_ptr<const EffectData> data) {
    m_data = std::move(data);
    const int runs = m_data ? int(m_data->runs.size()) : 0;
    if (runs == 0)
        m_run = -1;
    else if (m_run < 0 || m_run >= runs)
        m_run = runs - 1; // the strongest tau shows the most
    update();
}

void EffectView::setSelectedRun(int run) {
    const int runs = m_data ? int(m_data->runs.size()) : 0;
    m_run = runs == 0 ? -1 : std::clamp(run, 0, runs - 1);
    update();
}

void EffectView::selectNearestTau(double tau) {
    if (m_data) setSelectedRun(m_data->runNearestTau(tau));
}

void EffectView::setXAxis(EffectXAxis axis) {
    m_xAxis = axis;
    update();
}

void EffectView::setNeedleExact(bool exact) {
    m_needleExact = exact;
    update();
}

void EffectView::setColourMap(const QString& name) {
    m_colourMap = name;
    update();
}

void EffectView::setCaptureEstimate(EffectCaptureEstimate estimate) {
    m_estimate = std::move(estimate);
    update();
}

QString EffectView::xAxisName(EffectXAxis axis) {
    return axis == EffectXAxis::Tau ? QStringLiteral("Tau") : QStringLiteral("Mean Kept Fraction");
}

QString EffectView::viewTitle() const {
    if (!m_data) return QStringLiteral("Effect of tau on the model's answer");
    // A model path often ends in a generic folder ("hf", "model"): its last two parts name it.
    QString model = QString::fromStdString(m_data->model);
    const QStringList parts = model.split(QLatin1Char('/'), Qt::SkipEmptyParts);
    if (parts.size() >= 2) model = parts[parts.size() - 2] + QLatin1Char('/') + parts.back();
    if (model.isEmpty()) model = QFileInfo(QString::fromStdString(m_data->path)).fileName();
    return QStringLiteral("Effect of tau on the model's answer: %1, %2 taus")
        .arg(model)
        .arg(m_data->runs.size());
}

// ------------------------------------------------------------------------------------------ layout

EffectView::Layout EffectView::layout(const QSize& size) const {
    Layout l;
    const double w = size.width(), h = size.height();
    l.title = QRectF(10, 0, w - 20, style::kTitleHeight);
    l.subtitle = QRectF(10, style::kTitleHeight - 2, w - 20, 18);
    const double bodyTop = style::kTitleHeight + 20;
    const double bodyH = std::max(120.0, h - bodyTop - 4);
    const double topH = std::floor(bodyH * 0.48);
    const double top = kPanelTitle + kLegendRow + 4;
    auto plotIn = [&](const QRectF& cell, double right) {
        return QRectF(cell.left() + style::kLeftMargin, cell.top() + top,
                      std::max(20.0, cell.width() - style::kLeftMargin - right),
                      std::max(20.0, cell.height() - top - style::kBottomMargin));
    };
    const double cellW = (w - 10) / 3.0;
    l.kl = plotIn(QRectF(0, bodyTop, cellW, topH), 12);
    l.agreement = plotIn(QRectF(cellW, bodyTop, cellW, topH), 12);
    l.ppl = plotIn(QRectF(2 * cellW, bodyTop, cellW, topH), 12);
    const QRectF bottom(0, bodyTop + topH, w, bodyH - topH);
    const double needleW = std::floor(w * 0.45);
    l.needle = plotIn(QRectF(0, bottom.top(), needleW, bottom.height()), style::kColourBarReserve + 8);
    l.needleBar = QRectF(l.needle.right() + 12, l.needle.top(), 14, l.needle.height());
    l.layers = plotIn(QRectF(needleW, bottom.top(), w - needleW - 4, bottom.height()), 12);
    return l;
}

// Tau axis: positive taus on a log scale over the right part of the plot; tau 0 (dense) on a slot of its
// own at the left, past an axis break, since log(0) has no place on the scale. Kept-fraction axis: linear.
double EffectView::xOf(const QRectF& plot, const EffectRun& run) const {
    if (!m_data) return kNaN;
    if (m_xAxis == EffectXAxis::KeptFraction) {
        if (!finite(run.meanKeptFraction)) return kNaN;
        const auto [lo, hi] = keptRange(*m_data);
        const double u = (run.meanKeptFraction - lo) / (hi - lo);
        return plot.left() + plot.width() * (0.05 + 0.9 * u);
    }
    const bool hasZero =
        std::any_of(m_data->runs.begin(), m_data->runs.end(), [](const EffectRun& r) { return r.tau <= 0; });
    const double logStart = hasZero ? kLogStartAfterZero : 0.05;
    if (run.tau <= 0) return plot.left() + plot.width() * kZeroSlot;
    auto [lo, hi] =
        runRange(*m_data, [](const EffectRun& r) { return r.tau > 0 ? std::log10(r.tau) : kNaN; });
    if (!(hi > lo)) {
        lo -= 0.5;
        hi += 0.5;
    }
    const double u = (std::log10(run.tau) - lo) / (hi - lo);
    return plot.left() + plot.width() * (logStart + (0.95 - logStart) * u);
}

void EffectView::drawXAxis(QPainter& painter, const QRectF& plot) const {
    if (m_xAxis == EffectXAxis::KeptFraction) {
        const auto [lo, hi] = keptRange(*m_data);
        // The same mapping as xOf: [lo, hi] over 5%..95% of the width.
        const double span = (hi - lo) / 0.9;
        AxisSpec x{AxisScale::linear(lo - 0.05 * span, lo - 0.05 * span + span),
                   Edge::Bottom,
                   QStringLiteral("mean kept fraction (true, interleaved)"),
                   TickStyle::Percent,
                   false,
                   false};
        drawAxis(painter, plot, x);
        return;
    }
    painter.save();
    painter.setFont(style::tickFont());
    const QFontMetricsF fm(painter.font());
    painter.setPen(QPen(style::axis(), 1.0));
    painter.drawLine(plot.bottomLeft(), plot.bottomRight());
    double lastRight = -1e9;
    std::vector<double> taus = m_data->taus;
    std::sort(taus.begin(), taus.end());
    taus.erase(std::unique(taus.begin(), taus.end()), taus.end());
    for (double tau : taus) {
        EffectRun probe;
        probe.tau = tau;
        const double x = xOf(plot, probe);
        painter.setPen(QPen(style::axis(), 1.0));
        painter.drawLine(QPointF(x, plot.bottom()), QPointF(x, plot.bottom() + 4));
        const QString label = tauText(tau);
        const double lw = fm.horizontalAdvance(label);
        if (x - lw / 2 < lastRight + 4) continue; // thinned: the tick stays, the label would overlap
        painter.setPen(style::text());
        painter.drawText(QRectF(x - lw / 2 - 2, plot.bottom() + 5, lw + 4, fm.height()), Qt::AlignCenter,
                         label);
        lastRight = x + lw / 2;
    }
    // Axis break between the dense slot and the log scale.
    if (!taus.empty() && taus.front() <= 0) {
        const double bx = plot.left() + plot.width() * kAxisBreak;
        painter.setPen(QPen(style::background(), 4.0));
        painter.drawLine(QPointF(bx - 3, plot.bottom()), QPointF(bx + 3, plot.bottom()));
        painter.setPen(QPen(style::axis(), 1.0));
        for (double dx : {-3.0, 3.0})
            painter.drawLine(QPointF(bx + dx - 3, plot.bottom() + 4),
                             QPointF(bx + dx + 3, plot.bottom() - 4));
    }
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    painter.drawText(QRectF(plot.left(), plot.bottom() + 5 + fm.height() + 4, plot.width(), 16),
                     Qt::AlignCenter, QStringLiteral("tau (log scale; 0 = dense)"));
    painter.restore();
}

// ------------------------------------------------------------------------------------------ drawing

void EffectView::render(QPainter& painter, const QSize& size) const {
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    style::drawTitle(painter, QRectF(10, 0, size.width() - 20, style::kTitleHeight), viewTitle());
    if (!m_data || m_data->runs.empty()) {
        style::drawMessage(painter, all,
                           QStringLiteral("No effect file open: File ▸ Open Effect…, or tsa-explorer "
                                          "EFFECT.safetensors (written by tools/tsa_eval.py)"));
        painter.restore();
        return;
    }
    const Layout l = layout(size);
    const EffectData& d = *m_data;
    // Model, workload and parameters in one line under the title: what the numbers are of.
    auto str = [](const std::string& v, const char* fallback) {
        return QString::fromStdString(v.empty() ? std::string(fallback) : v);
    };
    QString sub = QStringLiteral("%1 (%2").arg(str(d.model, "model"), str(d.modelType, "unknown type"));
    if (!d.dtype.empty()) sub += QStringLiteral(", %1 on %2").arg(str(d.dtype, ""), str(d.device, "?"));
    sub += QStringLiteral(") · %1 workload").arg(str(d.workloadKind, "unknown"));
    if (!d.workloadSource.empty()) sub += QStringLiteral(" (%1)").arg(str(d.workloadSource, ""));
    sub += QStringLiteral(", L = %1").arg(fmt::integer(d.selectionLength));
    if (d.lastN > 0) sub += QStringLiteral(", last %1 positions").arg(d.lastN);
    sub += QStringLiteral(" · W %1, k %2, min_tokens %3, sparse layers %4 (%5 of %6)")
               .arg(d.window)
               .arg(d.poolKernel)
               .arg(d.minTokens)
               .arg(str(d.sparseLayers, "?"))
               .arg(d.layers.size())
               .arg(d.numLayers);
    painter.setFont(style::smallFont());
    painter.setPen(QColor(90, 90, 90));
    painter.drawText(l.subtitle, Qt::AlignLeft | Qt::AlignVCenter,
                     QFontMetricsF(painter.font()).elidedText(sub, Qt::ElideRight, l.subtitle.width()));

    drawKl(painter, l.kl);
    drawAgreement(painter, l.agreement);
    drawPerplexity(painter, l.ppl);
    drawNeedle(painter, l);
    drawLayers(painter, l.layers);
    painter.restore();
}

// Points and lines of one measure against x, plus the chosen-run marker; y maps through spec.
static void drawSeries(QPainter& painter, const QRectF& plot, const AxisSpec& y,
                       const std::vector<QPointF>& raw, const QColor& colour, int selected,
                       bool dashed = false) {
    std::vector<std::pair<QPointF, int>> pts;
    for (int i = 0; i < int(raw.size()); ++i)
        if (finite(raw[std::size_t(i)].x()) && finite(raw[std::size_t(i)].y()))
            pts.push_back(
                {QPointF(raw[std::size_t(i)].x(), axisPosition(plot, y, raw[std::size_t(i)].y())), i});
    std::sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) { return a.first.x() < b.first.x(); });
    painter.save();
    painter.setClipRect(plot.adjusted(-6, -6, 6, 6));
    QPen pen(colour, 1.8);
    if (dashed) pen.setStyle(Qt::DashLine);
    painter.setPen(pen);
    for (std::size_t i = 1; i < pts.size(); ++i)
        painter.drawLine(pts[i - 1].first, pts[i].first);
    for (const auto& [p, i] : pts) {
        painter.setPen(
            QPen(i == selected ? style::highlight() : colour.darker(120), i == selected ? 2.0 : 1.0));
        painter.setBrush(colour);
        const double r = i == selected ? 5.0 : 3.2;
        painter.drawEllipse(p, r, r);
    }
    painter.restore();
}

void EffectView::drawRunPanel(QPainter& painter, const QRectF& plot, const QString& title) const {
    drawPanelTitle(painter, plot, title);
    drawXAxis(painter, plot);
    if (m_run >= 0) {
        const double x = xOf(plot, m_data->runs[std::size_t(m_run)]);
        if (finite(x)) {
            painter.save();
            painter.setPen(QPen(style::highlight(), 1.0, Qt::DashLine));
            painter.drawLine(QPointF(x, plot.top()), QPointF(x, plot.bottom()));
            painter.restore();
        }
    }
}

void EffectView::drawKl(QPainter& painter, const QRectF& plot) const {
    const EffectData& d = *m_data;
    const QString title = QStringLiteral("KL(dense || sparse) of the next token");
    const auto [lo1, hi1] = runRange(d, [](const EffectRun& r) { return r.klLast; });
    const auto [lo2, hi2] = runRange(d, [](const EffectRun& r) { return r.klMean; });
    const double hi = std::max(hi1, hi2);
    if (!finite(hi)) {
        drawPanelTitle(painter, plot, title);
        style::drawMessage(painter, plot, QStringLiteral("no KL in this file"));
        return;
    }
    drawRunPanel(painter, plot, title);
    // KL is >= 0; a tiny negative value from rounding in the writer stays on the axis.
    AxisSpec y{AxisScale::linear(std::min(0.0, std::min(lo1, lo2)), hi > 0 ? hi * 1.1 : 1e-3),
               Edge::Left,
               QStringLiteral("KL, nats"),
               TickStyle::Number,
               true,
               false};
    drawAxis(painter, plot, y);
    std::vector<QPointF> last, mean;
    for (const EffectRun& r : d.runs) {
        last.emplace_back(xOf(plot, r), r.klLast);
        mean.emplace_back(xOf(plot, r), r.klMean);
    }
    drawSeries(painter, plot, y, mean, klMeanColour(), m_run);
    drawSeries(painter, plot, y, last, klLastColour(), m_run);
    drawPanelLegend(painter, plot,
                    {{klLastColour(), QStringLiteral("last position"), LegendItem::Shape::ThickLine},
                     {klMeanColour(),
                      d.lastN > 0 ? QStringLiteral("mean of last %1").arg(d.lastN) : QStringLiteral("mean"),
                      LegendItem::Shape::ThickLine}});
}

void EffectView::drawAgreement(QPainter& painter, const QRectF& plot) const {
    const EffectData& d = *m_data;
    const bool needle = d.hasNeedle();
    const QString title =
        needle ? QStringLiteral("Top-1 agreement and needle score") : QStringLiteral("Top-1 agreement");
    const auto [lo1, hi1] = runRange(d, [](const EffectRun& r) { return r.top1Agreement; });
    auto [lo2, hi2] = runRange(
        d, [this](const EffectRun& r) { return m_needleExact ? r.needleExact() : r.needleOverlap(); });
    const double lo = std::min(lo1, lo2);
    if (!finite(lo)) {
        drawPanelTitle(painter, plot, title);
        style::drawMessage(painter, plot, QStringLiteral("no agreement or needle scores in this file"));
        return;
    }
    drawRunPanel(painter, plot, title);
    // Agreement often stays near 1: zoom to the data, but never past a range of 0.1.
    const double yLo = std::clamp(std::floor(lo * 10.0 - 1e-9) / 10.0, 0.0, 0.9);
    AxisSpec y{AxisScale::linear(yLo, 1.0 + (1.0 - yLo) * 0.04),
               Edge::Left,
               QStringLiteral("share"),
               TickStyle::Percent,
               true,
               false};
    drawAxis(painter, plot, y);
    std::vector<QPointF> top1, score;
    for (const EffectRun& r : d.runs) {
        top1.emplace_back(xOf(plot, r), r.top1Agreement);
        score.emplace_back(xOf(plot, r), m_needleExact ? r.needleExact() : r.needleOverlap());
    }
    std::vector<LegendItem> legend;
    if (finite(lo1)) {
        drawSeries(painter, plot, y, top1, top1Colour(), m_run);
        legend.push_back({top1Colour(), QStringLiteral("top-1 agreement"), LegendItem::Shape::ThickLine});
    }
    if (needle) {
        drawSeries(painter, plot, y, score, needleColour(), m_run);
        legend.push_back({needleColour(),
                          m_needleExact ? QStringLiteral("needle exact") : QStringLiteral("needle overlap"),
                          LegendItem::Shape::ThickLine});
    }
    drawPanelLegend(painter, plot, legend);
}

void EffectView::drawPerplexity(QPainter& painter, const QRectF& plot) const {
    const EffectData& d = *m_data;
    if (!d.hasPerplexity()) {
        // No axes for a measure that is not there: only the title and why.
        drawPanelTitle(painter, plot, QStringLiteral("Perplexity of the text's last tokens"));
        style::drawMessage(
            painter, plot,
            QStringLiteral("no perplexity in this file (%1 workload)")
                .arg(QString::fromStdString(d.workloadKind.empty() ? "unknown" : d.workloadKind)));
        return;
    }
    drawRunPanel(painter, plot, QStringLiteral("Perplexity of the text's last tokens"));
    auto [lo, hi] = runRange(d, [](const EffectRun& r) { return r.ppl; });
    if (finite(d.densePpl)) {
        lo = std::min(lo, d.densePpl);
        hi = std::max(hi, d.densePpl);
    }
    const double pad = std::max((hi - lo) * 0.12, std::fabs(hi) * 0.002 + 1e-9);
    AxisSpec y{AxisScale::linear(std::max(0.0, lo - pad), hi + pad),
               Edge::Left,
               QStringLiteral("perplexity"),
               TickStyle::Number,
               true,
               false};
    drawAxis(painter, plot, y);
    std::vector<LegendItem> legend{{pplColour(), QStringLiteral("sparse"), LegendItem::Shape::ThickLine}};
    if (finite(d.densePpl)) {
        const double py = axisPosition(plot, y, d.densePpl);
        painter.save();
        painter.setPen(QPen(QColor(90, 90, 90), 1.2, Qt::DashLine));
        painter.drawLine(QPointF(plot.left(), py), QPointF(plot.right(), py));
        painter.restore();
        legend.push_back({QColor(90, 90, 90), QStringLiteral("dense %1").arg(fmt::value(d.densePpl, 4)),
                          LegendItem::Shape::DashedLine});
    }
    std::vector<QPointF> ppl;
    for (const EffectRun& r : d.runs)
        ppl.emplace_back(xOf(plot, r), r.ppl);
    drawSeries(painter, plot, y, ppl, pplColour(), m_run);
    drawPanelLegend(painter, plot, legend);
}

void EffectView::drawNeedle(QPainter& painter, const Layout& l) const {
    const EffectData& d = *m_data;
    const QRectF plot = l.needle;
    const EffectRun& run = d.runs[std::size_t(m_run)];
    drawPanelTitle(painter, plot,
                   !d.hasNeedle() ? QStringLiteral("Needle in a haystack")
                                  : QStringLiteral("Needle %1 at tau = %2")
                                        .arg(m_needleExact ? QStringLiteral("exact match")
                                                           : QStringLiteral("token overlap"),
                                             tauText(run.tau)));
    if (!d.hasNeedle()) {
        style::drawMessage(
            painter, plot.united(l.needleBar),
            QStringLiteral("no needle runs in this file (%1 workload)")
                .arg(QString::fromStdString(d.workloadKind.empty() ? "unknown" : d.workloadKind)));
        return;
    }
    const NeedleGrid g = needleGrid(run, m_needleExact);
    if (g.empty()) {
        style::drawMessage(painter, plot,
                           QStringLiteral("no needle cases at tau = %1").arg(tauText(run.tau)));
        return;
    }
    const ColourMap& map = ColourMap::byName(m_colourMap);
    const int nx = int(g.lengths.size()), ny = int(g.depths.size());
    const double cw = plot.width() / nx, ch = plot.height() / ny;
    painter.save();
    painter.setFont(style::smallFont());
    for (int xi = 0; xi < nx; ++xi)
        for (int yi = 0; yi < ny; ++yi) {
            const double v = g.at(std::size_t(xi), std::size_t(yi));
            const QRectF cell(plot.left() + xi * cw, plot.top() + yi * ch, cw, ch);
            const QColor c = finite(v) ? map.colourAt(v) : style::missing();
            painter.fillRect(cell.adjusted(0, 0, 0.5, 0.5), c);
            if (cw >= 30 && ch >= 14 && finite(v)) {
                painter.setPen(c.lightnessF() < 0.55 ? Qt::white : Qt::black);
                painter.drawText(cell, Qt::AlignCenter, QString::number(v, 'f', 2));
            }
        }
    painter.setPen(QPen(QColor(255, 255, 255), 1.0));
    for (int xi = 1; xi < nx; ++xi)
        painter.drawLine(QPointF(plot.left() + xi * cw, plot.top()),
                         QPointF(plot.left() + xi * cw, plot.bottom()));
    for (int yi = 1; yi < ny; ++yi)
        painter.drawLine(QPointF(plot.left(), plot.top() + yi * ch),
                         QPointF(plot.right(), plot.top() + yi * ch));
    painter.restore();
    drawCategoryAxis(
        painter, plot, Edge::Bottom, nx,
        [&g](int i) { return fmt::tokenTick(double(g.lengths[std::size_t(i)])); },
        QStringLiteral("context length (tokens)"));
    drawCategoryAxis(
        painter, plot, Edge::Left, ny, [&g](int i) { return fmt::percent(g.depths[std::size_t(i)], 0); },
        QStringLiteral("needle depth"));
    drawColourBar(painter, l.needleBar, map, AxisScale{0.0, 1.0, false},
                  m_needleExact ? QStringLiteral("exact match") : QStringLiteral("token overlap"));
}

void EffectView::drawLayers(QPainter& painter, const QRectF& plot) const {
    const EffectData& d = *m_data;
    const EffectRun& run = d.runs[std::size_t(m_run)];
    drawPanelTitle(painter, plot,
                   QStringLiteral("Per layer at tau = %1: true kept fraction, Jaccard vs the dense capture")
                       .arg(tauText(run.tau)));
    const int n = int(run.layers.size());
    if (n == 0) return;
    AxisSpec y{AxisScale{0.0, 1.04, false}, Edge::Left, QStringLiteral("fraction"),
               TickStyle::Percent,          true,       false};
    drawAxis(painter, plot, y);
    const double slot = plot.width() / n;
    const double barW = std::max(1.0, slot * 0.6);
    const bool estimate = !m_estimate.empty() &&
                          std::fabs(m_estimate.tau - run.tau) <= 1e-9 * std::max(1.0, std::fabs(run.tau));
    bool anySparse = false, anyDense = false, anyJaccard = false, anySpread = false, anyEstimate = false;
    std::vector<QPointF> jac;
    painter.save();
    for (int i = 0; i < n; ++i) {
        const EffectLayer& layer = run.layers[std::size_t(i)];
        const double cx = plot.left() + (i + 0.5) * slot;
        if (finite(layer.keptFraction)) {
            const double top = axisPosition(plot, y, std::clamp(layer.keptFraction, 0.0, 1.0));
            painter.fillRect(QRectF(cx - barW / 2, top, barW, plot.bottom() - top),
                             layer.sparse ? style::sparseLayer().lighter(135) : style::denseLayer());
            (layer.sparse ? anySparse : anyDense) = true;
        }
        if (layer.headJaccard.size() > 1) {
            const auto [mn, mx] = std::minmax_element(layer.headJaccard.begin(), layer.headJaccard.end());
            painter.setPen(QPen(jaccardColour(), 1.2));
            const double y0 = axisPosition(plot, y, *mn), y1 = axisPosition(plot, y, *mx);
            painter.drawLine(QPointF(cx, y0), QPointF(cx, y1));
            painter.drawLine(QPointF(cx - 4, y0), QPointF(cx + 4, y0));
            painter.drawLine(QPointF(cx - 4, y1), QPointF(cx + 4, y1));
            anySpread = true;
        }
        const double j = layer.sparse ? layer.bestJaccard() : kNaN;
        jac.emplace_back(cx, j);
        anyJaccard = anyJaccard || finite(j);
        if (estimate && i < int(m_estimate.keptFraction.size()) &&
            finite(m_estimate.keptFraction[std::size_t(i)])) {
            const double ey = axisPosition(plot, y, m_estimate.keptFraction[std::size_t(i)]);
            painter.setPen(QPen(Qt::black, 2.0));
            painter.drawLine(QPointF(cx - barW / 2, ey), QPointF(cx + barW / 2, ey));
            anyEstimate = true;
        }
    }
    painter.restore();
    drawSeries(painter, plot, y, jac, jaccardColour(), -1);
    drawCategoryAxis(
        painter, plot, Edge::Bottom, n, [](int i) { return QString::number(i); }, QStringLiteral("layer"));
    std::vector<LegendItem> legend;
    if (anySparse)
        legend.push_back({style::sparseLayer().lighter(135), QStringLiteral("kept fraction (interleaved)"),
                          LegendItem::Shape::Box});
    if (anyDense)
        legend.push_back({style::denseLayer(), QStringLiteral("dense layer"), LegendItem::Shape::Box});
    if (anyJaccard)
        legend.push_back(
            {jaccardColour(),
             anySpread ? QStringLiteral("Jaccard, mean and head range") : QStringLiteral("Jaccard"),
             LegendItem::Shape::ThickLine});
    if (anyEstimate)
        legend.push_back(
            {Qt::black, QStringLiteral("open capture's estimate"), LegendItem::Shape::ThickLine});
    drawPanelLegend(painter, plot, legend);
    if (run.tau <= 0)
        style::drawBanner(painter, plot, QStringLiteral("tau 0 keeps every token: choose a tau above 0"));
    else if (!anyJaccard)
        style::drawBanner(painter, plot, QStringLiteral("no kept sets or Jaccard values in this file"));
}

// ------------------------------------------------------------------------------------------ interaction

int EffectView::runAt(const QPoint& pos) const {
    if (!m_data) return -1;
    const Layout l = layout(size());
    for (const QRectF& plot : {l.kl, l.agreement, l.ppl}) {
        if (!plot.adjusted(-kPickRadius, -kPickRadius, kPickRadius, kPickRadius).contains(pos)) continue;
        int best = -1;
        double bestDx = kPickRadius;
        for (int i = 0; i < int(m_data->runs.size()); ++i) {
            const double dx = std::fabs(xOf(plot, m_data->runs[std::size_t(i)]) - pos.x());
            if (dx < bestDx) {
                bestDx = dx;
                best = i;
            }
        }
        return best;
    }
    return -1;
}

QString EffectView::runText(int i) const {
    const EffectData& d = *m_data;
    const EffectRun& r = d.runs[std::size_t(i)];
    QString text = QStringLiteral("tau %1, mean kept fraction %2\n")
                       .arg(tauText(r.tau), fmt::percent(r.meanKeptFraction, 2));
    text +=
        QStringLiteral("KL last %1 nats, KL mean %2 nats\n").arg(fmt::value(r.klLast), fmt::value(r.klMean));
    text += QStringLiteral("top-1 agreement %1").arg(fmt::percent(r.top1Agreement, 2));
    if (finite(r.ppl))
        text +=
            QStringLiteral("\nperplexity %1 (dense %2)").arg(fmt::value(r.ppl, 5), fmt::value(d.densePpl, 5));
    if (!r.needle.empty())
        text += QStringLiteral("\nneedle: overlap %1, exact %2 over %3 cases")
                    .arg(fmt::value(r.needleOverlap(), 3), fmt::value(r.needleExact(), 3))
                    .arg(r.needle.size());
    if (finite(r.prefillMs))
        text += QStringLiteral("\nprefill %1 ms (dense %2 ms)")
                    .arg(fmt::value(r.prefillMs, 4), fmt::value(d.densePrefillMs, 4));
    return text;
}

QString EffectView::toolTipAt(const QPoint& pos) const {
    if (!m_data || m_data->runs.empty() || m_run < 0) return {};
    if (const int run = runAt(pos); run >= 0) return runText(run);
    const Layout l = layout(size());
    const EffectRun& run = m_data->runs[std::size_t(m_run)];
    if (l.needle.contains(pos)) {
        const NeedleGrid g = needleGrid(run, m_needleExact);
        if (g.empty()) return {};
        const auto xi = std::size_t(
            std::clamp(int((pos.x() - l.needle.left()) / l.needle.width() * double(g.lengths.size())), 0,
                       int(g.lengths.size()) - 1));
        const auto yi = std::size_t(
            std::clamp(int((pos.y() - l.needle.top()) / l.needle.height() * double(g.depths.size())), 0,
                       int(g.depths.size()) - 1));
        QString text = QStringLiteral("tau %1, length %2, depth %3\n")
                           .arg(tauText(run.tau), fmt::integer(g.lengths[xi]), fmt::percent(g.depths[yi], 0));
        for (const EffectNeedle& c : run.needle)
            if (c.length == g.lengths[xi] && c.depth == g.depths[yi])
                text += QStringLiteral("overlap %1, exact %2: \"%3\" (expected \"%4\")\n")
                            .arg(fmt::value(c.overlap, 3), fmt::value(c.exact, 1),
                                 QString::fromStdString(c.answer).left(80),
                                 QString::fromStdString(c.expected).left(80));
        return text.trimmed();
    }
    if (l.layers.contains(pos) && !run.layers.empty()) {
        const int n = int(run.layers.size());
        const int i = std::clamp(int((pos.x() - l.layers.left()) / l.layers.width() * n), 0, n - 1);
        const EffectLayer& layer = run.layers[std::size_t(i)];
        QString text =
            QStringLiteral("layer %1 at tau %2: %3\n")
                .arg(i)
                .arg(tauText(run.tau), layer.sparse ? QStringLiteral("sparse") : QStringLiteral("dense"));
        text += QStringLiteral("true kept fraction %1").arg(fmt::percent(layer.keptFraction, 2));
        if (layer.capacity > 0)
            text += QStringLiteral(" (%1 of %2 tokens per head)")
                        .arg(fmt::integer(layer.capacity), fmt::integer(m_data->selectionLength));
        if (layer.hasKeptSets) {
            const auto [mn, mx] = std::minmax_element(layer.headJaccard.begin(), layer.headJaccard.end());
            text += QStringLiteral("\nJaccard (kept sets) mean %1, heads %2 to %3")
                        .arg(fmt::value(layer.jaccard, 4), fmt::value(*mn, 4), fmt::value(*mx, 4));
        }
        if (finite(layer.jaccardJson))
            text += QStringLiteral("\nJaccard in the file's JSON %1").arg(fmt::value(layer.jaccardJson, 4));
        if (!m_estimate.empty() && i < int(m_estimate.keptFraction.size()))
            text +=
                QStringLiteral("\nopen capture at tau %1: kept fraction %2")
                    .arg(tauText(m_estimate.tau), fmt::percent(m_estimate.keptFraction[std::size_t(i)], 2));
        return text;
    }
    return {};
}

void EffectView::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return PlotView::mousePressEvent(event);
    const int run = runAt(event->pos());
    if (run < 0) return;
    setSelectedRun(run);
    emit runSelected(m_data->runs[std::size_t(run)].tau);
}

void EffectView::keyPressEvent(QKeyEvent* event) {
    if (!m_data || m_data->runs.empty() || (event->key() != Qt::Key_Left && event->key() != Qt::Key_Right))
        return PlotView::keyPressEvent(event);
    setSelectedRun(m_run + (event->key() == Qt::Key_Right ? 1 : -1));
    emit runSelected(m_data->runs[std::size_t(m_run)].tau);
}

// ------------------------------------------------------------------------------------------ csv

QString EffectView::csv() const {
    // One table: `kind` says which columns a row fills (run: the measures, layer: one layer of one run,
    // needle: one case of one run); the others stay empty.
    static const QStringList columns =
        QStringLiteral(
            "kind,run,tau,mean_kept_fraction,kl_last,kl_mean,top1_agreement,ppl,prefill_ms,"
            "needle_overlap,needle_exact,layer,sparse,layer_kept_fraction,capacity,"
            "capture_kept_fraction,jaccard,jaccard_json,length,depth,overlap,exact,answer,expected")
            .split(QLatin1Char(','));
    CsvWriter out;
    out.row(columns);
    if (!m_data) return out.text();
    struct Row {
        QStringList fields = QStringList(columns.size(), QString());
        Row& set(const char* column, const QString& value) {
            fields[columns.indexOf(QLatin1String(column))] = value;
            return *this;
        }
    };
    for (int r = 0; r < int(m_data->runs.size()); ++r) {
        const EffectRun& run = m_data->runs[std::size_t(r)];
        const QString rs = QString::number(r), tau = fmt::csvValue(run.tau);
        out.row(Row()
                    .set("kind", "run")
                    .set("run", rs)
                    .set("tau", tau)
                    .set("mean_kept_fraction", fmt::csvValue(run.meanKeptFraction))
                    .set("kl_last", fmt::csvValue(run.klLast))
                    .set("kl_mean", fmt::csvValue(run.klMean))
                    .set("top1_agreement", fmt::csvValue(run.top1Agreement))
                    .set("ppl", fmt::csvValue(run.ppl))
                    .set("prefill_ms", fmt::csvValue(run.prefillMs))
                    .set("needle_overlap", fmt::csvValue(run.needleOverlap()))
                    .set("needle_exact", fmt::csvValue(run.needleExact()))
                    .fields);
        // The open capture's estimate belongs to the run of its tau only.
        const bool estimate = !m_estimate.empty() &&
                              std::fabs(m_estimate.tau - run.tau) <= 1e-9 * std::max(1.0, std::fabs(run.tau));
        for (int l = 0; l < int(run.layers.size()); ++l) {
            const EffectLayer& layer = run.layers[std::size_t(l)];
            const double captureKept = estimate && l < int(m_estimate.keptFraction.size())
                                           ? m_estimate.keptFraction[std::size_t(l)]
                                           : kNaN;
            out.row(Row()
                        .set("kind", "layer")
                        .set("run", rs)
                        .set("tau", tau)
                        .set("layer", QString::number(l))
                        .set("sparse", layer.sparse ? "1" : "0")
                        .set("layer_kept_fraction", fmt::csvValue(layer.keptFraction))
                        .set("capacity", layer.capacity > 0 ? QString::number(layer.capacity) : QString())
                        .set("capture_kept_fraction", fmt::csvValue(captureKept))
                        .set("jaccard", fmt::csvValue(layer.jaccard))
                        .set("jaccard_json", fmt::csvValue(layer.jaccardJson))
                        .fields);
        }
        for (const EffectNeedle& c : run.needle)
            out.row(Row()
                        .set("kind", "needle")
                        .set("run", rs)
                        .set("tau", tau)
                        .set("length", QString::number(c.length))
                        .set("depth", fmt::csvValue(c.depth))
                        .set("overlap", fmt::csvValue(c.overlap))
                        .set("exact", fmt::csvValue(c.exact))
                        .set("answer", QString::fromStdString(c.answer))
                        .set("expected", QString::fromStdString(c.expected))
                        .fields);
    }
    return out.text();
}

} // namespace tsa::views
