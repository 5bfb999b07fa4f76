// The explorer's model: owns the open Capture and the parameters, and decides what to compute next. Three
// parts: the ResultStore (result_store.h: stamped results, generations, byte-bounded caches), the task
// kinds (analysis_tasks.h: functions that compute a value from inputs given by value) and, here, the
// scheduling and the application of each value to the store.
//   selection: cheap; the visible layer's is recomputed synchronously on the GUI thread, so a tau change
//              reaches the selection views at once
//   estimate:  error metrics from a sample of rows with intervals, the visible layer's first (no debounce)
//   metrics:   exact, from dropped-side partial sums moved incrementally to the new selection, after the
//              debounce; then the other layers, estimates before exact values
// Scheduling is "pull": after every change and every finished job the controller asks what the most
// urgent missing result is (nextTask) and runs it on the JobRunner; a running job that is no longer the
// most urgent one is cancelled through its flag and its result, if any, is dropped.
#pragma once

#include "app/explorer/explorer_params.h"
#include "app/explorer/job_runner.h"
#include "app/explorer/result_store.h"
#include "core/analysis/metrics.h"
#include "core/io/capture.h"
#include "core/io/effect.h"
#include "core/methods/tsa_selection.h"

#include <QObject>
#include <QString>
#include <QTimer>
#include <any>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

namespace tsa::app {

// Work another model schedules through the controller's runner (the Methods view's sweeps): offered when
// the visible layer's own results are done, before the other layers are refined, so one job runs at a
// time and the newest request still wins. key names the job: when the next job's key differs from the
// running one's, the running one is cancelled.
struct ExtraJob {
    quint64 key = 0;
    QString label;
    JobRunner::Work work;
};

class ExtraTaskSource {
public:
    virtual ~ExtraTaskSource() = default;
    virtual std::optional<ExtraJob> nextJob() = 0;
    virtual int pendingJobs() const = 0;
    virtual bool ready() const = 0; // everything the source shows is computed (NeedExtra)
};

class AnalysisController : public QObject {
    Q_OBJECT
public:
    struct Options {
        std::size_t captureCacheBytes = std::size_t(2) << 30; // fp32 layers held by the Capture
        std::size_t denseBudgetBytes = std::size_t(3) << 29;  // 1.5 GiB of dense outputs
        // Full-row partial sums that make exact metrics incremental (512 MiB per 32-head 32K layer).
        std::size_t sumsBudgetBytes = std::size_t(1) << 30;
        Index estimateRows = 256; // prefix rows per head in an estimate (plus the last W rows)
        double estimateConfidence = 0.95;
        // Checkpoints of the visible layer's sampled sums (DroppedSums::buildCheckpoints), bounded by
        // estimateCheckpointBytes: 16 cost about 100 MB at 32 heads x 384 rows x D 128, whatever L is.
        Index estimateCheckpoints = 16;
        std::size_t estimateCheckpointBytes = std::size_t(128) << 20;
        int metricsDelayMs = 150;     // quiet time after a parameter change before error metrics start
        bool backgroundLayers = true; // also refine the layers that are not visible
        // Compute error metrics (and the dense attention they need). A headless export of a view that does
        // not show them turns this off: at 128K tokens the dense reference alone takes many minutes.
        bool metrics = true;
        int threads = 0; // core threads, 0: OpenMP default
        Index attentionMapBlocks = 128;
        Index attentionMapRowsPerBlock = 16;
    };

    // What a consumer (a view, a screenshot) waits for; see isReady().
    enum Need {
        NeedSelection = 1,     // visible layer: scores and selection for the current parameters
        NeedMetrics = 2,       // visible layer: error metrics for the current parameters
        NeedAttentionMap = 4,  // visible layer and head
        NeedAllSelections = 8, // every layer's selection (overview, depth, sparsity)
        NeedAllMetrics = 16,   // every layer's metrics
        NeedEffect = 32,       // the effect file (the only need that does not ask for a capture)
        NeedExtra = 64,        // the extra task source's results (the Methods view)
        NeedEstimate = 128,    // visible layer: an estimate (or the exact metrics) for the current parameters
    };

    explicit AnalysisController(QObject* parent = nullptr);
    AnalysisController(const Options& options, QObject* parent = nullptr);
    ~AnalysisController() override;

    // --- the file
    // Opens in the background; fileOpened or fileOpenFailed follows. On failure the old data stays.
    void openFile(const QString& path);
    // The same, then applies params (a session, the command line) to the new file before anything is
    // computed, so no work is wasted on the old parameters.
    void openFileWith(const QString& path, const ExplorerParams& params);
    bool hasCapture() const { return m_capture != nullptr; }
    bool isOpening() const { return m_openingPath.size() > 0; }
    QString filePath() const { return m_path; }
    const CaptureInfo* info() const { return m_capture ? &m_capture->info() : nullptr; }
    std::shared_ptr<Capture> capture() const { return m_capture; }
    int layerCount() const;
    int headCount() const;
    Index tokenCount() const;
    int modelLayerId(int layer) const; // model layer number of a position in the file

    // --- the effect file (tools/tsa_eval.py), on its own or beside the capture; read in the background,
    // effectOpened or effectOpenFailed follows. On failure the old effect stays.
    void openEffect(const QString& path);
    void closeEffect(); // effectClosed follows; a read under way is dropped
    std::shared_ptr<const EffectData> effect() const { return m_effect; }
    QString effectPath() const { return m_effectPath; }
    bool isOpeningEffect() const { return !m_effectOpeningPath.isEmpty(); }
    // True when the open capture holds the effect file's selection case (same token count, same token
    // ids when both files have them), so the capture's selections can be compared with the effect's.
    bool effectMatchesCapture() const;

    // --- parameters
    const ExplorerParams& params() const { return m_params; }
    void setParams(const ExplorerParams& params);
    void setTau(double tau);
    void setWindow(Index window);
    void setPoolKernel(Index kernel);
    void setMinTokens(Index minTokens);
    void setPlan(const LayerPlanConfig& plan);
    void setLayer(int layer);
    void setHead(int head);

    // --- results; null while not computed yet
    std::shared_ptr<const LayerScores> scores(int layer) const;
    // The current parameters' selection; stale ones are not returned.
    std::shared_ptr<const Selection> selection(int layer) const;
    // Metrics, possibly of earlier parameters while the new ones are refined (current says which).
    std::shared_ptr<const LayerMetrics> metrics(int layer, bool* current = nullptr) const;
    bool hasCurrentEstimate(int layer) const { return m_store.hasCurrentEstimate(layer); }
    std::shared_ptr<const AttentionMap> attentionMap() const; // visible layer and head
    std::shared_ptr<const DenseResult> cachedDense(int layer) const { return m_store.dense(layer); }
    bool isSparseLayer(int layer) const;
    int firstSparseLayer() const;
    const std::vector<bool>& sparseLayers() const { return m_sparse; } // per position in the file
    QString planProblem() const { return m_planProblem; } // why the plan fell back or how it adapted
    std::size_t denseCacheBytes() const { return m_store.denseBytes(); }
    std::size_t sumsCacheBytes() const { return m_store.sumsBytes(); }
    void setSumsBudget(std::size_t bytes) { m_store.setSumsBudget(bytes); }
    // Bytes for the visible layer's estimate checkpoints (0: none); applies to sums built from now on.
    void setCheckpointsBudget(std::size_t bytes) {
        m_store.setSampleBudget(ResultStore::Budgets{}.sampleBytes + bytes);
        m_options.estimateCheckpointBytes = bytes;
    }

    bool isReady(int needs) const;
    bool isIdle() const { return !m_runner.busy() && !isOpening() && !m_metricsDelay.isActive(); }
    // Runs a local event loop until isReady(needs) and no job for it is pending, or timeoutMs passes.
    bool waitUntilReady(int needs, int timeoutMs);

    // At most one source; nullptr removes it. requestSchedule(): the source has new work.
    void setExtraTaskSource(ExtraTaskSource* source);
    void requestSchedule() { schedule(); }
    int threads() const { return m_options.threads; }

    // Overrides the debounce (the headless paths want metrics immediately).
    void setMetricsDelay(int ms) { m_options.metricsDelayMs = ms; }
    void setBackgroundLayers(bool on);
    void setMetricsEnabled(bool on);

signals:
    void fileOpening(const QString& path);
    void fileOpened(const QString& path);
    void fileOpenFailed(const QString& path, const QString& message);
    void paramsChanged();
    void selectionChanged(); // visible layer's scores or selection (selection, coverage, how-it-works)
    void layersChanged();    // some layer's scores or selection (overview, depth, sparsity)
    void metricsChanged(int layer);
    void attentionMapChanged();
    // total == 0: nothing running. message says what runs now.
    void progress(const QString& message, int done, int total);
    void warning(const QString& message);
    // A background job failed for a reason the user should see (a damaged layer in the file).
    void errorOccurred(const QString& message);
    void effectOpened(const QString& path);
    void effectOpenFailed(const QString& path, const QString& message);
    void effectClosed();

private:
    enum class TaskKind { None, Scores, AttentionMap, Dense, Estimate, Metrics, Selections, Extra };
    struct Task {
        TaskKind kind = TaskKind::None;
        int layer = -1;
        int head = -1;
        quint64 gen = 0;
        bool operator==(const Task&) const = default;
    };

    void startOpen(const QString& file, quint64 openId);
    void finishOpen(const QString& file, quint64 openId, Result<std::shared_ptr<Capture>> result);
    void resetResults();
    void recomputePlan();
    void selectionParamsChanged(); // tau, min tokens, plan: drop selections and metrics
    void scoreParamsChanged();     // W, k: drop scores too
    void refreshVisibleSelection();
    // Selection of a layer computed on this thread when its scores are present (or not needed).
    std::shared_ptr<const Selection> ensureSelection(int layer);
    bool needsScores(int layer) const;
    bool hasCurrentMetrics(int layer) const { return m_store.hasCurrentMetrics(layer); }
    Task nextTask();
    Task metricsTask(int layer, bool exact);
    int pendingTaskCount() const;
    void schedule();
    void startTask(const Task& task);
    void apply(const Task& task, quint64 scoreGen, std::any value);
    void onJobFinished(quint64 id, bool cancelled);
    void reportProgress();
    QString taskLabel(const Task& task) const;
    void fail(int layer, const QString& message);

    Options m_options;
    ExplorerParams m_params;
    std::shared_ptr<Capture> m_capture;
    QString m_path;
    QString m_openingPath;
    std::optional<ExplorerParams> m_paramsAfterOpen;
    quint64 m_openId = 0;

    std::vector<bool> m_sparse;
    QString m_planProblem;
    ResultStore m_store;

    void startEffect(const QString& path);
    std::shared_ptr<const EffectData> m_effect;
    QString m_effectPath;
    QString m_effectOpeningPath;
    JobRunner m_effectRunner; // effect files are small next to captures: their own runner, never queued

    JobRunner m_runner;
    JobRunner m_openRunner; // opening validates headers only, but must not wait behind a long kernel
    Task m_running;
    ExtraTaskSource* m_extra = nullptr;
    ExtraJob m_extraJob; // the job nextTask() last offered from m_extra
    QTimer m_metricsDelay;
    int m_progressDone = 0;
    int m_progressTotal = 0;
};

} // namespace tsa::app
