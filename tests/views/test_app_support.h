// Small synthetic captures for the explorer's Qt tests, written with the project's generator into a
// temporary folder, and a helper that waits for a condition while the event loop runs.
#pragma once

#include "app/explorer/job_runner.h"
#include "core/synth/generator.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QString>
#include <QTemporaryDir>
#include <functional>

namespace tsa::test {

struct SmallCaptureShape {
    int layers = 4;
    Index qHeads = 4;
    Index kvHeads = 2;
    Index tokens = 2048;
    Index headDim = 32;
    std::uint64_t seed = 7;
};

// Returns the path of a new capture in dir, or an empty string (with the reason in *error).
inline QString writeSmallCapture(const QTemporaryDir& dir, const QString& name,
                                 const SmallCaptureShape& shape = {}, QString* error = nullptr) {
    GeneratorConfig config;
    config.layers = shape.layers;
    config.qHeads = shape.qHeads;
    config.kvHeads = shape.kvHeads;
    config.tokens = shape.tokens;
    config.headDim = shape.headDim;
    config.seed = shape.seed;
    const QString path = dir.filePath(name);
    SyntheticWriteOptions options;
    options.dtype = DType::F32;
    auto r = writeSyntheticCapture(config, path.toStdString(), options);
    if (!r.ok()) {
        if (error) *error = QString::fromStdString(r.error());
        return {};
    }
    return path;
}

inline bool waitFor(const std::function<bool()>& condition, int timeoutMs = 60000) {
    QElapsedTimer timer;
    timer.start();
    while (!condition()) {
        if (timer.elapsed() > timeoutMs) return false;
        app::waitForEvents(20); // sleeps until an event comes, leaving both cores to the jobs
    }
    return true;
}

} // namespace tsa::test
