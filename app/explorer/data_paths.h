// Where the bundled data lives, for the window: QString forms of the rule in app/common/data_dirs.h (which
// the command line uses without Qt), plus File > Open Example's list.
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
// dataDirectory()/stories260k_effect.safetensors (the real model's effect file), or empty.
QString bundledEffectPath();
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
