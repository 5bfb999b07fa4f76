// RFC 4180 CSV text for ExportableView::csv(): comma separated, CRLF line ends, fields quoted when they
// hold a comma, quote or line break (token strings often do).
#pragma once

#include <QString>
#include <QStringList>

namespace tsa::views {

class CsvWriter {
public:
    void row(const QStringList& fields);
    const QString& text() const { return m_text; }
    static QString quote(const QString& field);

private:
    QString m_text;
};

} // namespace tsa::views
