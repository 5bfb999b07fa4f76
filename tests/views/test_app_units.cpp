// The explorer's small parts: parameter JSON and settings, layer lists, the log tau slider mapping, the
// LRU cache, the command line, session files and the view exporters.
#include "app/explorer/command_line.h"
#include "app/explorer/explorer_params.h"
#include "app/explorer/job_runner.h"
#include "app/explorer/placeholder_view.h"
#include "app/explorer/session.h"
#include "app/explorer/tau_editor.h"
#include "app/explorer/view_export.h"

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
        p.colorMap = QStringLiteral("magma");
        p.overviewMetric = QStringLiteral("error-p95");
        p.view = QStringLiteral("coverage");
        const ExplorerParams q = paramsFromJson(toJson(p));
        QCOMPARE(q.tsa.tau, p.tsa.tau);
        QCOMPARE(q.tsa.window, p.tsa.window);
        QCOMPARE(q.tsa.poolKernel, p.tsa.poolKernel);
        QCOMPARE(q.tsa.minTokens, p.tsa.minTokens);
        QCOMPARE(int(q.plan.mode), int(p.plan.mode));
        QCOMPARE(q.plan.list, p.plan.list);
        QCOMPARE(q.plan.delta, p.plan.delta);
        QCOMPARE(q.layer, 2);
        QCOMPARE(q.head, 3);
        QCOMPARE(q.colorMap, p.colorMap);
        QCOMPARE(q.overviewMetric, p.overviewMetric);
        QCOMPARE(q.view, p.view);
    }

    void paramsAreSanitised() {
        ExplorerParams p;
        p.tsa.tau = 7.0;
        p.tsa.poolKernel = 6;
        p.tsa.window = -3;
        p.plan.delta = 3.0;
        const ExplorerParams q = sanitised(p);
        QCOMPARE(q.tsa.tau, ExplorerParams{}.tsa.tau); // refused by tsa::tauProblem: the default
        QCOMPARE(q.tsa.poolKernel % 2, tsa::Index(1));
        QVERIFY(q.tsa.window >= 1);
        QCOMPARE(q.plan.delta, 0.5);
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
            saveParams(settings, p);
        }
        QSettings settings;
        const ExplorerParams q = loadParams(settings);
        QCOMPARE(q.tsa.tau, 0.02);
        QCOMPARE(q.head, 5);
    }

    void layerLists() {
        std::vector<int> layers;
        QVERIFY(parseLayerList(QStringLiteral("16-18, 4,4 , 9"), &layers));
        QCOMPARE(layers, (std::vector<int>{4, 9, 16, 17, 18}));
        QCOMPARE(layerListText(layers), QStringLiteral("4,9,16,17,18"));
        QVERIFY(parseLayerList(QString(), &layers));
        QVERIFY(layers.empty());
        QVERIFY(!parseLayerList(QStringLiteral("3,x"), &layers));
        QVERIFY(!parseLayerList(QStringLiteral("9-2"), &layers));
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
        QCOMPARE(p.view, QStringLiteral("coverage"));

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
        s.params.view = QStringLiteral("depth");
        s.params.layer = 1;
        const QString path = dir.filePath(QStringLiteral("s.json"));
        QString error;
        QVERIFY2(saveSession(path, s, &error), qPrintable(error));
        auto loaded = loadSession(path, &error);
        QVERIFY2(loaded, qPrintable(error));
        QCOMPARE(QFileInfo(loaded->filePath).canonicalFilePath(), QFileInfo(s.filePath).canonicalFilePath());
        QCOMPARE(loaded->params.tsa.tau, 0.03);
        QCOMPARE(loaded->params.view, QStringLiteral("depth"));
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
    }

    void exportersWriteValidFiles() {
        QTemporaryDir dir;
        PlaceholderView view(QStringLiteral("demo"), QStringLiteral("Demo"));
        view.setText(QStringLiteral("hello, \"world\""));
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
        QVERIFY(csvFile.readAll().startsWith("view,message"));
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
