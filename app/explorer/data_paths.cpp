#include "app/explorer/data_paths.h"

#include "app/common/data_dirs.h"

#include <QFileInfo>

namespace tsa::app {

// The rule is app/common/data_dirs.h (no Qt, shared with the command line); these wrap it for the window.
QStringList dataDirectoryCandidates() {
    QStringList out;
    for (const std::string& dir : data::candidates())
        out << QString::fromStdString(dir);
    return out;
}

QString dataDirectory() {
    return QString::fromStdString(data::directory());
}

QString bundledSamplePath() {
    return QString::fromStdString(data::file("sample.safetensors"));
}

QString bundledEffectPath() {
    const QString dir = dataDirectory();
    const QString path = dir + QStringLiteral("/stories260k_effect.safetensors");
    return !dir.isEmpty() && QFileInfo(path).isFile() ? path : QString();
}

QString presetDirectory() {
    return QString::fromStdString(data::file("presets"));
}

QList<BundledExample> bundledExamples() {
    const QString dir = dataDirectory();
    if (dir.isEmpty()) return {};
    const QList<BundledExample> all = {
        {QObject::tr("Synthetic Sample (8 layers, 1,920 tokens)"),
         QObject::tr("A generated capture with known head roles and needles (sample_data/README.md)"),
         dir + QStringLiteral("/sample.safetensors")},
        {QObject::tr("stories260K (a real model, 512 tokens)"),
         QObject::tr("Q/K/V of Karpathy's tiny Llama stories260K on a story, every layer sparse, W 32"),
         dir + QStringLiteral("/stories260k.session.json")},
    };
    QList<BundledExample> present;
    for (const BundledExample& e : all)
        if (QFileInfo(e.path).isFile()) present << e;
    return present;
}

} // namespace tsa::app
