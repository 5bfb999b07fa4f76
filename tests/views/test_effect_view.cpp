// The Effect view and its wiring, offscreen: it draws every panel of a realistic effect file (and says so
// when a part is missing), tooltips and hover/click/key events work and pick the tau, PNG/SVG/CSV exports
// hold what is on screen; the window opens an effect file on its own (detected by its metadata) and beside
// a capture, reports a broken one, and sessions remember it; the headless path renders it.
#include "app/explorer/analysis_controller.h"
#include "app/explorer/command_line.h"
#include "app/explorer/headless.h"
#include "app/explorer/main_window.h"
#include "app/explorer/session.h"
#include "app/explorer/view_export.h"
#include "app/explorer/view_set.h"
#include "core/io/capture.h"
#include "test_app_support.h"
#include "tests/core/effect_test_data.h"
#include "views/effect_view.h"

#include <QFile>
#include <QHelpEvent>
#include <QImage>
#include <QPainter>
#include <QSet>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QtTest>

using namespace tsa;
using namespace tsa::app;
using tsa::test::waitFor;

namespace {

int distinctColours(const QImage& image) {
    QSet<QRgb> colours;
    for (int y = 0; y < image.height(); y += 2)
        for (int x = 0; x < image.width(); x += 2)
            colours.insert(image.pixel(x, y));
    return colours.size();
}

QImage renderView(const views::ExportableView& view, const QSize& size) {
    QImage image(size, QImage::Format_ARGB32);
    image.fill(Qt::transparent);
    QPainter painter(&image);
    painter.setRenderHint(QPainter::Antialiasing);
    view.render(painter, size);
    return image;
}

// The SVG export carries every string the view drew: the way to check a message is on the picture.
QString svgText(const views::ExportableView& view, const QString& path) {
    QString error;
    if (!writeView(view, path, QSize(1200, 800), 1.0, &error)) return QStringLiteral("ERROR ") + error;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) return {};
    return QString::fromUtf8(file.readAll());
}

// Every tooltip over a grid of points of the widget.
QStringList tooltipsOver(const views::EffectView& view) {
    QStringList out;
    for (int y = 0; y < view.height(); y += 6)
        for (int x = 0; x < view.width(); x += 6)
            if (const QString t = view.toolTipAt(QPoint(x, y)); !t.isEmpty()) out << t;
    return out;
}

} // namespace

class TestEffectView : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    QString m_needleFile, m_textFile;

    QString writeSpec(const testdata::EffectFileSpec& spec, const QString& name) {
        const QString path = m_dir.filePath(name);
        const Status s = testdata::writeEffectFile(path.toStdString(), spec);
        return s.ok() ? path : QString();
    }

    std::shared_ptr<const EffectData> read(const QString& path) {
        auto r = readEffect(path.toStdString());
        if (!r.ok()) return nullptr;
        return std::make_shared<const EffectData>(std::move(r.value()));
    }

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("tsa-explorer-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test_effect_view"));
        QSettings().clear();
        QVERIFY(m_dir.isValid());
        m_needleFile =
            writeSpec(testdata::realisticEffect(testdata::EffectWorkload::Needle), "needle.safetensors");
        m_textFile = writeSpec(testdata::realisticEffect(testdata::EffectWorkload::Text), "text.safetensors");
        QVERIFY(!m_needleFile.isEmpty() && !m_textFile.isEmpty());
        // Left for a person (and docs/images/effect-view.png) to look at, like test_views_shots' pictures.
        const QString shots = qEnvironmentVariable("TSA_VIEWS_SHOTS_DIR", QStringLiteral("/tmp/views-shots"));
        QDir().mkpath(shots);
        QFile::remove(shots + QStringLiteral("/effect_example.safetensors"));
        QFile::copy(m_needleFile, shots + QStringLiteral("/effect_example.safetensors"));
        QFile::remove(shots + QStringLiteral("/effect_example_text.safetensors"));
        QFile::copy(m_textFile, shots + QStringLiteral("/effect_example_text.safetensors"));
    }

    void drawsEveryPanel() {
        views::EffectView view;
        view.resize(1200, 800);
        view.setData(read(m_needleFile));
        QVERIFY(view.data());
        QCOMPARE(view.selectedRun(), 6); // the strongest tau by default
        const QImage image = renderView(view, QSize(1200, 800));
        QVERIFY(distinctColours(image) > 40);
        // Tiny and huge targets draw without trouble (panels clamp to a minimum size).
        QVERIFY(!renderView(view, QSize(320, 220)).isNull());
        QVERIFY(distinctColours(renderView(view, QSize(3000, 1800))) > 40);
        const QString svg = svgText(view, m_dir.filePath("needle.svg"));
        QVERIFY2(svg.contains(QStringLiteral("KL(dense")), qPrintable(svg.left(200)));
        QVERIFY(svg.contains(QStringLiteral("Needle token overlap at tau = 0.05")));
        QVERIFY(svg.contains(QStringLiteral("context length")));
        QVERIFY(svg.contains(QStringLiteral("needle depth")));
        QVERIFY(svg.contains(QStringLiteral("tau (log scale; 0 = dense)")));
        QVERIFY(svg.contains(QStringLiteral("Jaccard, mean and head range")));
        // A needle workload has no perplexity: the panel says so instead of an empty chart.
        QVERIFY(svg.contains(QStringLiteral("no perplexity in this file (needle workload)")));
        // Against the mean kept fraction.
        view.setXAxis(views::EffectXAxis::KeptFraction);
        const QString keptSvg = svgText(view, m_dir.filePath("needle_kept.svg"));
        QVERIFY(keptSvg.contains(QStringLiteral("mean kept fraction (true, interleaved)")));
        QVERIFY(!keptSvg.contains(QStringLiteral("tau (log scale")));
        view.setNeedleExact(true);
        QVERIFY(svgText(view, m_dir.filePath("exact.svg")).contains(QStringLiteral("Needle exact match")));
    }

    void missingPartsSaySo() {
        views::EffectView view;
        view.resize(1200, 800);
        QVERIFY(svgText(view, m_dir.filePath("empty.svg")).contains(QStringLiteral("No effect file open")));
        view.setData(read(m_textFile));
        const QString svg = svgText(view, m_dir.filePath("text.svg"));
        QVERIFY(svg.contains(QStringLiteral("no needle runs in this file (text workload)")));
        QVERIFY(svg.contains(QStringLiteral("Perplexity of the text")));
        QVERIFY(!svg.contains(QStringLiteral("no perplexity")));
        view.setSelectedRun(0);
        QVERIFY(
            svgText(view, m_dir.filePath("tau0.svg")).contains(QStringLiteral("tau 0 keeps every token")));

        // Without kept sets and Jaccard values the layer panel says what is missing.
        testdata::EffectFileSpec spec = testdata::minimalEffect();
        spec.sets.clear();
        spec.effect["runs"][1]["jaccard_vs_dense"] = {nullptr, nullptr};
        const QString bare = writeSpec(spec, "bare.safetensors");
        view.setData(read(bare));
        view.setSelectedRun(1);
        QVERIFY(
            svgText(view, m_dir.filePath("bare.svg")).contains(QStringLiteral("no kept sets or Jaccard")));

        // Null measures everywhere (a writer that failed to measure): every panel still draws, no axis
        // is built from an empty range.
        spec = testdata::minimalEffect();
        for (auto& run : spec.effect["runs"])
            for (const char* key : {"kl_last", "kl_mean", "top1_agreement", "ppl", "mean_kept_fraction"})
                run[key] = nullptr;
        view.setData(read(writeSpec(spec, "nulls.safetensors")));
        QVERIFY(view.data());
        view.setXAxis(views::EffectXAxis::KeptFraction);
        const QString nulls = svgText(view, m_dir.filePath("nulls.svg"));
        QVERIFY(nulls.contains(QStringLiteral("no KL in this file")));
        QVERIFY(nulls.contains(QStringLiteral("no agreement or needle scores in this file")));
    }

    void tooltipsAndEvents() {
        views::EffectView view;
        view.resize(1200, 800);
        view.setData(read(m_needleFile));
        view.show();
        const QStringList tips = tooltipsOver(view);
        auto any = [&](const QString& s) {
            return std::any_of(tips.begin(), tips.end(), [&](const QString& t) { return t.contains(s); });
        };
        QVERIFY(any(QStringLiteral("KL last")));
        QVERIFY(any(QStringLiteral("needle: overlap")));
        QVERIFY(any(QStringLiteral("length 512, depth 50%")));
        QVERIFY(any(QStringLiteral("true kept fraction")));
        QVERIFY(any(QStringLiteral("Jaccard (kept sets) mean")));
        // Real tooltip and hover events everywhere do not crash.
        for (int y = 0; y < 800; y += 37)
            for (int x = 0; x < 1200; x += 41) {
                QHelpEvent help(QEvent::ToolTip, QPoint(x, y), view.mapToGlobal(QPoint(x, y)));
                QApplication::sendEvent(&view, &help);
                QTest::mouseMove(&view, QPoint(x, y));
            }
        // Clicking a point of the top row picks its tau.
        QSignalSpy spy(&view, &views::EffectView::runSelected);
        QPoint target;
        for (int y = 0; y < 400 && target.isNull(); y += 2)
            for (int x = 0; x < 1200 && target.isNull(); x += 2)
                if (view.runAt(QPoint(x, y)) == 2) target = QPoint(x, y);
        QVERIFY(!target.isNull());
        QTest::mouseClick(&view, Qt::LeftButton, {}, target);
        QCOMPARE(view.selectedRun(), 2);
        QCOMPARE(spy.count(), 1);
        QCOMPARE(spy.takeFirst().at(0).toDouble(), 0.002);
        QTest::keyClick(&view, Qt::Key_Right);
        QCOMPARE(view.selectedRun(), 3);
        QTest::keyClick(&view, Qt::Key_Left);
        QTest::keyClick(&view, Qt::Key_Left);
        QCOMPARE(view.selectedRun(), 1);
        QCOMPARE(spy.count(), 3);
        view.selectNearestTau(0.006);
        QCOMPARE(view.selectedRun(), 3);
    }

    void exportsPngSvgCsv() {
        views::EffectView view;
        view.setData(read(m_needleFile));
        QString error;
        for (const QString& ext : {QStringLiteral("png"), QStringLiteral("svg"), QStringLiteral("csv")}) {
            const QString path = m_dir.filePath(QStringLiteral("export.") + ext);
            QVERIFY2(writeView(view, path, QSize(1000, 700), 2.0, &error), qPrintable(error));
            QVERIFY(QFileInfo(path).size() > 100);
        }
        QImage png(m_dir.filePath("export.png"));
        QCOMPARE(png.size(), QSize(2000, 1400));
        const QStringList lines = view.csv().split(QStringLiteral("\r\n"), Qt::SkipEmptyParts);
        // Header, 7 runs, 7 x 5 layers, 7 x 20 needle cases.
        QCOMPARE(lines.size(), 1 + 7 + 35 + 140);
        QVERIFY(lines[0].startsWith(QStringLiteral("kind,run,tau,mean_kept_fraction,kl_last")));
        QCOMPARE(lines.filter(QStringLiteral("needle,6,0.05,")).size(), 20);
    }

    void windowOpensEffectAloneAndRemembersIt() {
        MainWindow window(nullptr, false);
        window.resize(1300, 850);
        window.show();
        window.openPath(m_needleFile); // detected by its metadata, not its name
        QVERIFY(waitFor([&] { return window.controller()->effect() != nullptr; }));
        QCOMPARE(window.currentViewName(), QStringLiteral("effect"));
        QVERIFY(!window.controller()->hasCapture());
        QVERIFY(window.windowTitle().contains(QStringLiteral("needle.safetensors")));
        auto* view = dynamic_cast<views::EffectView*>(window.viewSet()->view(QStringLiteral("effect")));
        QVERIFY(view && view->data());
        // The explorer's tau (0.005 by default) chooses the run shown.
        QCOMPARE(view->data()->runs[std::size_t(view->selectedRun())].tau, 0.005);
        // A tau picked in the view becomes the explorer's tau.
        emit view->runSelected(0.02);
        QCOMPARE(window.controller()->params().tsa.tau, 0.02);
        window.viewSet()->flush();
        QCOMPARE(view->data()->runs[std::size_t(view->selectedRun())].tau, 0.02);
        // The menu switches the x axis through the parameters.
        ExplorerParams p = window.controller()->params();
        p.effectAxis = QStringLiteral("kept");
        window.controller()->setParams(p);
        window.viewSet()->flush();
        QCOMPARE(view->xAxis(), views::EffectXAxis::KeptFraction);

        const QString sessionPath = m_dir.filePath("effect.session.json");
        QVERIFY(window.saveSession(sessionPath));
        QString error;
        auto session = loadSession(sessionPath, &error);
        QVERIFY2(session, qPrintable(error));
        QVERIFY(session->filePath.isEmpty());
        QCOMPARE(QFileInfo(session->effectPath).canonicalFilePath(),
                 QFileInfo(m_needleFile).canonicalFilePath());
        QCOMPARE(session->params.effectAxis, QStringLiteral("kept"));

        MainWindow second(nullptr, false);
        second.show();
        QVERIFY(second.openSession(sessionPath));
        QVERIFY(waitFor([&] { return second.controller()->effect() != nullptr; }));
        QCOMPARE(second.currentViewName(), QStringLiteral("effect"));
        QCOMPARE(second.controller()->params().effectAxis, QStringLiteral("kept"));
        // A session without an effect file closes the one that is open: it restores its own picture.
        Session plain;
        plain.filePath = m_needleFile; // any file: only the effect matters here, the open may fail
        const QString plainPath = m_dir.filePath("plain.session.json");
        QVERIFY(saveSession(plainPath, plain, &error));
        QVERIFY(second.openSession(plainPath));
        QVERIFY(!second.controller()->effect());
    }

    void nextStartReopensTheEffectBesideTheCapture() {
        test::SmallCaptureShape shape;
        shape.tokens = 512;
        QString error;
        const QString capture =
            test::writeSmallCapture(m_dir, QStringLiteral("last.safetensors"), shape, &error);
        QVERIFY2(!capture.isEmpty(), qPrintable(error));
        {
            MainWindow first; // with settings
            first.show();
            first.openFile(capture);
            QVERIFY(waitFor([&] { return first.controller()->hasCapture(); }));
            first.openEffect(m_textFile);
            QVERIFY(waitFor([&] { return first.controller()->effect() != nullptr; }));
            QCOMPARE(first.currentViewName(), QStringLiteral("effect"));
            first.close();
        }
        // The capture stays the last file; the effect is remembered apart and reopened beside it.
        QCOMPARE(QSettings().value(QStringLiteral("lastFile")).toString(),
                 QFileInfo(capture).absoluteFilePath());
        MainWindow second;
        second.show();
        second.startup();
        QVERIFY(waitFor([&] { return second.controller()->hasCapture() && second.controller()->effect(); }));
        QCOMPARE(QFileInfo(second.controller()->effectPath()).canonicalFilePath(),
                 QFileInfo(m_textFile).canonicalFilePath());
        // File > Close Effect forgets it.
        QAction* close = nullptr;
        for (QAction* a : second.findChildren<QAction*>())
            if (a->text().remove(QLatin1Char('&')) == QStringLiteral("Close Effect")) close = a;
        QVERIFY(close);
        QSignalSpy closed(second.controller(), &AnalysisController::effectClosed);
        close->trigger();
        QCOMPARE(closed.count(), 1);
        QVERIFY(!second.controller()->effect());
        QVERIFY(!QSettings().contains(QStringLiteral("lastEffect")));
        second.viewSet()->flush();
        auto* view = dynamic_cast<views::EffectView*>(second.viewSet()->view(QStringLiteral("effect")));
        QVERIFY(view && !view->data());
        QSettings().clear();
    }

    void firstStartOpensTheBundledEffect() {
        const QString effect = MainWindow::bundledEffectPath();
        if (effect.isEmpty()) QSKIP("no sample_data/stories260k_effect.safetensors in this checkout");
        QSettings().clear();
        MainWindow w;
        w.show();
        w.startup();
        QVERIFY(waitFor([&] { return w.controller()->effect() != nullptr || w.errorBox(); }));
        QVERIFY(!w.errorBox());
        QCOMPARE(w.controller()->effectPath(), effect);
        QVERIFY(w.controller()->effect()->hasKeptSets());
        QSettings().clear();
    }

    void windowReportsABrokenEffectFile() {
        testdata::EffectFileSpec spec = testdata::minimalEffect();
        spec.sets[0].kept[2] = 99;
        const QString broken = writeSpec(spec, "broken.safetensors");
        MainWindow window(nullptr, false);
        window.show();
        QSignalSpy errors(&window, &MainWindow::errorShown);
        window.openEffect(broken);
        QVERIFY(waitFor([&] { return errors.count() > 0; }));
        const QString message = errors.takeFirst().at(0).toString();
        QVERIFY2(message.contains(QStringLiteral("broken.safetensors")), qPrintable(message));
        QVERIFY2(message.contains(QStringLiteral("runs.1.layers.1.kept")), qPrintable(message));
        QVERIFY(!window.controller()->effect());
    }

    void besideACaptureWithTheSameTokens() {
        // A capture of the selection case (512 tokens, 5 layers, 8 heads) and an effect file of the same
        // tokens: with the effect's W, k and min_tokens the view shows the capture's own kept fractions.
        test::SmallCaptureShape shape;
        shape.layers = 5;
        shape.qHeads = 8;
        shape.kvHeads = 4;
        shape.tokens = 512;
        shape.headDim = 8;
        QString error;
        const QString capture =
            test::writeSmallCapture(m_dir, QStringLiteral("case.safetensors"), shape, &error);
        QVERIFY2(!capture.isEmpty(), qPrintable(error));
        auto opened = Capture::open(capture.toStdString());
        QVERIFY(opened.ok());
        testdata::EffectFileSpec spec = testdata::realisticEffect(testdata::EffectWorkload::Text);
        if (!(*opened)->tokenIds().empty()) spec.tokens = (*opened)->tokenIds();
        const QString effect = writeSpec(spec, "case_effect.safetensors");

        AnalysisController controller;
        ViewSet views(&controller);
        ExplorerParams params;
        params.tsa.window = 32;
        params.tsa.minTokens = 64;
        params.tsa.tau = 0.02;
        params.plan.mode = SparseLayerMode::All;
        QString view;
        QVERIFY2(openHeadlessInputs(controller, capture, effect, params, std::nullopt, 120000, &view, &error),
                 qPrintable(error));
        QCOMPARE(view, QStringLiteral("overview"));
        QVERIFY(controller.effectMatchesCapture());
        const int needs = views.needsOf(QStringLiteral("effect"));
        QVERIFY(needs & AnalysisController::NeedAllSelections);
        QVERIFY(controller.waitUntilReady(needs, 120000));
        views.flush();
        auto* effectView = dynamic_cast<views::EffectView*>(views.view(QStringLiteral("effect")));
        QVERIFY(effectView);
        effectView->resize(1200, 800);
        QVERIFY(svgText(*effectView, m_dir.filePath("beside.svg"))
                    .contains(QStringLiteral("open capture's estimate")));
        bool tipped = false;
        for (const QString& t : tooltipsOver(*effectView))
            tipped = tipped || t.contains(QStringLiteral("open capture at tau 0.02"));
        QVERIFY(tipped);
        // The CSV carries the estimate on the layer rows of that tau's run.
        int estimated = 0;
        for (const QString& line : effectView->csv().split(QStringLiteral("\r\n"), Qt::SkipEmptyParts)) {
            const QStringList f = line.split(QLatin1Char(','));
            if (f.size() > 15 && f[0] == QLatin1String("layer") && f[2] == QLatin1String("0.02") &&
                !f[15].isEmpty())
                ++estimated;
        }
        QCOMPARE(estimated, 5);
        // Other W: not comparable, no estimate and nothing to wait for but the effect.
        controller.setWindow(64);
        QCOMPARE(views.needsOf(QStringLiteral("effect")), int(AnalysisController::NeedEffect));
    }

    void commandLineAndSessionFormat() {
        CommandLine cl;
        QString message;
        QCOMPARE(parseCommandLine({"tsa-explorer", "cap.safetensors", "--effect", "e.safetensors",
                                   "--effect-x", "kept", "--view", "effect"},
                                  &cl, &message),
                 ParseOutcome::Run);
        QCOMPARE(cl.effect, QStringLiteral("e.safetensors"));
        ExplorerParams p;
        cl.applyTo(&p);
        QCOMPARE(p.effectAxis, QStringLiteral("kept"));
        ViewState v;
        cl.applyTo(&v);
        QCOMPARE(v.view, QStringLiteral("effect"));
        QVERIFY(explorerViewNames().contains(QStringLiteral("effect")));
        QCOMPARE(
            parseCommandLine({"tsa-explorer", "cap.safetensors", "--effect-x", "sideways"}, &cl, &message),
            ParseOutcome::ExitUsage);
        QVERIFY2(message.contains(QStringLiteral("--effect-x")), qPrintable(message));
        // A screenshot of an effect file given through --effect alone needs no capture.
        QCOMPARE(parseCommandLine({"tsa-explorer", "--effect", "e.safetensors", "--screenshot", "out.png"},
                                  &cl, &message),
                 ParseOutcome::Run);

        // Sessions: the effect path absolute and relative; unknown axis names fall back to tau.
        Session session;
        session.effectPath = m_textFile;
        session.params.effectNeedle = QStringLiteral("exact");
        const QString sessionPath = m_dir.filePath("s.json");
        const QByteArray json = sessionToJson(session, sessionPath);
        QVERIFY(json.contains("\"effect_relative\": \"text.safetensors\""));
        QVERIFY(!json.contains("\"file\""));
        QString error;
        auto back = sessionFromJson(json, sessionPath, &error);
        QVERIFY2(back, qPrintable(error));
        QCOMPARE(back->effectPath, m_textFile);
        QVERIFY(back->filePath.isEmpty());
        QCOMPARE(back->params.effectNeedle, QStringLiteral("exact"));
        QJsonObject bad = toJson(ExplorerParams{});
        bad[QStringLiteral("effect_axis")] = QStringLiteral("sideways");
        QCOMPARE(paramsFromJson(bad).effectAxis, QStringLiteral("tau"));
        // A session naming neither a capture nor an effect is refused.
        QVERIFY(!sessionFromJson(R"({"format": "tsa-explorer-session", "version": 1, "params": {}})",
                                 sessionPath, &error));
        QVERIFY(error.contains(QStringLiteral("names no capture file")));
    }

    void headlessEffectAlone() {
        AnalysisController controller;
        ViewSet views(&controller);
        QString view, error;
        QVERIFY2(openHeadlessInputs(controller, m_textFile, QString(), ExplorerParams{}, std::nullopt, 60000,
                                    &view, &error),
                 qPrintable(error));
        QCOMPARE(view, QStringLiteral("effect"));
        QVERIFY(controller.waitUntilReady(views.needsOf(view), 60000));
        // Another view cannot show an effect file alone: said before anything is opened.
        AnalysisController other;
        QString overview = QStringLiteral("overview");
        QVERIFY(!openHeadlessInputs(other, m_textFile, QString(), ExplorerParams{}, std::nullopt, 60000,
                                    &overview, &error));
        QVERIFY2(error.contains(QStringLiteral("--view effect")), qPrintable(error));
        // The effect view without an effect file is a mistake, not an empty picture.
        QString effectView = QStringLiteral("effect");
        AnalysisController third;
        QVERIFY(!openHeadlessInputs(third, QString(), QString(), ExplorerParams{}, std::nullopt, 60000,
                                    &effectView, &error));
        QVERIFY2(error.contains(QStringLiteral("--effect EFFECT")), qPrintable(error));
    }
};

QTEST_MAIN(TestEffectView)
#include "test_effect_view.moc"
