// The explorer's views by name: the one table that --view (tsa-explorer and `tsa export`), session files and
// the window's tabs read, in tab order.
#pragma once

#include <QString>
#include <QStringList>

namespace tsa::app {

// The names --view accepts ("overview", "selection", ...), in tab order.
QStringList explorerViewNames();

// The short tab label of a view ("Selection map"), translated; fallback for a name the table lacks.
QString viewTabLabel(const QString& name, const QString& fallback);

} // namespace tsa::app
