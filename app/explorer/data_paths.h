// Where the bundled data lives (samples, example sessions, generator presets), one rule for the window,
// the command line and the tests. An installed program looks next to its executable first
// (<bindir>/TSA_DATA_RELATIVE, i.e. ../share/tsa-explorer with GNUInstallDirs, so a relocated install
// works too); a development build falls back to the source tree's sample_data/ (TSA_SAMPLE_DIR).
#pragma once

#include <QList>
#include <QString>
#include <QStringList>

namespace tsa::app {

// The directories searched, installed location first.
QStringList dataDirectoryCandidates();
// The first candidate that holds the synthetic sample; empty when there is none.
QString dataDirectory();
// dataDirectory()/sample.safetensors, or empty.
QString bundledSamplePath();
// dataDirectory()/presets, or empty.
QString presetDirectory();

// File > Open Example: the bundled captures and sessions that exist in dataDirectory().
struct BundledExample {
    QString title;       // menu text
    QString description; // status tip
    QString path;        // a capture or a session file
};
QList<BundledExample> bundledExamples();

} // namespace tsa::app
