// The explorer's small parts: parameter JSON and settings, layer lists, the log tau slider mapping, the
// LRU cache, the command line, session files and the view exporters.
#include "app/explorer/command_line.h"
#include "app/explorer/explorer_params.h"
#include "app/explorer/job_runner.h"
#include "app/explorer/session.h"
#include "app/explorer/tau_editor.h"
#include "app/explorer/view_export.h"
#include "views/sparsity_view.h"

#include <QFile>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QSettings>
#include <QSlider>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>

using namespace tsa::app;

class TestAppUnits : public QObject {
    Q_OBJECT
private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("tsa-explorer-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test_app_units"));
        QSettings().clear();
    }

    void paramsJsonRoundTrip() {
        ExplorerParams p;
        p.tsa.tau = 0.0123;
        p.tsa.window = 64;
        p.tsa.poolKernel = 5;
        p.tsa.minTokens = 512;
        p.plan.mode = tsa::SparseLayerMode::List;
        p.plan.list = {3, 5, 9};
        p.plan.delta = 0.25;
        p.layer = 2;
        p.head = 3;
        ViewState v;
        v.colorMap = QStringLiteral("magma");
        v.overviewMetric = QStringLiteral("error-p95");
        v.view = QStringLiteral("coverage");
        QJsonObject json = toJson(p);
        QVERIFY(!json.contains(QStringLiteral("color_map"))); // view state is not an analysis parameter
        insertViewState(&json, v);
        const ExplorerParams q = paramsFromJson(json);
        QCOMPARE(q.tsa.tau, p.tsa.tau);
        QCOMPARE(q.tsa.window, p.tsa.window);
        QCOMPARE(q.tsa.poolKernel, p.tsa.poolKernel);
        QCOMPARE(q.tsa.minTokens, p.tsa.minTokens);
        QCOMPARE(int(q.plan.mode), int(p.plan.mode));
        QCOMPARE(q.plan.list, p.plan.list);
        QCOMPARE(q.plan.delta, p.plan.delta);
        QCOMPARE(q.layer, 2);
        QCOMPARE(q.head, 3);
        QCOMPARE(viewStateFromJson(json), v);
        // The keys sessions and settings always had: a file written before the split reads the same.
        QCOMPARE(json.value(QStringLiteral("color_map")).toString(), QStringLiteral("magma"));
        QCOMPARE(json.value(QStringLiteral("overview_metric")).toString(), QStringLiteral("error-p95"));
        QCOMPARE(json.value(QStringLiteral("view")).toString(), QStringLiteral("coverage"));
        QCOMPARE(viewStateFromJson(QJsonObject{{QStringLiteral("view"), 3}}), ViewState{}); // wrong type
    }

    void paramsAreSanitised() {
        ExplorerParams p;
        p.tsa.tau = 7.0;
        p.tsa.poolKernel = 6;
        p.tsa.window = -3;
        p.plan.delta = 3.0;
        QStringList adjusted;
        const ExplorerParams q = sanitised(p, &adjusted);
        // Each value the shared rules refuse is replaced by its default and named in a sentence.
        QCOMPARE(q.tsa.tau, ExplorerParams{}.tsa.tau);
        QCOMPARE(q.tsa.poolKernel, ExplorerParams{}.tsa.poolKernel);
        QCOMPARE(q.tsa.window, ExplorerParams{}.tsa.window);
        QCOMPARE(q.plan.delta, 0.5);
        QCOMPARE(adjusted.size(), 4);
        QVERIFY2(adjusted[0].startsWith(QStringLiteral("tau 7 is above 0.5")), qPrintable(adjusted[0]));
        QVERIFY2(adjusted[1].contains(QStringLiteral("window W must be at least 1, got -3; using 128")),
                 qPrintable(adjusted[1]));
        QVERIFY2(adjusted[2].contains(QStringLiteral("pool kernel k")) && adjusted[2].endsWith("using 7"),
                 qPrintable(adjusted[2]));
        QVERIFY2(adjusted[3].contains(QStringLiteral("delta")), qPrintable(adjusted[3]));
        adjusted.clear();
        QCOMPARE(sanitised(ExplorerParams{}, &adjusted).tsa.window, ExplorerParams{}.tsa.window);
        QVERIFY(adjusted.isEmpty()); // valid values pass untouched and unreported
        // tau 0 (dense) survives; wrong JSON types keep the base values.
        p = ExplorerParams{};
        p.tsa.tau = 0.0;
        QCOMPARE(sanitised(p).tsa.tau, 0.0);
        const ExplorerParams r = paramsFromJson(QJsonObject{{QStringLiteral("tau"), QStringLiteral("lots")}});
        QCOMPARE(r.tsa.tau, ExplorerParams{}.tsa.tau);
    }

    void settingsRoundTrip() {
        ExplorerParams p;
        p.tsa.tau = 0.02;
        p.head = 5;
        {
            QSettings settings;
            ViewState v;
            v.colorMap = QStringLiteral("cividis");
            saveParams(settings, p, v);
        }
        QSettings settings;
        ViewState v;
        const ExplorerParams q = loadParams(settings, &v);
        QCOMPARE(q.tsa.tau, 0.02);
        QCOMPARE(q.head, 5);
        QCOMPARE(v.colorMap, QStringLiteral("cividis"));
    }

    void tauSliderIsLogarithmic() {
        // Position 0 is tau 0 (dense); the log range starts one step later.
        QCOMPARE(TauEditor::sliderPosition(0.0), 0);
        QCOMPARE(TauEditor::tauAt(0), 0.0);
        QCOMPARE(TauEditor::sliderPosition(kTauMin), 1);
        QCOMPARE(TauEditor::sliderPosition(kTauMax), TauEditor::kSteps);
        QCOMPARE(TauEditor::tauAt(1), kTauMin);
        QCOMPARE(TauEditor::tauAt(TauEditor::kSteps), kTauMax);
        // Equal slider distances are equal ratios: the middle of the log range is the geometric mean.
        const int middle = 1 + (TauEditor::kSteps - 1) / 2;
        QVERIFY(qAbs(TauEditor::tauAt(middle) - std::sqrt(kTauMin * kTauMax)) < 1e-4);
        for (int pos = 1; pos <= TauEditor::kSteps; pos += 37)
            QVERIFY(qAbs(TauEditor::sliderPosition(TauEditor::tauAt(pos)) - pos) <= 2);

        TauEditor editor;
        QSignalSpy spy(&editor, &TauEditor::valueChanged);
        editor.slider()->setValue(TauEditor::sliderPosition(0.05));
        QCOMPARE(spy.count(), 1);
        QVERIFY(qAbs(editor.value() - 0.05) < 0.001);
        QCOMPARE(editor.field()->text(), TauEditor::format(editor.value()));
        editor.field()->setText(QStringLiteral("0.00123"));
        QVERIFY(editor.commitText());
        QCOMPARE(spy.count(), 2);
        QCOMPARE(editor.value(), 0.00123);
        QCOMPARE(editor.slider()->value(), TauEditor::sliderPosition(0.00123));
        editor.setValue(0.3); // programmatic: no signal
        QCOMPARE(spy.count(), 2);
    }

    // Issue 8 items 2 and 6: the field accepts every value the shared rule accepts, exactly, and refuses
    // the rest visibly, keeping the typed text; nothing is changed or dropped silently.
    void tauFieldAcceptsOrRefusesVisibly() {
        TauEditor editor;
        editor.show();
        QSignalSpy spy(&editor, &TauEditor::valueChanged);
        struct Case {
            const char* text;
            double value; // < 0: refused
        };
        const Case cases[] = {{"0", 0.0},       {"0.00001", 1e-5}, {"1e-9", 1e-9}, {"0.0001", 1e-4},
                              {" 0.02 ", 0.02}, {"0.5", 0.5},      {"0.7", -1},    {"-0.1", -1},
                              {"abc", -1},      {"", -1},          {"nan", -1},    {"0.01x", -1}};
        for (const Case& c : cases) {
            editor.setValue(0.005);
            spy.clear();
            editor.field()->setFocus();
            QTest::keyClick(editor.field(), Qt::Key_A, Qt::ControlModifier);
            QTest::keyClick(editor.field(), Qt::Key_Backspace);
            QTest::keyClicks(editor.field(), QString::fromLatin1(c.text));
            QTest::keyClick(editor.field(), Qt::Key_Return);
            const QString what = QString::fromLatin1(c.text);
            if (c.value >= 0) {
                QVERIFY2(editor.problem().isEmpty(),
                         qPrintable(what + QStringLiteral(": ") + editor.problem()));
                QCOMPARE(editor.value(), c.value);
                QCOMPARE(spy.count(), 1);
                QCOMPARE(editor.field()->text(), TauEditor::format(c.value));
                QCOMPARE(editor.slider()->value(), TauEditor::sliderPosition(c.value));
                QVERIFY(!editor.findChild<QLabel*>(QStringLiteral("tauProblem"))->isVisible());
            } else {
                QVERIFY2(!editor.problem().isEmpty(), qPrintable(what));
                QVERIFY(editor.problem().contains(QStringLiteral("tau")));
                QCOMPARE(editor.value(), 0.005);
                QCOMPARE(spy.count(), 0);
                QCOMPARE(editor.field()->text(), what); // kept as typed
                auto* label = editor.findChild<QLabel*>(QStringLiteral("tauProblem"));
                QVERIFY(label && label->isVisible() && label->text().contains(editor.problem()));
            }
        }
        // Another parameter re-syncing the controls (same tau) keeps the refused text and its reason.
        editor.setValue(0.005);
        QCOMPARE(editor.field()->text(), QStringLiteral("0.01x"));
        QVERIFY(!editor.problem().isEmpty());
        // A refused text fixed by typing clears the reason at once, and Return applies it.
        editor.field()->selectAll();
        QTest::keyClicks(editor.field(), QStringLiteral("0.03"));
        QVERIFY(editor.problem().isEmpty());
        QTest::keyClick(editor.field(), Qt::Key_Return);
        QCOMPARE(editor.value(), 0.03);
        // The slider's first position is tau 0, and Up/Down in the field step along the slider.
        editor.slider()->setValue(0);
        QCOMPARE(editor.value(), 0.0);
        QCOMPARE(editor.field()->text(), QStringLiteral("0"));
        QTest::keyClick(editor.field(), Qt::Key_Up);
        QCOMPARE(editor.value(), kTauMin);
        QTest::keyClick(editor.field(), Qt::Key_Down);
        QCOMPARE(editor.value(), 0.0);
    }

    // One rule for tau everywhere (tsa run, tsa export, the explorer's command line, the field, sessions).
    void tauRuleIsShared() {
        for (double ok : {0.0, 1e-9, 1e-5, 0.005, 0.5})
            QVERIFY2(tsa::tauProblem(ok).empty(), qPrintable(QString::number(ok)));
        for (double bad : {-0.1, 0.7, 1.0, double(std::nan("")), double(INFINITY)})
            QVERIFY(QString::fromStdString(tsa::tauProblem(bad)).startsWith(QStringLiteral("tau")));
        CommandLine cl;
        QString message;
        QCOMPARE(parseCommandLine({QStringLiteral("x"), QStringLiteral("--tau"), QStringLiteral("1e-5")}, &cl,
                                  &message),
                 ParseOutcome::Run);
        QCOMPARE(*cl.tau, 1e-5);
        QCOMPARE(parseCommandLine({QStringLiteral("x"), QStringLiteral("--tau"), QStringLiteral("0")}, &cl,
                                  &message),
                 ParseOutcome::Run);
        QCOMPARE(*cl.tau, 0.0);
        QCOMPARE(parseCommandLine({QStringLiteral("x"), QStringLiteral("--tau"), QStringLiteral("0.7")}, &cl,
                                  &message),
                 ParseOutcome::ExitUsage);
        QCOMPARE(message, QStringLiteral("--tau: ") + QString::fromStdString(tsa::tauProblem(0.7)));
    }

    // The other selection options follow the same rules as tsa run and sessions: the message is core's.
    void commandLineUsesSharedRules() {
        auto refusal = [](const QString& option, const QString& value) {
            CommandLine cl;
            QString message;
            const auto outcome = parseCommandLine({QStringLiteral("x"), option, value}, &cl, &message);
            return outcome == ParseOutcome::ExitUsage ? message : QStringLiteral("accepted");
        };
        QCOMPARE(refusal(QStringLiteral("--window"), QStringLiteral("0")),
                 QStringLiteral("--window: ") + QString::fromStdString(tsa::windowProblem(0)));
        QCOMPARE(refusal(QStringLiteral("--pool-kernel"), QStringLiteral("4")),
                 QStringLiteral("--pool-kernel: ") + QString::fromStdString(tsa::poolKernelProblem(4)));
        QCOMPARE(refusal(QStringLiteral("--min-tokens"), QStringLiteral("-1")),
                 QStringLiteral("--min-tokens: ") + QString::fromStdString(tsa::minTokensProblem(-1)));
        QCOMPARE(refusal(QStringLiteral("--delta"), QStringLiteral("2")),
                 QStringLiteral("--delta: ") + QString::fromStdString(tsa::deltaProblem(2)));
        QVERIFY(
            refusal(QStringLiteral("--layer-list"), QStringLiteral("9-2")).startsWith("--layer-list: '9-2'"));
        QVERIFY(refusal(QStringLiteral("--sparse-layers"), QStringLiteral("most"))
                    .endsWith(QStringLiteral("half, drift, all or list")));
        QVERIFY(refusal(QStringLiteral("--metric"), QStringLiteral("speed"))
                    .contains(QStringLiteral("kept, error-p95 or retained-mass")));
        CommandLine cl;
        QString message;
        QCOMPARE(parseCommandLine(
                     {QStringLiteral("x"), QStringLiteral("--layer-list"), QStringLiteral("16-18, 4,4")}, &cl,
                     &message),
                 ParseOutcome::Run);
        QCOMPARE(*cl.layerList, (std::vector<int>{4, 16, 17, 18}));
        QCOMPARE(parseCommandLine(
                     {QStringLiteral("x"), QStringLiteral("--checkpoints-budget"), QStringLiteral("0")}, &cl,
                     &message),
                 ParseOutcome::Run);
        QCOMPARE(*cl.checkpointsBudgetMiB, 0); // 0: no checkpoints
        QCOMPARE(refusal(QStringLiteral("--checkpoints-budget"), QStringLiteral("-1")),
                 QStringLiteral("--checkpoints-budget: '-1' is not an integer in [0, 1048576]"));
    }

    void jobRunnerDeliversOnlyLiveResults() {
        JobRunner runner;
        int delivered = 0;
        QSignalSpy finished(&runner, &JobRunner::finished);
        QSignalSpy failed(&runner, &JobRunner::failed);
        // A job cancelled while running: its closure is never run.
        const quint64 first = runner.start(QStringLiteral("slow"), [](const std::atomic<bool>& cancel) {
            while (!cancel.load())
                QThread::msleep(1);
            return std::function<void()>([] { QFAIL("a cancelled job's result was delivered"); });
        });
        QVERIFY(first != 0);
        QVERIFY(runner.busy());
        QCOMPARE(runner.start(QStringLiteral("second"),
                              [](const std::atomic<bool>&) { return std::function<void()>(); }),
                 quint64(0)); // one at a time
        runner.cancel();
        QTRY_COMPARE(finished.count(), 1);
        QCOMPARE(finished.at(0).at(1).toBool(), true);
        QVERIFY(!runner.busy());
        // A normal job: delivered on this thread.
        runner.start(QStringLiteral("ok"), [&delivered](const std::atomic<bool>&) {
            return std::function<void()>([&delivered] { ++delivered; });
        });
        QTRY_COMPARE(finished.count(), 2);
        QCOMPARE(delivered, 1);
        // A job that throws reports a failure instead of taking the process down.
        runner.start(QStringLiteral("throws"),
                     [](const std::atomic<bool>&) -> std::function<void()> { throw std::bad_alloc(); });
        QTRY_COMPARE(finished.count(), 3);
        QCOMPARE(failed.count(), 1);
        QCOMPARE(failed.at(0).at(1).toString(), QStringLiteral("out of memory"));
    }

    void commandLine() {
        CommandLine cl;
        QString message;
        QCOMPARE(parseCommandLine({QStringLiteral("x"), QStringLiteral("f.safetensors"),
                                   QStringLiteral("--tau"), QStringLiteral("0.01"), QStringLiteral("--layer"),
                                   QStringLiteral("3"), QStringLiteral("--head"), QStringLiteral("2"),
                                   QStringLiteral("--view"), QStringLiteral("coverage"),
                                   QStringLiteral("--screenshot"), QStringLiteral("o.png")},
                                  &cl, &message),
                 ParseOutcome::Run);
        QCOMPARE(cl.file, QStringLiteral("f.safetensors"));
        QCOMPARE(*cl.tau, 0.01);
        QCOMPARE(*cl.layerId, 3);
        QCOMPARE(*cl.head, 2);
        QCOMPARE(*cl.view, QStringLiteral("coverage"));
        QVERIFY(cl.headless());
        ExplorerParams p;
        cl.applyTo(&p);
        QCOMPARE(p.tsa.tau, 0.01);
        ViewState v;
        cl.applyTo(&v);
        QCOMPARE(v.view, QStringLiteral("coverage"));

        const QList<QStringList> bad = {
            {QStringLiteral("x"), QStringLiteral("--tau"), QStringLiteral("abc")},
            {QStringLiteral("x"), QStringLiteral("f"), QStringLiteral("--tau"), QStringLiteral("0.9")},
            {QStringLiteral("x"), QStringLiteral("f"), QStringLiteral("--pool-kernel"), QStringLiteral("4")},
            {QStringLiteral("x"), QStringLiteral("f"), QStringLiteral("--view"), QStringLiteral("nope")},
            {QStringLiteral("x"), QStringLiteral("--screenshot"), QStringLiteral("o.png")},
            {QStringLiteral("x"), QStringLiteral("f"), QStringLiteral("--screenshot"),
             QStringLiteral("o.jpg")},
            {QStringLiteral("x"), QStringLiteral("f"), QStringLiteral("--bogus")},
            {QStringLiteral("x"), QStringLiteral("f"), QStringLiteral("--sparse-layers"),
             QStringLiteral("odd")},
        };
        for (const QStringList& args : bad) {
            message.clear();
            QCOMPARE(parseCommandLine(args, &cl, &message), ParseOutcome::ExitUsage);
            QVERIFY2(!message.isEmpty(), qPrintable(args.join(QLatin1Char(' '))));
        }
        QCOMPARE(parseCommandLine({QStringLiteral("x"), QStringLiteral("--help")}, &cl, &message),
                 ParseOutcome::ExitOk);
        for (const QString& view : explorerViewNames())
            QVERIFY(message.contains(view));
    }

    void sessionFiles() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        QFile capture(dir.filePath(QStringLiteral("data/c.safetensors")));
        QDir(dir.path()).mkpath(QStringLiteral("data"));
        QVERIFY(capture.open(QIODevice::WriteOnly));
        capture.close();
        Session s;
        s.filePath = capture.fileName();
        s.params.tsa.tau = 0.03;
        s.viewState.view = QStringLiteral("depth");
        s.viewState.colorMap = QStringLiteral("inferno");
        s.params.layer = 1;
        const QString path = dir.filePath(QStringLiteral("s.json"));
        QString error;
        QVERIFY2(saveSession(path, s, &error), qPrintable(error));
        auto loaded = loadSession(path, &error);
        QVERIFY2(loaded, qPrintable(error));
        QCOMPARE(QFileInfo(loaded->filePath).canonicalFilePath(), QFileInfo(s.filePath).canonicalFilePath());
        QCOMPARE(loaded->params.tsa.tau, 0.03);
        QCOMPARE(loaded->viewState.view, QStringLiteral("depth"));
        QCOMPARE(loaded->viewState.colorMap, QStringLiteral("inferno"));
        // A session written before the view state left the parameters (the same keys) reads the same.
        const QByteArray old = R"({"format": "tsa-explorer-session", "version": 1, "file": "c.safetensors",
            "params": {"tau": 0.01, "color_map": "magma", "overview_metric": "kept", "view": "error"}})";
        auto before = sessionFromJson(old, path, &error);
        QVERIFY2(before, qPrintable(error));
        QCOMPARE(before->params.tsa.tau, 0.01);
        QCOMPARE(before->viewState.colorMap, QStringLiteral("magma"));
        QCOMPARE(before->viewState.overviewMetric, QStringLiteral("kept"));
        QCOMPARE(before->viewState.view, QStringLiteral("error"));
        QCOMPARE(loaded->params.layer, 1);

        // Broken files say what is wrong.
        QVERIFY(!sessionFromJson("{", path, &error));
        QVERIFY(error.contains(path));
        QVERIFY(!sessionFromJson(R"({"format":"other","version":1,"file":"x"})", path, &error));
        QVERIFY(error.contains(QStringLiteral("format")));
        QVERIFY(
            !sessionFromJson(R"({"format":"tsa-explorer-session","version":99,"file":"x"})", path, &error));
        QVERIFY(error.contains(QStringLiteral("99")));
        QVERIFY(!loadSession(dir.filePath(QStringLiteral("missing.json")), &error));
        // A value the shared rules refuse is refused with core's reason, not altered.
        QVERIFY(!sessionFromJson(
            R"({"format":"tsa-explorer-session","version":1,"file":"x","params":{"pool_kernel":4}})", path,
            &error));
        QVERIFY2(error.contains(QString::fromStdString(tsa::poolKernelProblem(4))), qPrintable(error));
        QVERIFY(!sessionFromJson(
            R"({"format":"tsa-explorer-session","version":1,"file":"x","params":{"delta":1.5}})", path,
            &error));
        QVERIFY2(error.contains(QStringLiteral("delta")), qPrintable(error));
    }

    void exportersWriteValidFiles() {
        QTemporaryDir dir;
        // A real view with a little data: the exporters are generic over ExportableView.
        tsa::views::SparsityView view;
        tsa::views::SparsityData data;
        data.tokens = 1000;
        tsa::views::SparsityLayer layer;
        layer.layerId = 3;
        layer.sparse = true;
        layer.keptFraction = 0.25;
        data.layers = {layer};
        view.setData(data);
        QString error;
        const QString png = dir.filePath(QStringLiteral("v.png"));
        QVERIFY2(writeView(view, png, QSize(300, 200), 2.0, &error), qPrintable(error));
        QImage image(png);
        QCOMPARE(image.size(), QSize(600, 400));
        const QString svg = dir.filePath(QStringLiteral("v.svg"));
        QVERIFY(writeView(view, svg, QSize(300, 200), 1.0, &error));
        QFile svgFile(svg);
        QVERIFY(svgFile.open(QIODevice::ReadOnly));
        QVERIFY(svgFile.readAll().contains("<svg"));
        const QString csv = dir.filePath(QStringLiteral("v.csv"));
        QVERIFY(writeView(view, csv, QSize(300, 200), 1.0, &error));
        QFile csvFile(csv);
        QVERIFY(csvFile.open(QIODevice::ReadOnly));
        const QByteArray csvText = csvFile.readAll();
        QVERIFY2(csvText.startsWith("layer_index,layer_id,sparse") && csvText.contains("0,3,1,"),
                 csvText.constData());
        QVERIFY(!writeView(view, dir.filePath(QStringLiteral("v.bmp")), QSize(300, 200), 1.0, &error));
        QVERIFY(error.contains(QStringLiteral(".png")));
        // Writing into a missing folder fails with the path in the message, and leaves nothing behind.
        QVERIFY(
            !writeView(view, dir.filePath(QStringLiteral("no/such/v.png")), QSize(300, 200), 1.0, &error));
        QVERIFY(error.contains(QStringLiteral("no/such")));
    }
};

QTEST_MAIN(TestAppUnits)
#include "test_app_units.moc"
