// Raw 256-entry ARGB32 tables behind ColourMap (generated from matplotlib, see colour_map_tables.cpp).
#pragma once

#include <cstdint>

namespace tsa::views::tables {

extern const std::uint32_t kViridis[256];
extern const std::uint32_t kMagma[256];
extern const std::uint32_t kInferno[256];
extern const std::uint32_t kCividis[256];
extern const std::uint32_t kGreys[256];
extern const std::uint32_t kRdbu[256];

} // namespace tsa::views::tables
