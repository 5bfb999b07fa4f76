#include "app/explorer/result_store.h"

namespace tsa::app {

ResultStore::ResultStore() : ResultStore(Budgets{}) {}

ResultStore::ResultStore(const Budgets& budgets)
    : m_dense(budgets.denseBytes), m_sums(budgets.sumsBytes), m_samples(budgets.sampleBytes),
      m_maps(budgets.mapBytes) {}

void ResultStore::newCapture() {
    ++m_gen.capture;
    newScoreParams();
    m_metrics.clear();
    m_estimates.clear();
    m_dense.clear();
    m_maps.clear();
    m_failed.clear();
}

void ResultStore::newScoreParams() {
    ++m_gen.scores;
    m_scores.clear();
    m_sums.clear();
    m_samples.clear();
    newSelectionParams();
}

void ResultStore::newSelectionParams() {
    ++m_gen.selection;
}

std::shared_ptr<const LayerScores> ResultStore::scores(int layer) const {
    auto it = m_scores.find(layer);
    return it != m_scores.end() && it->second.gen == m_gen.scores ? it->second.value : nullptr;
}

bool ResultStore::putScores(int layer, quint64 gen, std::shared_ptr<const LayerScores> scores) {
    if (gen != m_gen.scores) return false;
    m_scores[layer] = {std::move(scores), gen};
    return true;
}

std::shared_ptr<const Selection> ResultStore::selection(int layer) const {
    auto it = m_selections.find(layer);
    return it != m_selections.end() && it->second.gen == m_gen.selection ? it->second.value : nullptr;
}

void ResultStore::putSelection(int layer, std::shared_ptr<const Selection> sel) {
    m_selections[layer] = {std::move(sel), m_gen.selection};
}

bool ResultStore::putSelections(quint64 gen,
                                const std::vector<std::pair<int, std::shared_ptr<const Selection>>>& sels) {
    if (gen != m_gen.selection) return false;
    for (const auto& [layer, sel] : sels)
        m_selections[layer] = {sel, gen};
    return true;
}

std::shared_ptr<const LayerMetrics> ResultStore::metrics(int layer, bool* current) const {
    auto exact = m_metrics.find(layer);
    auto estimate = m_estimates.find(layer);
    const bool hasExact = exact != m_metrics.end(), hasEstimate = estimate != m_estimates.end();
    const bool exactCurrent = hasExact && exact->second.gen == m_gen.selection;
    const bool estimateCurrent = hasEstimate && estimate->second.gen == m_gen.selection;
    if (current) *current = exactCurrent || estimateCurrent;
    if (exactCurrent) return exact->second.value;
    if (estimateCurrent) return estimate->second.value;
    // Stale: whichever is newer.
    if (hasExact && (!hasEstimate || exact->second.gen >= estimate->second.gen)) return exact->second.value;
    return hasEstimate ? estimate->second.value : nullptr;
}

bool ResultStore::hasCurrentMetrics(int layer) const {
    auto it = m_metrics.find(layer);
    return it != m_metrics.end() && it->second.gen == m_gen.selection;
}

bool ResultStore::hasCurrentEstimate(int layer) const {
    auto it = m_estimates.find(layer);
    return hasCurrentMetrics(layer) || (it != m_estimates.end() && it->second.gen == m_gen.selection);
}

bool ResultStore::putMetrics(int layer, quint64 gen, std::shared_ptr<const LayerMetrics> metrics) {
    if (gen != m_gen.selection || !metrics) return false;
    auto& target = metrics->estimate ? m_estimates : m_metrics;
    target[layer] = {std::move(metrics), gen};
    return true;
}

bool ResultStore::putDense(int layer, quint64 captureGen, std::shared_ptr<const DenseResult> dense) {
    if (captureGen != m_gen.capture) return false;
    const std::size_t bytes = dense->bytes();
    m_dense.put(layer, std::move(dense), bytes);
    return true;
}

std::shared_ptr<DroppedSums> ResultStore::sumsForJob(int layer, bool sampled) {
    LruCache<int, DroppedSums>& cache = sampled ? m_samples : m_sums;
    if (auto sums = cache.get(layer)) return sums;
    auto sums = std::make_shared<DroppedSums>();
    cache.put(layer, sums, 0);
    return sums;
}

void ResultStore::putSums(int layer, bool sampled, quint64 scoreGen, std::shared_ptr<DroppedSums> sums) {
    if (scoreGen != m_gen.scores || !sums) return;
    const std::size_t bytes = sums->bytes();
    (sampled ? m_samples : m_sums).put(layer, std::move(sums), bytes);
}

void ResultStore::touch(int layer) {
    m_dense.get(layer);
    m_sums.get(layer);
    m_samples.get(layer);
}

bool ResultStore::putMap(int layer, int head, quint64 captureGen, std::shared_ptr<const AttentionMap> map) {
    if (captureGen != m_gen.capture) return false;
    const std::size_t bytes = map->mass.size() * sizeof(float) + 64;
    m_maps.put({layer, head}, std::move(map), bytes);
    return true;
}

} // namespace tsa::app
