// Matrix -> QImage with level of detail: the "draw buffer" every heatmap view keeps and reuses until its
// data, visible range or pixel size changes. The image has exactly one pixel per device pixel of the
// target, so on-screen painting is a plain blit and exports stay crisp (no smoothing when scaled up).
//
// LOD rule: output pixel i of n covers source cells [floor(i*count/n), floor((i+1)*count/n)) of the visible
// range, at least one cell. When there are more cells than pixels the cells of a bin are aggregated with
// the caller's Aggregate (views use Max for kept flags and scores, so a single kept token or a single
// attention sink stays visible at 128K tokens; Mean where a fraction is wanted). When there are fewer
// cells than pixels each cell is repeated (nearest neighbour). NaN cells are ignored; an all-NaN bin is NaN.
#pragma once

#include "views/axis_scale.h"
#include "views/colour_map.h"

#include <QImage>
#include <QSize>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace tsa::views {

enum class Aggregate { Max, Mean, Min, Sum };

struct BinRange {
    qint64 begin = 0;
    qint64 end = 0;
};

// Source cells covered by output cell i when `count` cells starting at `first` map onto n outputs.
inline BinRange binRange(qint64 first, qint64 count, qint64 n, qint64 i) {
    if (n <= 0 || count <= 0) return {first, first};
    qint64 b = i * count / n;
    qint64 e = (i + 1) * count / n;
    if (e <= b) e = b + 1;
    if (b >= count) b = count - 1;
    if (e > count) e = count;
    return {first + b, first + e};
}

// Aggregates rows [r0, r1) x cols [c0, c1) of a row-major matrix (row stride `stride` elements) into an
// outRows x outCols grid, columns first (contiguous reads), then rows.
template <typename T>
std::vector<float> aggregateGrid(const T* data, qint64 stride, qint64 r0, qint64 r1, qint64 c0, qint64 c1,
                                 int outRows, int outCols, Aggregate mode) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const qint64 rows = r1 - r0;
    const qint64 cols = c1 - c0;
    if (rows <= 0 || cols <= 0 || outRows <= 0 || outCols <= 0 || data == nullptr) return {};

    auto combine = [mode](double acc, double v) {
        switch (mode) {
        case Aggregate::Max:
            return v > acc ? v : acc;
        case Aggregate::Min:
            return v < acc ? v : acc;
        case Aggregate::Mean:
        case Aggregate::Sum:
            return acc + v;
        }
        return acc;
    };
    auto initial = [mode]() {
        switch (mode) {
        case Aggregate::Max:
            return -std::numeric_limits<double>::infinity();
        case Aggregate::Min:
            return std::numeric_limits<double>::infinity();
        default:
            return 0.0;
        }
    };

    std::vector<float> byCol(static_cast<std::size_t>(rows) * outCols);
    for (qint64 r = 0; r < rows; ++r) {
        const T* row = data + (r0 + r) * stride;
        for (int x = 0; x < outCols; ++x) {
            const BinRange bin = binRange(c0, cols, outCols, x);
            double acc = initial();
            qint64 n = 0;
            for (qint64 c = bin.begin; c < bin.end; ++c) {
                const double v = static_cast<double>(row[c]);
                if (std::isnan(v)) continue;
                acc = combine(acc, v);
                ++n;
            }
            float out = nan;
            if (n > 0) out = static_cast<float>(mode == Aggregate::Mean ? acc / double(n) : acc);
            byCol[static_cast<std::size_t>(r) * outCols + x] = out;
        }
    }
    if (rows == outRows) return byCol;

    std::vector<float> grid(static_cast<std::size_t>(outRows) * outCols);
    for (int y = 0; y < outRows; ++y) {
        const BinRange bin = binRange(0, rows, outRows, y);
        for (int x = 0; x < outCols; ++x) {
            double acc = initial();
            qint64 n = 0;
            for (qint64 r = bin.begin; r < bin.end; ++r) {
                const double v = byCol[static_cast<std::size_t>(r) * outCols + x];
                if (std::isnan(v)) continue;
                acc = combine(acc, v);
                ++n;
            }
            float out = nan;
            if (n > 0) out = static_cast<float>(mode == Aggregate::Mean ? acc / double(n) : acc);
            grid[static_cast<std::size_t>(y) * outCols + x] = out;
        }
    }
    return grid;
}

class HeatmapRenderer {
public:
    struct Request {
        const float* data = nullptr;
        qint64 stride = 0;               // elements between rows
        qint64 rowBegin = 0, rowEnd = 0; // visible rows
        qint64 colBegin = 0, colEnd = 0; // visible columns
        QSize pixels;                    // device pixels of the target rectangle
        Aggregate mode = Aggregate::Max;
        const ColourMap* map = nullptr;
        AxisScale scale;
        QRgb nanColour = 0xffdedede;
    };

    // Aggregates and colours one draw buffer of exactly request.pixels.
    static QImage render(const Request& request);
    // Colours an aggregated grid (rows x cols) through a colour map and value scale.
    static QImage colourise(const std::vector<float>& grid, int rows, int cols, const ColourMap& map,
                            const AxisScale& scale, QRgb nanColour);
};

} // namespace tsa::views
