#include "views/number_format.h"

#include <QLocale>
#include <cmath>

namespace tsa::views::fmt {

QString value(double v, int digits) {
    if (std::isnan(v)) return QStringLiteral("n/a");
    if (std::isinf(v)) return v > 0 ? QStringLiteral("inf") : QStringLiteral("-inf");
    if (v == 0.0) return QStringLiteral("0");
    // 'g' writes 0.00034 (as the tau field does) and switches to 1.2e-07 only below 1e-4, without padding
    // zeros, so a value reads the same in a field, a title and a tooltip.
    if (std::fabs(v) < 1e6) return QString::number(v, 'g', digits);
    return QString::number(v, 'e', digits - 1);
}

QString csvValue(double v) {
    if (std::isnan(v)) return QString();
    return QString::number(v, 'g', 9);
}

QString integer(qint64 n) {
    // The C locale has no group separator; format groups by hand so output does not depend on the user's
    // locale.
    const bool negative = n < 0;
    QString digits = QString::number(negative ? -n : n);
    for (int i = digits.size() - 3; i > 0; i -= 3)
        digits.insert(i, QLatin1Char(','));
    return negative ? QLatin1Char('-') + digits : digits;
}

QString tokenTick(double v) {
    const double a = std::fabs(v);
    if (a >= 1e6) return QString::number(v / 1e6, 'g', 4) + QLatin1Char('M');
    // Round thousands read as k from 1000 on, so one axis does not say "8000" beside "10k"; other values
    // below 10k keep their digits (2048 is a number people recognise).
    if (a >= 1e4 || (a >= 1e3 && std::fmod(a, 100.0) == 0.0))
        return QString::number(v / 1e3, 'g', 4) + QLatin1Char('k');
    return QString::number(static_cast<qint64>(std::llround(v)));
}

QString percent(double fraction, int decimals) {
    if (std::isnan(fraction)) return QStringLiteral("n/a");
    return QString::number(fraction * 100.0, 'f', decimals) + QLatin1Char('%');
}

QString linearTick(double v, double step) {
    if (std::fabs(v) < step * 1e-9) v = 0.0;
    const double a = std::fabs(v);
    if (a != 0.0 && (a < 1e-4 || a >= 1e7)) return QString::number(v, 'g', 3);
    int decimals = 0;
    if (step > 0 && step < 1) decimals = std::min(8, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
    return QString::number(v, 'f', decimals);
}

QString logTick(double v) {
    if (v <= 0) return QStringLiteral("0");
    const double e = std::log10(v);
    if (e >= -3 && e <= 4) return QString::number(v, 'g', 6);
    const double mantissa = v / std::pow(10.0, std::floor(e + 1e-9));
    if (std::fabs(mantissa - 1.0) < 1e-6)
        return QStringLiteral("1e%1").arg(static_cast<int>(std::floor(e + 1e-9)));
    return QString::number(v, 'g', 2);
}

} // namespace tsa::views::fmt
