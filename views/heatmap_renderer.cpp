#include "views/heatmap_renderer.h"

namespace tsa::views {

QImage HeatmapRenderer::render(const Request& request) {
    const int w = request.pixels.width();
    const int h = request.pixels.height();
    if (w <= 0 || h <= 0 || request.map == nullptr) return {};
    const std::vector<float> grid =
        aggregateGrid(request.data, request.stride, request.rowBegin, request.rowEnd, request.colBegin,
                      request.colEnd, h, w, request.mode);
    if (grid.empty()) return {};
    return colourise(grid, h, w, *request.map, request.scale, request.nanColour);
}

QImage HeatmapRenderer::colourise(const std::vector<float>& grid, int rows, int cols, const ColourMap& map,
                                  const AxisScale& scale, QRgb nanColour) {
    QImage image(cols, rows, QImage::Format_RGB32);
    for (int y = 0; y < rows; ++y) {
        auto* line = reinterpret_cast<QRgb*>(image.scanLine(y));
        const float* src = grid.data() + static_cast<std::size_t>(y) * cols;
        for (int x = 0; x < cols; ++x)
            line[x] = std::isnan(src[x]) ? nanColour : map.rgbAt(scale.unitClamped(src[x]));
    }
    return image;
}

} // namespace tsa::views
