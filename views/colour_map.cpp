#include "views/colour_map.h"

#include "views/colour_map_tables.h"

#include <array>
#include <cmath>

namespace tsa::views {

namespace {

const std::array<ColourMap, 6>& allMaps() {
    static const std::array<ColourMap, 6> maps{
        ColourMap(QStringLiteral("viridis"), tables::kViridis),
        ColourMap(QStringLiteral("magma"), tables::kMagma),
        ColourMap(QStringLiteral("inferno"), tables::kInferno),
        ColourMap(QStringLiteral("cividis"), tables::kCividis),
        ColourMap(QStringLiteral("greys"), tables::kGreys),
        ColourMap(QStringLiteral("rdbu"), tables::kRdbu),
    };
    return maps;
}

} // namespace

const ColourMap& ColourMap::byName(const QString& name) {
    for (const ColourMap& map : allMaps())
        if (map.name().compare(name, Qt::CaseInsensitive) == 0) return map;
    return allMaps()[0];
}

QStringList ColourMap::names() {
    QStringList out;
    for (const ColourMap& map : allMaps())
        out << map.name();
    return out;
}

bool ColourMap::exists(const QString& name) {
    for (const ColourMap& map : allMaps())
        if (map.name().compare(name, Qt::CaseInsensitive) == 0) return true;
    return false;
}

QRgb ColourMap::rgbAt(double t) const {
    if (!(t > 0.0)) return m_table[0]; // also NaN
    if (t >= 1.0) return m_table[255];
    return m_table[static_cast<int>(t * 255.0 + 0.5)];
}

} // namespace tsa::views
