#include "views/how_it_works_panel.h"

#include "views/axis_painter.h"
#include "views/colour_bar.h"
#include "views/colour_map.h"
#include "views/csv_writer.h"
#include "views/heatmap_renderer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QFontMetricsF>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QPushButton>
#include <algorithm>
#include <cmath>

namespace tsa::views {

namespace {

const QColor kRaw(150, 150, 150);
const QColor kSmoothed(31, 119, 180);
const QColor kKept(35, 55, 110);
const QColor kDropped(215, 215, 215);

// A series drawn with one vertical min..max segment per pixel (LOD) plus the max line, clipped to rect.
void drawSeries(QPainter& painter, const QRectF& rect, const float* v, qint64 n, const AxisScale& y,
                const QColor& colour, double width) {
    if (n <= 0) return;
    const int columns = std::max(1, int(rect.width()));
    QPainterPath path;
    bool open = false;
    painter.save();
    painter.setClipRect(rect.adjusted(-1, -1, 1, 1));
    painter.setPen(QPen(colour, width));
    for (int x = 0; x < columns; ++x) {
        const BinRange b = binRange(0, n, columns, x);
        double lo = INFINITY, hi = -INFINITY;
        for (qint64 i = b.begin; i < b.end; ++i) {
            lo = std::min(lo, double(v[i]));
            hi = std::max(hi, double(v[i]));
        }
        const double px = rect.left() + (x + 0.5) * rect.width() / columns;
        const double yHi = rect.bottom() - y.unitClamped(hi) * rect.height();
        const double yLo = rect.bottom() - y.unitClamped(lo) * rect.height();
        if (b.end - b.begin > 1) painter.drawLine(QPointF(px, yLo), QPointF(px, yHi));
        if (open)
            path.lineTo(px, yHi);
        else
            path.moveTo(px, yHi);
        open = true;
    }
    painter.setBrush(Qt::NoBrush);
    painter.drawPath(path);
    painter.restore();
}

// A horizontal bar of kept (dark) and dropped (light) positions, one pixel per bin (kept share blends).
void drawKeptBar(QPainter& painter, const QRectF& rect, const std::vector<std::uint8_t>& kept) {
    const qint64 n = qint64(kept.size());
    const int columns = std::max(1, int(rect.width()));
    for (int x = 0; x < columns; ++x) {
        const BinRange b = binRange(0, n, columns, x);
        qint64 k = 0;
        for (qint64 i = b.begin; i < b.end; ++i)
            k += kept[std::size_t(i)];
        const double share = b.end > b.begin ? double(k) / double(b.end - b.begin) : 0.0;
        auto mix = [share](int a, int c) { return int(std::lround(a * share + c * (1.0 - share))); };
        const QColor c(mix(kKept.red(), kDropped.red()), mix(kKept.green(), kDropped.green()),
                       mix(kKept.blue(), kDropped.blue()));
        painter.fillRect(QRectF(rect.left() + x * rect.width() / columns, rect.top(),
                                rect.width() / columns + 0.3, rect.height()),
                         c);
    }
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(rect);
}

} // namespace

HowItWorksPanel::HowItWorksPanel(QWidget* parent)
    : PlotView(parent),
      m_panZoom(new TokenPanZoom(this, [this] { return zoomable() ? zoomArea(size()) : QRectF(); })) {
    connect(m_panZoom, &TokenPanZoom::rangeChanged, this, [this] { update(); });
    m_prev = new QPushButton(tr("◀ Prev"), this);
    m_next = new QPushButton(tr("Next ▶"), this);
    m_jump = new QPushButton(this);
    m_jump->setObjectName(QStringLiteral("jumpToSparseLayer"));
    m_jump->hide();
    connect(m_prev, &QPushButton::clicked, this, &HowItWorksPanel::previous);
    connect(m_next, &QPushButton::clicked, this, &HowItWorksPanel::next);
    connect(m_jump, &QPushButton::clicked, this, &HowItWorksPanel::jumpToSparseLayerRequested);
    // Arrow keys step through the lesson once the panel has focus (a click anywhere gives it).
    setFocusPolicy(Qt::StrongFocus);
    if (auto toy = tsa::buildToyExample(); toy.ok()) m_toy = std::move(toy.value());
    updateButtons();
}

qint64 HowItWorksPanel::tokens() const {
    if (m_data.selection) return qint64(m_data.selection->tokens);
    return m_data.scores ? qint64(m_data.scores->tokens) : 0;
}

void HowItWorksPanel::setData(HowItWorksData data) {
    m_data = std::move(data);
    if (tokens() > 0) m_panZoom->model()->setTotal(tokens());
    const tsa::Selection* sel = m_data.selection.get();
    const bool dense = sel && !sel->sparse;
    m_jump->setVisible(dense && m_data.firstSparseLayerId >= 0 &&
                       m_data.firstSparseLayerId != m_data.layerId);
    m_jump->setText(tr("Jump to layer %1, the first sparse layer").arg(m_data.firstSparseLayerId));
    m_jump->adjustSize();
    resizeEvent(nullptr);
    update();
}

void HowItWorksPanel::setVisibleRange(qint64 begin, qint64 end) {
    m_panZoom->model()->setRange({begin, end});
}

QRectF HowItWorksPanel::chipRect(int step, const QSize& size) const {
    // Six chips share the width left of nothing but margins: narrow windows get narrower chips, never
    // chips cut off at the edge.
    const double gap = 6.0;
    const double w = std::clamp((size.width() - 20.0 - gap * (kStepCount - 1)) / kStepCount, 18.0, 96.0);
    return QRectF(10 + step * (w + gap), 36, w, 20);
}

QRectF HowItWorksPanel::zoomArea(const QSize& size) const {
    return layoutFor(size).diagram.adjusted(0, 30, 0, 0);
}

std::vector<double> HowItWorksPanel::droppedMassPerHead() const {
    if (!hasScores() || !hasSelection()) return {};
    const tsa::Selection& sel = *m_data.selection;
    const qint64 P = prefix();
    std::vector<double> out(std::size_t(sel.qHeads), 0.0);
    std::vector<std::uint8_t> kept(static_cast<std::size_t>(P));
    for (qint64 h = 0; h < sel.qHeads; ++h) {
        std::fill(kept.begin(), kept.end(), 0);
        for (qint64 i = 0; i < sel.kept; ++i)
            if (const std::int32_t p = sel.head(h)[i]; p >= 0 && p < P) kept[std::size_t(p)] = 1;
        const float* n = m_data.scores->headNorm.data() + h * P;
        double mass = 0.0;
        for (qint64 j = 0; j < P; ++j)
            if (!kept[std::size_t(j)]) mass += n[j];
        out[std::size_t(h)] = mass;
    }
    return out;
}

void HowItWorksPanel::keyPressEvent(QKeyEvent* event) {
    switch (event->key()) {
    case Qt::Key_Right:
        next();
        return;
    case Qt::Key_Left:
        previous();
        return;
    case Qt::Key_Home:
        setStep(0);
        return;
    case Qt::Key_End:
        setStep(kStepCount - 1);
        return;
    default:
        PlotView::keyPressEvent(event);
    }
}

void HowItWorksPanel::mousePressEvent(QMouseEvent* event) {
    setFocus(Qt::MouseFocusReason);
    if (event->button() != Qt::LeftButton) return PlotView::mousePressEvent(event);
    for (int i = 0; i < kStepCount; ++i)
        if (chipRect(i, size()).contains(event->position())) {
            setStep(i);
            return;
        }
}

void HowItWorksPanel::mouseMoveEvent(QMouseEvent* event) {
    bool overChip = false;
    for (int i = 0; i < kStepCount; ++i)
        overChip = overChip || chipRect(i, size()).contains(event->position());
    setCursor(overChip ? Qt::PointingHandCursor : Qt::ArrowCursor);
}

void HowItWorksPanel::setStep(int step) {
    step = std::clamp(step, 0, kStepCount - 1);
    if (step == m_step) return;
    m_step = step;
    updateButtons();
    update();
    emit stepChanged(step);
}

void HowItWorksPanel::next() {
    setStep(m_step + 1);
}
void HowItWorksPanel::previous() {
    setStep(m_step - 1);
}

void HowItWorksPanel::updateButtons() {
    m_prev->setEnabled(m_step > 0);
    m_next->setEnabled(m_step < kStepCount - 1);
}

void HowItWorksPanel::resizeEvent(QResizeEvent* event) {
    if (event) PlotView::resizeEvent(event);
    const int h = 26;
    m_next->setGeometry(width() - 96, 4, 88, h);
    m_prev->setGeometry(width() - 190, 4, 88, h);
    // Under the "this layer runs dense" message in the middle of the diagram.
    const QRectF area = zoomArea(size());
    m_jump->move(int(area.center().x() - m_jump->width() / 2.0), int(area.center().y() + 24));
}

QString HowItWorksPanel::stepName(int step) {
    switch (step) {
    case Score:
        return QStringLiteral("Score");
    case Budget:
        return QStringLiteral("Budget");
    case Select:
        return QStringLiteral("Select");
    case Compress:
        return QStringLiteral("Compress");
    case Attend:
        return QStringLiteral("Attend");
    case Decompress:
        return QStringLiteral("Decompress");
    }
    return {};
}

QString HowItWorksPanel::viewTitle() const {
    return QStringLiteral("How it works, step %1 of %2: %3 (layer %4, head %5)")
        .arg(m_step + 1)
        .arg(kStepCount)
        .arg(stepName(m_step))
        .arg(m_data.layerId)
        .arg(m_data.head);
}

bool HowItWorksPanel::hasScores() const {
    const tsa::LayerScores* s = m_data.scores.get();
    return s && m_data.head >= 0 && m_data.head < s->qHeads && s->prefix > 0 &&
           s->raw.size() >= std::size_t(s->qHeads * s->prefix) && s->smoothed.size() == s->raw.size() &&
           s->headNorm.size() == s->raw.size();
}

bool HowItWorksPanel::hasSelection() const {
    const tsa::Selection* sel = m_data.selection.get();
    return sel && sel->sparse && m_data.head >= 0 && m_data.head < sel->qHeads &&
           sel->indices.size() >= std::size_t(sel->qHeads * sel->kept);
}

qint64 HowItWorksPanel::prefix() const {
    return m_data.scores ? qint64(m_data.scores->prefix) : 0;
}

const float* HowItWorksPanel::headSeries(const std::vector<float>& all) const {
    return all.data() + qint64(m_data.head) * prefix();
}

std::vector<std::uint8_t> HowItWorksPanel::keptMask() const {
    const tsa::Selection* sel = m_data.selection.get();
    if (!sel) return {};
    std::vector<std::uint8_t> mask(std::size_t(sel->tokens), hasSelection() ? 0 : 1);
    if (hasSelection())
        for (qint64 i = 0; i < sel->kept; ++i) {
            const std::int32_t p = sel->head(m_data.head)[i];
            if (p >= 0 && p < sel->tokens) mask[std::size_t(p)] = 1;
        }
    return mask;
}

qint64 HowItWorksPanel::keptCount() const {
    return m_data.selection ? qint64(m_data.selection->kept) : 0;
}

double HowItWorksPanel::cutoffScore() const {
    // The lowest n_h the head keeps among prefix positions: everything above it is in S_h.
    if (!hasScores() || !hasSelection()) return NAN;
    const tsa::Selection& sel = *m_data.selection;
    const float* n = headSeries(m_data.scores->headNorm);
    double cut = INFINITY;
    for (qint64 i = 0; i < sel.kept; ++i) {
        const std::int32_t p = sel.head(m_data.head)[i];
        if (p < prefix()) cut = std::min(cut, double(n[p]));
    }
    return std::isfinite(cut) ? cut : NAN;
}

QString HowItWorksPanel::stepText() const {
    const tsa::TsaParams& p = m_data.params;
    const tsa::LayerScores* s = m_data.scores.get();
    const tsa::Selection* sel = m_data.selection.get();
    const qint64 L = sel ? sel->tokens : (s ? s->tokens : 0);
    const qint64 P = prefix();
    const qint64 W = s ? s->window : p.window;
    switch (m_step) {
    case Score: {
        QString text = QStringLiteral("Which earlier tokens does the newest text still look at? ");
        text += QStringLiteral("The last W = %1 queries (the window) look at every earlier key: p_ij "
                               "= softmax(q_i·k_j / sqrt(D)). "
                               "The raw score of prefix position j is their mean attention a_h[j] "
                               "(grey). A moving average of "
                               "width k = %2 smooths it (blue; zero padding, divisor always k, so the "
                               "two ends are damped), and "
                               "n_h = s_h / sum(s_h) normalises it per head. Scoring costs about W/L "
                               "= %3 of dense attention.")
                    .arg(W)
                    .arg(s ? s->poolKernel : p.poolKernel)
                    .arg(L > 0 ? fmt::percent(double(W) / double(L)) : QStringLiteral("n/a"));
        if (hasScores()) {
            // Quote the plotted curve (s_h), not n_h: n_h is s_h divided by its sum, the same shape.
            const float* sm = headSeries(s->smoothed);
            const auto top = std::max_element(sm, sm + P);
            text += QStringLiteral(" Here head %1's largest smoothed score s_h is %2, at position %3.")
                        .arg(m_data.head)
                        .arg(fmt::value(*top, 4))
                        .arg(fmt::integer(top - sm));
        }
        return text;
    }
    case Budget: {
        QString text =
            QStringLiteral(
                "tau is the share of the layer's attention that the dropped tokens may carry: tau = "
                "%1 allows at most %2 of it to go to tokens that are skipped (0 skips nothing: the "
                "layer runs dense). ")
                .arg(fmt::value(p.tau), fmt::percent(p.tau, p.tau < 0.01 ? 2 : 1));
        text += QStringLiteral(
            "The layer score G averages s_h over heads and normalises. Sorted ascending, its running sum is "
            "the attention "
            "mass that dropping the lowest t tokens would lose. n counts the running sums below tau; the "
            "layer drops n + 1 "
            "tokens' worth: capacity = max(min_tokens, P - (n + 1)). One capacity for the whole layer.");
        if (sel && sel->sparse)
            text += QStringLiteral(" Here tau = %1, P = %2, n = %3, so capacity = max(%4, %5) = %6.")
                        .arg(fmt::value(p.tau))
                        .arg(fmt::integer(P))
                        .arg(fmt::integer(sel->budgetCount))
                        .arg(fmt::integer(p.minTokens))
                        .arg(fmt::integer(P - (sel->budgetCount + 1)))
                        .arg(fmt::integer(sel->capacity));
        else if (sel)
            text += QStringLiteral(" This layer stays dense: %1.").arg(denseReasonLabel(sel->denseReason));
        const std::vector<double> dropped = droppedMassPerHead();
        if (!dropped.empty()) {
            // tau bounds the layer's mass G, not each head: show each head's own share against it.
            QStringList parts;
            const int shown = std::min<int>(int(dropped.size()), 8);
            for (int h = 0; h < shown; ++h)
                parts << QStringLiteral("%1%2 %3%4")
                             .arg(h == m_data.head ? QStringLiteral("[") : QString())
                             .arg(h)
                             .arg(fmt::value(dropped[std::size_t(h)], 2))
                             .arg(h == m_data.head ? QStringLiteral("]") : QString());
            const auto over =
                std::count_if(dropped.begin(), dropped.end(), [&](double m) { return m > p.tau; });
            text +=
                QStringLiteral(" Each head's own dropped mass (its n_h outside what it keeps), head: mass "
                               "— %1%2. %3 of %4 heads drop more than tau, the others less: the budget "
                               "is one for the layer.")
                    .arg(parts.join(QStringLiteral(", ")))
                    .arg(int(dropped.size()) > shown ? QStringLiteral(", …") : QString())
                    .arg(over)
                    .arg(dropped.size());
        }
        return text;
    }
    case Select: {
        QString text =
            QStringLiteral("Each head keeps the capacity prefix positions with the largest n_h (its own "
                           "ranking, so heads keep different "
                           "tokens) plus all W window positions, sorted ascending: the index set S_h. Every "
                           "head keeps the same number of tokens so that all heads' compact tensors have one "
                           "shape and run as one batched attention call; which tokens differs per head. The "
                           "last W tokens are always kept: they are the queries the scores were measured "
                           "from, and the nearest context, which almost every query attends to.");
        if (hasSelection())
            text += QStringLiteral(" Head %1 keeps %2 prefix tokens with n_h >= %3 plus %4 window tokens: "
                                   "|S_h| = %5 of %6 (%7).")
                        .arg(m_data.head)
                        .arg(fmt::integer(m_data.selection->capacity))
                        .arg(fmt::value(cutoffScore(), 4))
                        .arg(W)
                        .arg(fmt::integer(keptCount()))
                        .arg(fmt::integer(L))
                        .arg(fmt::percent(m_data.selection->keptFraction()));
        return text;
    }
    case Compress:
        if (sel && !sel->sparse)
            return QStringLiteral("Layer %1 runs dense (%2): every token is kept, so there is nothing to "
                                  "compress, and steps 4 to 6 are ordinary attention.")
                .arg(m_data.layerId)
                .arg(denseReasonLabel(sel->denseReason));
        return QStringLiteral("Compress: gather the rows of S_h from Q_h and from K and V of kv head %1 "
                              "(group size %2: under GQA each "
                              "query head gathers its own copy) into dense tensors of L' = %3 rows instead "
                              "of L = %4. The order is kept, "
                              "so causality by rank inside S_h equals causality by position.")
            .arg(m_data.head / std::max(1, m_data.groupSize))
            .arg(m_data.groupSize)
            .arg(fmt::integer(keptCount()))
            .arg(fmt::integer(L));
    case Attend: {
        if (sel && !sel->sparse)
            return QStringLiteral("Layer %1 runs dense: attention covers the full L x L causal triangle "
                                  "(L = %2).")
                .arg(m_data.layerId)
                .arg(fmt::integer(L));
        const double ratio = L > 0 ? double(keptCount()) / double(L) : 1.0;
        return QStringLiteral(
                   "Attend: any causal attention kernel runs on the compact L' x L' problem, "
                   "dense flash-style or block-sparse "
                   "(MInference, FlexPrefill, XAttention...). Cost scales with the causal "
                   "triangle: (L'/L)^2 = %1 of dense "
                   "here, an ideal speed-up of %2x before scoring and gather/scatter overheads. The "
                   "Attention map tab "
                   "shows this head's real attention with the pairs sparse attention skips veiled.")
            .arg(fmt::percent(ratio * ratio))
            .arg(ratio > 0 ? QString::number(1.0 / (ratio * ratio), 'f', 2) : QStringLiteral("n/a"));
    }
    case Decompress:
        if (sel && !sel->sparse)
            return QStringLiteral("Layer %1 runs dense: every output row is computed, none is dropped, so "
                                  "nothing is scattered back.")
                .arg(m_data.layerId);
        return QStringLiteral("Decompress: compact output row r goes back to position S_h[r]; the %1 dropped "
                              "rows are zero in this "
                              "layer's attention output, and the residual connection carries those tokens "
                              "through unchanged. The next "
                              "layer scores and selects again from the full sequence, so no token is lost "
                              "for good (\"interleaved\").")
            .arg(fmt::integer(std::max<qint64>(0, L - keptCount())));
    }
    return {};
}

HowItWorksPanel::Layout HowItWorksPanel::layoutFor(const QSize& size) const {
    Layout l;
    const double w = size.width();
    const double h = size.height();
    l.header = QRectF(10, 0, w - 210, 34);
    // The explanation takes the height its words need; the diagram gets the rest.
    const QFontMetricsF fm(style::labelFont());
    const double needed =
        fm.boundingRect(QRectF(0, 0, w - 32, 1000), Qt::AlignLeft | Qt::TextWordWrap, stepText()).height();
    const double textH = std::clamp(needed + 8, 40.0, h * 0.4);
    l.text = QRectF(16, h - textH - 6, w - 32, textH);
    l.diagram = QRectF(style::kLeftMargin + 10, 44 + 26, w - style::kLeftMargin - 40,
                       std::max(20.0, l.text.top() - 44 - 26 - style::kBottomMargin - 6));
    // The worked example takes the right third when there is room for both it and the real plot.
    if (w >= 760 && m_toy.selection.tokens > 0) {
        const double toyW = std::min(380.0, w * 0.34);
        l.toy = QRectF(w - toyW - 10, l.diagram.top() + 4, toyW, l.diagram.height() + 26);
        l.diagram.setRight(l.toy.left() - 24);
    }
    return l;
}

namespace {

// A log scale fitted to the positive values of the visible series: no decades left empty above the data,
// nothing flattened against a floor chosen without looking at it (zeros still sit on the floor).
AxisScale fittedLogScale(std::initializer_list<std::pair<const float*, qint64>> series) {
    double lo = INFINITY, hi = 0.0;
    for (const auto& [v, n] : series)
        for (qint64 i = 0; i < n; ++i)
            if (v[i] > 0) {
                lo = std::min(lo, double(v[i]));
                hi = std::max(hi, double(v[i]));
            }
    if (!(hi > 0)) return AxisScale::logarithmic(1e-6, 1.0);
    lo = std::max(lo, hi * 1e-8);
    return AxisScale::logarithmic(lo / 1.5, hi * 1.5);
}

// The window (always kept) on a plot over token positions: a light band with its name.
void drawWindowBand(QPainter& painter, const QRectF& plot, const TokenRange& range, qint64 prefix,
                    qint64 window) {
    if (range.end <= prefix) return;
    const double x0 = plot.left() + double(std::max(prefix, range.begin) - range.begin) /
                                        double(range.size()) * plot.width();
    const QRectF band(x0, plot.top(), plot.right() - x0, plot.height());
    QColor fill = style::windowTokens();
    fill.setAlpha(45);
    painter.fillRect(band, fill);
    painter.setFont(style::smallFont());
    painter.setPen(style::windowTokens().darker(150));
    const QString label = QStringLiteral("last W = %1: always kept").arg(window);
    // Inside the band when it fits, else just left of it (the band is narrow at full zoom-out).
    const double width = QFontMetricsF(painter.font()).horizontalAdvance(label) + 6;
    // At the bottom: the legend sits over the top of the plot.
    const double y = band.bottom() - 19;
    const QRectF text = band.width() >= width ? QRectF(band.left() + 3, y, width, 16)
                                              : QRectF(band.left() - width - 2, y, width, 16);
    painter.fillRect(text, QColor(255, 255, 255, 200));
    painter.drawText(text, Qt::AlignCenter, label);
}

} // namespace

void HowItWorksPanel::drawScore(QPainter& painter, const QRectF& r) const {
    const tsa::LayerScores& s = *m_data.scores;
    const qint64 P = prefix();
    const TokenRange range = visibleRange();
    const qint64 end = std::min(range.end, P);
    const qint64 n = std::max<qint64>(0, end - range.begin);
    const float* raw = headSeries(s.raw) + range.begin;
    const float* smooth = headSeries(s.smoothed) + range.begin;
    const AxisScale y = fittedLogScale({{raw, n}, {smooth, n}});
    drawAxis(painter, r,
             AxisSpec{y, Edge::Left, QStringLiteral("score (log)"), TickStyle::Number, true, false});
    // The prefix part of the visible range; the window after it has no score (it did the scoring).
    const QRectF series(r.left(), r.top(), r.width() * double(n) / double(std::max<qint64>(1, range.size())),
                        r.height());
    drawSeries(painter, series, raw, n, y, kRaw, 1.0);
    drawSeries(painter, series, smooth, n, y, kSmoothed, 1.4);
    drawWindowBand(painter, r, range, P, s.window);
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(r);
    drawAxis(painter, r,
             AxisSpec{AxisScale{double(range.begin), double(range.end), false}, Edge::Bottom,
                      range.size() < tokens()
                          ? QStringLiteral("token position (zoomed: double-click for all)")
                          : QStringLiteral("token position (wheel: zoom, drag: pan)"),
                      TickStyle::Tokens, false, false});
    drawLegend(
        painter, QPointF(r.left(), r.top() - 26),
        {{kRaw, QStringLiteral("raw a_h (mean attention of the window queries)"), LegendItem::Shape::Line},
         {kSmoothed, QStringLiteral("smoothed s_h (k = %1)").arg(s.poolKernel), LegendItem::Shape::Line}},
        true);
}

void HowItWorksPanel::drawBudget(QPainter& painter, const QRectF& r) const {
    const tsa::LayerScores& s = *m_data.scores;
    const qint64 P = qint64(s.layerCumulative.size());
    if (P == 0) return;
    const double tau = m_data.params.tau;
    const AxisScale y = AxisScale::logarithmic(std::max(1e-9, tau * 1e-4), 1.0);
    std::vector<float> cum(s.layerCumulative.begin(), s.layerCumulative.end());
    drawAxis(
        painter, r,
        AxisSpec{y, Edge::Left, QStringLiteral("cumulative mass (log)"), TickStyle::Number, true, false});
    drawSeries(painter, r, cum.data(), P, y, QColor(20, 20, 20), 2.0);
    const double ty = r.bottom() - y.unitClamped(tau) * r.height();
    painter.setPen(QPen(style::tauLine(), 1.5, Qt::DashLine));
    painter.drawLine(QPointF(r.left(), ty), QPointF(r.right(), ty));
    const tsa::Selection* sel = m_data.selection.get();
    std::vector<LegendItem> legend{
        {QColor(20, 20, 20), QStringLiteral("sorted G, running sum"), LegendItem::Shape::ThickLine},
        {style::tauLine(), QStringLiteral("tau = %1").arg(fmt::value(tau)), LegendItem::Shape::DashedLine}};
    if (sel && sel->sparse) {
        const double bx = r.left() + double(sel->budgetCount + 1) / double(P) * r.width();
        painter.setPen(QPen(style::budgetLine(), 1.5, Qt::DashDotLine));
        painter.drawLine(QPointF(bx, r.top()), QPointF(bx, r.bottom()));
        painter.setFont(style::smallFont());
        painter.setPen(style::text());
        painter.drawText(QRectF(bx + 4, ty + 4, 220, 16), Qt::AlignLeft,
                         QStringLiteral("n + 1 = %1 dropped").arg(fmt::integer(sel->budgetCount + 1)));
        legend.push_back(
            {style::budgetLine(), QStringLiteral("budget n + 1"), LegendItem::Shape::DashedLine});
    }
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(r);
    drawAxis(painter, r,
             AxisSpec{AxisScale{0.0, double(P), false}, Edge::Bottom,
                      QStringLiteral("tokens dropped, lowest G first"), TickStyle::Tokens, false, false});
    drawLegend(painter, QPointF(r.left(), r.top() - 26), legend, true);
}

void HowItWorksPanel::drawSelect(QPainter& painter, const QRectF& r) const {
    const qint64 P = prefix();
    const TokenRange range = visibleRange();
    const qint64 end = std::min(range.end, P);
    const qint64 count = std::max<qint64>(0, end - range.begin);
    const float* n = headSeries(m_data.scores->headNorm) + range.begin;
    const std::vector<std::uint8_t> kept = keptMask();
    const QRectF plot(r.left(), r.top(), r.width(), r.height() - 30);
    const QRectF bar(r.left(), r.bottom() - 18, r.width(), 18);
    const double cut = cutoffScore();
    AxisScale y = fittedLogScale({{n, count}});
    if (!std::isnan(cut) && cut > 0 && cut < y.lo * 2)
        y.lo = std::max(1e-12, cut / 10.0); // keep the cut-off in view
    drawAxis(painter, plot,
             AxisSpec{y, Edge::Left, QStringLiteral("n_h (log)"), TickStyle::Number, true, false});
    const QRectF series(plot.left(), plot.top(),
                        plot.width() * double(count) / double(std::max<qint64>(1, range.size())),
                        plot.height());
    drawSeries(painter, series, n, count, y, kSmoothed, 1.0);
    drawWindowBand(painter, plot, range, P, m_data.selection->window);
    if (!std::isnan(cut)) {
        const double cy = plot.bottom() - y.unitClamped(cut) * plot.height();
        painter.fillRect(QRectF(series.left(), cy, series.width(), plot.bottom() - cy),
                         QColor(200, 200, 200, 90));
        painter.setPen(QPen(style::highlight(), 1.5, Qt::DashLine));
        painter.drawLine(QPointF(series.left(), cy), QPointF(series.right(), cy));
        painter.setFont(style::smallFont());
        const QString label =
            QStringLiteral("cut-off: n_h = %1 (below: dropped, shaded)").arg(fmt::value(cut, 3));
        const QRectF box(plot.left() + 6, std::max(plot.top() + 2, cy - 18),
                         QFontMetricsF(painter.font()).horizontalAdvance(label) + 8, 15);
        painter.fillRect(box, QColor(255, 255, 255, 220));
        painter.setPen(style::text());
        painter.drawText(box, Qt::AlignCenter, label);
    }
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(plot);
    // The kept set over the visible positions, window included.
    if (!kept.empty() && range.end <= qint64(kept.size()))
        drawKeptBar(painter, bar,
                    std::vector<std::uint8_t>(kept.begin() + range.begin, kept.begin() + range.end));
    drawAxis(painter, bar,
             AxisSpec{AxisScale{double(range.begin), double(range.end), false}, Edge::Bottom,
                      QStringLiteral("position (bar: S_h, dark = kept; wheel: zoom)"), TickStyle::Tokens,
                      false, false});
    drawLegend(painter, QPointF(r.left(), r.top() - 26),
               {{kSmoothed, QStringLiteral("n_h of head %1 (max per pixel)").arg(m_data.head),
                 LegendItem::Shape::Line},
                {kKept, QStringLiteral("kept"), LegendItem::Shape::Box},
                {kDropped, QStringLiteral("dropped"), LegendItem::Shape::Box}},
               true);
}

void HowItWorksPanel::drawCompress(QPainter& painter, const QRectF& r) const {
    const std::vector<std::uint8_t> kept = keptMask();
    const qint64 L = qint64(kept.size());
    const qint64 Lc = keptCount();
    if (L == 0) return;
    const QRectF full(r.left(), r.top() + 20, r.width(), 26);
    const QRectF compact(r.left(), r.bottom() - 60, r.width() * double(Lc) / double(L), 26);
    drawKeptBar(painter, full, kept);
    painter.fillRect(compact, kKept);
    painter.setPen(QPen(style::axis(), 1.0));
    painter.drawRect(compact);
    // Funnel from each kept run of the full bar onto the compact bar (sampled for readability).
    painter.setPen(QPen(QColor(35, 55, 110, 70), 1.0));
    const int lines = 48;
    const std::int32_t* idx = hasSelection() ? m_data.selection->head(m_data.head) : nullptr;
    for (int i = 0; i < lines; ++i) {
        const qint64 rIdx = qint64(double(i) / (lines - 1) * double(Lc - 1));
        const qint64 pos = idx ? idx[rIdx] : rIdx;
        painter.drawLine(
            QPointF(full.left() + (double(pos) + 0.5) / double(L) * full.width(), full.bottom()),
            QPointF(compact.left() + (double(rIdx) + 0.5) / double(Lc) * compact.width(), compact.top()));
    }
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    painter.drawText(QRectF(full.left(), full.top() - 20, full.width(), 18), Qt::AlignLeft,
                     QStringLiteral("full sequence: L = %1 rows of Q, K, V").arg(fmt::integer(L)));
    painter.drawText(QRectF(compact.left(), compact.bottom() + 4, r.width(), 18), Qt::AlignLeft,
                     QStringLiteral("compact: L' = |S_h| = %1 rows (%2 of L)")
                         .arg(fmt::integer(Lc), fmt::percent(double(Lc) / double(L))));
}

void HowItWorksPanel::drawAttend(QPainter& painter, const QRectF& r) const {
    const qint64 L = m_data.selection ? qint64(m_data.selection->tokens) : 0;
    const qint64 Lc = keptCount();
    if (L == 0) return;
    const double side = std::min(r.height() - 24, r.width() / 2 - 40);
    const QRectF big(r.left() + 20, r.top() + 4, side, side);
    const double cs = side * double(Lc) / double(L);
    const QRectF small(r.left() + r.width() / 2 + 20, r.top() + 4 + (side - cs), cs, cs);
    auto triangle = [&](const QRectF& box, const QColor& fill) {
        QPolygonF t;
        t << box.topLeft() << box.bottomLeft() << box.bottomRight();
        painter.setPen(QPen(style::axis(), 1.0));
        painter.setBrush(fill);
        painter.drawPolygon(t);
        painter.setBrush(Qt::NoBrush);
        painter.setPen(QPen(QColor(190, 190, 190), 1.0, Qt::DotLine));
        painter.drawRect(box);
    };
    triangle(big, QColor(200, 200, 200));
    triangle(small, kKept);
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    painter.drawText(QRectF(big.left(), big.bottom() + 4, side + 100, 18), Qt::AlignLeft,
                     QStringLiteral("dense: L x L / 2 with L = %1").arg(fmt::integer(L)));
    painter.drawText(QRectF(small.left(), big.bottom() + 4, r.right() - small.left(), 18), Qt::AlignLeft,
                     QStringLiteral("sparse: L' x L' / 2, (L'/L)^2 = %1")
                         .arg(fmt::percent(std::pow(double(Lc) / double(L), 2))));
}

void HowItWorksPanel::drawDecompress(QPainter& painter, const QRectF& r) const {
    const std::vector<std::uint8_t> kept = keptMask();
    const qint64 L = qint64(kept.size());
    const qint64 Lc = keptCount();
    if (L == 0) return;
    const QRectF compact(r.left(), r.top() + 20, r.width() * double(Lc) / double(L), 26);
    const QRectF full(r.left(), r.bottom() - 60, r.width(), 26);
    painter.fillRect(compact, kKept);
    painter.setPen(QPen(style::axis(), 1.0));
    painter.drawRect(compact);
    // Output rows scattered back: kept positions get their row, the rest stay zero (light).
    drawKeptBar(painter, full, kept);
    painter.setPen(QPen(QColor(35, 55, 110, 70), 1.0));
    const int lines = 48;
    const std::int32_t* idx = hasSelection() ? m_data.selection->head(m_data.head) : nullptr;
    for (int i = 0; i < lines; ++i) {
        const qint64 rIdx = qint64(double(i) / (lines - 1) * double(Lc - 1));
        const qint64 pos = idx ? idx[rIdx] : rIdx;
        painter.drawLine(
            QPointF(compact.left() + (double(rIdx) + 0.5) / double(Lc) * compact.width(), compact.bottom()),
            QPointF(full.left() + (double(pos) + 0.5) / double(L) * full.width(), full.top()));
    }
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    painter.drawText(QRectF(compact.left(), compact.top() - 20, r.width(), 18), Qt::AlignLeft,
                     QStringLiteral("compact output: %1 rows").arg(fmt::integer(Lc)));
    painter.drawText(
        QRectF(full.left(), full.bottom() + 4, r.width(), 18), Qt::AlignLeft,
        QStringLiteral("scattered to positions S_h[r]; light = %1 zero rows (residual carries them)")
            .arg(fmt::integer(L - Lc)));
}

void HowItWorksPanel::drawToy(QPainter& painter, const QRectF& box) const {
    const tsa::ToyExample& toy = m_toy;
    const tsa::Selection& sel = toy.selection;
    const qint64 L = sel.tokens, W = toy.params.window, P = L - W;
    painter.save();
    painter.setPen(QPen(QColor(205, 205, 205), 1.0));
    painter.setBrush(QColor(250, 250, 252));
    painter.drawRoundedRect(box, 6, 6);
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    const QRectF title(box.left() + 8, box.top() + 4, box.width() - 16, 18);
    const QString heading = QStringLiteral("Worked example: %1 tokens, 2 heads, W = %2, tau = %3")
                                .arg(L)
                                .arg(W)
                                .arg(fmt::value(toy.params.tau));
    painter.drawText(
        title, Qt::AlignLeft | Qt::AlignVCenter,
        QFontMetricsF(painter.font()).horizontalAdvance(heading) <= title.width()
            ? heading
            : QStringLiteral("Worked example (W = %1, tau = %2)").arg(W).arg(fmt::value(toy.params.tau)));
    const QRectF area = box.adjusted(26, 30, -8, -8);
    const double cw = area.width() / double(L);
    painter.setFont(style::smallFont());
    const QFontMetricsF fm(painter.font());
    auto cellText = [&](const QRectF& cell, const QString& text, const QColor& colour) {
        if (fm.horizontalAdvance(text) + 2 > cell.width()) return;
        painter.setPen(colour);
        painter.drawText(cell, Qt::AlignCenter, text);
    };
    auto caption = [&](double y, const QString& text) {
        painter.setPen(style::text());
        painter.drawText(QRectF(box.left() + 8, y, box.width() - 16, box.bottom() - y - 4),
                         Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, text);
    };
    auto kept = [&](int h, qint64 t) {
        return !sel.sparse || std::binary_search(sel.head(h), sel.head(h) + sel.kept, std::int32_t(t));
    };
    // One row of 16 token cells for head h at y: dark kept, light dropped, window outlined in orange.
    auto tokenRow = [&](int h, double y, double rowH) {
        for (qint64 t = 0; t < L; ++t) {
            const QRectF cell(area.left() + t * cw, y, cw - 1, rowH);
            const bool k = kept(h, t);
            painter.fillRect(cell, k ? kKept : kDropped);
            if (t >= P) {
                painter.setPen(QPen(style::windowTokens(), 2.0));
                painter.setBrush(Qt::NoBrush);
                painter.drawRect(cell.adjusted(1, 1, -1, -1));
            }
            cellText(cell, QString::number(t), k ? Qt::white : style::text());
        }
        painter.setPen(style::text());
        painter.drawText(QRectF(box.left() + 4, y, 22, rowH), Qt::AlignCenter, QStringLiteral("h%1").arg(h));
    };
    switch (m_step) {
    case Score: {
        // n_h of both heads as bars over the 12 prefix tokens; the window has no score.
        const double rowH = std::min(70.0, (area.height() - 70) / 2);
        for (int h = 0; h < 2; ++h) {
            const float* n = toy.scores.headNorm.data() + h * P;
            const double peak = std::max(1e-9, double(*std::max_element(n, n + P)));
            const double base = area.top() + (h + 1) * (rowH + 16);
            for (qint64 t = 0; t < L; ++t) {
                const QRectF slot(area.left() + t * cw, base - rowH, cw - 1, rowH);
                if (t >= P) {
                    QColor c = style::windowTokens();
                    c.setAlpha(60);
                    painter.fillRect(slot, c);
                    continue;
                }
                const double bh = rowH * double(n[t]) / peak;
                painter.fillRect(QRectF(slot.left(), base - bh, slot.width(), bh), kSmoothed);
            }
            painter.setPen(style::text());
            painter.drawText(QRectF(box.left() + 4, base - rowH, 22, rowH), Qt::AlignCenter,
                             QStringLiteral("h%1").arg(h));
            for (qint64 t = 0; t < L; ++t)
                cellText(QRectF(area.left() + t * cw, base + 1, cw, 13), QString::number(t), style::text());
        }
        caption(area.top() + 2 * (rowH + 16) + 18,
                QStringLiteral("n_h per token (bars). Token 0 is a sink both heads look at; head 0 looks for "
                               "tokens 3-4, head 1 for 8-9. Tokens 12-15 are the window (orange): they did "
                               "the looking."));
        break;
    }
    case Budget: {
        // Tokens by G ascending with the running sum; the first n + 1 are dropped.
        const qint64 n = sel.budgetCount;
        const double rowH = 22;
        const double y = area.top() + 6;
        for (qint64 r = 0; r < P; ++r) {
            const std::int32_t t = toy.scores.layerAscending[std::size_t(r)];
            const QRectF cell(area.left() + r * (area.width() / P), y, area.width() / P - 2, rowH);
            const bool dropped = sel.sparse && r <= n;
            painter.fillRect(cell, dropped ? kDropped : kKept);
            cellText(cell, QString::number(t), dropped ? style::text() : Qt::white);
            cellText(QRectF(cell.left(), y + rowH + 2, cell.width(), 14),
                     fmt::value(toy.scores.layerCumulative[std::size_t(r)], 2), style::text());
        }
        painter.setPen(style::text());
        painter.drawText(QRectF(box.left() + 2, y, 26, rowH), Qt::AlignCenter, QStringLiteral("G↑"));
        painter.drawText(QRectF(box.left() + 2, y + rowH + 2, 26, 14), Qt::AlignCenter, QStringLiteral("Σ"));
        caption(y + rowH + 24,
                sel.sparse
                    ? QStringLiteral("The 12 scored tokens sorted by layer score G, lowest first, with "
                                     "the running sum Σ under each. %1 sums stay below tau = %2, so "
                                     "the layer drops n + 1 = %3 tokens' worth: every head keeps "
                                     "capacity = 12 - %3 = %4 scored tokens plus the 4 window tokens.")
                          .arg(n)
                          .arg(fmt::value(toy.params.tau))
                          .arg(n + 1)
                          .arg(sel.capacity)
                    : QStringLiteral("At this tau nothing is dropped."));
        break;
    }
    case Select: {
        tokenRow(0, area.top() + 6, 24);
        tokenRow(1, area.top() + 36, 24);
        caption(area.top() + 70,
                QStringLiteral("Each head keeps its own %1 highest-n_h tokens plus the window: %2 of 16, the "
                               "same count for both heads, different tokens (head 0 keeps 3-4, head 1 keeps "
                               "8-9).")
                    .arg(sel.capacity)
                    .arg(sel.kept));
        break;
    }
    case Compress:
    case Decompress: {
        const bool back = m_step == Decompress;
        const double ccw = area.width() / double(L);
        for (int h = 0; h < 2; ++h) {
            const double y = area.top() + 6 + h * 76;
            const std::int32_t* idx = sel.sparse ? sel.head(h) : nullptr;
            const qint64 k = sel.sparse ? sel.kept : L;
            // Compact rows (top when compressing, bottom when scattering back) and the full sequence.
            const double compactY = back ? y : y + 40, fullY = back ? y + 40 : y;
            painter.setPen(QPen(QColor(35, 55, 110, 110), 1.0));
            for (qint64 r = 0; r < k; ++r) {
                const qint64 t = idx ? idx[r] : r;
                painter.drawLine(QPointF(area.left() + (r + 0.5) * ccw, compactY + (back ? 20 : 0)),
                                 QPointF(area.left() + (t + 0.5) * ccw, fullY + (back ? 0 : 20)));
            }
            for (qint64 t = 0; t < L; ++t) {
                const QRectF cell(area.left() + t * ccw, fullY, ccw - 1, 20);
                const bool kk = kept(h, t);
                painter.fillRect(cell, kk ? kKept : kDropped);
                cellText(cell, back && !kk ? QStringLiteral("0") : QString::number(t),
                         kk ? Qt::white : style::text());
            }
            for (qint64 r = 0; r < k; ++r) {
                const QRectF cell(area.left() + r * ccw, compactY, ccw - 1, 20);
                painter.fillRect(cell, kSmoothed);
                cellText(cell, QString::number(idx ? idx[r] : r), Qt::white);
            }
            painter.setPen(style::text());
            painter.drawText(QRectF(box.left() + 4, y, 22, 60), Qt::AlignCenter,
                             QStringLiteral("h%1").arg(h));
        }
        caption(area.top() + 160,
                back ? QStringLiteral("Each compact output row goes back to its token; the dropped rows (0) "
                                      "stay zero in this layer, and the residual stream carries those tokens "
                                      "on to the next layer, which selects again.")
                     : QStringLiteral("Each head gathers its %1 kept rows of Q, K, V, in order, into a "
                                      "compact block (blue): causality by rank equals causality by position.")
                           .arg(sel.kept));
        break;
    }
    case Attend: {
        // Head 0's actual compact attention: softmax over its kept keys, causal by rank.
        const qint64 k = sel.sparse ? sel.kept : L;
        const std::vector<double>& p = toy.compactAttention[0];
        const double side = std::min(area.width() - 10, area.height() - 80);
        const double cs = side / double(k);
        const QPointF origin(area.left() + 10, area.top() + 16);
        for (qint64 i = 0; i < k; ++i) {
            const int row = sel.sparse ? sel.head(0)[i] : int(i);
            cellText(QRectF(origin.x() - 24, origin.y() + i * cs, 22, cs), QString::number(row),
                     style::text());
            cellText(QRectF(origin.x() + i * cs, origin.y() - 15, cs, 14), QString::number(row),
                     style::text());
            for (qint64 j = 0; j < k; ++j) {
                const QRectF cell(origin.x() + j * cs, origin.y() + i * cs, cs - 1, cs - 1);
                if (j > i) {
                    painter.fillRect(cell, QColor(245, 245, 245));
                    continue;
                }
                const double v = std::sqrt(std::clamp(p[std::size_t(i * k + j)], 0.0, 1.0));
                painter.fillRect(
                    cell, QColor::fromRgbF(float(1 - 0.85 * v), float(1 - 0.75 * v), float(1 - 0.45 * v)));
                if (cs >= 22)
                    cellText(cell, QString::number(int(std::lround(100 * p[std::size_t(i * k + j)]))),
                             v > 0.6 ? Qt::white : style::text());
            }
        }
        caption(
            origin.y() + side + 6,
            QStringLiteral("Head 0's compact attention, the matrix that actually runs: %1 x %1 instead of "
                           "16 x 16 (numbers: % of each row). Rows and columns are the kept tokens; each "
                           "row still sums to 100%.")
                .arg(k));
        break;
    }
    }
    painter.restore();
}

void HowItWorksPanel::render(QPainter& painter, const QSize& size) const {
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    const Layout l = layoutFor(size);
    style::drawTitle(painter, l.header, viewTitle());
    // Step dots, so exports show where in the sequence this picture sits.
    painter.setFont(style::smallFont());
    const QFontMetricsF chipMetrics(painter.font());
    for (int i = 0; i < kStepCount; ++i) {
        const QRectF chip = chipRect(i, size);
        painter.setPen(i == m_step ? Qt::NoPen : QPen(QColor(170, 170, 170), 1.0));
        painter.setBrush(i == m_step ? style::sparseLayer() : QColor(240, 240, 240));
        painter.drawRoundedRect(chip, 9, 9);
        painter.setPen(i == m_step ? Qt::white : style::text());
        const QString label = QStringLiteral("%1 %2").arg(i + 1).arg(stepName(i));
        painter.drawText(chip, Qt::AlignCenter,
                         chipMetrics.horizontalAdvance(label) + 8 <= chip.width() ? label
                                                                                  : QString::number(i + 1));
    }
    const QRectF diagram = l.diagram.adjusted(0, 30, 0, 0);
    const bool needScores = m_step == Score || m_step == Budget || m_step == Select;
    const bool needSelection = m_step >= Select;
    if ((needScores && !hasScores()) || (needSelection && !hasSelection())) {
        QString why = QStringLiteral("Scoring this layer…");
        if (const tsa::Selection* sel = m_data.selection.get(); sel && !sel->sparse)
            why = QStringLiteral("Layer %1 runs dense (%2): no token is scored or dropped here.%3")
                      .arg(m_data.layerId)
                      .arg(denseReasonLabel(sel->denseReason))
                      .arg(m_data.firstSparseLayerId >= 0
                               ? QStringLiteral(" Step through a sparse layer instead:")
                               : QString());
        else if (m_step == Budget && hasScores())
            why.clear();
        if (!why.isEmpty()) style::drawMessage(painter, diagram, why);
    }
    if (hasScores() && m_step == Score) drawScore(painter, diagram);
    if (hasScores() && m_step == Budget) drawBudget(painter, diagram);
    if (hasScores() && hasSelection() && m_step == Select) drawSelect(painter, diagram);
    if (hasSelection() && m_step == Compress) drawCompress(painter, diagram);
    if (hasSelection() && m_step == Attend) drawAttend(painter, diagram);
    if (hasSelection() && m_step == Decompress) drawDecompress(painter, diagram);
    if (!l.toy.isEmpty()) drawToy(painter, l.toy);
    painter.setPen(QPen(QColor(220, 220, 220), 1.0));
    painter.drawLine(QPointF(l.text.left(), l.text.top() - 4), QPointF(l.text.right(), l.text.top() - 4));
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    painter.drawText(l.text, Qt::AlignLeft | Qt::AlignTop | Qt::TextWordWrap, stepText());
    painter.restore();
}

QString HowItWorksPanel::toolTipAt(const QPoint& pos) const {
    const Layout l = layoutFor(size());
    const QRectF diagram = l.diagram.adjusted(0, 30, 0, 0);
    if (!diagram.contains(pos) || !hasScores()) return {};
    const double f = (pos.x() - diagram.left()) / diagram.width();
    const qint64 P = prefix();
    if (m_step == Score || m_step == Select) {
        const TokenRange range = visibleRange();
        const qint64 t = std::clamp<qint64>(range.begin + qint64(f * double(range.size())), range.begin,
                                            std::max(range.begin, range.end - 1));
        if (t >= P) return QStringLiteral("position %1: in the last W, always kept").arg(fmt::integer(t));
        const qint64 j = std::clamp<qint64>(t, 0, P - 1);
        QString text = QStringLiteral("position %1\nraw a_h = %2\nsmoothed s_h = %3\nn_h = %4")
                           .arg(fmt::integer(j), fmt::value(headSeries(m_data.scores->raw)[j], 5),
                                fmt::value(headSeries(m_data.scores->smoothed)[j], 5),
                                fmt::value(headSeries(m_data.scores->headNorm)[j], 5));
        if (hasSelection())
            text += keptMask()[std::size_t(j)] ? QStringLiteral("\nkept") : QStringLiteral("\ndropped");
        return text;
    }
    if (m_step == Budget && !m_data.scores->layerCumulative.empty()) {
        const qint64 n = qint64(m_data.scores->layerCumulative.size());
        const qint64 t = std::clamp<qint64>(qint64(f * double(n)), 0, n - 1);
        return QStringLiteral("dropping the %1 lowest-G tokens loses mass %2 (tau = %3)")
            .arg(fmt::integer(t + 1), fmt::value(m_data.scores->layerCumulative[std::size_t(t)], 6),
                 fmt::value(m_data.params.tau));
    }
    return {};
}

QString HowItWorksPanel::csv() const {
    CsvWriter out;
    const qint64 P = prefix();
    switch (m_step) {
    case Score:
    case Select: {
        out.row({"layer_id", "head", "position", "raw", "smoothed", "n_h", "kept"});
        if (!hasScores()) break;
        const std::vector<std::uint8_t> kept = keptMask();
        for (qint64 j = 0; j < P; ++j)
            out.row({QString::number(m_data.layerId), QString::number(m_data.head), QString::number(j),
                     fmt::csvValue(headSeries(m_data.scores->raw)[j]),
                     fmt::csvValue(headSeries(m_data.scores->smoothed)[j]),
                     fmt::csvValue(headSeries(m_data.scores->headNorm)[j]),
                     j < qint64(kept.size()) ? QString::number(kept[std::size_t(j)]) : QString()});
        break;
    }
    case Budget: {
        out.row({"layer_id", "rank", "position", "G", "cumulative", "below_tau"});
        if (!m_data.scores) break;
        const tsa::LayerScores& s = *m_data.scores;
        for (std::size_t t = 0; t < s.layerCumulative.size() && t < s.layerAscending.size(); ++t) {
            const std::int32_t pos = s.layerAscending[t];
            out.row({QString::number(m_data.layerId), QString::number(t), QString::number(pos),
                     pos >= 0 && std::size_t(pos) < s.layerNorm.size()
                         ? fmt::csvValue(s.layerNorm[std::size_t(pos)])
                         : QString(),
                     fmt::csvValue(s.layerCumulative[t]),
                     s.layerCumulative[t] < m_data.params.tau ? "1" : "0"});
        }
        break;
    }
    case Compress:
    case Attend:
    case Decompress: {
        out.row({"layer_id", "head", "compact_row", "position"});
        if (!hasSelection()) break;
        const tsa::Selection& sel = *m_data.selection;
        for (qint64 r = 0; r < sel.kept; ++r)
            out.row({QString::number(m_data.layerId), QString::number(m_data.head), QString::number(r),
                     QString::number(sel.head(m_data.head)[r])});
        break;
    }
    }
    return out.text();
}

} // namespace tsa::views
