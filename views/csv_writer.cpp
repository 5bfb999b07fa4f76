#include "views/csv_writer.h"

namespace tsa::views {

QString CsvWriter::quote(const QString& field) {
    const bool needs = field.contains(QLatin1Char(',')) || field.contains(QLatin1Char('"')) ||
                       field.contains(QLatin1Char('\n')) || field.contains(QLatin1Char('\r'));
    if (!needs) return field;
    QString escaped = field;
    escaped.replace(QLatin1String("\""), QLatin1String("\"\""));
    return QLatin1Char('"') + escaped + QLatin1Char('"');
}

void CsvWriter::row(const QStringList& fields) {
    for (int i = 0; i < fields.size(); ++i) {
        if (i > 0) m_text += QLatin1Char(',');
        m_text += quote(fields[i]);
    }
    m_text += QLatin1String("\r\n");
}

} // namespace tsa::views
