#include "app/explorer/job_runner.h"

#include <QMetaObject>
#include <QThread>

namespace tsa::app {

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
    const quint64 id = m_nextId++;
    m_runningId = id;
    m_label = label;
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    // The destructor waits for the worker, so `this` outlives the work; the queued closure is dropped by Qt
    // if the runner is gone by the time the event loop gets to it.
    JobRunner* self = this;
    auto cancelFlag = m_cancel;
    m_pool.start([self, id, cancelFlag, work = std::move(work)]() {
        // Background work yields the CPU to the GUI thread: the OpenMP team this thread starts inherits
        // the idle scheduling class, so a slider drag is never queued behind a dense attention kernel.
        if (QThread::currentThread()->priority() != QThread::IdlePriority)
            QThread::currentThread()->setPriority(QThread::IdlePriority);
        std::function<void()> deliver;
        try {
            deliver = work(*cancelFlag);
        } catch (...) {
            // An exception must not take the whole window down; the owner sees a cancelled job.
            cancelFlag->store(true);
        }
        QMetaObject::invokeMethod(
            self,
            [self, id, cancelFlag, deliver = std::move(deliver)]() {
                const bool cancelled = cancelFlag->load();
                self->m_runningId = 0;
                self->m_label.clear();
                // Stale results are dropped here, on the GUI thread, so no half-applied state exists.
                if (!cancelled && deliver) deliver();
                emit self->finished(id, cancelled);
            },
            Qt::QueuedConnection);
    });
    return id;
}

void JobRunner::cancel() {
    if (m_cancel) m_cancel->store(true);
}

void JobRunner::waitForWorker() { m_pool.waitForDone(); }

} // namespace tsa::app
