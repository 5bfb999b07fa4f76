// AnalysisController: caching by dependency, synchronous selection on tau changes, background metrics,
// newest-request-wins cancellation, errors that keep the old data, the dense LRU budget.
#include "app/explorer/analysis_controller.h"
#include "core/io/safetensors_reader.h"
#include "core/io/safetensors_writer.h"
#include "core/methods/layer_plan.h"
#include "test_app_support.h"

#include <QFile>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QtTest>

using namespace tsa::app;
using tsa::test::waitFor;

class TestAppController : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_dir;
    QString m_capture;

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QVERIFY(m_dir.isValid());
        QString error;
        m_capture = tsa::test::writeSmallCapture(m_dir, QStringLiteral("small.safetensors"), {}, &error);
        QVERIFY2(!m_capture.isEmpty(), qPrintable(error));
    }

    void opensAndComputesEverything() {
        AnalysisController c;
        c.setMetricsDelay(0);
        QSignalSpy opened(&c, &AnalysisController::fileOpened);
        c.openFile(m_capture);
        QVERIFY(waitFor([&] { return c.hasCapture(); }));
        QCOMPARE(opened.count(), 1);
        QCOMPARE(c.layerCount(), 4);
        QCOMPARE(c.headCount(), 4);
        // Default plan: the second half is sparse; the window lands on the first sparse layer.
        QCOMPARE(c.sparseLayers(), (std::vector<bool>{false, false, true, true}));
        QCOMPARE(c.params().layer, 2);
        QVERIFY(c.waitUntilReady(AnalysisController::NeedSelection | AnalysisController::NeedMetrics |
                                     AnalysisController::NeedAttentionMap |
                                     AnalysisController::NeedAllSelections |
                                     AnalysisController::NeedAllMetrics,
                                 120000));
        auto sel = c.selection(2);
        QVERIFY(sel);
        QVERIFY(sel->sparse);
        QVERIFY(sel->kept < 2048);
        QVERIFY(c.scores(2));
        QVERIFY(!c.selection(0)->sparse);
        QCOMPARE(c.selection(0)->denseReason, tsa::DenseReason::NotSparseLayer);
        bool current = false;
        auto m = c.metrics(2, &current);
        QVERIFY(m && current);
        QCOMPARE(m->qHeads, tsa::Index(4));
        QVERIFY(m->layer.rowError.median >= 0.0);
        QVERIFY(m->layer.droppedRows > 0);
        // Dense layers get exact metrics without any attention run.
        auto dense = c.metrics(0, &current);
        QVERIFY(dense && current);
        QCOMPARE(dense->layer.rowError.max, 0.0);
        auto map = c.attentionMap();
        QVERIFY(map);
        QCOMPARE(map->head, tsa::Index(c.params().head));
        QTRY_VERIFY(c.isIdle());
    }

    void tauChangeUpdatesSelectionSynchronously() {
        AnalysisController c;
        c.setMetricsDelay(0);
        c.openFile(m_capture);
        QVERIFY(waitFor([&] { return c.hasCapture(); }));
        QVERIFY(c.waitUntilReady(AnalysisController::NeedSelection, 60000));
        auto before = c.selection(2);
        QSignalSpy spy(&c, &AnalysisController::selectionChanged);
        c.setTau(0.2);
        // No event loop turn: the selection is already there for the views.
        QCOMPARE(spy.count(), 1);
        auto after = c.selection(2);
        QVERIFY(after);
        QVERIFY(after != before);
        QVERIFY(after->kept < before->kept);
        QCOMPARE(after->tokens, tsa::Index(2048));
        // Scores are tau independent and were not recomputed.
        auto scores = c.scores(2);
        c.setTau(0.001);
        QCOMPARE(c.scores(2), scores);
        QVERIFY(c.selection(2)->kept > after->kept);
        // W changes invalidate the scores.
        c.setWindow(64);
        QVERIFY(!c.scores(2));
        QVERIFY(!c.selection(2));
        QVERIFY(c.waitUntilReady(AnalysisController::NeedSelection, 60000));
        QCOMPARE(c.scores(2)->window, tsa::Index(64));
    }

    void staleMetricsAreDroppedAndRefined() {
        AnalysisController c;
        c.setMetricsDelay(0);
        c.openFile(m_capture);
        QVERIFY(waitFor([&] { return c.hasCapture(); }));
        QVERIFY(c.waitUntilReady(AnalysisController::NeedMetrics, 120000));
        bool current = false;
        auto old = c.metrics(2, &current);
        QVERIFY(current);
        // Rapid changes: only the last one's metrics may ever be reported as current.
        for (double tau : {0.01, 0.02, 0.05, 0.1, 0.3})
            c.setTau(tau);
        auto stale = c.metrics(2, &current);
        QCOMPARE(stale, old); // still shown while refining ...
        QVERIFY(!current);    // ... but flagged as not current
        QVERIFY(c.waitUntilReady(AnalysisController::NeedMetrics, 120000));
        auto fresh = c.metrics(2, &current);
        QVERIFY(current);
        QVERIFY(fresh != old);
        // The fresh metrics belong to tau 0.3: the kept fraction matches the current selection.
        QCOMPARE(fresh->layer.keptFraction, c.selection(2)->keptFraction());
    }

    void badFileKeepsOldData() {
        AnalysisController c;
        c.openFile(m_capture);
        QVERIFY(waitFor([&] { return c.hasCapture(); }));
        const QString bad = m_dir.filePath(QStringLiteral("bad.safetensors"));
        QFile f(bad);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("this is not a safetensors file at all");
        f.close();
        QSignalSpy failed(&c, &AnalysisController::fileOpenFailed);
        c.openFile(bad);
        QVERIFY(waitFor([&] { return failed.count() == 1; }));
        QCOMPARE(failed.at(0).at(0).toString(), bad);
        QVERIFY(!failed.at(0).at(1).toString().isEmpty());
        QCOMPARE(c.filePath(), m_capture);
        QVERIFY(c.hasCapture());
        QVERIFY(c.waitUntilReady(AnalysisController::NeedSelection, 60000));
        c.setTau(0.1);
        QVERIFY(c.selection(c.params().layer));

        QSignalSpy failed2(&c, &AnalysisController::fileOpenFailed);
        c.openFile(m_dir.filePath(QStringLiteral("missing.safetensors")));
        QVERIFY(waitFor([&] { return failed2.count() == 1; }));
        QCOMPARE(c.filePath(), m_capture);
    }

    void newestOpenWins() {
        tsa::test::SmallCaptureShape shape;
        shape.layers = 2;
        shape.tokens = 1500;
        const QString other = tsa::test::writeSmallCapture(m_dir, QStringLiteral("other.safetensors"), shape);
        QVERIFY(!other.isEmpty());
        AnalysisController c;
        QSignalSpy opened(&c, &AnalysisController::fileOpened);
        c.openFile(m_capture);
        c.openFile(other);
        QVERIFY(waitFor([&] { return c.hasCapture() && !c.isOpening(); }));
        QCOMPARE(c.filePath(), other);
        QCOMPARE(c.layerCount(), 2);
        QCOMPARE(opened.count(), 1);
    }

    void denseOutputsStayWithinBudget() {
        AnalysisController::Options options;
        // One layer's dense output is 4 heads x 2048 x 32 floats = 1 MiB: the budget holds one.
        options.denseBudgetBytes = std::size_t(1) << 20;
        options.metricsDelayMs = 0;
        AnalysisController c(options);
        ExplorerParams p;
        p.plan.mode = tsa::SparseLayerMode::All;
        c.setParams(p);
        c.openFile(m_capture);
        QVERIFY(waitFor([&] { return c.hasCapture(); }));
        QVERIFY(c.waitUntilReady(AnalysisController::NeedAllMetrics, 120000));
        QTRY_VERIFY(c.isIdle());
        QVERIFY(c.denseCacheBytes() <= (std::size_t(1) << 20) + 64 * 1024);
        // Every layer has metrics although their dense outputs did not all stay.
        for (int l = 0; l < 4; ++l)
            QVERIFY(c.metrics(l));
    }

    void planModes() {
        AnalysisController c;
        c.openFile(m_capture);
        QVERIFY(waitFor([&] { return c.hasCapture(); }));
        tsa::LayerPlanConfig plan;
        plan.mode = tsa::SparseLayerMode::List;
        plan.list = {1, 3};
        c.setPlan(plan);
        QCOMPARE(c.sparseLayers(), (std::vector<bool>{false, true, false, true}));
        plan.mode = tsa::SparseLayerMode::All;
        c.setPlan(plan);
        QCOMPARE(c.sparseLayers(), (std::vector<bool>{true, true, true, true}));
        // The generator writes drift, so drift mode works; delta 0 keeps the least drifting layer only.
        plan.mode = tsa::SparseLayerMode::Drift;
        plan.delta = 0.0;
        c.setPlan(plan);
        QVERIFY(c.planProblem().isEmpty());
        QCOMPARE(std::count(c.sparseLayers().begin(), c.sparseLayers().end(), true), 1);
        // A list naming a layer the model does not have falls back and says why.
        plan.mode = tsa::SparseLayerMode::List;
        plan.list = {99};
        QSignalSpy warning(&c, &AnalysisController::warning);
        c.setPlan(plan);
        QVERIFY(!c.planProblem().isEmpty());
        QCOMPARE(warning.count(), 1);
        QCOMPARE(c.sparseLayers(), (std::vector<bool>{false, false, true, true}));
    }

    // A capture of layers 1 and 3 of 4: the plan is core's (planCaptureLayers), as in `tsa run`: half over
    // model ids; drift over the present layers, said under the summary (planProblem).
    void partialCapturePlanFollowsTheSharedRule() {
        QFile in(m_capture);
        QVERIFY(in.open(QIODevice::ReadOnly));
        const QByteArray bytes = in.readAll();
        const auto* data = reinterpret_cast<const unsigned char*>(bytes.constData());
        auto header = tsa::parseSafetensors(data, std::uint64_t(bytes.size()), "small");
        QVERIFY(header.ok());
        std::vector<tsa::TensorSpec> specs;
        std::vector<const tsa::SafetensorsEntry*> kept;
        for (const tsa::SafetensorsEntry& e : header->tensors)
            if (e.name.rfind("layers.1.", 0) == 0 || e.name.rfind("layers.3.", 0) == 0) {
                specs.push_back({e.name, e.dtype, e.shape});
                kept.push_back(&e);
            }
        auto metadata = header->metadata;
        metadata["num_layers"] = "4";
        const QString partial = m_dir.filePath(QStringLiteral("partial.safetensors"));
        tsa::SafetensorsWriter writer;
        QVERIFY(writer.open(partial.toStdString(), specs, metadata).ok());
        for (const tsa::SafetensorsEntry* e : kept)
            QVERIFY(writer.writeBytes(data + e->begin, e->bytes()).ok());
        QVERIFY(writer.commit().ok());

        AnalysisController c;
        c.openFile(partial);
        QVERIFY(waitFor([&] { return c.hasCapture(); }));
        QCOMPARE(c.sparseLayers(), (std::vector<bool>{false, true})); // model half: layers 2 and 3
        QVERIFY(c.planProblem().isEmpty());
        tsa::LayerPlanConfig plan;
        plan.mode = tsa::SparseLayerMode::Drift;
        plan.delta = 0.0;
        c.setPlan(plan);
        QCOMPARE(std::count(c.sparseLayers().begin(), c.sparseLayers().end(), true), 1);
        const auto expected = tsa::planCaptureLayers({1, 3}, 4, plan, c.capture()->layerDrift());
        QVERIFY(expected.ok());
        QCOMPARE(c.sparseLayers(), expected->sparse);
        QVERIFY2(c.planProblem().contains(QStringLiteral("drift quantile over the 2 captured layers of 4")),
                 qPrintable(c.planProblem()));
    }

    void destroyingWhileBusyIsSafe() {
        auto* c = new AnalysisController;
        c->setMetricsDelay(0);
        c->openFile(m_capture);
        QVERIFY(waitFor([&] { return c->hasCapture(); }));
        c->setTau(0.05);
        delete c; // cancels and waits; no result may arrive at a dead object
        QTest::qWait(50);
    }
};

QTEST_MAIN(TestAppController)
#include "test_app_controller.moc"
