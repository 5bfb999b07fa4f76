#include "app/explorer/analysis_controller.h"

#include "core/kernels/attention.h"
#include "core/methods/layer_plan.h"
#include "core/methods/tsa_pipeline.h"

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
    : QObject(parent), m_options(options), m_dense(options.denseBudgetBytes) {
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
    m_effectRunner.start(tr("Reading effect file"), [this, path](const std::atomic<bool>&) {
        auto result = std::make_shared<Result<EffectData>>(readEffect(path.toStdString()));
        return std::function<void()>([this, path, result] {
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
    m_openRunner.start(tr("Opening"), [this, file, openId, options](const std::atomic<bool>&) {
        auto result =
            std::make_shared<Result<std::shared_ptr<Capture>>>(Capture::open(file.toStdString(), options));
        return std::function<void()>(
            [this, file, openId, result] { finishOpen(file, openId, std::move(*result)); });
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
    ++m_captureGen;
    ++m_scoreGen;
    ++m_selectionGen;
    m_runner.cancel();
    m_scores.clear();
    m_selections.clear();
    m_metrics.clear();
    m_dense.clear();
    m_maps.clear();
    m_failedLayers.clear();
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
    ++m_scoreGen;
    m_scores.clear();
    selectionParamsChanged();
}

void AnalysisController::selectionParamsChanged() {
    ++m_selectionGen;
    // Old metrics stay visible (marked as not current) while the new ones are refined.
    if (m_options.metricsDelayMs > 0) m_metricsDelay.start(m_options.metricsDelayMs);
    refreshVisibleSelection();
    emit layersChanged();
}

// ------------------------------------------------------------------------------------------ results

std::shared_ptr<const LayerScores> AnalysisController::scores(int layer) const {
    auto it = m_scores.find(layer);
    return it != m_scores.end() && it->second.gen == m_scoreGen ? it->second.value : nullptr;
}

std::shared_ptr<const Selection> AnalysisController::selection(int layer) const {
    auto it = m_selections.find(layer);
    return it != m_selections.end() && it->second.gen == m_selectionGen ? it->second.value : nullptr;
}

std::shared_ptr<const LayerMetrics> AnalysisController::metrics(int layer, bool* current) const {
    auto it = m_metrics.find(layer);
    if (it == m_metrics.end()) {
        if (current) *current = false;
        return nullptr;
    }
    if (current) *current = it->second.gen == m_selectionGen;
    return it->second.value;
}

std::shared_ptr<const AttentionMap> AnalysisController::attentionMap() const {
    // const access must not reorder the LRU; contains + a mutable get keeps the API const-correct.
    auto& maps = const_cast<LruCache<std::pair<int, int>, AttentionMap>&>(m_maps);
    return maps.get({m_params.layer, m_params.head});
}

std::shared_ptr<const DenseResult> AnalysisController::cachedDense(int layer) const {
    auto& dense = const_cast<LruCache<int, DenseResult>&>(m_dense);
    return dense.get(layer);
}

bool AnalysisController::isSparseLayer(int layer) const {
    return layer >= 0 && std::size_t(layer) < m_sparse.size() && m_sparse[std::size_t(layer)];
}

bool AnalysisController::needsScores(int layer) const {
    if (!m_capture || m_failedLayers.count(layer)) return false;
    // Scores of a layer outside the plan are still worth computing for the visible layer: its coverage
    // curve shows what tau would do there.
    return tokenCount() > m_params.tsa.window && (isSparseLayer(layer) || layer == m_params.layer);
}

bool AnalysisController::hasCurrentMetrics(int layer) const {
    auto it = m_metrics.find(layer);
    return it != m_metrics.end() && it->second.gen == m_selectionGen;
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
    m_selections[layer] = {sel, m_selectionGen};
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
    auto failed = [&](int l) { return m_failedLayers.count(l) != 0; };
    if ((needs & NeedSelection) && !failed(v)) {
        if (!selection(v)) return false;
        if (needsScores(v) && !scores(v)) return false;
    }
    if ((needs & NeedMetrics) && !failed(v) && !hasCurrentMetrics(v)) return false;
    if ((needs & NeedAttentionMap) && !failed(v) && !m_maps.contains({v, m_params.head})) return false;
    if ((needs & NeedExtra) && m_extra && !failed(v) && !m_extra->ready()) return false;
    for (int l = 0; l < layerCount(); ++l) {
        if (failed(l)) continue;
        if ((needs & NeedAllSelections) && !selection(l)) return false;
        if ((needs & NeedAllMetrics) && !hasCurrentMetrics(l)) return false;
    }
    return true;
}

bool AnalysisController::waitUntilReady(int needs, int timeoutMs) {
    // Metrics only refine after the debounce; a caller that waits for them wants them now.
    if (m_metricsDelay.isActive()) {
        m_metricsDelay.stop();
        schedule();
    }
    QElapsedTimer timer;
    timer.start();
    while (!(isReady(needs) && !isOpening())) {
        if (timer.elapsed() > timeoutMs) return false;
        if (!m_capture && !isOpening() && (needs & ~NeedEffect)) return false;
        if ((needs & NeedEffect) && !m_effect && !isOpeningEffect()) return false;
        QCoreApplication::processEvents(QEventLoop::WaitForMoreEvents, 50);
        QCoreApplication::sendPostedEvents();
    }
    return true;
}

// ------------------------------------------------------------------------------------------ scheduling

AnalysisController::Task AnalysisController::nextTask() {
    if (!m_capture) return {};
    const int v = m_params.layer;
    const bool metricsAllowed = m_options.metrics && !m_metricsDelay.isActive();

    // Metrics for one layer need its selection and, for a sparse selection, the dense reference.
    auto metricsTask = [&](int l) -> Task {
        if (m_failedLayers.count(l) || hasCurrentMetrics(l)) return {};
        auto sel = ensureSelection(l);
        if (!sel) return {};
        if (!sel->sparse) {
            m_metrics[l] = {std::make_shared<const LayerMetrics>(denseLayerMetrics(*sel)), m_selectionGen};
            emit metricsChanged(l);
            return {};
        }
        if (!m_dense.contains(l)) return {TaskKind::Dense, l, -1, m_captureGen};
        return {TaskKind::Metrics, l, -1, m_selectionGen};
    };

    if (needsScores(v) && !scores(v)) return {TaskKind::Scores, v, -1, m_scoreGen};
    if (!m_failedLayers.count(v) && !m_maps.contains({v, m_params.head}))
        return {TaskKind::AttentionMap, v, m_params.head, m_captureGen};
    if (metricsAllowed) {
        if (Task t = metricsTask(v); t.kind != TaskKind::None) return t;
    }
    if (m_extra && !m_metricsDelay.isActive() && !m_failedLayers.count(v)) {
        if (std::optional<ExtraJob> job = m_extra->nextJob()) {
            m_extraJob = std::move(*job);
            return {TaskKind::Extra, v, -1, m_extraJob.key};
        }
    }
    if (!m_options.backgroundLayers) return {};
    for (int l = 0; l < layerCount(); ++l)
        if (l != v && needsScores(l) && !scores(l)) return {TaskKind::Scores, l, -1, m_scoreGen};
    bool batch = false;
    for (int l = 0; l < layerCount(); ++l) {
        if (m_failedLayers.count(l) || selection(l)) continue;
        // Dense layers are described without work; sparse ones with scores go to one batch job.
        if (!isSparseLayer(l) || layerStaysDense(tokenCount(), m_params.tsa))
            ensureSelection(l);
        else if (scores(l))
            batch = true;
    }
    if (batch) return {TaskKind::Selections, -1, -1, m_selectionGen};
    if (metricsAllowed) {
        for (int l = 0; l < layerCount(); ++l)
            if (l != v)
                if (Task t = metricsTask(l); t.kind != TaskKind::None) return t;
    }
    return {};
}

int AnalysisController::pendingTaskCount() const {
    if (!m_capture) return 0;
    int n = 0;
    const int v = m_params.layer;
    for (int l = 0; l < layerCount(); ++l) {
        if (m_failedLayers.count(l) || (!m_options.backgroundLayers && l != v)) continue;
        if (needsScores(l) && !scores(l)) ++n;
        if (!hasCurrentMetrics(l) && isSparseLayer(l)) n += m_dense.contains(l) ? 1 : 2;
    }
    if (!m_maps.contains({v, m_params.head})) ++n;
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
    m_failedLayers.insert(layer);
    emit errorOccurred(message);
}

void AnalysisController::startTask(const Task& task) {
    auto capture = m_capture;
    const int l = task.layer;
    const quint64 gen = task.gen;
    const int threads = m_options.threads;
    const QString layerName = tr("layer %1").arg(modelLayerId(l));

    // Loads the layer on the worker; on failure returns the closure that reports it.
    auto loadLayer = [this, capture, l, layerName](std::shared_ptr<const LayerQkv>* out,
                                                   std::function<void()>* failure) {
        auto r = capture->layer(l);
        if (!r.ok()) {
            const QString msg =
                tr("Cannot read %1 of %2: %3")
                    .arg(layerName, QString::fromStdString(capture->info().path), fromStd(r.error()));
            *failure = [this, l, msg, capture] {
                if (capture == m_capture) fail(l, msg);
            };
            return false;
        }
        *out = *r;
        return true;
    };
    auto failed = [this, l, capture](const QString& msg) {
        return std::function<void()>([this, l, msg, capture] {
            if (capture == m_capture) fail(l, msg);
        });
    };

    JobRunner::Work work;
    switch (task.kind) {
    case TaskKind::Scores: {
        ScoringConfig config;
        config.window = m_params.tsa.window;
        config.poolKernel = m_params.tsa.poolKernel;
        config.threads = threads;
        work = [=](const std::atomic<bool>& cancel) -> std::function<void()> {
            std::shared_ptr<const LayerQkv> qkv;
            std::function<void()> failure;
            if (!loadLayer(&qkv, &failure)) return failure;
            ScoringConfig c = config;
            c.cancel = &cancel;
            auto r = scoreLayer(*qkv, c);
            if (!r.ok())
                return r.status().code == ErrorCode::Cancelled ? nullptr : failed(fromStd(r.error()));
            auto scores = std::make_shared<const LayerScores>(std::move(r.value()));
            return [this, l, gen, scores] {
                if (gen != m_scoreGen) return;
                m_scores[l] = {scores, gen};
                if (l == m_params.layer) refreshVisibleSelection();
                emit layersChanged();
            };
        };
        break;
    }
    case TaskKind::Dense: {
        work = [=](const std::atomic<bool>& cancel) -> std::function<void()> {
            std::shared_ptr<const LayerQkv> qkv;
            std::function<void()> failure;
            if (!loadLayer(&qkv, &failure)) return failure;
            auto dense = std::make_shared<DenseResult>();
            dense->output = Tensor3(qkv->qHeads(), qkv->tokens(), qkv->headDim());
            dense->lse.resize(std::size_t(qkv->qHeads() * qkv->tokens()));
            AttentionConfig c;
            c.threads = threads;
            c.cancel = &cancel;
            Status s = causalAttention(qkv->q.cview(), qkv->k.cview(), qkv->v.cview(), dense->output.view(),
                                       dense->lse.data(), c);
            if (!s.ok()) return s.code == ErrorCode::Cancelled ? nullptr : failed(fromStd(s.message));
            return [this, l, gen, dense] {
                if (gen != m_captureGen) return;
                m_dense.put(l, dense, dense->bytes());
            };
        };
        break;
    }
    case TaskKind::Metrics: {
        auto sel = selection(l);
        auto dense = cachedDense(l);
        if (!sel || !dense) return; // nextTask guarantees both; stay safe if that ever changes
        work = [=](const std::atomic<bool>& cancel) -> std::function<void()> {
            std::shared_ptr<const LayerQkv> qkv;
            std::function<void()> failure;
            if (!loadLayer(&qkv, &failure)) return failure;
            Tensor3 out(qkv->qHeads(), qkv->tokens(), qkv->headDim());
            std::vector<float> lse(std::size_t(qkv->qHeads() * qkv->tokens()));
            AttentionConfig c;
            c.threads = threads;
            c.cancel = &cancel;
            Status s = sparseAttention(*qkv, *sel, out.view(), lse.data(), c);
            if (!s.ok()) return s.code == ErrorCode::Cancelled ? nullptr : failed(fromStd(s.message));
            if (cancel.load()) return nullptr;
            auto metrics = std::make_shared<const LayerMetrics>(
                computeLayerMetrics(*sel, dense->output.cview(), out.cview(), dense->lse.data(), lse.data()));
            return [this, l, gen, metrics] {
                if (gen != m_selectionGen) return;
                m_metrics[l] = {metrics, gen};
                emit metricsChanged(l);
            };
        };
        break;
    }
    case TaskKind::AttentionMap: {
        const Index head = task.head;
        auto dense = cachedDense(l);
        AttentionMapConfig config;
        config.blocks = m_options.attentionMapBlocks;
        config.rowsPerBlock = m_options.attentionMapRowsPerBlock;
        config.threads = threads;
        work = [=](const std::atomic<bool>& cancel) -> std::function<void()> {
            std::shared_ptr<const LayerQkv> qkv;
            std::function<void()> failure;
            if (!loadLayer(&qkv, &failure)) return failure;
            AttentionMapConfig c = config;
            c.cancel = &cancel;
            const float* lse = dense ? dense->lse.data() + head * qkv->tokens() : nullptr;
            auto r = computeAttentionMap(qkv->q.cview(), qkv->k.cview(), head, lse, c);
            if (!r.ok())
                return r.status().code == ErrorCode::Cancelled ? nullptr : failed(fromStd(r.error()));
            auto map = std::make_shared<const AttentionMap>(std::move(r.value()));
            return [this, l, head, gen, map] {
                if (gen != m_captureGen) return;
                m_maps.put({l, int(head)}, map, map->mass.size() * sizeof(float) + 64);
                if (l == m_params.layer && head == m_params.head) emit attentionMapChanged();
            };
        };
        break;
    }
    case TaskKind::Selections: {
        std::vector<std::pair<int, std::shared_ptr<const LayerScores>>> inputs;
        for (int layer = 0; layer < layerCount(); ++layer)
            if (!selection(layer) && isSparseLayer(layer))
                if (auto sc = scores(layer)) inputs.emplace_back(layer, sc);
        const TsaParams params = m_params.tsa;
        const Index hq = headCount(), tokens = tokenCount();
        work = [=](const std::atomic<bool>& cancel) -> std::function<void()> {
            std::vector<std::pair<int, std::shared_ptr<const Selection>>> out;
            for (const auto& [layer, sc] : inputs) {
                if (cancel.load()) return nullptr;
                out.emplace_back(layer,
                                 std::make_shared<const Selection>(selectTokens(*sc, hq, tokens, params)));
            }
            return [this, gen, out] {
                if (gen != m_selectionGen) return;
                for (const auto& [layer, sel] : out)
                    m_selections[layer] = {sel, gen};
                emit layersChanged();
            };
        };
        break;
    }
    case TaskKind::Extra:
        work = std::move(m_extraJob.work);
        break;
    case TaskKind::None:
        return;
    }
    m_running = task;
    m_runner.start(taskLabel(task), std::move(work));
}

} // namespace tsa::app
