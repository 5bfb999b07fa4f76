#include "app/explorer/view_names.h"

#include <QCoreApplication>
#include <iterator>

namespace tsa::app {

namespace {

struct ViewName {
    const char* name;
    const char* label; // tab label; the views' own titles (which name layer and head) go into the tooltip
};

constexpr ViewName kViews[] = {
    {"overview", QT_TRANSLATE_NOOP("MainWindow", "Overview")},
    {"selection", QT_TRANSLATE_NOOP("MainWindow", "Selection map")},
    {"coverage", QT_TRANSLATE_NOOP("MainWindow", "Coverage")},
    {"attention", QT_TRANSLATE_NOOP("MainWindow", "Attention map")},
    {"error", QT_TRANSLATE_NOOP("MainWindow", "Error")},
    {"depth", QT_TRANSLATE_NOOP("MainWindow", "Depth")},
    {"sparsity", QT_TRANSLATE_NOOP("MainWindow", "Sparsity")},
    {"howitworks", QT_TRANSLATE_NOOP("MainWindow", "How it works")},
    {"effect", QT_TRANSLATE_NOOP("MainWindow", "Effect")},
    {"text", QT_TRANSLATE_NOOP("MainWindow", "Text")},
    {"methods", nullptr}, // the views' own titles serve as labels
    {"method-heads", nullptr},
};

} // namespace

QStringList explorerViewNames() {
    QStringList names;
    for (const ViewName& v : kViews)
        names << QString::fromLatin1(v.name);
    return names;
}

QString viewTabLabel(const QString& name, const QString& fallback) {
    for (const ViewName& v : kViews)
        if (name == QLatin1String(v.name))
            return v.label ? QCoreApplication::translate("MainWindow", v.label) : fallback;
    return fallback;
}

} // namespace tsa::app
