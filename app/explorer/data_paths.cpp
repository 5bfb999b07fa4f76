#include "app/explorer/data_paths.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>

#ifndef TSA_DATA_RELATIVE
#define TSA_DATA_RELATIVE "../share/tsa-explorer"
#endif

namespace tsa::app {

namespace {

// The executable's directory without needing a QCoreApplication (the command line has none for most
// commands): /proc/self/exe on Linux, else the application object's idea.
QString executableDirectory() {
    const QFileInfo self(QStringLiteral("/proc/self/exe"));
    const QString resolved = self.canonicalFilePath();
    if (!resolved.isEmpty()) return QFileInfo(resolved).absolutePath();
    if (QCoreApplication::instance()) return QCoreApplication::applicationDirPath();
    return {};
}

} // namespace

QStringList dataDirectoryCandidates() {
    QStringList out;
    const QString exeDir = executableDirectory();
    if (!exeDir.isEmpty()) out << QDir::cleanPath(exeDir + QStringLiteral("/" TSA_DATA_RELATIVE));
#ifdef TSA_SAMPLE_DIR
    out << QStringLiteral(TSA_SAMPLE_DIR);
#endif
    return out;
}

QString dataDirectory() {
    for (const QString& dir : dataDirectoryCandidates())
        if (QFileInfo(dir + QStringLiteral("/sample.safetensors")).isFile())
            return QFileInfo(dir).canonicalFilePath();
    return {};
}

QString bundledSamplePath() {
    const QString dir = dataDirectory();
    return dir.isEmpty() ? QString() : dir + QStringLiteral("/sample.safetensors");
}

QString presetDirectory() {
    const QString dir = dataDirectory();
    return dir.isEmpty() ? QString() : dir + QStringLiteral("/presets");
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
