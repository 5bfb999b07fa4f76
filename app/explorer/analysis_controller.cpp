#include "app/explorer/analysis_controller.h"

#include "app/explorer/analysis_tasks.h"
#include "core/methods/layer_plan.h"
#include "core/synth/generator_rng.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFileInfo>
#include <algorithm>
#include <cmath>

namespace tsa::app {

namespace {

bool samePlan(const LayerPlanConfig& a, const LayerPlanConfig& b) {
    return a.mode == b.mode && a.delta == b.delta && a.list == b.list;
}

QString fromStd(const std::string& s) {
    return QString::fromStdString(s);
}

} // namespace

AnalysisController::AnalysisController(QObject* parent) : AnalysisController(Options{}, parent) {}

AnalysisController::AnalysisController(const Options& options, QObject* parent)
    : QObject(parent), m_options(options), m_store([&] {
          ResultStore::Budgets b;
          b.denseBytes = options.denseBudgetBytes;
          b.sumsBytes = options.sumsBudgetBytes;
          // The visible layer's checkpoints live in its sampled sums: on top, so they evict no other layer's.
          b.sampleBytes += options.estimateCheckpointBytes;
          return b;
      }()) {
    m_metricsDelay.setSingleShot(true);
    connect(&m_metricsDelay, &QTimer::timeout, this, &AnalysisController::schedule);
    connect(&m_runner, &JobRunner::finished, this, &AnalysisController::onJobFinished);
    connect(&m_runner, &JobRunner::failed, this, [this](quint64, const QString& message) {
        const QString what = taskLabel(m_running);
        fail(m_running.layer,
             tr("%1 failed: %2").arg(what.isEmpty() ? tr("A background job") : what, message));
    });
}

AnalysisController::~AnalysisController() {
    m_runner.cancel();
    m_runner.waitForWorker();
    m_openRunner.waitForWorker();
    m_effectRunner.waitForWorker();
}

// ------------------------------------------------------------------------------------------------ effect

void AnalysisController::openEffect(const QString& path) {
    m_effectOpeningPath = path;
    emit progress(tr("Reading %1…").arg(QFileInfo(path).fileName()), 0, 0);
    // A request made while one is read starts when it completes (newest wins).
    if (!m_effectRunner.busy()) startEffect(path);
}

void AnalysisController::startEffect(const QString& path) {
    using Read = std::shared_ptr<Result<EffectData>>;
    m_effectRunner.start(
        tr("Reading effect file"),
        [path](const std::atomic<bool>&) {
            return std::any(std::make_shared<Result<EffectData>>(readEffect(path.toStdString())));
        },
        [this, path](std::any value) {
            const Read result = std::any_cast<Read>(std::move(value));
            if (path != m_effectOpeningPath) {
                if (m_effectOpeningPath.isEmpty())
                    reportProgress(); // closed meanwhile: nothing to read any more
                else
                    startEffect(m_effectOpeningPath);
                return;
            }
            m_effectOpeningPath.clear();
            reportProgress(); // back to whatever the capture's jobs report
            if (!result->ok()) {
                emit effectOpenFailed(path, fromStd(result->error()));
                return;
            }
            m_effect = std::make_shared<const EffectData>(std::move(result->value()));
            m_effectPath = path;
            for (const auto& w : result->warnings)
                emit warning(fromStd(w));
            emit effectOpened(path);
        });
}

void AnalysisController::closeEffect() {
    m_effectOpeningPath.clear(); // a read still running finds no request and is dropped
    m_effect.reset();
    m_effectPath.clear();
    reportProgress();
    emit effectClosed();
}

bool AnalysisController::effectMatchesCapture() const {
    if (!m_capture || !m_effect) return false;
    if (m_capture->info().tokens != m_effect->selectionLength) return false;
    const auto& ids = m_capture->tokenIds();
    return ids.empty() || m_effect->tokens.empty() || ids == m_effect->tokens;
}

// ------------------------------------------------------------------------------------------------ file

int AnalysisController::layerCount() const {
    return m_capture ? m_capture->info().layers : 0;
}
int AnalysisController::headCount() const {
    return m_capture ? int(m_capture->info().qHeads) : 0;
}
Index AnalysisController::tokenCount() const {
    return m_capture ? m_capture->info().tokens : 0;
}

int AnalysisController::modelLayerId(int layer) const {
    if (!m_capture || layer < 0 || layer >= layerCount()) return layer;
    return m_capture->info().layerIds[std::size_t(layer)];
}

void AnalysisController::openFileWith(const QString& path, const ExplorerParams& params) {
    openFile(path);
    QStringList adjusted;
    m_paramsAfterOpen = sanitised(params, &adjusted);
    if (!adjusted.isEmpty()) emit warning(adjusted.join(QLatin1Char(' ')));
}

void AnalysisController::openFile(const QString& path) {
    m_paramsAfterOpen.reset();
    m_openingPath = path;
    ++m_openId;
    emit fileOpening(path);
    emit progress(tr("Opening %1…").arg(QFileInfo(path).fileName()), 0, 0);
    // Opening reads headers only and is quick; a request made meanwhile starts when it completes.
    if (!m_openRunner.busy()) startOpen(path, m_openId);
}

void AnalysisController::startOpen(const QString& file, quint64 openId) {
    CaptureOptions options;
    options.cacheBytes = m_options.captureCacheBytes;
    using Opened = std::shared_ptr<Result<std::shared_ptr<Capture>>>;
    m_openRunner.start(
        tr("Opening"),
        [file, options](const std::atomic<bool>&) {
            return std::any(std::make_shared<Result<std::shared_ptr<Capture>>>(
                Capture::open(file.toStdString(), options)));
        },
        [this, file, openId](std::any value) {
            finishOpen(file, openId, std::move(*std::any_cast<Opened>(std::move(value))));
        });
}

void AnalysisController::finishOpen(const QString& file, quint64 openId,
                                    Result<std::shared_ptr<Capture>> result) {
    if (openId != m_openId) {
        startOpen(m_openingPath, m_openId); // a newer request came in while this one ran
        return;
    }
    m_openingPath.clear();
    std::optional<ExplorerParams> params;
    std::swap(params, m_paramsAfterOpen);
    if (!result.ok()) {
        emit fileOpenFailed(file, fromStd(result.error()));
        schedule();
        return;
    }
    m_capture = std::move(result.value());
    // The visible layer must stay converted whatever its size: every job of a 128K-token layer would read
    // and convert 3 GiB again otherwise.
    const CaptureInfo& ci = m_capture->info();
    const std::size_t layerBytes = std::size_t(ci.qHeads + 2 * ci.kvHeads) * std::size_t(ci.tokens) *
                                   std::size_t(ci.headDim) * sizeof(float);
    if (layerBytes > m_options.captureCacheBytes) m_capture->setCacheBytes(layerBytes + (layerBytes >> 4));
    m_path = file;
    resetResults();
    if (params) m_params = *params;
    recomputePlan();
    if (m_params.layer < 0 || m_params.layer >= layerCount()) m_params.layer = firstSparseLayer();
    m_params.head = std::clamp(m_params.head, 0, std::max(0, headCount() - 1));
    for (const auto& w : result.warnings)
        emit warning(fromStd(w));
    refreshVisibleSelection();
    emit fileOpened(file);
    emit paramsChanged();
    emit layersChanged();
    emit attentionMapChanged();
    schedule();
}

int AnalysisController::firstSparseLayer() const {
    // The layer with something to see; the first layer when the plan makes every layer dense.
    auto first = std::find(m_sparse.begin(), m_sparse.end(), true);
    return first == m_sparse.end() ? 0 : int(first - m_sparse.begin());
}

void AnalysisController::resetResults() {
    m_store.newCapture();
    m_runner.cancel();
    m_progressDone = 0;
    m_progressTotal = 0;
}

void AnalysisController::recomputePlan() {
    m_planProblem.clear();
    m_sparse.assign(std::size_t(layerCount()), false);
    if (!m_capture) return;
    // The shared plan (core/methods/layer_plan.h), with its rule for partial captures, as in `tsa run`.
    const CaptureInfo& info = m_capture->info();
    const std::vector<double> drift =
        m_params.plan.mode == SparseLayerMode::Drift ? m_capture->layerDrift() : std::vector<double>{};
    auto plan = planCaptureLayers(info.layerIds, info.modelLayers, m_params.plan, drift);
    if (!plan.ok()) {
        m_planProblem =
            tr("Sparse layers: %1; using the second half of the layers instead.").arg(fromStd(plan.error()));
        plan = planCaptureLayers(info.layerIds, info.modelLayers, LayerPlanConfig{});
        emit warning(m_planProblem);
    } else if (!plan->note.empty()) {
        m_planProblem = tr("Sparse layers: %1.").arg(fromStd(plan->note));
    }
    if (plan.ok()) m_sparse = plan->sparse;
}

// ------------------------------------------------------------------------------------------ parameters

void AnalysisController::setParams(const ExplorerParams& requested) {
    QStringList adjusted;
    const ExplorerParams p = sanitised(requested, &adjusted);
    if (!adjusted.isEmpty()) emit warning(adjusted.join(QLatin1Char(' ')));
    const ExplorerParams old = m_params;
    const bool scoresChange = p.tsa.window != old.tsa.window || p.tsa.poolKernel != old.tsa.poolKernel;
    const bool planChange = !samePlan(p.plan, old.plan);
    const bool selectionChange =
        scoresChange || planChange || p.tsa.tau != old.tsa.tau || p.tsa.minTokens != old.tsa.minTokens;
    m_params = p;
    if (m_capture) {
        if (m_params.layer < 0) m_params.layer = firstSparseLayer();
        m_params.layer = std::clamp(m_params.layer, 0, std::max(0, layerCount() - 1));
        m_params.head = std::clamp(m_params.head, 0, std::max(0, headCount() - 1));
    }
    if (planChange) recomputePlan();
    if (scoresChange)
        scoreParamsChanged();
    else if (selectionChange)
        selectionParamsChanged();
    else
        refreshVisibleSelection();
    emit paramsChanged();
    if (old.layer != m_params.layer || old.head != m_params.head) emit attentionMapChanged();
    schedule();
}

void AnalysisController::setTau(double tau) {
    ExplorerParams p = m_params;
    p.tsa.tau = tau;
    setParams(p);
}

void AnalysisController::setWindow(Index window) {
    ExplorerParams p = m_params;
    p.tsa.window = window;
    setParams(p);
}

void AnalysisController::setPoolKernel(Index kernel) {
    ExplorerParams p = m_params;
    p.tsa.poolKernel = kernel;
    setParams(p);
}

void AnalysisController::setMinTokens(Index minTokens) {
    ExplorerParams p = m_params;
    p.tsa.minTokens = minTokens;
    setParams(p);
}

void AnalysisController::setPlan(const LayerPlanConfig& plan) {
    ExplorerParams p = m_params;
    p.plan = plan;
    setParams(p);
}

void AnalysisController::setLayer(int layer) {
    ExplorerParams p = m_params;
    p.layer = layer;
    setParams(p);
}

void AnalysisController::setHead(int head) {
    ExplorerParams p = m_params;
    p.head = head;
    setParams(p);
}

void AnalysisController::setBackgroundLayers(bool on) {
    m_options.backgroundLayers = on;
    schedule();
}

void AnalysisController::setExtraTaskSource(ExtraTaskSource* source) {
    m_extra = source;
    if (!source && m_running.kind == TaskKind::Extra) m_runner.cancel();
    schedule();
}

void AnalysisController::setMetricsEnabled(bool on) {
    m_options.metrics = on;
    schedule();
}

void AnalysisController::scoreParamsChanged() {
    m_store.newScoreParams();
    selectionParamsChanged();
}

void AnalysisController::selectionParamsChanged() {
    m_store.newSelectionParams();
    // Old metrics stay visible (marked as not current) while the new ones are refined.
    if (m_options.metricsDelayMs > 0) m_metricsDelay.start(m_options.metricsDelayMs);
    refreshVisibleSelection();
    emit layersChanged();
}

// ------------------------------------------------------------------------------------------ results

std::shared_ptr<const LayerScores> AnalysisController::scores(int layer) const {
    return m_store.scores(layer);
}

std::shared_ptr<const Selection> AnalysisController::selection(int layer) const {
    return m_store.selection(layer);
}

std::shared_ptr<const LayerMetrics> AnalysisController::metrics(int layer, bool* current) const {
    return m_store.metrics(layer, current);
}

std::shared_ptr<const AttentionMap> AnalysisController::attentionMap() const {
    // A const read is not a use: it does not reorder the LRU (the job that computes a map puts it first).
    return m_store.map(m_params.layer, m_params.head);
}

bool AnalysisController::isSparseLayer(int layer) const {
    return layer >= 0 && std::size_t(layer) < m_sparse.size() && m_sparse[std::size_t(layer)];
}

bool AnalysisController::needsScores(int layer) const {
    if (!m_capture || m_store.isFailed(layer)) return false;
    // Scores of a layer outside the plan are still worth computing for the visible layer: its coverage
    // curve shows what tau would do there.
    return tokenCount() > m_params.tsa.window && (isSparseLayer(layer) || layer == m_params.layer);
}

std::shared_ptr<const Selection> AnalysisController::ensureSelection(int layer) {
    if (!m_capture || layer < 0 || layer >= layerCount()) return nullptr;
    if (auto s = selection(layer)) return s;
    const Index hq = headCount(), tokens = tokenCount();
    const TsaParams& p = m_params.tsa;
    std::shared_ptr<const Selection> sel;
    if (!isSparseLayer(layer)) {
        sel = std::make_shared<const Selection>(denseSelection(hq, tokens, p, DenseReason::NotSparseLayer));
    } else if (layerStaysDense(tokens, p)) {
        sel = std::make_shared<const Selection>(selectTokens(LayerScores{}, hq, tokens, p));
    } else if (auto sc = scores(layer)) {
        sel = std::make_shared<const Selection>(selectTokens(*sc, hq, tokens, p));
    } else {
        return nullptr;
    }
    m_store.putSelection(layer, sel);
    return sel;
}

void AnalysisController::refreshVisibleSelection() {
    if (!m_capture) return;
    ensureSelection(m_params.layer);
    emit selectionChanged();
}

bool AnalysisController::isReady(int needs) const {
    if ((needs & NeedEffect) && (!m_effect || isOpeningEffect())) return false;
    if ((needs & ~NeedEffect) == 0) return true; // an effect file alone needs no capture
    if (!m_capture || isOpening()) return false;
    const int v = m_params.layer;
    auto failed = [&](int l) { return m_store.isFailed(l); };
    if ((needs & NeedSelection) && !failed(v)) {
        if (!selection(v)) return false;
        if (needsScores(v) && !scores(v)) return false;
    }
    if ((needs & NeedMetrics) && !failed(v) && !hasCurrentMetrics(v)) return false;
    if ((needs & NeedEstimate) && !failed(v) && !hasCurrentEstimate(v)) return false;
    if ((needs & NeedAttentionMap) && !failed(v) && !m_store.hasMap(v, m_params.head)) return false;
    if ((needs & NeedExtra) && m_extra && !failed(v) && !m_extra->ready()) return false;
    for (int l = 0; l < layerCount(); ++l) {
        if (failed(l)) continue;
        if ((needs & NeedAllSelections) && !selection(l)) return false;
        if ((needs & NeedAllMetrics) && !hasCurrentMetrics(l)) return false;
    }
    return true;
}

bool AnalysisController::waitUntilReady(int needs, int timeoutMs) {
    // Exact metrics only refine after the debounce; a caller that waits for them wants them now (estimates
    // do not wait for it).
    if (m_metricsDelay.isActive() && (needs & (NeedMetrics | NeedAllMetrics))) {
        m_metricsDelay.stop();
        schedule();
    }
    QElapsedTimer timer;
    timer.start();
    while (!(isReady(needs) && !isOpening())) {
        if (timer.elapsed() > timeoutMs) return false;
        if (!m_capture && !isOpening() && (needs & ~NeedEffect)) return false;
        if ((needs & NeedEffect) && !m_effect && !isOpeningEffect()) return false;
        waitForEvents(50);
        QCoreApplication::sendPostedEvents();
    }
    return true;
}

// ------------------------------------------------------------------------------------------ scheduling

// Metrics for one layer need its selection and, for a sparse selection, the dense reference. exact: the
// exact metrics, else an estimate (nothing when either is current).
AnalysisController::Task AnalysisController::metricsTask(int l, bool exact) {
    if (m_store.isFailed(l) || hasCurrentMetrics(l) || (!exact && hasCurrentEstimate(l))) return {};
    auto sel = ensureSelection(l);
    if (!sel) return {};
    const quint64 gen = m_store.gen().selection;
    if (!sel->sparse) {
        m_store.putMetrics(l, gen, std::make_shared<const LayerMetrics>(denseLayerMetrics(*sel)));
        emit metricsChanged(l);
        return {};
    }
    // An estimate computes the dense reference of its sampled rows itself when the layer's is not cached.
    if (!exact) return {TaskKind::Estimate, l, -1, gen};
    if (!m_store.hasDense(l)) return {TaskKind::Dense, l, -1, m_store.gen().capture};
    return {TaskKind::Metrics, l, -1, gen};
}

AnalysisController::Task AnalysisController::nextTask() {
    if (!m_capture) return {};
    const int v = m_params.layer;
    // Estimates are cheap and wanted at once; exact metrics wait for the parameters to settle.
    const bool estimatesAllowed = m_options.metrics;
    const bool metricsAllowed = m_options.metrics && !m_metricsDelay.isActive();
    const quint64 scoreGen = m_store.gen().scores;
    m_store.touch(v); // the visible layer's cached results are in use: background layers evict first

    // Layers that are dense by the plan or by the parameters are described without work: at once, so a
    // tau change never leaves them without a current selection while the visible layer is busy.
    for (int l = 0; l < layerCount(); ++l)
        if (!m_store.isFailed(l) && !selection(l) &&
            (!isSparseLayer(l) || layerStaysDense(tokenCount(), m_params.tsa)))
            ensureSelection(l);
    if (needsScores(v) && !scores(v)) return {TaskKind::Scores, v, -1, scoreGen};
    if (!m_store.isFailed(v) && !m_store.hasMap(v, m_params.head))
        return {TaskKind::AttentionMap, v, m_params.head, m_store.gen().capture};
    if (estimatesAllowed)
        if (Task t = metricsTask(v, false); t.kind != TaskKind::None) return t;
    // The visible layer's exact metrics come next when its dense reference is cached (an incremental
    // update); a dense pass (a minute at 32 heads x 32K) waits until every layer has an estimate.
    const bool visibleExactFirst = m_store.hasDense(v) || !m_options.backgroundLayers;
    if (metricsAllowed && visibleExactFirst)
        if (Task t = metricsTask(v, true); t.kind != TaskKind::None) return t;
    if (m_extra && !m_metricsDelay.isActive() && !m_store.isFailed(v)) {
        if (std::optional<ExtraJob> job = m_extra->nextJob()) {
            m_extraJob = std::move(*job);
            return {TaskKind::Extra, v, -1, m_extraJob.key};
        }
    }
    if (!m_options.backgroundLayers) return {};
    // The other layers, nearest first, one at a time: its scores, then its estimate while the layer is
    // still in the capture's cache (scoring every layer first would read each layer from the file twice).
    for (int d = 1; d < layerCount(); ++d)
        for (int l : {v - d, v + d}) {
            if (l < 0 || l >= layerCount()) continue;
            if (needsScores(l) && !scores(l)) return {TaskKind::Scores, l, -1, scoreGen};
            if (estimatesAllowed)
                if (Task t = metricsTask(l, false); t.kind != TaskKind::None) return t;
        }
    // Without metrics, the remaining selections in one batch job.
    bool batch = false;
    for (int l = 0; l < layerCount(); ++l)
        if (!m_store.isFailed(l) && !selection(l) && isSparseLayer(l) && scores(l)) batch = true;
    if (batch) return {TaskKind::Selections, -1, -1, m_store.gen().selection};
    if (!metricsAllowed) return {};
    if (Task t = metricsTask(v, true); t.kind != TaskKind::None) return t;
    for (int d = 1; d < layerCount(); ++d)
        for (int l : {v - d, v + d})
            if (l >= 0 && l < layerCount())
                if (Task t = metricsTask(l, true); t.kind != TaskKind::None) return t;
    return {};
}

int AnalysisController::pendingTaskCount() const {
    if (!m_capture) return 0;
    int n = 0;
    const int v = m_params.layer;
    for (int l = 0; l < layerCount(); ++l) {
        if (m_store.isFailed(l) || (!m_options.backgroundLayers && l != v)) continue;
        if (needsScores(l) && !scores(l)) ++n;
        if (!isSparseLayer(l)) continue;
        if (!hasCurrentEstimate(l)) ++n;
        if (!m_store.hasDense(l) && !hasCurrentMetrics(l)) ++n;
        if (!hasCurrentMetrics(l)) ++n;
    }
    if (!m_store.hasMap(v, m_params.head)) ++n;
    if (m_extra) n += m_extra->pendingJobs();
    return n;
}

void AnalysisController::schedule() {
    const Task next = nextTask();
    if (m_runner.busy()) {
        // Newest request wins: whatever runs and is not the most urgent thing any more is cancelled;
        // onJobFinished() calls back here.
        if (!(m_running == next)) m_runner.cancel();
        reportProgress();
        return;
    }
    if (next.kind != TaskKind::None) startTask(next);
    reportProgress();
}

QString AnalysisController::taskLabel(const Task& task) const {
    const QString layer = tr("layer %1").arg(modelLayerId(task.layer));
    switch (task.kind) {
    case TaskKind::Scores:
        return tr("Scoring %1").arg(layer);
    case TaskKind::AttentionMap:
        return tr("Attention map of %1, head %2").arg(layer).arg(task.head);
    case TaskKind::Dense:
        return tr("Dense attention of %1").arg(layer);
    case TaskKind::Estimate:
        return tr("Estimating the error of %1").arg(layer);
    case TaskKind::Metrics:
        return tr("Error metrics of %1").arg(layer);
    case TaskKind::Selections:
        return tr("Selecting tokens in every layer");
    case TaskKind::Extra:
        return m_extraJob.label;
    case TaskKind::None:
        break;
    }
    return {};
}

void AnalysisController::reportProgress() {
    if (!m_runner.busy()) {
        m_progressDone = 0;
        m_progressTotal = 0;
        emit progress(m_metricsDelay.isActive() ? tr("Waiting for the parameters to settle…") : QString(), 0,
                      0);
        return;
    }
    m_progressTotal = std::max(m_progressTotal, m_progressDone + std::max(1, pendingTaskCount()));
    emit progress(m_runner.runningLabel() + QStringLiteral("…"), m_progressDone, m_progressTotal);
}

void AnalysisController::onJobFinished(quint64, bool) {
    m_running = {};
    ++m_progressDone;
    schedule();
}

void AnalysisController::fail(int layer, const QString& message) {
    m_store.markFailed(layer);
    emit errorOccurred(message);
}

void AnalysisController::startTask(const Task& task) {
    const LayerRef ref{m_capture, task.layer, tr("layer %1").arg(modelLayerId(task.layer))};
    const int threads = m_options.threads;
    JobRunner::Compute compute;
    switch (task.kind) {
    case TaskKind::Scores: {
        ScoringConfig config;
        config.window = m_params.tsa.window;
        config.poolKernel = m_params.tsa.poolKernel;
        config.threads = threads;
        compute = [ref, config](const std::atomic<bool>& cancel) {
            return std::any(computeScores(ref, config, cancel));
        };
        break;
    }
    case TaskKind::Dense:
        compute = [ref, threads](const std::atomic<bool>& cancel) {
            return std::any(computeDense(ref, threads, cancel));
        };
        break;
    case TaskKind::Estimate:
    case TaskKind::Metrics: {
        auto sel = selection(task.layer);
        auto dense = cachedDense(task.layer);
        const bool exact = task.kind == TaskKind::Metrics;
        if (!sel || (exact && !dense)) return; // nextTask guarantees them; stay safe if that ever changes
        auto sums = m_store.sumsForJob(task.layer, !exact);
        if (exact) {
            compute = [ref, sel, dense, sums, threads](const std::atomic<bool>& cancel) {
                return std::any(computeExactMetrics(ref, sel, dense, sums, threads, cancel));
            };
        } else {
            EstimateConfig config;
            config.sampleRows = m_options.estimateRows;
            config.confidence = m_options.estimateConfidence;
            config.seed = gen::mixKey(0x5EED, std::uint64_t(modelLayerId(task.layer)));
            if (task.layer == m_params.layer) { // where tau jumps are watched; other layers stay small
                config.checkpoints = m_options.estimateCheckpoints;
                config.checkpointBytes = m_options.estimateCheckpointBytes;
            }
            auto sc = scores(task.layer);
            compute = [ref, sel, dense, sc, sums, config, threads](const std::atomic<bool>& cancel) {
                return std::any(computeEstimate(ref, sel, dense, sc, sums, config, threads, cancel));
            };
        }
        break;
    }
    case TaskKind::AttentionMap: {
        AttentionMapConfig config;
        config.blocks = m_options.attentionMapBlocks;
        config.rowsPerBlock = m_options.attentionMapRowsPerBlock;
        config.threads = threads;
        compute = [ref, head = Index(task.head), dense = cachedDense(task.layer),
                   config](const std::atomic<bool>& cancel) {
            return std::any(computeAttentionMap(ref, head, dense, config, cancel));
        };
        break;
    }
    case TaskKind::Selections: {
        std::vector<std::pair<int, std::shared_ptr<const LayerScores>>> inputs;
        for (int layer = 0; layer < layerCount(); ++layer)
            if (!selection(layer) && isSparseLayer(layer))
                if (auto sc = scores(layer)) inputs.emplace_back(layer, sc);
        compute = [inputs, params = m_params.tsa, hq = Index(headCount()),
                   tokens = tokenCount()](const std::atomic<bool>& cancel) {
            return std::any(computeSelections(inputs, hq, tokens, params, cancel));
        };
        break;
    }
    case TaskKind::Extra:
        m_running = task;
        m_runner.start(taskLabel(task), std::move(m_extraJob.work));
        return;
    case TaskKind::None:
        return;
    }
    m_running = task;
    // apply stays on this thread: the worker sees compute only.
    m_runner.start(taskLabel(task), std::move(compute),
                   [this, task, scoreGen = m_store.gen().scores](std::any value) {
                       apply(task, scoreGen, std::move(value));
                   });
}

// Applies a task's value to the store, unless the parameters it was computed for are gone.
void AnalysisController::apply(const Task& task, quint64 scoreGen, std::any value) {
    TaskOutput out = std::any_cast<TaskOutput>(std::move(value));
    const int l = task.layer;
    if (!out.error.isEmpty()) {
        fail(l, out.error);
        return;
    }
    if (out.cancelled) return;
    switch (task.kind) {
    case TaskKind::Scores:
        if (!m_store.putScores(l, task.gen, out.scores)) return;
        if (l == m_params.layer)
            refreshVisibleSelection();
        else if (isSparseLayer(l))
            ensureSelection(l); // O(heads x P): the per-layer views have it at once
        emit layersChanged();
        break;
    case TaskKind::Dense:
        m_store.putDense(l, task.gen, out.dense);
        break;
    case TaskKind::Estimate:
    case TaskKind::Metrics:
        // The sums are good for the next tau whatever this one's fate (they record their selection).
        m_store.putSums(l, task.kind == TaskKind::Estimate, scoreGen, out.sums);
        if (m_store.putMetrics(l, task.gen, out.metrics)) emit metricsChanged(l);
        break;
    case TaskKind::AttentionMap:
        if (m_store.putMap(l, task.head, task.gen, out.map) && l == m_params.layer &&
            task.head == m_params.head)
            emit attentionMapChanged();
        break;
    case TaskKind::Selections:
        if (m_store.putSelections(task.gen, out.selections)) emit layersChanged();
        break;
    case TaskKind::Extra:
    case TaskKind::None:
        break;
    }
}

} // namespace tsa::app
