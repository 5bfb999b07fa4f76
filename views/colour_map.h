// Named 256-entry colour maps. Views look maps up by name so the controller and session files can
// store a plain string ("viridis", "magma", "inferno", "cividis", "greys", "rdbu").
#pragma once

#include <QColor>
#include <QString>
#include <QStringList>
#include <cstdint>

namespace tsa::views {

class ColourMap {
public:
    // Unknown names fall back to viridis, so a stale session file never leaves a view without colours.
    static const ColourMap& byName(const QString& name);
    static QStringList names();
    static bool exists(const QString& name);

    const QString& name() const { return m_name; }
    // t in [0, 1]; clamped. NaN maps to entry 0.
    QRgb rgbAt(double t) const;
    QRgb entry(int index) const { return m_table[index < 0 ? 0 : (index > 255 ? 255 : index)]; }
    QColor colourAt(double t) const { return QColor::fromRgb(rgbAt(t)); }
    const std::uint32_t* table() const { return m_table; }

    ColourMap(QString name, const std::uint32_t* table) : m_name(std::move(name)), m_table(table) {}

private:
    QString m_name;
    const std::uint32_t* m_table;
};

} // namespace tsa::views
