// Attention map of one head: the causal attention matrix, block-aggregated by the controller (B x B block
// sums of p_ij), shown as the share of a query row's attention that goes to each key block (log colour).
// Strips along the axes show the kept share of each query block (left) and key block (top); a white veil
// over the matrix marks what Token Sparse Attention skips (rows or columns of dropped tokens).
#pragma once

#include "views/axis_scale.h"
#include "views/plot_view.h"
#include "views/view_data.h"

#include <QImage>

namespace tsa::views {

class AttentionMapView : public PlotView {
    Q_OBJECT
public:
    explicit AttentionMapView(QWidget* parent = nullptr);

    void setData(AttentionBlocks data);
    const AttentionBlocks& data() const { return m_data; }
    void setColourMap(const QString& name);
    // The white veil over blocks whose rows/columns were dropped (default on).
    void setShowDroppedOverlay(bool show);
    bool showDroppedOverlay() const { return m_overlay; }

    QString viewName() const override { return QStringLiteral("attention"); }
    QString viewTitle() const override;
    void render(QPainter& painter, const QSize& size) const override;
    // One row per causal block (key block <= query block).
    QString csv() const override;
    QString toolTipAt(const QPoint& pos) const override;

    // (query block, key block) under pos, or (-1, -1).
    QPair<int, int> blockAt(const QPoint& pos) const;

    // A sparse-attention method's pattern on this head (issue 11): per (query block, key block) of the
    // map, 1 where the method computes at least one pair. Empty: no pattern drawn. Blocks the method
    // skips are darkened; label names the method in the legend.
    void setPatternOverlay(std::vector<std::uint8_t> computed, const QString& label);
    const std::vector<std::uint8_t>& patternOverlay() const { return m_pattern; }

    // The chosen method's pattern in compressed coordinates: for a composed method, its block mask over the
    // head's kept tokens (compressed index 0 .. length-1, cells of cellSize: 1 where it computes a pair).
    // While set, the view draws this picture instead of the map (whose mass is over original positions);
    // keptPositions maps a compressed index back to its position for tooltips and CSV. Setting an empty
    // one returns to the map.
    struct CompressedPattern {
        std::vector<std::uint8_t> cells; // [cellCount x cellCount]
        int cellCount = 0;
        qint64 length = 0;
        qint64 cellSize = 0;
        std::vector<std::int32_t> keptPositions; // [length], ascending
        QString label;
        bool operator==(const CompressedPattern&) const = default;
    };
    void setCompressedPattern(CompressedPattern pattern);
    const CompressedPattern& compressedPattern() const { return m_compressed; }

    // The explorer's selected token position: marked as a query row and a key column; -1 for none.
    void setMarkedPosition(qint64 position);
    qint64 markedPosition() const { return m_markedPosition; }

signals:
    void blockHovered(qint64 queryPosition, qint64 keyPosition);
    void blockClicked(qint64 queryPosition, qint64 keyPosition);

protected:
    void mouseMoveEvent(QMouseEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;

private:
    struct Layout {
        QRectF title, legend, matrix, rowStrip, colStrip, bar;
    };
    Layout layoutFor(const QSize& size) const;
    QImage drawBuffer(const QSize& pixels) const;
    qint64 blockBegin(int b) const { return qint64(b) * m_data.blockSize; }
    qint64 blockEnd(int b) const { return std::min(m_data.tokens, qint64(b + 1) * m_data.blockSize); }
    // Rows averaged in a row block: the data's count, else every row of the block.
    qint64 sampledRows(int b) const {
        return std::size_t(b) < m_data.sampledRows.size() ? m_data.sampledRows[std::size_t(b)]
                                                          : blockEnd(b) - blockBegin(b);
    }
    bool valid() const;
    bool showsCompressed() const;
    void renderCompressed(QPainter& painter, const QSize& size) const;
    QPair<int, int> compressedCellAt(const QPoint& pos) const; // (query cell, key cell) or (-1, -1)
    qint64 compressedCellPosition(int cell) const;             // original position of its first token
    QString compressedToolTip(const QPoint& pos) const;
    QString compressedCsv() const;

    AttentionBlocks m_data;
    std::vector<float> m_share;     // [B x B] the data's share, NaN above the diagonal (masked when drawn)
    std::vector<float> m_keptShare; // [B] kept share of each block's tokens
    AxisScale m_scale;
    QString m_colourMap = QStringLiteral("magma");
    bool m_overlay = true;
    qint64 m_markedPosition = -1;
    std::vector<std::uint8_t> m_pattern;
    QString m_patternLabel;
    CompressedPattern m_compressed;

    mutable QImage m_buffer;
    mutable quint64 m_bufferVersion = 0;
    quint64 m_version = 1;
};

} // namespace tsa::views
