#include "views/error_view.h"

#include "views/colour_bar.h"
#include "views/csv_writer.h"
#include "views/heatmap_renderer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QFontMetricsF>
#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <algorithm>
#include <cmath>

namespace tsa::views {

namespace {

QColor blend(const QColor& a, const QColor& b, double t) {
    return QColor::fromRgbF(float(a.redF() * (1 - t) + b.redF() * t),
                            float(a.greenF() * (1 - t) + b.greenF() * t),
                            float(a.blueF() * (1 - t) + b.blueF() * t));
}

constexpr double kAggregateGap = 8.0;         // between the head columns and the layer-aggregate column
constexpr std::size_t kPointsAsShapes = 4000; // more rows than this are drawn into an image
const QColor kTraceColour(31, 119, 180);
const QColor kBandColour(31, 119, 180, 60);
const QColor kDroppedMark(150, 150, 150);

// Per-pixel summary of one head's per-row error: the band (min..max), the mean line and the share of
// dropped rows (NaN in the metrics).
struct TraceBin {
    double lo = NAN, hi = NAN, mean = NAN, dropped = 0.0;
};

std::vector<TraceBin> traceBins(const float* row, const TokenRange& range, int columns) {
    std::vector<TraceBin> bins(std::size_t(std::max(0, columns)));
    for (int x = 0; x < columns; ++x) {
        const BinRange b = binRange(range.begin, range.size(), columns, x);
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        qint64 n = 0, nan = 0;
        for (qint64 t = b.begin; t < b.end; ++t) {
            const double v = row[t];
            if (std::isnan(v)) {
                ++nan;
                continue;
            }
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            sum += v;
            ++n;
        }
        TraceBin& bin = bins[std::size_t(x)];
        bin.dropped = b.end > b.begin ? double(nan) / double(b.end - b.begin) : 0.0;
        if (n > 0) {
            bin.lo = lo;
            bin.hi = hi;
            bin.mean = sum / double(n);
        }
    }
    return bins;
}

// Kept rows (finite error and retained mass) of one head over a range: x = dropped share, y = error.
struct RowPoint {
    qint64 position;
    double dropped, error;
};

std::vector<RowPoint> rowPoints(const tsa::LayerMetrics& m, int head, const TokenRange& range) {
    std::vector<RowPoint> out;
    const std::size_t n = std::size_t(m.tokens);
    if (m.retainedMass.size() != m.rowError.size() || m.rowError.size() < std::size_t(head + 1) * n)
        return out;
    const float* error = m.rowError.data() + std::size_t(head) * n;
    const float* mass = m.retainedMass.data() + std::size_t(head) * n;
    for (qint64 t = range.begin; t < range.end; ++t)
        if (std::isfinite(error[t]) && std::isfinite(mass[t]))
            out.push_back({t, std::max(0.0, 1.0 - double(mass[t])), double(error[t])});
    return out;
}

// Spearman's rank correlation (average ranks for ties); NaN under 3 points.
double rankCorrelation(const std::vector<RowPoint>& points) {
    const std::size_t n = points.size();
    if (n < 3) return NAN;
    auto ranks = [&](auto key) {
        std::vector<std::size_t> order(n);
        for (std::size_t i = 0; i < n; ++i)
            order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
        std::vector<double> rank(n);
        for (std::size_t i = 0; i < n;) {
            std::size_t j = i;
            while (j + 1 < n && key(order[j + 1]) == key(order[i]))
                ++j;
            for (std::size_t k = i; k <= j; ++k)
                rank[order[k]] = 0.5 * double(i + j);
            i = j + 1;
        }
        return rank;
    };
    const std::vector<double> rx = ranks([&](std::size_t i) { return points[i].dropped; });
    const std::vector<double> ry = ranks([&](std::size_t i) { return points[i].error; });
    const double mean = 0.5 * double(n - 1);
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < n; ++i) {
        sxy += (rx[i] - mean) * (ry[i] - mean);
        sxx += (rx[i] - mean) * (rx[i] - mean);
        syy += (ry[i] - mean) * (ry[i] - mean);
    }
    return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : NAN;
}

// Log axis over positive values (zeros sit on the floor); the same rule as the trace's y axis.
AxisScale positiveLogScale(double minPositive, double hi, double fallbackLo) {
    return AxisScale::logarithmic(std::isfinite(minPositive) ? minPositive * 0.8 : fallbackLo,
                                  hi > 0 ? hi * 1.25 : 1.0, 1e-9);
}

} // namespace

ErrorView::ErrorView(QWidget* parent)
    : PlotView(parent), m_panZoom(new TokenPanZoom(this, [this] { return layoutFor(size()).trace; })) {
    connect(m_panZoom, &TokenPanZoom::rangeChanged, this, [this](qint64 begin, qint64 end) {
        update();
        emit visibleRangeChanged(begin, end);
    });
}

void ErrorView::setData(ErrorData data) {
    m_data = std::move(data);
    m_data.metrics.resize(m_data.layerIds.size());
    m_data.stale.resize(m_data.layerIds.size(), false);
    m_held = {};
    holdExtent();
    if (m_selectedLayer >= int(m_data.layerIds.size()) || m_selectedHead >= m_data.qHeads) {
        m_selectedLayer = -1;
        m_selectedHead = -1;
    }
    syncTraceLength();
    update();
}

void ErrorView::setLayerMetrics(int layer, std::shared_ptr<const tsa::LayerMetrics> metrics, bool stale) {
    if (layer < 0 || layer >= int(m_data.metrics.size())) return;
    m_data.metrics[std::size_t(layer)] = std::move(metrics);
    m_data.stale.resize(m_data.metrics.size(), false);
    m_data.stale[std::size_t(layer)] = stale && m_data.metrics[std::size_t(layer)] != nullptr;
    holdExtent();
    if (layer == m_selectedLayer) syncTraceLength();
    update();
}

void ErrorView::setMetric(ErrorMetric metric) {
    if (metric != m_metric) m_held = {};
    m_metric = metric;
    holdExtent();
    update();
}

bool ErrorView::isStale(int layer) const {
    return layer >= 0 && layer < int(m_data.stale.size()) && m_data.stale[std::size_t(layer)];
}

void ErrorView::fitColourScale() {
    m_held = {};
    holdExtent();
    update();
}

void ErrorView::setSelected(int layer, int head) {
    m_selectedLayer = layer;
    m_selectedHead = head;
    syncTraceLength();
    update();
}

void ErrorView::syncTraceLength() {
    // Every layer has the same tokens: another layer keeps the zoom. Without metrics the length is unknown
    // and a shared model keeps the other views' length.
    if (traceTokens() > 0) m_panZoom->model()->setTotal(traceTokens());
}

void ErrorView::setVisibleRange(qint64 begin, qint64 end) {
    m_panZoom->model()->setRange({begin, end});
}

QString ErrorView::metricName(ErrorMetric metric) {
    switch (metric) {
    case ErrorMetric::RowErrorMedian:
        return QStringLiteral("median row error (kept rows)");
    case ErrorMetric::RowErrorP95:
        return QStringLiteral("p95 row error (kept rows)");
    case ErrorMetric::LastWindowError:
        return QStringLiteral("last-W-rows error");
    case ErrorMetric::RetainedMassMedian:
        return QStringLiteral("median retained mass");
    case ErrorMetric::DroppedRows:
        return QStringLiteral("dropped rows");
    }
    return {};
}

QString ErrorView::viewTitle() const {
    return QStringLiteral("Error against dense attention: %1").arg(metricName(m_metric));
}

const tsa::LayerMetrics* ErrorView::metricsAt(int layer) const {
    if (layer < 0 || layer >= int(m_data.metrics.size())) return nullptr;
    const tsa::LayerMetrics* m = m_data.metrics[std::size_t(layer)].get();
    return m && int(m->heads.size()) >= m_data.qHeads ? m : nullptr;
}

bool ErrorView::layerSparse(int layer) const {
    if (layer >= 0 && layer < int(m_data.sparse.size())) return m_data.sparse[std::size_t(layer)];
    const tsa::LayerMetrics* m = metricsAt(layer);
    if (!m) return true;
    return std::any_of(m->heads.begin(), m->heads.end(),
                       [](const tsa::HeadMetrics& h) { return h.droppedRows > 0; });
}

namespace {

// One home for what each metric reads from a head's metrics: the value and, in an estimate, its interval
// (null where the value is exact even in an estimate).
struct MetricReading {
    double value;
    const tsa::Interval* interval;
};
MetricReading readMetric(const tsa::HeadMetrics& h, ErrorMetric metric) {
    switch (metric) {
    case ErrorMetric::RowErrorMedian:
        return {h.rowError.median, &h.rowErrorBounds.median};
    case ErrorMetric::RowErrorP95:
        return {h.rowError.p95, &h.rowErrorBounds.p95};
    case ErrorMetric::LastWindowError: // every one of the last W rows is in the sample: exact
        return {h.lastWindowError, nullptr};
    case ErrorMetric::RetainedMassMedian:
        return {h.retainedMass.median, &h.retainedMassBounds.median};
    case ErrorMetric::DroppedRows: // from the selection: exact
        return {double(h.droppedRows), nullptr};
    }
    return {NAN, nullptr};
}

} // namespace

double ErrorView::value(int layer, int head) const {
    const tsa::LayerMetrics* m = metricsAt(layer);
    if (!m) return NAN;
    return readMetric(head >= m_data.qHeads ? m->layer : m->heads[std::size_t(head)], m_metric).value;
}

tsa::Interval ErrorView::bounds(int layer, int head) const {
    const tsa::LayerMetrics* m = metricsAt(layer);
    if (!m) return {NAN, NAN};
    const MetricReading r =
        readMetric(head >= m_data.qHeads ? m->layer : m->heads[std::size_t(head)], m_metric);
    return m->estimate && r.interval ? *r.interval : tsa::Interval{r.value, r.value};
}

bool ErrorView::isEstimate(int layer) const {
    const tsa::LayerMetrics* m = metricsAt(layer);
    return m && m->estimate;
}

bool ErrorView::isErrorMetric() const {
    return m_metric == ErrorMetric::RowErrorMedian || m_metric == ErrorMetric::RowErrorP95 ||
           m_metric == ErrorMetric::LastWindowError;
}

const ColourMap& ErrorView::colourMap() const {
    if (isErrorMetric()) return ColourMap::byName(QStringLiteral("rdbu"));
    if (m_metric == ErrorMetric::DroppedRows) return ColourMap::byName(QStringLiteral("magma"));
    return ColourMap::byName(QStringLiteral("viridis"));
}

ErrorView::Extent ErrorView::currentExtent() const {
    Extent e;
    for (int r = 0; r < int(m_data.layerIds.size()); ++r) {
        if (!layerSparse(r)) continue;
        for (int h = 0; h <= m_data.qHeads; ++h) {
            const double v = value(r, h);
            if (std::isnan(v)) continue;
            e.lo = std::min(e.lo, v);
            e.hi = std::max(e.hi, v);
            if (v > 0) e.minPositive = std::min(e.minPositive, v);
        }
    }
    return e;
}

void ErrorView::holdExtent() {
    const Extent now = currentExtent();
    m_held.lo = std::min(m_held.lo, now.lo);
    m_held.hi = std::max(m_held.hi, now.hi);
    m_held.minPositive = std::min(m_held.minPositive, now.minPositive);
}

AxisScale ErrorView::colourScale() const {
    const double lo = m_held.lo, hi = m_held.hi, minPositive = m_held.minPositive;
    if (isErrorMetric())
        return errorColourScale(std::isfinite(minPositive) ? minPositive : 0.0, std::isfinite(hi) ? hi : 0.0);
    if (m_metric == ErrorMetric::RetainedMassMedian) {
        if (!std::isfinite(lo) || lo >= 1.0) return AxisScale{0.9, 1.0, false};
        return AxisScale{std::floor(lo * 100.0) / 100.0, 1.0, false};
    }
    return AxisScale::linear(0.0, std::isfinite(hi) && hi > 0 ? hi : 1.0);
}

qint64 ErrorView::traceTokens() const {
    const tsa::LayerMetrics* m = metricsAt(m_selectedLayer);
    return m ? qint64(m->tokens) : 0;
}

std::vector<LegendItem> ErrorView::legendItems() const {
    std::vector<LegendItem> legend{
        {style::denseLayer().lighter(125), QStringLiteral("dense layer (exact, hatched)"),
         LegendItem::Shape::Box},
        {style::missing(), QStringLiteral("computing…"), LegendItem::Shape::Box},
        {kTraceColour, QStringLiteral("trace: mean per pixel"), LegendItem::Shape::Line},
        {kBandColour, QStringLiteral("min..max"), LegendItem::Shape::Box},
        {kDroppedMark, QStringLiteral("dropped rows (error 100% by design)"), LegendItem::Shape::Box}};
    if (std::find(m_data.stale.begin(), m_data.stale.end(), true) != m_data.stale.end())
        legend.insert(legend.begin() + 2,
                      {blend(QColor(200, 80, 60), style::background(), 0.6),
                       QStringLiteral("previous tau, updating…"), LegendItem::Shape::Box});
    for (std::size_t r = 0; r < m_data.layerIds.size(); ++r)
        if (isEstimate(int(r))) {
            legend.insert(legend.begin() + 2,
                          {QColor(120, 120, 120), QStringLiteral("estimate: low | value | high"),
                           LegendItem::Shape::Box});
            break;
        }
    return legend;
}

ErrorView::Layout ErrorView::layoutFor(const QSize& size) const {
    Layout l;
    const double w = size.width();
    const double h = size.height();
    l.title = QRectF(10, 0, w - 20, style::kTitleHeight);
    l.legend = QRectF(10, style::kTitleHeight, w - 20, 24);
    const double top = style::kTitleHeight + 30 + legendWrapExtra(legendItems(), w - 14);
    const double left = style::kLeftMargin + 10;
    const double right = w - style::kColourBarReserve;
    const double avail = std::max(40.0, h - top - 2 * style::kBottomMargin - 30);
    l.grid = QRectF(left, top, std::max(10.0, right - left), avail * 0.55);
    l.bar = QRectF(right + 16, top, 14, l.grid.height());
    const double traceTop = l.grid.bottom() + style::kBottomMargin + 28;
    l.trace =
        QRectF(left, traceTop, l.grid.width(), std::max(10.0, h - traceTop - style::kBottomMargin - 12));
    if (w >= 760 && l.trace.height() >= 80) {
        // The rows-against-dropped-mass panel takes the right part, with room for its own y labels.
        const double side = std::min(0.34 * l.trace.width(), std::max(160.0, 1.4 * l.trace.height()));
        l.scatter = QRectF(l.trace.right() - side, l.trace.top(), side, l.trace.height());
        l.trace.setRight(l.scatter.left() - style::kLeftMargin);
    }
    l.dropStrip = QRectF(left, l.trace.bottom() + 2, l.trace.width(), 8);
    return l;
}

QPair<int, int> ErrorView::cellAt(const QPoint& pos) const {
    const int rows = int(m_data.layerIds.size());
    const int cols = m_data.qHeads;
    if (rows == 0 || cols == 0) return {-1, -1};
    const Layout l = layoutFor(size());
    if (!l.grid.contains(pos)) return {-1, -1};
    const double cw = (l.grid.width() - kAggregateGap) / (cols + 1);
    const int r = std::clamp(int((pos.y() - l.grid.top()) / l.grid.height() * rows), 0, rows - 1);
    const double x = pos.x() - l.grid.left();
    if (x < cols * cw) return {r, std::clamp(int(x / cw), 0, cols - 1)};
    if (x >= cols * cw + kAggregateGap) return {r, cols};
    return {-1, -1};
}

void ErrorView::drawGrid(QPainter& painter, const Layout& l) const {
    const int rows = int(m_data.layerIds.size());
    const int cols = m_data.qHeads;
    const double cw = (l.grid.width() - kAggregateGap) / (cols + 1);
    const double ch = l.grid.height() / rows;
    const ColourMap& map = colourMap();
    const AxisScale scale = colourScale();
    painter.setPen(Qt::NoPen);
    for (int r = 0; r < rows; ++r) {
        const bool computed = metricsAt(r) != nullptr;
        const bool sparse = layerSparse(r);
        const bool stale = computed && isStale(r);
        const bool estimate = computed && isEstimate(r);
        for (int c = 0; c <= cols; ++c) {
            const double x = l.grid.left() + c * cw + (c == cols ? kAggregateGap : 0.0);
            const QRectF cell(x, l.grid.top() + r * ch, cw + (c < cols - 1 ? 0.5 : 0.0), ch + 0.5);
            const double v = value(r, c);
            QColor colour;
            if (!computed || std::isnan(v))
                colour = style::missing();
            else if (!sparse)
                colour = style::denseLayer().lighter(125);
            else
                colour = QColor::fromRgb(map.rgbAt(scale.unitClamped(v)));
            // Previous parameters: the same hue, washed out towards the background.
            if (stale) colour = blend(colour, style::background(), 0.6);
            painter.fillRect(cell, colour);
            if (estimate && sparse && !std::isnan(v)) drawEstimateCell(painter, cell, r, c, stale);
        }
        const QRectF rowRect(l.grid.left(), l.grid.top() + r * ch, l.grid.width(), ch);
        if (computed && !sparse) painter.fillRect(rowRect, QBrush(QColor(80, 80, 80, 90), Qt::BDiagPattern));
        if ((!computed || stale || estimate) && ch >= 11) {
            painter.setFont(style::smallFont());
            painter.setPen(QColor(90, 90, 90));
            painter.drawText(rowRect, Qt::AlignCenter,
                             stale      ? QStringLiteral("updating…")
                             : estimate ? QStringLiteral("estimate, exact values follow…")
                                        : QStringLiteral("computing…"));
            painter.setPen(Qt::NoPen);
        }
    }
    if (m_selectedLayer >= 0 && m_selectedLayer < rows && m_selectedHead >= 0 && m_selectedHead <= cols) {
        const double x = l.grid.left() + m_selectedHead * cw + (m_selectedHead == cols ? kAggregateGap : 0.0);
        painter.setPen(QPen(style::highlight(), 2.5));
        painter.setBrush(Qt::NoBrush);
        painter.drawRect(QRectF(x, l.grid.top() + m_selectedLayer * ch, cw, ch));
    }
    drawCategoryAxis(
        painter, l.grid, Edge::Left, rows,
        [this](int r) { return QString::number(m_data.layerIds[std::size_t(r)]); }, QStringLiteral("layer"));
    const QRectF headsRect(l.grid.left(), l.grid.top(), cols * cw, l.grid.height());
    drawCategoryAxis(
        painter, headsRect, Edge::Bottom, cols, [](int c) { return QString::number(c); },
        QStringLiteral("query head"));
    painter.setFont(style::tickFont());
    painter.setPen(style::text());
    painter.drawText(QRectF(l.grid.right() - cw - 20, l.grid.bottom() + 4, cw + 40, 16), Qt::AlignCenter,
                     QStringLiteral("all"));
    // Short: the rotated title runs along the bar, which is short in small windows ("kept rows" is in the
    // view's title already).
    QString barTitle = metricName(m_metric).remove(QStringLiteral(" (kept rows)"));
    if (isErrorMetric()) barTitle += QStringLiteral(" (white = 1%)");
    drawColourBar(painter, l.bar, map, scale, barTitle);
}

// An estimated cell shows its interval: the left third in the colour of the interval's low end, the right
// third in its high end (hatched when the sample cannot bound it), the point estimate in the middle, and a
// dotted frame. A narrow interval reads as one colour; a wide one as three.
void ErrorView::drawEstimateCell(QPainter& painter, const QRectF& cell, int layer, int head,
                                 bool stale) const {
    const tsa::Interval b = bounds(layer, head);
    const ColourMap& map = colourMap();
    const AxisScale scale = colourScale();
    auto colourOf = [&](double v) {
        QColor c = QColor::fromRgb(map.rgbAt(scale.unitClamped(v)));
        return stale ? blend(c, style::background(), 0.6) : c;
    };
    const double third = cell.width() / 3.0;
    painter.fillRect(QRectF(cell.left(), cell.top(), third, cell.height()), colourOf(b.lo));
    const QRectF right(cell.right() - third, cell.top(), third, cell.height());
    if (std::isfinite(b.hi)) {
        painter.fillRect(right, colourOf(b.hi));
    } else {
        painter.fillRect(right, colourOf(scale.hi));
        painter.fillRect(right, QBrush(QColor(40, 40, 40, 140), Qt::BDiagPattern));
    }
    painter.save();
    painter.setPen(QPen(QColor(60, 60, 60, 160), 1.0, Qt::DotLine));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(cell.adjusted(1, 1, -1.5, -1.5));
    painter.restore();
}

void ErrorView::drawTrace(QPainter& painter, const Layout& l) const {
    const tsa::LayerMetrics* m = metricsAt(m_selectedLayer);
    const bool headOk = m_selectedHead >= 0 && m_selectedHead < m_data.qHeads;
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    const QRectF caption(l.trace.left(), l.trace.top() - 22, l.trace.width(), 18);
    if (!m || !headOk || m->rowError.size() < std::size_t(m_data.qHeads) * std::size_t(m->tokens)) {
        painter.setPen(QPen(QColor(200, 200, 200), 1.0, Qt::DashLine));
        painter.setBrush(Qt::NoBrush);
        painter.drawRect(l.trace);
        style::drawMessage(
            painter, l.trace,
            m_selectedLayer < 0 || !headOk
                ? QStringLiteral("Click a cell above to see its per-row error along the tokens")
                : QStringLiteral("computing…"));
        return;
    }
    const int layerId = m_data.layerIds[std::size_t(m_selectedLayer)];
    {
        // The full formula where it fits; in a narrow window (800x600) a short form, elided as a last resort,
        // rather than text running past the panel.
        const QFontMetricsF fm(painter.font());
        const QString sampled = m->estimate ? QStringLiteral(" (estimate: %1 sampled rows, exact follows)")
                                                  .arg(m->heads[std::size_t(m_selectedHead)].sampledRows)
                                            : QString();
        QString text =
            QStringLiteral("Per-row error ||o_sparse - o_dense|| / ||o_dense||, layer %1, head %2%3")
                .arg(layerId)
                .arg(m_selectedHead)
                .arg(sampled);
        if (fm.horizontalAdvance(text) > caption.width())
            text = QStringLiteral("Per-row error, layer %1, head %2%3")
                       .arg(layerId)
                       .arg(m_selectedHead)
                       .arg(sampled);
        painter.drawText(caption, Qt::AlignLeft | Qt::AlignVCenter,
                         fm.elidedText(text, Qt::ElideRight, caption.width()));
    }
    const float* row = m->rowError.data() + qint64(m_selectedHead) * m->tokens;
    const TokenRange range = visibleRange();
    const int columns = std::max(1, int(std::lround(l.trace.width())));
    const std::vector<TraceBin> bins = traceBins(row, range, columns);
    double minPositive = INFINITY, hi = 0;
    for (const TraceBin& b : bins) {
        if (b.lo > 0) minPositive = std::min(minPositive, b.lo);
        if (b.hi > hi) hi = b.hi;
    }
    const AxisScale y = positiveLogScale(minPositive, hi, 1e-6);
    AxisSpec ySpec{y, Edge::Left, QStringLiteral("row error (log)"), TickStyle::Number, true, false};
    painter.fillRect(l.trace, style::background());
    drawAxis(painter, l.trace, ySpec);
    auto yOf = [&](double v) { return l.trace.bottom() - y.unitClamped(v) * l.trace.height(); };
    const double dx = l.trace.width() / columns;
    // Band (min..max per pixel) and mean line; a pixel whose rows were all dropped breaks the line.
    painter.setRenderHint(QPainter::Antialiasing);
    QPainterPath band, line;
    bool open = false;
    auto flushBand = [&](int from, int to) {
        if (to <= from) return;
        QPolygonF poly;
        for (int x = from; x < to; ++x)
            poly << QPointF(l.trace.left() + (x + 0.5) * dx, yOf(bins[std::size_t(x)].hi));
        for (int x = to - 1; x >= from; --x)
            poly << QPointF(l.trace.left() + (x + 0.5) * dx, yOf(bins[std::size_t(x)].lo));
        band.addPolygon(poly);
        band.closeSubpath();
    };
    int runStart = -1;
    for (int x = 0; x < columns; ++x) {
        const TraceBin& b = bins[std::size_t(x)];
        const QPointF p(l.trace.left() + (x + 0.5) * dx, yOf(b.mean));
        if (std::isnan(b.mean)) {
            open = false;
            if (runStart >= 0) flushBand(runStart, x);
            runStart = -1;
            continue;
        }
        if (runStart < 0) runStart = x;
        if (open)
            line.lineTo(p);
        else
            line.moveTo(p);
        open = true;
    }
    if (runStart >= 0) flushBand(runStart, columns);
    painter.save();
    painter.setClipRect(l.trace);
    if (range.size() > columns) painter.fillPath(band, kBandColour);
    painter.setPen(QPen(kTraceColour, 1.2));
    painter.setBrush(Qt::NoBrush);
    if (m->estimate) {
        // Only the sampled rows are known: dots, not a line that would suggest the rows between them.
        painter.setBrush(kTraceColour);
        for (int x = 0; x < columns; ++x)
            if (!std::isnan(bins[std::size_t(x)].mean))
                painter.drawEllipse(QPointF(l.trace.left() + (x + 0.5) * dx, yOf(bins[std::size_t(x)].mean)),
                                    2.0, 2.0);
    } else {
        painter.drawPath(line);
    }
    painter.restore();
    // Dropped-row strip: grey where rows were dropped (share per pixel); an estimate knows only its sample.
    for (int x = 0; x < columns && !m->estimate; ++x) {
        const double share = bins[std::size_t(x)].dropped;
        if (share <= 0) continue;
        QColor c = kDroppedMark;
        c.setAlphaF(0.25 + 0.75 * share);
        painter.fillRect(
            QRectF(l.dropStrip.left() + x * dx, l.dropStrip.top(), dx + 0.3, l.dropStrip.height()), c);
    }
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(l.trace);
    AxisSpec x;
    x.scale = AxisScale{double(range.begin), double(range.end), false};
    x.edge = Edge::Bottom;
    x.style = TickStyle::Tokens;
    x.cellCentred = true;
    x.title = QStringLiteral("token position (row)");
    drawAxis(painter, l.dropStrip, x);
}

void ErrorView::drawRowsAgainstDroppedMass(QPainter& painter, const Layout& l) const {
    const tsa::LayerMetrics* m = metricsAt(m_selectedLayer);
    const QRectF& r = l.scatter;
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    const QRectF caption(r.left(), r.top() - 22, r.width() + style::kColourBarReserve - 20, 18);
    const QFontMetricsF fm(painter.font());
    painter.drawText(
        caption, Qt::AlignLeft | Qt::AlignVCenter,
        fm.elidedText(QStringLiteral("Row error vs mass on dropped keys"), Qt::ElideRight, caption.width()));
    const std::vector<RowPoint> points = m && m_selectedHead >= 0 && m_selectedHead < m_data.qHeads
                                             ? rowPoints(*m, m_selectedHead, visibleRange())
                                             : std::vector<RowPoint>{};
    if (points.empty()) {
        painter.setPen(QPen(QColor(200, 200, 200), 1.0, Qt::DashLine));
        painter.setBrush(Qt::NoBrush);
        painter.drawRect(r);
        return;
    }
    double minX = INFINITY, minY = INFINITY, hiY = 0;
    for (const RowPoint& p : points) {
        if (p.dropped > 0) minX = std::min(minX, p.dropped);
        if (p.error > 0) minY = std::min(minY, p.error);
        hiY = std::max(hiY, p.error);
    }
    // x: up to all of the row's mass; rows that lost none sit on the left edge.
    const AxisScale x =
        AxisScale::logarithmic(std::isfinite(minX) ? std::min(minX * 0.8, 0.1) : 1e-6, 1.0, 1e-9);
    const AxisScale y = positiveLogScale(minY, hiY, 1e-6);
    painter.fillRect(r, style::background());
    drawAxis(painter, r,
             AxisSpec{y, Edge::Left, QStringLiteral("row error (log)"), TickStyle::Number, true, false});
    drawAxis(painter, r,
             AxisSpec{x, Edge::Bottom, QStringLiteral("1 − retained mass"), TickStyle::Number, true, false});
    // Colour by position (dark: early rows, few keys); the last W rows, which decide the next token, orange
    // and drawn last so they stay visible.
    const ColourMap& ramp = ColourMap::byName(QStringLiteral("viridis"));
    const qint64 windowStart = m->tokens - m_data.window;
    painter.save();
    painter.setClipRect(r);
    painter.setRenderHint(QPainter::Antialiasing);
    painter.setPen(Qt::NoPen);
    // Unit positions once per row, with the axes' logs taken once (up to L rows per paint).
    auto logUnit = [](const AxisScale& s) {
        const double l = std::log10(s.lo), span = std::log10(s.hi) - l;
        return [l, span](double v) { return v > 0 ? std::clamp((std::log10(v) - l) / span, 0.0, 1.0) : 0.0; };
    };
    const auto ux = logUnit(x);
    const auto uy = logUnit(y);
    std::vector<QPointF> unit(points.size());
    for (std::size_t i = 0; i < points.size(); ++i)
        unit[i] = QPointF(ux(points[i].dropped), uy(points[i].error));
    auto dot = [&](std::size_t i, const QColor& c) {
        painter.setBrush(c);
        painter.drawEllipse(
            QPointF(r.left() + unit[i].x() * r.width(), r.bottom() - unit[i].y() * r.height()), 2.2, 2.2);
    };
    auto colourOf = [&](const RowPoint& p) {
        if (p.position >= windowStart) return style::windowTokens();
        QColor c = ramp.colourAt(0.85 * double(p.position) / double(std::max<qint64>(1, m->tokens)));
        c.setAlpha(170);
        return c;
    };
    if (points.size() <= kPointsAsShapes) {
        for (int pass = 0; pass < 2; ++pass)
            for (std::size_t i = 0; i < points.size(); ++i)
                if ((points[i].position >= windowStart) == (pass == 1)) dot(i, colourOf(points[i]));
    } else {
        // Many rows: small squares set in an image (later rows over earlier ones, the window's last), one
        // drawImage instead of a painter call per row.
        const double scale = style::deviceScale(painter);
        const int w = std::max(1, int(std::lround(r.width() * scale)));
        const int h = std::max(1, int(std::lround(r.height() * scale)));
        const int radius = std::max(1, int(std::lround(1.2 * scale)));
        QImage dots(w, h, QImage::Format_ARGB32_Premultiplied);
        dots.fill(Qt::transparent);
        for (int pass = 0; pass < 2; ++pass)
            for (std::size_t i = 0; i < points.size(); ++i) {
                if ((points[i].position >= windowStart) != (pass == 1)) continue;
                const QRgb premultiplied = qPremultiply(colourOf(points[i]).rgba());
                const int cx = int(unit[i].x() * (w - 1));
                const int cy = int((1.0 - unit[i].y()) * (h - 1));
                for (int yy = std::max(0, cy - radius); yy <= std::min(h - 1, cy + radius); ++yy) {
                    auto* line = reinterpret_cast<QRgb*>(dots.scanLine(yy));
                    for (int xx = std::max(0, cx - radius); xx <= std::min(w - 1, cx + radius); ++xx)
                        line[xx] = premultiplied;
                }
            }
        painter.drawImage(r, dots);
    }
    painter.restore();
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(r);
    painter.setFont(style::smallFont());
    painter.setPen(style::text());
    const double rho = rowRankCorrelation();
    painter.drawText(r.adjusted(6, 4, -6, -4), Qt::AlignLeft | Qt::AlignTop,
                     QStringLiteral("rank corr. %1\ndark: early rows\norange: last W rows")
                         .arg(std::isnan(rho) ? QStringLiteral("n/a") : QString::number(rho, 'f', 2)));
}

double ErrorView::rowRankCorrelation() const {
    const std::shared_ptr<const tsa::LayerMetrics> m =
        m_selectedLayer >= 0 && m_selectedLayer < int(m_data.metrics.size()) && metricsAt(m_selectedLayer)
            ? m_data.metrics[std::size_t(m_selectedLayer)]
            : nullptr;
    if (!m || m_selectedHead < 0 || m_selectedHead >= m_data.qHeads) return NAN;
    const TokenRange range = visibleRange();
    if (m_rank.metrics.lock() != m || m_rank.head != m_selectedHead || m_rank.range != range) {
        m_rank.metrics = m;
        m_rank.head = m_selectedHead;
        m_rank.range = range;
        m_rank.rho = rankCorrelation(rowPoints(*m, m_selectedHead, range));
    }
    return m_rank.rho;
}

QString ErrorView::droppedMassToolTip() const {
    QString text = QStringLiteral(
        "Each dot is a kept row of the selected head: x, the share of its dense attention mass that fell on\n"
        "dropped keys (1 − retained mass); y, its output error, which follows that share closely.\n"
        "The kept set is chosen from what the last W queries attend to, so those rows (orange) keep nearly\n"
        "all their mass: the last-W error is small, and it is the error of the rows the next token is read\n"
        "from. Other rows whose own keys were dropped lose much of their mass: they set the kept-row p95.\n"
        "End to end (later layers read every row) see the Effect view; docs/views.md, \"Which error to "
        "read\".");
    const tsa::LayerMetrics* m = metricsAt(m_selectedLayer);
    if (!m || m_selectedHead < 0 || m_selectedHead >= m_data.qHeads) return text;
    const std::vector<RowPoint> points = rowPoints(*m, m_selectedHead, visibleRange());
    if (points.empty()) return text;
    auto median = [](std::vector<double> v) {
        if (v.empty()) return double(NAN);
        std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(v.size() / 2), v.end());
        return v[v.size() / 2];
    };
    std::vector<double> errors;
    for (const RowPoint& p : points)
        errors.push_back(p.error);
    std::sort(errors.begin(), errors.end());
    const double p95 = errors[std::size_t(0.95 * double(errors.size() - 1))];
    std::vector<double> topLost, windowLost;
    for (const RowPoint& p : points) {
        if (p.error >= p95) topLost.push_back(p.dropped);
        if (p.position >= m->tokens - m_data.window) windowLost.push_back(p.dropped);
    }
    text += QStringLiteral("\n\n%1 kept rows shown, rank correlation of error and dropped share %2.\n"
                           "Rows at or above the p95 error (%3) lost a median %4 of their mass;\n"
                           "the last W rows shown (%5) a median %6.")
                .arg(fmt::integer(qint64(points.size())), fmt::value(rowRankCorrelation(), 3),
                     fmt::integer(qint64(topLost.size())), fmt::percent(median(topLost)),
                     fmt::integer(qint64(windowLost.size())),
                     windowLost.empty() ? QStringLiteral("n/a") : fmt::percent(median(windowLost)));
    return text;
}

void ErrorView::render(QPainter& painter, const QSize& size) const {
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    const Layout l = layoutFor(size);
    style::drawTitle(painter, l.title, viewTitle());
    if (m_data.layerIds.empty() || m_data.qHeads == 0) {
        style::drawMessage(painter, all,
                           QStringLiteral("No metrics: run with the dense reference to see errors"));
        painter.restore();
        return;
    }
    drawGrid(painter, l);
    drawTrace(painter, l);
    if (!l.scatter.isEmpty()) drawRowsAgainstDroppedMass(painter, l);
    drawLegend(painter, l.legend.topLeft(), legendItems(), true);
    painter.restore();
}

QString ErrorView::toolTipAt(const QPoint& pos) const {
    const auto [r, c] = cellAt(pos);
    if (r >= 0) {
        const int layerId = m_data.layerIds[std::size_t(r)];
        const QString who = c >= m_data.qHeads ? QStringLiteral("layer %1, all heads").arg(layerId)
                                               : QStringLiteral("layer %1, head %2").arg(layerId).arg(c);
        const tsa::LayerMetrics* m = metricsAt(r);
        if (!m) return who + QStringLiteral("\ncomputing…");
        const tsa::HeadMetrics& h = c >= m_data.qHeads ? m->layer : m->heads[std::size_t(c)];
        QString text = who + (layerSparse(r) ? QStringLiteral("\n") : QStringLiteral(" (dense layer)\n"));
        if (isStale(r)) text += QStringLiteral("previous parameters, updating…\n");
        if (m->estimate) {
            auto range = [](const tsa::Interval& i) {
                return QStringLiteral("[%1, %2]")
                    .arg(fmt::value(i.lo, 4),
                         std::isfinite(i.hi) ? fmt::value(i.hi, 4) : QStringLiteral("?"));
            };
            text +=
                QStringLiteral("ESTIMATE from %1 sampled kept rows (%2% intervals); exact values follow\n")
                    .arg(fmt::integer(h.sampledRows))
                    .arg(qRound(m->confidence * 100));
            text += QStringLiteral("row error of kept rows: median %1 %2, p95 %3 %4, max >= %5 (%6 rows)\n")
                        .arg(fmt::value(h.rowError.median, 4), range(h.rowErrorBounds.median),
                             fmt::value(h.rowError.p95, 4), range(h.rowErrorBounds.p95),
                             fmt::value(h.rowError.max, 4), fmt::integer(h.rowError.count));
        } else {
            text += QStringLiteral("row error of kept rows: median %1, p95 %2, max %3 (%4 rows)\n")
                        .arg(fmt::value(h.rowError.median, 5), fmt::value(h.rowError.p95, 5),
                             fmt::value(h.rowError.max, 5), fmt::integer(h.rowError.count));
        }
        text += QStringLiteral("last %1 rows error: %2%3\n")
                    .arg(m_data.window)
                    .arg(fmt::value(h.lastWindowError, 5))
                    .arg(m->estimate ? QStringLiteral(" (exact: every one of these rows is in the sample)")
                                     : QString());
        text += QStringLiteral("retained mass: median %1, p95 %2%3\n")
                    .arg(fmt::value(h.retainedMass.median, 6), fmt::value(h.retainedMass.p95, 6))
                    .arg(m->estimate ? QStringLiteral(" (estimated)") : QString());
        text += QStringLiteral("dropped rows: %1").arg(fmt::integer(h.droppedRows));
        return text;
    }
    const Layout l = layoutFor(size());
    if (l.bar.adjusted(-4, -4, style::kColourBarReserve - 30, 4).contains(pos))
        return QStringLiteral("The colour scale is held while tau changes, so colours stay comparable.\n"
                              "Double-click here to fit it to the values shown now.");
    if (l.scatter.contains(pos)) return droppedMassToolTip();
    const tsa::LayerMetrics* m = metricsAt(m_selectedLayer);
    if (!m || m_selectedHead < 0 || m_selectedHead >= m_data.qHeads ||
        !(l.trace.contains(pos) || l.dropStrip.contains(pos)))
        return {};
    if (m->rowError.size() < std::size_t(m_data.qHeads) * std::size_t(m->tokens)) return {};
    const TokenRange range = visibleRange();
    const int columns = std::max(1, int(std::lround(l.trace.width())));
    const BinRange bin = binRange(range.begin, range.size(), columns,
                                  std::clamp<qint64>(qint64(pos.x() - l.trace.left()), 0, columns - 1));
    const float* row = m->rowError.data() + qint64(m_selectedHead) * m->tokens;
    const float* mass = m->retainedMass.size() == m->rowError.size()
                            ? m->retainedMass.data() + qint64(m_selectedHead) * m->tokens
                            : nullptr;
    if (bin.end - bin.begin == 1) {
        const qint64 t = bin.begin;
        if (std::isnan(row[t]))
            return QStringLiteral("row %1: dropped (output zero by design)").arg(fmt::integer(t));
        QString text = QStringLiteral("row %1: error %2").arg(fmt::integer(t), fmt::value(row[t], 6));
        if (mass) text += QStringLiteral(", retained mass %1").arg(fmt::value(mass[t], 6));
        return text;
    }
    const TraceBin b = traceBins(row + 0, TokenRange{bin.begin, bin.end}, 1)[0];
    return QStringLiteral("rows %1–%2\nerror min %3, mean %4, max %5\ndropped rows: %6")
        .arg(fmt::integer(bin.begin), fmt::integer(bin.end - 1), fmt::value(b.lo, 4), fmt::value(b.mean, 4),
             fmt::value(b.hi, 4), fmt::percent(b.dropped));
}

QString ErrorView::csv() const {
    CsvWriter out;
    // values: "exact", or "estimate" with the interval columns (confidence in ci_level; a blank upper end
    // means the sample cannot bound it) and sampled_rows; trace rows of an estimate are the sampled rows.
    out.row({"kind",
             "layer_id",
             "head",
             "status",
             "row_error_median",
             "row_error_p95",
             "row_error_max",
             "last_window_error",
             "retained_mass_median",
             "dropped_rows",
             "position",
             "row_error",
             "retained_mass",
             "values",
             "ci_level",
             "row_error_median_lo",
             "row_error_median_hi",
             "row_error_p95_lo",
             "row_error_p95_hi",
             "retained_mass_median_lo",
             "retained_mass_median_hi",
             "sampled_rows"});
    auto bound = [](double v) { return std::isfinite(v) ? fmt::csvValue(v) : QString(); };
    for (int r = 0; r < int(m_data.layerIds.size()); ++r) {
        const tsa::LayerMetrics* m = metricsAt(r);
        for (int h = 0; h <= m_data.qHeads; ++h) {
            const QString head = h == m_data.qHeads ? QStringLiteral("all") : QString::number(h);
            const QString id = QString::number(m_data.layerIds[std::size_t(r)]);
            if (!m) {
                out.row({"head", id, head, "computing", "", "", "", "", "", "", "",
                         "",     "", "",   "",          "", "", "", "", "", "", ""});
                continue;
            }
            const tsa::HeadMetrics& s = h == m_data.qHeads ? m->layer : m->heads[std::size_t(h)];
            QStringList fields{"head",
                               id,
                               head,
                               layerSparse(r) ? "sparse" : "dense",
                               fmt::csvValue(s.rowError.median),
                               fmt::csvValue(s.rowError.p95),
                               fmt::csvValue(s.rowError.max),
                               fmt::csvValue(s.lastWindowError),
                               fmt::csvValue(s.retainedMass.median),
                               QString::number(s.droppedRows),
                               "",
                               "",
                               ""};
            if (m->estimate)
                fields << "estimate" << fmt::csvValue(m->confidence) << bound(s.rowErrorBounds.median.lo)
                       << bound(s.rowErrorBounds.median.hi) << bound(s.rowErrorBounds.p95.lo)
                       << bound(s.rowErrorBounds.p95.hi) << bound(s.retainedMassBounds.median.lo)
                       << bound(s.retainedMassBounds.median.hi) << QString::number(s.sampledRows);
            else
                fields << "exact"
                       << ""
                       << ""
                       << ""
                       << ""
                       << ""
                       << ""
                       << ""
                       << "";
            out.row(fields);
        }
    }
    const tsa::LayerMetrics* m = metricsAt(m_selectedLayer);
    if (m && m_selectedHead >= 0 && m_selectedHead < m_data.qHeads &&
        m->rowError.size() >= std::size_t(m_data.qHeads) * std::size_t(m->tokens)) {
        const TokenRange range = visibleRange();
        const float* row = m->rowError.data() + qint64(m_selectedHead) * m->tokens;
        const bool hasMass = m->retainedMass.size() == m->rowError.size();
        const QString id = QString::number(m_data.layerIds[std::size_t(m_selectedLayer)]);
        for (qint64 t = range.begin; t < range.end; ++t) {
            if (m->estimate && std::isnan(row[t])) continue; // not sampled (or dropped): unknown here
            out.row({"trace",
                     id,
                     QString::number(m_selectedHead),
                     std::isnan(row[t]) ? "dropped" : "kept",
                     "",
                     "",
                     "",
                     "",
                     "",
                     "",
                     QString::number(t),
                     fmt::csvValue(row[t]),
                     hasMass
                         ? fmt::csvValue(m->retainedMass[std::size_t(qint64(m_selectedHead) * m->tokens + t)])
                         : QString(),
                     m->estimate ? "estimate" : "exact",
                     "",
                     "",
                     "",
                     "",
                     "",
                     "",
                     "",
                     ""});
        }
    }
    return out.text();
}

void ErrorView::mouseMoveEvent(QMouseEvent* event) {
    const Layout l = layoutFor(size());
    if (l.trace.contains(event->position()) && traceTokens() > 0)
        emit tokenHovered(m_panZoom->tokenAtX(event->position().x(), traceTokens()));
}

void ErrorView::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return PlotView::mouseReleaseEvent(event);
    if (!m_panZoom->isClick(event->position())) return;
    const auto [r, c] = cellAt(event->pos());
    if (r < 0) return;
    setSelected(r, c >= m_data.qHeads ? m_selectedHead : c);
    emit cellClicked(r, c);
}

void ErrorView::mouseDoubleClickEvent(QMouseEvent* event) {
    const Layout l = layoutFor(size());
    // The colour bar and its labels: fit the held colour scale to the values shown now.
    if (l.bar.adjusted(-4, -4, style::kColourBarReserve - 30, 4).contains(event->position())) {
        fitColourScale();
        return;
    }
    PlotView::mouseDoubleClickEvent(event); // the trace's double-click (reset zoom) is TokenPanZoom's
}

} // namespace tsa::views
