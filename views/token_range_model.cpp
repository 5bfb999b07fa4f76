#include "views/token_range_model.h"

#include <algorithm>

namespace tsa::views {

TokenRangeModel::TokenRangeModel(QObject* parent) : QObject(parent) {}

void TokenRangeModel::setTotal(qint64 total) {
    total = std::max<qint64>(0, total);
    if (total == m_total) return;
    m_total = total;
    const TokenRange all{0, m_total};
    if (all == m_range) return;
    m_range = all;
    emit rangeChanged(m_range.begin, m_range.end);
}

bool TokenRangeModel::setRange(TokenRange range) {
    const TokenRange next = range.clamped(m_total, kMinVisibleTokens);
    if (next == m_range) return false;
    m_range = next;
    emit rangeChanged(m_range.begin, m_range.end);
    return true;
}

bool TokenRangeModel::zoom(double factor, double anchor) {
    if (m_total <= 0) return false;
    return setRange(m_range.zoomed(factor, std::clamp(anchor, 0.0, 1.0), m_total, kMinVisibleTokens));
}

} // namespace tsa::views
