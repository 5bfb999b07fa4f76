#include "app/explorer/job_runner.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QMetaObject>
#include <QThread>
#include <QTimer>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>

#ifdef Q_OS_LINUX
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace tsa::app {

namespace {

// Background work gives way to the GUI thread: a slider drag must not queue behind a dense attention
// kernel on a two-core machine. nice 10 (inherited by the OpenMP team this thread starts)
// rather than SCHED_IDLE, which starves the work completely while anything else (a compiler) runs.
void lowerThreadPriority() {
#ifdef Q_OS_LINUX
    thread_local bool lowered = false;
    if (lowered) return;
    lowered = true;
    const int tid = int(::syscall(SYS_gettid));
    ::setpriority(PRIO_PROCESS, id_t(tid), std::max(::getpriority(PRIO_PROCESS, id_t(tid)), 10));
#endif
}

// Milliseconds on one clock for the job trace, 0 when tracing is off.
double traceNowMs() {
    if (!traceJobs()) return 0.0;
    static QElapsedTimer clock = [] {
        QElapsedTimer t;
        t.start();
        return t;
    }();
    return double(clock.nsecsElapsed()) / 1e6;
}

} // namespace

bool traceJobs() {
    static const bool on = [] {
        const char* v = std::getenv("TSA_TRACE_JOBS");
        return v && *v && *v != '0';
    }();
    return on;
}

JobRunner::JobRunner(QObject* parent) : QObject(parent) {
    m_pool.setMaxThreadCount(1);
    // Workers keep OpenMP's thread pool warm between jobs only if the thread lives on.
    m_pool.setExpiryTimeout(-1);
}

JobRunner::~JobRunner() {
    cancel();
    m_pool.waitForDone();
}

quint64 JobRunner::start(const QString& label, Work work) {
    if (busy()) return 0;
    m_apply = nullptr;
    return launch(label, [work = std::move(work)](const std::atomic<bool>& cancel) {
        return Outcome{work(cancel), {}};
    });
}

quint64 JobRunner::start(const QString& label, Compute compute, Apply apply) {
    if (busy()) return 0;
    m_apply = std::move(apply); // stays here: the worker sees compute only
    return launch(label, [compute = std::move(compute)](const std::atomic<bool>& cancel) {
        return Outcome{nullptr, compute(cancel)};
    });
}

quint64 JobRunner::launch(const QString& label, std::function<Outcome(const std::atomic<bool>&)> run) {
    const quint64 id = m_nextId++;
    m_runningId = id;
    m_label = label;
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    // The destructor waits for the worker, so `this` outlives the work; the queued closure is dropped by Qt
    // if the runner is gone by the time the event loop gets to it.
    JobRunner* self = this;
    auto cancelFlag = m_cancel;
    const double queuedAt = traceNowMs();
    const QByteArray traceLabel = traceJobs() ? label.toUtf8() : QByteArray();
    m_pool.start([self, id, cancelFlag, queuedAt, traceLabel, run = std::move(run)]() {
        lowerThreadPriority();
        const double startedAt = traceNowMs();
        auto outcome = std::make_shared<Outcome>();
        QString failure;
        try {
            *outcome = run(*cancelFlag);
        } catch (const std::bad_alloc&) {
            failure = tr("out of memory");
        } catch (const std::exception& e) {
            failure = QString::fromLocal8Bit(e.what());
        } catch (...) {
            failure = tr("unexpected error");
        }
        const double computedAt = traceNowMs();
        QMetaObject::invokeMethod(
            self,
            [self, id, cancelFlag, failure, outcome, queuedAt, startedAt, computedAt, traceLabel]() {
                const double deliveredAt = traceNowMs();
                const bool cancelled = cancelFlag->load();
                self->m_runningId = 0;
                self->m_label.clear();
                Apply apply = std::move(self->m_apply);
                self->m_apply = nullptr;
                // An exception must not take the window down; the owner hears of it and must not simply
                // retry the same job forever.
                if (!failure.isEmpty()) {
                    emit self->failed(id, failure);
                } else if (!cancelled) {
                    // Stale results are dropped here, on the GUI thread, so no half-applied state exists.
                    if (outcome->deliver) outcome->deliver();
                    if (apply && outcome->value.has_value()) apply(std::move(outcome->value));
                }
                if (traceJobs())
                    std::fprintf(stderr,
                                 "job %s: at %.1f ms, wait %.1f, compute %.1f, to GUI %.1f, apply %.1f%s\n",
                                 traceLabel.constData(), queuedAt, startedAt - queuedAt,
                                 computedAt - startedAt, deliveredAt - computedAt, traceNowMs() - deliveredAt,
                                 cancelled ? " (cancelled)" : "");
                emit self->finished(id, cancelled || !failure.isEmpty());
            },
            Qt::QueuedConnection);
    });
    return id;
}

void JobRunner::cancel() {
    if (m_cancel) m_cancel->store(true);
}

void JobRunner::waitForWorker() {
    m_pool.waitForDone();
}

void waitForEvents(int maxMs) {
    QTimer wake; // its timeout is the event that ends the wait when nothing else comes
    wake.setSingleShot(true);
    wake.start(maxMs);
    QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents);
}

} // namespace tsa::app
