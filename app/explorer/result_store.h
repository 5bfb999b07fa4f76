// The explorer's results, stamped with the generation of the parameters they were computed for, so a
// result that arrives after its parameters changed is recognised as stale. Split by what they depend on:
//   scores      (file, W, k)             kept for every layer
//   selection   (scores, tau, min, plan)
//   metrics     (selection, dense)       exact; an estimate (sampled rows) stands in until they arrive
//   dense       (file)                   output + logsumexp of dense attention, LRU bounded in bytes
//   sums        (file, W)                dropped-side partial sums per layer: full rows (exact metrics,
//                                        512 MiB at 32 heads x 32K x D 128) and sampled rows (estimates);
//                                        any selection's, moved to the next one incrementally; LRU bounded
//   attention map (file, layer, head)
// GUI thread only; holds no Qt objects and computes nothing.
#pragma once

#include "core/analysis/attention_map.h"
#include "core/analysis/dropped_sums.h"
#include "core/analysis/metrics.h"
#include "core/lru_cache.h"
#include "core/methods/tsa_selection.h"

#include <QtGlobal>
#include <map>
#include <memory>
#include <set>
#include <utility>

namespace tsa::app {

struct DenseResult {
    Tensor3 output;         // [Hq, L, D]
    std::vector<float> lse; // [Hq, L]
    std::size_t bytes() const { return output.data.size() * sizeof(float) + lse.size() * sizeof(float); }
};

class ResultStore {
public:
    struct Budgets {
        std::size_t denseBytes = std::size_t(3) << 29; // 1.5 GiB of dense outputs
        std::size_t sumsBytes = std::size_t(1) << 30;  // full-row partial sums (exact metrics)
        std::size_t sampleBytes = std::size_t(256) << 20;
        std::size_t mapBytes = std::size_t(32) << 20;
    };
    struct Generations {
        quint64 capture = 1;   // the file
        quint64 scores = 1;    // W, k (and the file)
        quint64 selection = 1; // tau, min tokens, plan (and everything above)
    };

    ResultStore();
    explicit ResultStore(const Budgets& budgets);

    const Generations& gen() const { return m_gen; }
    void newCapture();         // everything goes
    void newScoreParams();     // scores, selections, partial sums (their prefix is L - W)
    void newSelectionParams(); // selections; metrics stay, marked stale

    std::shared_ptr<const LayerScores> scores(int layer) const; // current only
    bool putScores(int layer, quint64 gen, std::shared_ptr<const LayerScores> scores);

    std::shared_ptr<const Selection> selection(int layer) const;        // current only
    void putSelection(int layer, std::shared_ptr<const Selection> sel); // for the current parameters
    bool putSelections(quint64 gen,
                       const std::vector<std::pair<int, std::shared_ptr<const Selection>>>& sels);

    // The exact metrics when current, else a current estimate, else the newest stale ones of either kind.
    std::shared_ptr<const LayerMetrics> metrics(int layer, bool* current = nullptr) const;
    bool hasCurrentMetrics(int layer) const;                                              // exact
    bool hasCurrentEstimate(int layer) const;                                             // estimate or exact
    bool putMetrics(int layer, quint64 gen, std::shared_ptr<const LayerMetrics> metrics); // either kind

    // Const access does not count as a use (peek); the scheduler marks uses with touch().
    std::shared_ptr<const DenseResult> dense(int layer) const { return m_dense.peek(layer); }
    bool hasDense(int layer) const { return m_dense.contains(layer); }
    bool putDense(int layer, quint64 captureGen, std::shared_ptr<const DenseResult> dense);
    std::size_t denseBytes() const { return m_dense.bytes(); }

    // The partial sums of a layer for a job, which moves them to its selection in place (an empty object,
    // already in the cache, when there are none yet: the job fills it). They stay in the cache meanwhile:
    // a cancelled job leaves every head consistent (DroppedSums::update) and the next job carries on from
    // there. Only jobs read or write them, one at a time. putSums re-counts their bytes after a job.
    std::shared_ptr<DroppedSums> sumsForJob(int layer, bool sampled);
    void putSums(int layer, bool sampled, quint64 scoreGen, std::shared_ptr<DroppedSums> sums);
    std::size_t sumsBytes() const { return m_sums.bytes() + m_samples.bytes(); }
    void setSumsBudget(std::size_t bytes) { m_sums.setBudget(bytes); }
    void setSampleBudget(std::size_t bytes) { m_samples.setBudget(bytes); }
    // Marks the visible layer's cached results as just used, so background layers evict each other first.
    void touch(int layer);

    std::shared_ptr<const AttentionMap> map(int layer, int head) const { return m_maps.peek({layer, head}); }
    bool hasMap(int layer, int head) const { return m_maps.contains({layer, head}); }
    bool putMap(int layer, int head, quint64 captureGen, std::shared_ptr<const AttentionMap> map);

    bool isFailed(int layer) const { return m_failed.count(layer) != 0; }
    void markFailed(int layer) { m_failed.insert(layer); }

private:
    template <typename T>
    struct Stamped {
        std::shared_ptr<const T> value;
        quint64 gen = 0;
    };

    Generations m_gen;
    std::map<int, Stamped<LayerScores>> m_scores;
    std::map<int, Stamped<Selection>> m_selections;
    std::map<int, Stamped<LayerMetrics>> m_metrics;   // exact
    std::map<int, Stamped<LayerMetrics>> m_estimates; // sampled rows
    LruCache<int, const DenseResult> m_dense;
    LruCache<int, DroppedSums> m_sums;
    LruCache<int, DroppedSums> m_samples;
    LruCache<std::pair<int, int>, const AttentionMap> m_maps;
    std::set<int> m_failed; // layers whose data cannot be read: not retried until the next file
};

} // namespace tsa::app
