#include "views/attention_map_view.h"

#include "views/colour_bar.h"
#include "views/colour_map.h"
#include "views/csv_writer.h"
#include "views/heatmap_renderer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QMouseEvent>
#include <QPainter>
#include <algorithm>
#include <cmath>
#include <limits>

namespace tsa::views {

namespace {

constexpr double kStrip = 10.0;
const QRgb kKeptStrip = qRgb(35, 55, 110);
const QRgb kDroppedStrip = qRgb(232, 232, 232);
// The compressed-coordinates picture of a pattern.
const QRgb kComputedCell = qRgb(244, 190, 90);
const QRgb kSkippedCell = qRgb(40, 40, 58);
const QRgb kAboveDiagonal = qRgb(255, 255, 255);

QRgb mixRgb(QRgb a, QRgb b, double t) {
    auto m = [t](int x, int y) { return int(std::lround(x * t + y * (1.0 - t))); };
    return qRgb(m(qRed(a), qRed(b)), m(qGreen(a), qGreen(b)), m(qBlue(a), qBlue(b)));
}

} // namespace

AttentionMapView::AttentionMapView(QWidget* parent) : PlotView(parent) {}

bool AttentionMapView::valid() const {
    return m_data.blocks > 0 && m_data.blockSize > 0 && m_data.tokens > 0 &&
           m_data.share.size() >= std::size_t(m_data.blocks) * std::size_t(m_data.blocks);
}

void AttentionMapView::setData(AttentionBlocks data) {
    m_data = std::move(data);
    m_share.clear();
    m_keptShare.clear();
    ++m_version;
    if (!valid()) {
        update();
        return;
    }
    const int B = m_data.blocks;
    m_share.assign(std::size_t(B) * B, std::numeric_limits<float>::quiet_NaN());
    double hi = 0.0, minPositive = INFINITY;
    for (int r = 0; r < B; ++r) {
        for (int c = 0; c <= r; ++c) {
            const double v = m_data.share[std::size_t(r) * B + c];
            m_share[std::size_t(r) * B + c] = float(v);
            hi = std::max(hi, v);
            if (v > 0) minPositive = std::min(minPositive, v);
        }
    }
    // Six decades below the strongest block: enough to see the faint background against sinks.
    m_scale = AxisScale::logarithmic(std::max(std::isfinite(minPositive) ? minPositive : 1e-6, hi * 1e-6),
                                     hi > 0 ? hi : 1.0);
    m_keptShare.assign(std::size_t(B), 1.0f);
    if (m_data.sparse) {
        std::vector<qint64> counts(std::size_t(B), 0);
        for (std::int32_t p : m_data.kept)
            if (p >= 0 && p < m_data.tokens) ++counts[std::size_t(p / m_data.blockSize)];
        for (int b = 0; b < B; ++b)
            m_keptShare[std::size_t(b)] =
                float(double(counts[std::size_t(b)]) / double(blockEnd(b) - blockBegin(b)));
    }
    update();
}

void AttentionMapView::setColourMap(const QString& name) {
    m_colourMap = name;
    ++m_version;
    update();
}

void AttentionMapView::setShowDroppedOverlay(bool show) {
    m_overlay = show;
    ++m_version;
    update();
}

QString AttentionMapView::viewTitle() const {
    if (showsCompressed())
        return QStringLiteral("%1 in compressed coordinates: layer %2, head %3, %4 kept, cells of %5")
            .arg(m_compressed.label)
            .arg(m_data.layerId)
            .arg(m_data.head)
            .arg(fmt::integer(m_compressed.length))
            .arg(fmt::integer(m_compressed.cellSize));
    if (!valid()) return QStringLiteral("Attention map");
    return QStringLiteral("Attention map: layer %1, head %2, %3 tokens in %4 x %4 blocks of %5")
        .arg(m_data.layerId)
        .arg(m_data.head)
        .arg(fmt::integer(m_data.tokens))
        .arg(m_data.blocks)
        .arg(fmt::integer(m_data.blockSize));
}

AttentionMapView::Layout AttentionMapView::layoutFor(const QSize& size) const {
    Layout l;
    const double w = size.width();
    const double h = size.height();
    l.title = QRectF(10, 0, w - 20, style::kTitleHeight);
    l.legend = QRectF(10, style::kTitleHeight, w - 20, 24);
    const double top = style::kTitleHeight + 30 + 22 + kStrip; // legend, top axis labels, key strip
    const double left = style::kLeftMargin + 8 + kStrip;
    const double side =
        std::max(10.0, std::min(w - left - style::kColourBarReserve - 10, h - top - style::kBottomMargin));
    l.matrix = QRectF(left, top, side, side);
    l.rowStrip = QRectF(left - kStrip - 3, top, kStrip, side);
    l.colStrip = QRectF(left, top - kStrip - 3, side, kStrip);
    l.bar = QRectF(l.matrix.right() + 18, top, 14, side);
    return l;
}

void AttentionMapView::setPatternOverlay(std::vector<std::uint8_t> computed, const QString& label) {
    if (computed == m_pattern && label == m_patternLabel) return;
    m_pattern = std::move(computed);
    m_patternLabel = label;
    update();
}

QImage AttentionMapView::drawBuffer(const QSize& pixels) const {
    const int B = m_data.blocks;
    const int w = pixels.width();
    const int h = pixels.height();
    // Columns (key blocks) are summed: the share a query gives to the merged key range. Rows (query blocks)
    // are averaged: the typical query of the merged range. Above the diagonal stays NaN (white).
    const std::vector<float> byCol = aggregateGrid(m_share.data(), B, 0, B, 0, B, B, w, Aggregate::Sum);
    const std::vector<float> grid = aggregateGrid(byCol.data(), w, 0, B, 0, w, h, w, Aggregate::Mean);
    std::vector<float> rowKept = aggregateGrid(m_keptShare.data(), 1, 0, B, 0, 1, h, 1, Aggregate::Mean);
    std::vector<float> colKept = aggregateGrid(m_keptShare.data(), B, 0, 1, 0, B, 1, w, Aggregate::Mean);
    const ColourMap& map = ColourMap::byName(m_colourMap);
    QImage image(w, h, QImage::Format_RGB32);
    const QRgb white = qRgb(255, 255, 255);
    for (int y = 0; y < h; ++y) {
        auto* line = reinterpret_cast<QRgb*>(image.scanLine(y));
        for (int x = 0; x < w; ++x) {
            const float v = grid[std::size_t(y) * w + x];
            if (std::isnan(v)) {
                line[x] = white;
                continue;
            }
            QRgb c = map.rgbAt(m_scale.unitClamped(v));
            if (m_overlay && m_data.sparse) {
                // Share of the block's (query, key) pairs that sparse attention computes.
                const double computed = double(rowKept[std::size_t(y)]) * double(colKept[std::size_t(x)]);
                c = mixRgb(c, white, 1.0 - 0.65 * (1.0 - computed));
            }
            line[x] = c;
        }
    }
    return image;
}

void AttentionMapView::render(QPainter& painter, const QSize& size) const {
    if (showsCompressed()) {
        renderCompressed(painter, size);
        return;
    }
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    const Layout l = layoutFor(size);
    style::drawTitle(painter, l.title, viewTitle());
    if (!valid()) {
        style::drawMessage(painter, all, QStringLiteral("No attention map computed for this head"));
        painter.restore();
        return;
    }
    const double scale = style::deviceScale(painter);
    const QSize pixels(std::max(1, int(std::lround(l.matrix.width() * scale))),
                       std::max(1, int(std::lround(l.matrix.height() * scale))));
    if (m_buffer.size() != pixels || m_bufferVersion != m_version) {
        m_buffer = drawBuffer(pixels);
        m_bufferVersion = m_version;
    }
    painter.drawImage(l.matrix, m_buffer);
    const int B = m_data.blocks;
    const double cell = l.matrix.width() / B;
    const bool pattern = m_pattern.size() == std::size_t(B) * std::size_t(B);
    if (pattern) {
        // What the chosen method skips, darkened. One B x B image scaled onto the matrix: rectangles per
        // cell would overlap at fractional edges and draw seams of double alpha.
        QImage veil(B, B, QImage::Format_ARGB32_Premultiplied);
        veil.fill(Qt::transparent);
        for (int r = 0; r < B; ++r)
            for (int c = 0; c <= r; ++c)
                if (!m_pattern[std::size_t(r) * B + c])
                    veil.setPixel(c, r, qPremultiply(qRgba(15, 15, 25, 170)));
        painter.save();
        painter.setRenderHint(QPainter::SmoothPixmapTransform, false);
        painter.drawImage(l.matrix, veil);
        painter.restore();
    }
    for (int b = 0; b < B; ++b) {
        const QColor c = QColor::fromRgb(mixRgb(kKeptStrip, kDroppedStrip, m_keptShare[std::size_t(b)]));
        painter.fillRect(QRectF(l.rowStrip.left(), l.rowStrip.top() + b * cell, kStrip, cell + 0.5), c);
        painter.fillRect(QRectF(l.colStrip.left() + b * cell, l.colStrip.top(), cell + 0.5, kStrip), c);
    }
    painter.setPen(QPen(style::axis(), 1.0));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(l.matrix);
    if (m_markedPosition >= 0 && m_markedPosition < m_data.tokens) {
        // Blocks are blockSize tokens wide (the last one may be shorter) and the matrix spans B of them.
        const double f = (double(m_markedPosition) + 0.5) / (double(B) * double(m_data.blockSize));
        const double x = l.matrix.left() + f * l.matrix.width(), y = l.matrix.top() + f * l.matrix.height();
        style::drawPositionMarker(painter, QPointF(x, l.matrix.top()), QPointF(x, l.matrix.bottom()));
        style::drawPositionMarker(painter, QPointF(l.matrix.left(), y), QPointF(l.matrix.right(), y));
    }
    // The diagonal: causal boundary.
    painter.setPen(QPen(QColor(160, 160, 160), 1.0, Qt::DotLine));
    painter.drawLine(l.matrix.topLeft(), l.matrix.bottomRight());

    AxisSpec x{AxisScale{0.0, double(m_data.tokens), false},
               Edge::Bottom,
               QStringLiteral("key position j"),
               TickStyle::Tokens,
               false,
               false};
    drawAxis(painter, l.matrix, x);
    AxisSpec y{AxisScale{double(m_data.tokens), 0.0, false},
               Edge::Left,
               QStringLiteral("query position i"),
               TickStyle::Tokens,
               false,
               false};
    drawAxis(painter, l.rowStrip.united(QRectF(l.rowStrip.left(), l.matrix.top(), 1, l.matrix.height())), y);
    drawColourBar(painter, l.bar, ColourMap::byName(m_colourMap), m_scale,
                  QStringLiteral("share of a query's attention (log)"));
    std::vector<LegendItem> legend{
        {QColor::fromRgb(kKeptStrip), QStringLiteral("kept share of block (strips)"), LegendItem::Shape::Box},
        {QColor::fromRgb(kDroppedStrip), QStringLiteral("dropped"), LegendItem::Shape::Box}};
    if (m_overlay && m_data.sparse)
        legend.push_back({QColor(245, 245, 245), QStringLiteral("faded: skipped by sparse attention"),
                          LegendItem::Shape::Box});
    if (pattern)
        legend.push_back({QColor(15, 15, 25), QStringLiteral("dark: skipped by %1").arg(m_patternLabel),
                          LegendItem::Shape::Box});
    if (!m_data.sparse)
        legend.push_back({style::denseLayer(), QStringLiteral("dense layer: everything computed"),
                          LegendItem::Shape::Box});
    drawLegend(painter, l.legend.topLeft(), legend, true);
    painter.restore();
}

QPair<int, int> AttentionMapView::blockAt(const QPoint& pos) const {
    if (!valid()) return {-1, -1};
    const Layout l = layoutFor(size());
    if (!l.matrix.contains(pos)) return {-1, -1};
    const int B = m_data.blocks;
    const int r = std::clamp(int((pos.y() - l.matrix.top()) / l.matrix.height() * B), 0, B - 1);
    const int c = std::clamp(int((pos.x() - l.matrix.left()) / l.matrix.width() * B), 0, B - 1);
    return {r, c};
}

QString AttentionMapView::toolTipAt(const QPoint& pos) const {
    if (showsCompressed()) return compressedToolTip(pos);
    const auto [r, c] = blockAt(pos);
    if (r < 0) return {};
    QString text = QStringLiteral("queries %1–%2, keys %3–%4\n")
                       .arg(fmt::integer(blockBegin(r)), fmt::integer(blockEnd(r) - 1),
                            fmt::integer(blockBegin(c)), fmt::integer(blockEnd(c) - 1));
    if (c > r) return text + QStringLiteral("above the diagonal: masked (causal)");
    const int B = m_data.blocks;
    text += QStringLiteral("share of a query row's attention on these keys: %1\n")
                .arg(fmt::value(m_share[std::size_t(r) * B + c], 6));
    if (const qint64 n = sampledRows(r); n > 0 && n < blockEnd(r) - blockBegin(r))
        text += QStringLiteral("(mean over %1 sampled rows of %2)\n")
                    .arg(fmt::integer(n), fmt::integer(blockEnd(r) - blockBegin(r)));
    text += QStringLiteral("kept: %1 of query rows, %2 of keys")
                .arg(fmt::percent(m_keptShare[std::size_t(r)]), fmt::percent(m_keptShare[std::size_t(c)]));
    if (m_pattern.size() == std::size_t(B) * std::size_t(B))
        text += m_pattern[std::size_t(r) * B + c]
                    ? QStringLiteral("\n%1 computes pairs here").arg(m_patternLabel)
                    : QStringLiteral("\nskipped by %1").arg(m_patternLabel);
    return text;
}

QString AttentionMapView::csv() const {
    if (showsCompressed()) return compressedCsv();
    CsvWriter out;
    out.row({"layer_id", "head", "query_block", "key_block", "query_begin", "query_end", "key_begin",
             "key_end", "mean_row_share", "sampled_rows", "query_kept_share", "key_kept_share"});
    if (!valid()) return out.text();
    const int B = m_data.blocks;
    for (int r = 0; r < B; ++r)
        for (int c = 0; c <= r; ++c)
            out.row({QString::number(m_data.layerId), QString::number(m_data.head), QString::number(r),
                     QString::number(c), QString::number(blockBegin(r)), QString::number(blockEnd(r)),
                     QString::number(blockBegin(c)), QString::number(blockEnd(c)),
                     fmt::csvValue(m_share[std::size_t(r) * B + c]), QString::number(sampledRows(r)),
                     fmt::csvValue(m_keptShare[std::size_t(r)]), fmt::csvValue(m_keptShare[std::size_t(c)])});
    return out.text();
}

void AttentionMapView::setCompressedPattern(CompressedPattern pattern) {
    if (pattern == m_compressed) return;
    m_compressed = std::move(pattern);
    update();
}

bool AttentionMapView::showsCompressed() const {
    const CompressedPattern& p = m_compressed;
    return p.cellCount > 0 && p.cellSize > 0 && p.length > 0 &&
           p.cells.size() == std::size_t(p.cellCount) * std::size_t(p.cellCount);
}

void AttentionMapView::renderCompressed(QPainter& painter, const QSize& size) const {
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    const Layout l = layoutFor(size);
    style::drawTitle(painter, l.title, viewTitle());
    const int n = m_compressed.cellCount;
    // One pixel per cell, scaled without smoothing: computed cells light, skipped dark, above the diagonal
    // (never computed: causal) white, as on the map.
    QImage image(n, n, QImage::Format_RGB32);
    for (int r = 0; r < n; ++r)
        for (int c = 0; c < n; ++c)
            image.setPixel(c, r,
                           c > r
                               ? kAboveDiagonal
                               : (m_compressed.cells[std::size_t(r) * n + c] ? kComputedCell : kSkippedCell));
    painter.setRenderHint(QPainter::SmoothPixmapTransform, false);
    painter.drawImage(l.matrix, image);
    painter.setPen(QPen(style::axis(), 1.0));
    painter.drawRect(l.matrix);
    painter.setPen(QPen(QColor(160, 160, 160), 1.0, Qt::DotLine));
    painter.drawLine(l.matrix.topLeft(), l.matrix.bottomRight());
    const double extent = double(n) * double(m_compressed.cellSize);
    drawAxis(painter, l.matrix,
             AxisSpec{AxisScale{0.0, extent, false}, Edge::Bottom,
                      QStringLiteral("key: compressed index (rank among the head's kept tokens)"),
                      TickStyle::Tokens, false, false});
    drawAxis(painter, l.rowStrip.united(QRectF(l.rowStrip.left(), l.matrix.top(), 1, l.matrix.height())),
             AxisSpec{AxisScale{extent, 0.0, false}, Edge::Left, QStringLiteral("query: compressed index"),
                      TickStyle::Tokens, false, false});
    drawLegend(painter, l.legend.topLeft(),
               {{QColor::fromRgb(kComputedCell), QStringLiteral("computed by %1").arg(m_compressed.label),
                 LegendItem::Shape::Box},
                {QColor::fromRgb(kSkippedCell), QStringLiteral("skipped"), LegendItem::Shape::Box}},
               true);
    painter.restore();
}

QPair<int, int> AttentionMapView::compressedCellAt(const QPoint& pos) const {
    const Layout l = layoutFor(size());
    if (!showsCompressed() || !l.matrix.contains(pos)) return {-1, -1};
    const int n = m_compressed.cellCount;
    return {std::clamp(int((pos.y() - l.matrix.top()) / l.matrix.height() * n), 0, n - 1),
            std::clamp(int((pos.x() - l.matrix.left()) / l.matrix.width() * n), 0, n - 1)};
}

qint64 AttentionMapView::compressedCellPosition(int cell) const {
    const std::size_t i = std::size_t(qint64(cell) * m_compressed.cellSize);
    return i < m_compressed.keptPositions.size() ? m_compressed.keptPositions[i] : -1;
}

QString AttentionMapView::compressedToolTip(const QPoint& pos) const {
    const auto [r, c] = compressedCellAt(pos);
    if (r < 0) return {};
    const CompressedPattern& p = m_compressed;
    const int n = p.cellCount;
    auto range = [&](int cell) {
        const qint64 a = qint64(cell) * p.cellSize, b = std::min(p.length, a + p.cellSize) - 1;
        if (b < a) return QStringLiteral("none");
        QString text = QStringLiteral("%1–%2").arg(fmt::integer(a), fmt::integer(b));
        if (std::size_t(b) < p.keptPositions.size())
            text += QStringLiteral(" (positions %1–%2)")
                        .arg(fmt::integer(p.keptPositions[std::size_t(a)]),
                             fmt::integer(p.keptPositions[std::size_t(b)]));
        return text;
    };
    QString text = QStringLiteral("compressed queries %1\ncompressed keys %2\n").arg(range(r), range(c));
    if (c > r) return text + QStringLiteral("above the diagonal: masked (causal)");
    return text + (p.cells[std::size_t(r) * n + c] ? QStringLiteral("%1 computes pairs here").arg(p.label)
                                                   : QStringLiteral("skipped by %1").arg(p.label));
}

QString AttentionMapView::compressedCsv() const {
    const CompressedPattern& p = m_compressed;
    CsvWriter out;
    out.row({"layer_id", "head", "method", "query_cell", "key_cell", "query_begin", "query_end", "key_begin",
             "key_end", "computed"});
    const int n = p.cellCount;
    for (int r = 0; r < n; ++r)
        for (int c = 0; c <= r; ++c) {
            const qint64 q0 = qint64(r) * p.cellSize, k0 = qint64(c) * p.cellSize;
            out.row({QString::number(m_data.layerId), QString::number(m_data.head), p.label,
                     QString::number(r), QString::number(c), QString::number(q0),
                     QString::number(std::min(p.length, q0 + p.cellSize)), QString::number(k0),
                     QString::number(std::min(p.length, k0 + p.cellSize)),
                     QString::number(int(p.cells[std::size_t(r) * n + c]))});
        }
    return out.text();
}

void AttentionMapView::setMarkedPosition(qint64 position) {
    m_markedPosition = position;
    update();
}

void AttentionMapView::mouseMoveEvent(QMouseEvent* event) {
    if (showsCompressed()) {
        // A compressed cell hovers the original positions of its first query and key.
        const auto [r, c] = compressedCellAt(event->pos());
        if (r >= 0 && compressedCellPosition(r) >= 0 && compressedCellPosition(c) >= 0)
            emit blockHovered(compressedCellPosition(r), compressedCellPosition(c));
        return;
    }
    const auto [r, c] = blockAt(event->pos());
    if (r >= 0) emit blockHovered(blockBegin(r), blockBegin(c));
}

void AttentionMapView::mousePressEvent(QMouseEvent* event) {
    const auto [r, c] = blockAt(event->pos());
    if (r >= 0 && event->button() == Qt::LeftButton) emit blockClicked(blockBegin(r), blockBegin(c));
}

} // namespace tsa::views
