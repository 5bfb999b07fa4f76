// The Methods view (issue 11) on a real capture, offscreen: every method's current point and sweep
// arrive through the controller's runner; a click on a point sets that method's knob; a tau change
// recomputes only TSA and TSA + X points; hover, tooltips and clicks on empty space do not crash; the
// per-head table sorts and exports; the chosen method's pattern reaches the attention map; knobs
// round-trip through session JSON; exports write PNG/SVG/CSV.
#include "app/explorer/analysis_controller.h"
#include "app/explorer/command_line.h"
#include "app/explorer/explorer_params.h"
#include "app/explorer/main_window.h"
#include "app/explorer/methods_model.h"
#include "app/explorer/view_export.h"
#include "app/explorer/view_set.h"
#include "test_app_support.h"
#include "views/attention_map_view.h"
#include "views/methods_view.h"

#include <QComboBox>
#include <QPainter>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <set>

using namespace tsa;
using namespace tsa::app;
using tsa::test::waitFor;

namespace {

bool hasContent(const QImage& image) {
    if (image.isNull()) return false;
    const QRgb first = image.pixel(0, 0);
    int different = 0;
    for (int y = 0; y < image.height(); y += 3)
        for (int x = 0; x < image.width(); x += 3)
            if (image.pixel(x, y) != first && ++different > 100) return true;
    return false;
}

// Small enough that a sweep of every method takes well under a second; blocks scaled down as
// docs/methods.md does for 512-token captures.
ExplorerParams smallParams() {
    ExplorerParams p;
    p.tsa.tau = 0.02;
    p.tsa.window = 32;
    p.tsa.minTokens = 64;
    p.plan.mode = SparseLayerMode::All;
    p.methods.flexprefill.blockSize = 32;
    p.methods.flexprefill.minBudget = 64;
    p.methods.xattention.blockSize = 32;
    p.methods.xattention.stride = 8;
    p.methods.streaming.sinkTokens = 16;
    p.methods.streaming.localTokens = 64;
    p.methods.oracle.tile = 32;
    return p;
}

int sweepSize(MethodKind kind) {
    return int(sweepKnob(kind).values.size());
}

} // namespace

class TestMethodsView : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_dir;
    QString m_capture;

    void open(AnalysisController& c, const ExplorerParams& p) {
        c.setMetricsDelay(0);
        c.openFileWith(m_capture, p);
        QVERIFY(waitFor([&] { return c.hasCapture() && !c.isOpening(); }));
        QVERIFY(c.waitUntilReady(AnalysisController::NeedSelection | AnalysisController::NeedExtra, 120000));
    }
    // Opens the capture with `method` chosen and its pattern overlay on, views up to date.
    void openWithOverlay(AnalysisController& c, ViewSet& views, const QString& method) {
        views.setCurrentView(QStringLiteral("methods")); // the methods model works for the view on screen
        ExplorerParams p = smallParams();
        p.method = method;
        p.methodOverlay = true;
        open(c, p);
        views.flush();
    }
    // Switches to the attention map; null unless its map and the methods' work arrive.
    views::AttentionMapView* showAttention(AnalysisController& c, ViewSet& views) {
        views.setCurrentView(QStringLiteral("attention"));
        if (!c.waitUntilReady(AnalysisController::NeedAttentionMap | AnalysisController::NeedExtra, 120000))
            return nullptr;
        views.flush();
        return dynamic_cast<views::AttentionMapView*>(views.view(QStringLiteral("attention")));
    }

private slots:
    void initTestCase() {
        QVERIFY(m_dir.isValid());
        QString error;
        tsa::test::SmallCaptureShape shape;
        shape.layers = 2;
        shape.tokens = 512;
        shape.headDim = 16;
        m_capture = tsa::test::writeSmallCapture(m_dir, QStringLiteral("m.safetensors"), shape, &error);
        QVERIFY2(!m_capture.isEmpty(), qPrintable(error));
    }

    void everyMethodArrivesAndTauMovesOnlyTsaPoints() {
        AnalysisController c;
        ViewSet views(&c);
        views.setCurrentView(QStringLiteral("methods")); // the methods model works for the view on screen
        open(c, smallParams());
        MethodsModel* model = views.methodsModel();
        const views::MethodsData data = model->viewData();
        QCOMPARE(int(data.curves.size()), int(allMethods().size()));
        for (const views::MethodsCurve& curve : data.curves) {
            QVERIFY2(curve.error.isEmpty(), qPrintable(curve.method + ": " + curve.error));
            QVERIFY2(curve.current.has_value(), qPrintable(curve.method));
            const auto kind = parseMethodName(curve.method.toStdString());
            QVERIFY(kind);
            QCOMPARE(int(curve.sweep.size()), sweepSize(*kind));
            for (const views::MethodsPoint& pt : curve.sweep) {
                QVERIFY(pt.density > 0 && pt.density <= 1.0 + 1e-12);
                QVERIFY(pt.retainedMass >= 0 && pt.retainedMass <= 1.0 + 1e-6);
                QVERIFY(pt.speedup > 0);
            }
        }
        // The current TSA point is measured at the explorer's tau.
        QCOMPARE(data.curves.front().method, QStringLiteral("tsa"));
        QCOMPARE(data.curves.front().current->knob, 0.02);

        // A tau change: new TSA and TSA + X current points, new TSA + X sweeps (they run at the new tau);
        // the TSA sweep (it sets tau itself) and every other method are reused.
        const int before = model->computedPoints();
        c.setTau(0.03);
        QVERIFY(c.waitUntilReady(AnalysisController::NeedExtra, 120000));
        // A current point whose knob is one of the sweep's values is that sweep point (one cache entry).
        int expected = 1; // TSA's current point
        for (MethodKind k :
             {MethodKind::TsaMInference, MethodKind::TsaFlexPrefill, MethodKind::TsaXAttention}) {
            const std::vector<double> sweep = sweepKnob(k).values;
            const std::set<double> values(sweep.begin(), sweep.end());
            MethodSettings current = methodSettings(c.params());
            double knob = -1;
            for (double v : values) {
                MethodSettings probe = current;
                setSweepKnob(k, v, probe);
                if (methodParamValues(probe) == methodParamValues(current)) knob = v;
            }
            expected += int(values.size()) + (knob < 0 ? 1 : 0);
        }
        QCOMPARE(model->computedPoints() - before, expected);
        QCOMPARE(model->viewData().curves.front().current->knob, 0.03);
    }

    void clickingAPointSetsItsKnob() {
        AnalysisController c;
        ViewSet views(&c);
        views.setCurrentView(QStringLiteral("methods")); // the methods model works for the view on screen
        open(c, smallParams());
        views.flush();
        auto* view = qobject_cast<views::MethodsView*>(views.view(QStringLiteral("methods"))->widget());
        QVERIFY(view);
        view->resize(900, 600);
        view->show();
        QVERIFY(QTest::qWaitForWindowExposed(view));
        // Find a flexprefill sweep point on screen by scanning for a hit, then click it.
        auto clickPoint = [&](const QString& method) -> double {
            for (int y = 0; y < view->height(); y += 2)
                for (int x = 0; x < view->width(); x += 2) {
                    const auto hit = view->pointAt(QPoint(x, y));
                    if (hit.curve < 0 || hit.point < 0) continue;
                    const views::MethodsCurve& curve = view->data().curves[std::size_t(hit.curve)];
                    if (curve.method != method) continue;
                    const double knob = curve.sweep[std::size_t(hit.point)].knob;
                    if (knob == curve.current->knob) continue;
                    if (view->toolTipAt(QPoint(x, y)).isEmpty()) return -2; // a point without a tooltip
                    QTest::mouseClick(view, Qt::LeftButton, {}, QPoint(x, y));
                    return knob;
                }
            return -1;
        };
        const double gamma = clickPoint(QStringLiteral("flexprefill"));
        QVERIFY(gamma > 0);
        QCOMPARE(c.params().methods.flexprefill.gamma, gamma);
        const double tau = clickPoint(QStringLiteral("tsa"));
        QVERIFY(tau > 0);
        QCOMPARE(c.params().tsa.tau, tau);
        // Hover everywhere and click empty space: nothing breaks, nothing changes.
        const ExplorerParams before = c.params();
        for (int y = 0; y < view->height(); y += 37)
            for (int x = 0; x < view->width(); x += 41) {
                QTest::mouseMove(view, QPoint(x, y));
                view->toolTipAt(QPoint(x, y));
            }
        QTest::mouseClick(view, Qt::LeftButton, {}, QPoint(2, view->height() - 2));
        QCOMPARE(c.params().methods.flexprefill.gamma, before.methods.flexprefill.gamma);
        // The axis switch is a parameter (saved in sessions) and redraws.
        auto* ybox = view->findChild<QComboBox*>(QStringLiteral("methodsY"));
        QVERIFY(ybox);
        ybox->setCurrentIndex(ybox->findData(QStringLiteral("recall")));
        emit ybox->activated(ybox->currentIndex());
        QCOMPARE(c.params().methodsY, QStringLiteral("recall"));
        views.flush();
        QCOMPARE(view->yAxis(), views::MethodsY::OracleRecall);
    }

    void headTableSortsAndOverlayReachesTheMap() {
        AnalysisController c;
        ViewSet views(&c);
        openWithOverlay(c, views, QStringLiteral("minference"));
        auto* table = dynamic_cast<views::MethodHeadsView*>(views.view(QStringLiteral("method-heads")));
        QVERIFY(table);
        QCOMPARE(int(table->data().rows.size()), c.headCount());
        QCOMPARE(table->data().method, QStringLiteral("minference"));
        table->sortByColumn(4, Qt::DescendingOrder); // error p95
        for (int r = 1; r < table->model()->rowCount(); ++r)
            QVERIFY(table->model()->index(r - 1, 4).data(Qt::UserRole).toDouble() >=
                    table->model()->index(r, 4).data(Qt::UserRole).toDouble());
        const QStringList lines = table->csv().split(QLatin1Char('\n'), Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), c.headCount() + 1);

        auto* map = showAttention(c, views);
        QVERIFY(map);
        const int B = map->data().blocks;
        QVERIFY(B > 0);
        QCOMPARE(int(map->patternOverlay().size()), B * B);
        int computed = 0;
        for (std::uint8_t v : map->patternOverlay())
            computed += v;
        QVERIFY(computed > 0 && computed < B * (B + 1) / 2); // minference skips something at 512 tokens
        // The tooltip says what the method does with the block under the cursor.
        map->resize(800, 600);
        int skipped = 0, kept = 0;
        for (int y = 0; y < map->height(); y += 7)
            for (int x = 0; x < map->width(); x += 7) {
                const auto [r, col] = map->blockAt(QPoint(x, y));
                if (r < 0 || col > r) continue;
                const QString tip = map->toolTipAt(QPoint(x, y));
                const bool computes = map->patternOverlay()[std::size_t(r) * B + col] != 0;
                QVERIFY(tip.contains(computes ? QStringLiteral("minference computes pairs here")
                                              : QStringLiteral("skipped by minference")));
                (computes ? kept : skipped)++;
            }
        QVERIFY(kept > 0 && skipped > 0);
        ExplorerParams a = c.params();
        a.methodOverlay = false;
        c.setParams(a);
        views.flush();
        QVERIFY(map->patternOverlay().empty());
    }

    // A composed method's overlay in compressed coordinates: chosen in the Methods view, drawn as the block
    // mask over the head's kept tokens (exactly coarseMask in compressed space), with tooltips naming both
    // index spaces, and back to original positions.
    void overlayInCompressedCoordinates() {
        AnalysisController c;
        ViewSet views(&c);
        openWithOverlay(c, views, QStringLiteral("tsa+xattention"));
        auto* methods = dynamic_cast<views::MethodsView*>(views.view(QStringLiteral("methods")));
        QVERIFY(methods);
        auto* box = methods->findChild<QComboBox*>(QStringLiteral("overlayCoordinates"));
        QVERIFY(box);
        box->setCurrentIndex(1);
        emit box->activated(1);
        QVERIFY(c.params().methodOverlayCompressed);
        auto* map = showAttention(c, views);
        QVERIFY(map);
        const auto& cp = map->compressedPattern();
        QVERIFY(cp.cellCount > 0);
        QVERIFY(map->patternOverlay().empty());
        QVERIFY(cp.length < map->data().tokens); // TSA compressed this layer
        QCOMPARE(qint64(cp.keptPositions.size()), cp.length);
        QVERIFY(map->viewTitle().contains(QStringLiteral("compressed coordinates")));
        int computed = 0;
        for (std::uint8_t v : cp.cells)
            computed += v;
        QVERIFY(computed > 0 && computed < cp.cellCount * (cp.cellCount + 1) / 2);
        map->resize(800, 600);
        int tips = 0;
        for (int y = 0; y < map->height(); y += 11)
            for (int x = 0; x < map->width(); x += 11) {
                const QString tip = map->toolTipAt(QPoint(x, y));
                if (tip.isEmpty() || tip.contains(QStringLiteral("above the diagonal"))) continue;
                QVERIFY(tip.contains(QStringLiteral("compressed queries")) &&
                        tip.contains(QStringLiteral("positions")));
                ++tips;
            }
        QVERIFY(tips > 0);
        QVERIFY(map->csv().startsWith(QStringLiteral("layer_id,head,method,query_cell")));
        QVERIFY(hasContent(map->grab().toImage()));
        QCOMPARE(paramsFromJson(toJson(c.params())).methodOverlayCompressed, true);

        ExplorerParams a = c.params();
        a.methodOverlayCompressed = false;
        c.setParams(a);
        views.flush();
        QCOMPARE(map->compressedPattern().cellCount, 0);
        QCOMPARE(int(map->patternOverlay().size()), map->data().blocks * map->data().blocks);
    }

    // The explorer's command line sets the methods' knobs, the chosen method and the overlay as tsa export
    // does, and names the bad option.
    void commandLineSetsMethodKnobs() {
        CommandLine cl;
        QString message;
        QCOMPARE(parseCommandLine({QStringLiteral("x"), QStringLiteral("--set"),
                                   QStringLiteral("flexprefill.gamma=0.9,xattention.stride=8"),
                                   QStringLiteral("--method"), QStringLiteral("tsa+flexprefill"),
                                   QStringLiteral("--method-overlay"), QStringLiteral("compressed")},
                                  &cl, &message),
                 ParseOutcome::Run);
        ExplorerParams p;
        cl.applyTo(&p);
        QCOMPARE(p.methods.flexprefill.gamma, 0.9);
        QCOMPARE(p.methods.xattention.stride, Index(8));
        QCOMPARE(p.method, QStringLiteral("tsa+flexprefill"));
        QVERIFY(p.methodOverlay && p.methodOverlayCompressed);
        const QList<QPair<QStringList, QString>> bad = {
            {{QStringLiteral("--set"), QStringLiteral("flexprefill.gama=0.9")},
             QStringLiteral("flexprefill.gama")},
            {{QStringLiteral("--set"), QStringLiteral("flexprefill.gamma=2")},
             QStringLiteral("flexprefill.gamma")},
            {{QStringLiteral("--set"), QStringLiteral("tsa.tau=0.1")}, QStringLiteral("--tau")},
            {{QStringLiteral("--method"), QStringLiteral("flex")}, QStringLiteral("'flex'")},
            {{QStringLiteral("--method-overlay"), QStringLiteral("both")}, QStringLiteral("'both'")}};
        for (const auto& [args, names] : bad) {
            message.clear();
            QCOMPARE(parseCommandLine(QStringList{QStringLiteral("x")} + args, &cl, &message),
                     ParseOutcome::ExitUsage);
            QVERIFY2(message.contains(names), qPrintable(message));
        }
    }

    void exportsAndSessionsKeepTheKnobs() {
        AnalysisController c;
        ViewSet views(&c);
        views.setCurrentView(QStringLiteral("methods")); // the methods model works for the view on screen
        open(c, smallParams());
        views.flush();
        QTemporaryDir out;
        QString error;
        for (const QString& name : {QStringLiteral("methods"), QStringLiteral("method-heads")}) {
            const auto* v = views.view(name);
            QVERIFY(v);
            for (const QString& ext :
                 {QStringLiteral("png"), QStringLiteral("svg"), QStringLiteral("pdf"), QStringLiteral("csv")})
                QVERIFY2(
                    writeView(*v, out.filePath(name + QLatin1Char('.') + ext), QSize(900, 600), 1.0, &error),
                    qPrintable(error));
            QVERIFY2(hasContent(QImage(out.filePath(name + QStringLiteral(".png")))), qPrintable(name));
        }
        // One CSV row per point: 9 current points plus every sweep.
        int points = 0;
        for (MethodKind k : allMethods())
            points += 1 + sweepSize(k);
        QFile csv(out.filePath(QStringLiteral("methods.csv")));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        QCOMPARE(int(csv.readAll().trimmed().split('\n').size()), points + 1);

        ExplorerParams p = smallParams();
        p.methods.minference.adaptiveBudget = 0.3;
        p.method = QStringLiteral("tsa+xattention");
        p.methodsX = QStringLiteral("speedup");
        p.methodsY = QStringLiteral("error-p95");
        p.methodOverlay = true;
        const ExplorerParams back = paramsFromJson(toJson(p));
        QCOMPARE(back.methods.minference.adaptiveBudget, 0.3);
        QCOMPARE(back.methods.flexprefill.blockSize, Index(32));
        QCOMPARE(back.methods.streaming.localTokens, Index(64));
        QCOMPARE(back.method, p.method);
        QCOMPARE(back.methodsX, p.methodsX);
        QCOMPARE(back.methodsY, p.methodsY);
        QVERIFY(back.methodOverlay);
        // A session with a knob out of range or an unknown method falls back instead of failing every run.
        QJsonObject bad = toJson(p);
        QJsonObject knobs = bad.value(QStringLiteral("methods")).toObject();
        knobs.insert(QStringLiteral("flexprefill.gamma"), 7.0);
        bad.insert(QStringLiteral("methods"), knobs);
        bad.insert(QStringLiteral("method"), QStringLiteral("nope"));
        const ExplorerParams fixed = paramsFromJson(bad);
        QCOMPARE(fixed.methods.flexprefill.gamma, FlexPrefillConfig{}.gamma);
        QCOMPARE(fixed.method, QStringLiteral("tsa"));
    }

    void switchingToTheTabStartsTheWork() {
        MainWindow w(nullptr, false);
        w.resize(1200, 800);
        w.show();
        ExplorerParams p = smallParams();
        w.controller()->setMetricsDelay(0);
        w.controller()->openFileWith(m_capture, p);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        QVERIFY(w.controller()->waitUntilReady(AnalysisController::NeedSelection, 120000));
        MethodsModel* model = w.viewSet()->methodsModel();
        QVERIFY(waitFor([&] { return w.controller()->isIdle(); }, 120000));
        QCOMPARE(model->computedPoints(), 0); // nothing computed while no methods view is on screen
        w.showView(QStringLiteral("methods"));
        QVERIFY(waitFor(
            [&] {
                const auto data = model->viewData();
                if (data.curves.size() != allMethods().size()) return false;
                for (const auto& c : data.curves)
                    if (!c.current) return false;
                return true;
            },
            120000));
        w.showView(QStringLiteral("overview"));
        QVERIFY(waitFor([&] { return w.controller()->isIdle(); }, 120000));
    }

    void viewWithoutDataDrawsAMessage() {
        views::MethodsView view;
        QImage image(600, 400, QImage::Format_RGB32);
        QPainter painter(&image);
        image.fill(Qt::black);
        view.render(painter, image.size());
        painter.end();
        QVERIFY(image.pixel(0, 0) != qRgb(0, 0, 0)); // painted over
        QImage blank(image.size(), QImage::Format_RGB32);
        blank.fill(image.pixel(0, 0));
        QVERIFY(image != blank); // title and message
        QVERIFY(view.toolTipAt(QPoint(300, 200)).isEmpty());
        QCOMPARE(view.pointAt(QPoint(300, 200)).curve, -1);
        QCOMPARE(view.csv().split(QLatin1Char('\n'), Qt::SkipEmptyParts).size(), 1);
    }
};

QTEST_MAIN(TestMethodsView)
#include "test_methods_view.moc"
