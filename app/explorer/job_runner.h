// Runs heavy work off the GUI thread, one job at a time, newest request wins (the pattern of KDAB Hotspot's
// JobTracker): every job gets an id and its own cancel flag, which core checks between tiles; the job's
// result comes back as a closure run on the owner's thread, and only if nobody cancelled the job in the
// meantime. One job at a time because the core kernels already use every core through OpenMP; running two
// would only make both slower and the newest one later.
#pragma once

#include <QObject>
#include <QString>
#include <QThreadPool>
#include <any>
#include <atomic>
#include <functional>
#include <memory>

namespace tsa::app {

class JobRunner : public QObject {
    Q_OBJECT
public:
    // Runs on the worker; returns what to do with the result on the GUI thread (may be empty).
    using Work = std::function<std::function<void()>(const std::atomic<bool>& cancel)>;

    explicit JobRunner(QObject* parent = nullptr);
    ~JobRunner() override; // cancels the running job and waits for it

    // Computing a value is separate from applying it: compute runs on the worker with only what it was
    // given (no owner state), apply runs on the owner's thread with the value, unless the job was
    // cancelled meanwhile.
    using Compute = std::function<std::any(const std::atomic<bool>& cancel)>;
    using Apply = std::function<void(std::any value)>;

    // Starts work now if idle; otherwise the caller should cancel() and retry on finished().
    // Returns the job id, 0 when busy.
    quint64 start(const QString& label, Work work);
    quint64 start(const QString& label, Compute compute, Apply apply);
    void cancel();
    bool busy() const { return m_runningId != 0; }
    quint64 runningId() const { return m_runningId; }
    QString runningLabel() const { return m_label; }
    // Blocks until the worker is idle; the job's closure is then still queued (tests, shutdown).
    void waitForWorker();

signals:
    // Emitted on the owner's thread after the job's closure ran (or was dropped because it was cancelled).
    void finished(quint64 id, bool cancelled);
    // The job threw (out of memory on a huge layer, say); emitted before finished().
    void failed(quint64 id, const QString& message);

private:
    QThreadPool m_pool;
    quint64 m_nextId = 1;
    quint64 m_runningId = 0;
    QString m_label;
    struct Outcome {
        std::function<void()> deliver; // a Work job's closure
        std::any value;                // a Compute job's value
    };
    quint64 launch(const QString& label, std::function<Outcome(const std::atomic<bool>&)> run);

    std::shared_ptr<std::atomic<bool>> m_cancel;
    Apply m_apply; // of the running job started with compute/apply; stays on the owner's thread
};

// TSA_TRACE_JOBS set (and not "0"): every job prints one stderr line (queue wait, compute, hand-over to the
// GUI, apply, in ms), and the benchmarks add their own timings, to see where the time between a parameter
// change and a drawn result goes.
bool traceJobs();

// Waits until an event arrives or maxMs pass, then processes the pending events: the loop body of every
// "wait until a job is done" on the GUI thread. Not QCoreApplication::processEvents(flags, maxTime), which
// drops WaitForMoreEvents and polls: it kept one of two cores busy while the jobs it waited for ran.
void waitForEvents(int maxMs);

} // namespace tsa::app
