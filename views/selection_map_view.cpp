#include "views/selection_map_view.h"

#include "views/colour_bar.h"
#include "views/csv_writer.h"
#include "views/heatmap_renderer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QMouseEvent>
#include <QPainter>
#include <cmath>
#include <limits>

namespace tsa::views {

namespace {

constexpr double kKvLabelWidth = 44.0;
constexpr qint64 kCsvCellLimit = 2'000'000;

QRgb droppedGrey(double u) {
    // Light grey for unimportant dropped tokens, darker for dropped tokens that still had some score.
    const int g = static_cast<int>(236.0 - 110.0 * u);
    return qRgb(g, g, g);
}

QRgb blend(QRgb kept, QRgb dropped, float keptShare) {
    if (keptShare >= 1.0f) return kept;
    if (keptShare <= 0.0f) return dropped;
    auto mix = [keptShare](int a, int b) { return int(std::lround(a * keptShare + b * (1.0f - keptShare))); };
    return qRgb(mix(qRed(kept), qRed(dropped)), mix(qGreen(kept), qGreen(dropped)),
                mix(qBlue(kept), qBlue(dropped)));
}

} // namespace

SelectionMapView::SelectionMapView(QWidget* parent)
    : PlotView(parent), m_panZoom(new TokenPanZoom(this, [this] { return layoutFor(size()).plot; })) {
    connect(m_panZoom, &TokenPanZoom::rangeChanged, this, [this](qint64 begin, qint64 end) {
        update();
        emit visibleRangeChanged(begin, end);
    });
}

void SelectionMapView::setData(SelectionMapData data) {
    m_data = std::move(data);
    const tsa::Selection* sel = m_data.selection.get();
    const tsa::LayerScores* scores = m_data.scores.get();
    m_heads = sel ? int(sel->qHeads) : 0;
    m_tokens = sel ? qint64(sel->tokens) : 0;
    m_prefix = scores ? qint64(scores->prefix) : (sel ? qint64(sel->prefix) : 0);
    m_hasScores = scores && scores->qHeads == m_heads && !scores->headNorm.empty() &&
                  qint64(scores->headNorm.size()) >= qint64(m_heads) * m_prefix;
    const auto cells = static_cast<std::size_t>(qint64(m_heads) * m_tokens);
    const bool sparse = sel && sel->sparse && qint64(sel->indices.size()) >= qint64(m_heads) * sel->kept;
    m_kept.assign(cells, sparse ? 0 : 1);
    if (sparse)
        for (int h = 0; h < m_heads; ++h) {
            const std::int32_t* idx = sel->head(h);
            for (qint64 i = 0; i < sel->kept; ++i)
                if (idx[i] >= 0 && idx[i] < m_tokens) m_kept[std::size_t(h * m_tokens + idx[i])] = 1;
        }
    m_score.assign(cells, std::numeric_limits<float>::quiet_NaN());
    double hi = 0.0, minPositive = INFINITY;
    if (m_hasScores)
        for (int h = 0; h < m_heads; ++h) {
            const float* src = scores->headScores(h);
            float* dst = m_score.data() + h * m_tokens;
            for (qint64 j = 0; j < std::min(m_prefix, m_tokens); ++j) {
                dst[j] = src[j];
                hi = std::max(hi, double(src[j]));
                if (src[j] > 0) minPositive = std::min(minPositive, double(src[j]));
            }
        }
    // Log colour scale over five decades below the peak: sinks sit at the top, the flat tail at the bottom.
    hi = hi > 0 ? hi : 1.0;
    m_scale =
        AxisScale::logarithmic(std::max(std::isfinite(minPositive) ? minPositive : hi * 1e-5, hi * 1e-5), hi);
    // A new length shows everything; the same length (a tau step) keeps the zoom.
    if (m_tokens > 0) m_panZoom->model()->setTotal(m_tokens);
    m_buffer.invalidate();
    // The selected head is kept even while no selection is shown (a file is opening): painting checks it
    // against m_heads, and forgetting it here lost the box after opening another file.
    update();
}

void SelectionMapView::setColourMap(const QString& name) {
    m_colourMap = name;
    m_buffer.invalidate();
    update();
}

void SelectionMapView::setSelectedHead(int head) {
    m_selectedHead = head;
    update();
}

void SelectionMapView::setVisibleRange(qint64 begin, qint64 end) {
    m_panZoom->model()->setRange({begin, end});
}

void SelectionMapView::setMarkedPosition(qint64 position) {
    m_markedPosition = position;
    update();
}

void SelectionMapView::resetZoom() {
    m_panZoom->model()->reset();
}

QString SelectionMapView::viewTitle() const {
    const tsa::Selection* sel = m_data.selection.get();
    if (!sel || m_tokens == 0) return QStringLiteral("Selection map");
    QString title = QStringLiteral("Selection map: layer %1").arg(m_data.layerId);
    if (sel->sparse)
        title +=
            QStringLiteral(", kept %1 of %2 per head (%3), capacity %4 + W %5")
                .arg(fmt::integer(sel->kept), fmt::integer(sel->tokens), fmt::percent(sel->keptFraction()),
                     fmt::integer(sel->capacity), fmt::integer(sel->window));
    else
        title += QStringLiteral(", dense (all %1 tokens kept)").arg(fmt::integer(sel->tokens));
    return title;
}

std::vector<LegendItem> SelectionMapView::legendItems() const {
    const ColourMap& map = ColourMap::byName(m_colourMap);
    return {
        {map.colourAt(0.7), QStringLiteral("kept (colour = n_h)"), LegendItem::Shape::Box},
        {QColor(droppedGrey(0.5)), QStringLiteral("dropped (darker = higher n_h)"), LegendItem::Shape::Box},
        {style::windowTokens(), QStringLiteral("window (always kept)"), LegendItem::Shape::Box}};
}

SelectionMapView::Layout SelectionMapView::layoutFor(const QSize& size) const {
    Layout l;
    const double w = size.width();
    const double h = size.height();
    l.title = QRectF(10, 0, w - 20, style::kTitleHeight);
    l.legend = QRectF(10, style::kTitleHeight, w - 20, 24);
    // Room for the window bracket above the plot, and for a legend wrapped onto more rows.
    const double top = style::kTitleHeight + 30 + 14 + legendWrapExtra(legendItems(), w - 14);
    const double left = style::kLeftMargin + (m_data.groupSize > 1 ? kKvLabelWidth : 0.0);
    l.plot = QRectF(left, top, std::max(10.0, w - left - style::kColourBarReserve),
                    std::max(10.0, h - top - style::kBottomMargin));
    l.bar = QRectF(l.plot.right() + 16, l.plot.top(), 14, l.plot.height());
    return l;
}

QImage SelectionMapView::drawBuffer(const QSize& pixels, const TokenRange& range) const {
    if (pixels.isEmpty() || range.isEmpty() || m_heads == 0) return {};
    const int w = pixels.width();
    const int h = pixels.height();
    // Kept flags: mean (the kept share of a pixel's tokens blends its colour toward grey, so scattered
    // drops stay visible at 128K); scores: max (a single sink or needle stays visible).
    const std::vector<float> kept =
        aggregateGrid(m_kept.data(), m_tokens, 0, m_heads, range.begin, range.end, h, w, Aggregate::Mean);
    const std::vector<float> score =
        aggregateGrid(m_score.data(), m_tokens, 0, m_heads, range.begin, range.end, h, w, Aggregate::Max);
    const ColourMap& map = ColourMap::byName(m_colourMap);
    const QRgb window = style::windowTokens().rgb();
    const QRgb unscoredKept = map.rgbAt(0.75);
    QImage image(w, h, QImage::Format_RGB32);
    for (int y = 0; y < h; ++y) {
        auto* line = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = 0; x < w; ++x) {
            const std::size_t i = std::size_t(y) * w + x;
            const float keptShare = kept[i];
            const float s = score[i];
            if (std::isnan(s)) {
                const BinRange bin = binRange(range.begin, range.size(), w, x);
                line[x] = bin.begin >= m_prefix ? window : blend(unscoredKept, droppedGrey(0), keptShare);
            } else {
                const double u = m_scale.unitClamped(s);
                line[x] = blend(map.rgbAt(u), droppedGrey(u), keptShare);
            }
        }
    }
    return image;
}

void SelectionMapView::render(QPainter& painter, const QSize& size) const {
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    const Layout l = layoutFor(size);
    style::drawTitle(painter, l.title, viewTitle());
    if (m_heads == 0 || m_tokens == 0) {
        style::drawMessage(painter, all, QStringLiteral("No layer selected"));
        painter.restore();
        return;
    }
    const TokenRange range = visibleRange();
    const double scale = style::deviceScale(painter);
    const QSize pixels(std::max(1, int(std::lround(l.plot.width() * scale))),
                       std::max(1, int(std::lround(l.plot.height() * scale))));
    painter.drawImage(l.plot, m_buffer.image(pixels, range, [this](const QSize& px, const TokenRange& r) {
        return drawBuffer(px, r);
    }));

    auto xOf = [&](double position) {
        return l.plot.left() + (position - double(range.begin)) / double(range.size()) * l.plot.width();
    };
    const double rowH = l.plot.height() / m_heads;
    // KV groups: separators between groups and "kv g" labels left of the head labels.
    const int group = std::max(1, m_data.groupSize);
    if (group > 1) {
        painter.setPen(QPen(Qt::white, 2.0));
        for (int g = group; g < m_heads; g += group)
            painter.drawLine(QPointF(l.plot.left(), l.plot.top() + g * rowH),
                             QPointF(l.plot.right(), l.plot.top() + g * rowH));
        painter.setFont(style::tickFont());
        const QFontMetricsF fm(painter.font());
        const int groups = (m_heads + group - 1) / group;
        const int stride = labelStride(rowH * group, fm.height());
        for (int g = 0; g < groups; g += stride) {
            const double y0 = l.plot.top() + g * group * rowH;
            const double y1 = l.plot.top() + std::min(m_heads, (g + 1) * group) * rowH;
            const double bracketX = l.plot.left() - 28;
            painter.setPen(QPen(style::axis(), 1.0));
            painter.drawLine(QPointF(bracketX, y0 + 2), QPointF(bracketX, y1 - 2));
            painter.setPen(style::text());
            painter.drawText(QRectF(bracketX - 54, (y0 + y1) / 2 - fm.height() / 2, 50, fm.height()),
                             Qt::AlignRight | Qt::AlignVCenter, QStringLiteral("kv %1").arg(g));
        }
    }
    if (m_selectedHead >= 0 && m_selectedHead < m_heads) {
        painter.setPen(QPen(style::highlight(), 2.0));
        painter.setBrush(Qt::NoBrush);
        painter.drawRect(QRectF(l.plot.left(), l.plot.top() + m_selectedHead * rowH, l.plot.width(), rowH));
    }
    if (m_markedPosition >= range.begin && m_markedPosition < range.end) {
        const double x = xOf(double(m_markedPosition) + 0.5);
        style::drawPositionMarker(painter, QPointF(x, l.plot.top()), QPointF(x, l.plot.bottom()));
    }
    // The window: a dashed line at P and an orange bracket above the plot.
    if (m_prefix < m_tokens && m_prefix < range.end) {
        const double x0 = std::max(l.plot.left(), xOf(double(m_prefix)));
        const double x1 = std::min(l.plot.right(), xOf(double(m_tokens)));
        painter.fillRect(QRectF(x0, l.plot.top() - 9, std::max(1.5, x1 - x0), 6), style::windowTokens());
        if (m_prefix >= range.begin) {
            painter.setPen(QPen(QColor(60, 60, 60), 1.0, Qt::DashLine));
            painter.drawLine(QPointF(x0, l.plot.top() - 10), QPointF(x0, l.plot.bottom()));
        }
        painter.setFont(style::smallFont());
        painter.setPen(style::text());
        const QString label = QStringLiteral("window W = %1 from position %2")
                                  .arg(m_tokens - m_prefix)
                                  .arg(fmt::integer(m_prefix));
        const QFontMetricsF fm(painter.font());
        const double lw = fm.horizontalAdvance(label);
        painter.drawText(QRectF(std::max(l.plot.left(), x0 - lw - 6), l.plot.top() - 12 - fm.height() + 2,
                                lw + 2, fm.height()),
                         Qt::AlignRight | Qt::AlignVCenter, label);
    }
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(l.plot);

    // The axis title goes beyond the kv labels, so it is drawn here rather than by drawCategoryAxis.
    drawCategoryAxis(
        painter, l.plot, Edge::Left, m_heads, [](int h) { return QString::number(h); }, QString());
    painter.save();
    painter.setFont(style::labelFont());
    painter.setPen(style::text());
    painter.translate(4, l.plot.bottom());
    painter.rotate(-90);
    painter.drawText(QRectF(0, 0, l.plot.height(), QFontMetricsF(painter.font()).height()), Qt::AlignCenter,
                     group > 1 ? QStringLiteral("query head, grouped by kv head")
                               : QStringLiteral("query head"));
    painter.restore();
    AxisSpec x;
    x.scale = AxisScale{double(range.begin), double(range.end), false};
    x.edge = Edge::Bottom;
    x.style = TickStyle::Tokens;
    x.cellCentred = true;
    const qint64 perPixel =
        (range.size() + qint64(l.plot.width()) - 1) / std::max<qint64>(1, qint64(l.plot.width()));
    x.title = perPixel > 1
                  ? QStringLiteral(
                        "token position (%1 shown, up to %2 per pixel: max score, kept share blends to grey)")
                        .arg(fmt::integer(range.size()), fmt::integer(perPixel))
                  : QStringLiteral("token position");
    drawAxis(painter, l.plot, x);
    if (m_hasScores)
        drawColourBar(painter, l.bar, ColourMap::byName(m_colourMap), m_scale,
                      QStringLiteral("normalised score n_h (log)"));
    drawLegend(painter, l.legend.topLeft(), legendItems(), true);
    if (const tsa::Selection* sel = m_data.selection.get(); sel && !sel->sparse)
        style::drawBanner(painter, l.plot,
                          QStringLiteral("dense layer: %1").arg(denseReasonLabel(sel->denseReason)));
    painter.restore();
}

qint64 SelectionMapView::tokenAt(const QPoint& pos) const {
    const Layout l = layoutFor(size());
    if (m_tokens == 0 || !l.plot.contains(pos)) return -1;
    return m_panZoom->tokenAtX(pos.x(), m_tokens);
}

int SelectionMapView::headAt(const QPoint& pos) const {
    const Layout l = layoutFor(size());
    if (m_heads == 0 || !l.plot.contains(pos)) return -1;
    return std::clamp(int((pos.y() - l.plot.top()) / l.plot.height() * m_heads), 0, m_heads - 1);
}

QString SelectionMapView::tokenText(qint64 position) const {
    const auto* strings = m_data.tokenStrings.get();
    if (!strings || position < 0 || position >= qint64(strings->size())) return {};
    QString text = QString::fromStdString((*strings)[std::size_t(position)]);
    text.replace(QLatin1Char('\n'), QStringLiteral("\\n"));
    return text;
}

QString SelectionMapView::toolTipAt(const QPoint& pos) const {
    const int h = headAt(pos);
    if (h < 0) return {};
    const Layout l = layoutFor(size());
    const TokenRange range = visibleRange();
    const int columns = std::max(1, int(std::lround(l.plot.width())));
    const BinRange bin = binRange(range.begin, range.size(), columns,
                                  std::clamp<qint64>(qint64(pos.x() - l.plot.left()), 0, columns - 1));
    const int group = std::max(1, m_data.groupSize);
    QString text = QStringLiteral("head %1 (kv %2)\n").arg(h).arg(h / group);
    const std::uint8_t* kept = m_kept.data() + h * m_tokens;
    const float* score = m_score.data() + h * m_tokens;
    if (bin.end - bin.begin == 1) {
        const qint64 t = bin.begin;
        text += QStringLiteral("position %1").arg(fmt::integer(t));
        const QString token = tokenText(t);
        if (!token.isNull()) text += QStringLiteral("  token \"%1\"").arg(token);
        text += QLatin1Char('\n');
        if (t >= m_prefix)
            text += QStringLiteral("window position: always kept");
        else {
            if (m_hasScores) {
                const tsa::LayerScores& s = *m_data.scores;
                const std::size_t i = std::size_t(h * s.prefix + t);
                text += QStringLiteral("n_h = %1").arg(fmt::value(score[t], 6));
                if (i < s.raw.size() && i < s.smoothed.size())
                    text += QStringLiteral("  (raw a = %1, smoothed s = %2)")
                                .arg(fmt::value(s.raw[i], 5), fmt::value(s.smoothed[i], 5));
                text += QLatin1Char('\n');
            }
            text += kept[t] ? QStringLiteral("kept") : QStringLiteral("dropped");
        }
        return text;
    }
    qint64 keptCount = 0, scored = 0;
    double maxScore = -INFINITY, sum = 0;
    for (qint64 t = bin.begin; t < bin.end; ++t) {
        keptCount += kept[t];
        if (!std::isnan(score[t])) {
            maxScore = std::max(maxScore, double(score[t]));
            sum += score[t];
            ++scored;
        }
    }
    text += QStringLiteral("positions %1–%2 (%3 tokens in this pixel)\n")
                .arg(fmt::integer(bin.begin), fmt::integer(bin.end - 1), fmt::integer(bin.end - bin.begin));
    text += QStringLiteral("kept %1 of %2").arg(fmt::integer(keptCount), fmt::integer(bin.end - bin.begin));
    if (scored > 0)
        text += QStringLiteral("\nmax n_h = %1, mean n_h = %2")
                    .arg(fmt::value(maxScore, 5), fmt::value(sum / double(scored), 5));
    if (bin.end > m_prefix) text += QStringLiteral("\nincludes window positions");
    return text;
}

QString SelectionMapView::csv() const {
    CsvWriter out;
    out.row({"layer_id", "head", "kv_head", "position_begin", "position_end", "token", "kept_count",
             "token_count", "n_h_max", "n_h_mean"});
    const TokenRange range = visibleRange();
    if (m_heads == 0 || range.isEmpty()) return out.text();
    const qint64 cells = qint64(m_heads) * range.size();
    const qint64 binSize = cells <= kCsvCellLimit ? 1 : (cells + kCsvCellLimit - 1) / kCsvCellLimit;
    const int group = std::max(1, m_data.groupSize);
    for (int h = 0; h < m_heads; ++h) {
        const std::uint8_t* kept = m_kept.data() + h * m_tokens;
        const float* score = m_score.data() + h * m_tokens;
        for (qint64 b = range.begin; b < range.end; b += binSize) {
            const qint64 e = std::min(range.end, b + binSize);
            qint64 keptCount = 0, scored = 0;
            double maxScore = NAN, sum = 0;
            for (qint64 t = b; t < e; ++t) {
                keptCount += kept[t];
                if (!std::isnan(score[t])) {
                    maxScore = std::isnan(maxScore) ? score[t] : std::max(maxScore, double(score[t]));
                    sum += score[t];
                    ++scored;
                }
            }
            out.row({QString::number(m_data.layerId), QString::number(h), QString::number(h / group),
                     QString::number(b), QString::number(e), e - b == 1 ? tokenText(b) : QString(),
                     QString::number(keptCount), QString::number(e - b), fmt::csvValue(maxScore),
                     fmt::csvValue(scored ? sum / double(scored) : NAN)});
        }
    }
    return out.text();
}

void SelectionMapView::mouseMoveEvent(QMouseEvent* event) {
    emit tokenHovered(tokenAt(event->pos()));
}

void SelectionMapView::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return PlotView::mouseReleaseEvent(event);
    const Layout l = layoutFor(size());
    if (m_panZoom->isClick(event->position()) && l.plot.contains(event->position())) {
        const int h = headAt(event->pos());
        if (h >= 0) {
            setSelectedHead(h);
            emit headClicked(h);
        }
        const qint64 t = tokenAt(event->pos());
        if (t >= 0) emit tokenClicked(t);
    }
}

void SelectionMapView::leaveEvent(QEvent*) {
    emit tokenHovered(-1);
}

} // namespace tsa::views
