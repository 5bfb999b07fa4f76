// The explorer window end to end, offscreen: the tau slider drives the selection model and the views,
// layer and head pickers reach every view, exports write valid PNG/SVG/CSV, a bad file shows an error and
// leaves the window working, sessions and settings round-trip, the generator dialog produces a capture.
#include "app/explorer/analysis_controller.h"
#include "app/explorer/command_line.h"
#include "app/explorer/controls_panel.h"
#include "app/explorer/generate_dialog.h"
#include "app/explorer/main_window.h"
#include "app/explorer/session.h"
#include "app/explorer/tau_editor.h"
#include "app/explorer/view_set.h"
#include "test_app_support.h"
#include "views/coverage_view.h"
#include "views/depth_view.h"
#include "views/error_view.h"
#include "views/overview_view.h"
#include "views/selection_map_view.h"
#include "views/token_range_model.h"

#include <QClipboard>
#include <QComboBox>
#include <QDir>
#include <QGuiApplication>
#include <QImage>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QMimeData>
#include <QRegularExpression>
#include <QSettings>
#include <QSignalSpy>
#include <QSlider>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTabWidget>
#include <QUrl>
#include <QtTest>

using namespace tsa::app;
using tsa::test::waitFor;
namespace views = tsa::views;

namespace {

constexpr int kAll = AnalysisController::NeedSelection | AnalysisController::NeedMetrics |
                     AnalysisController::NeedAttentionMap | AnalysisController::NeedAllSelections |
                     AnalysisController::NeedAllMetrics;

// More than one colour: the picture is not a blank canvas.
bool hasContent(const QImage& image) {
    if (image.isNull()) return false;
    const QRgb first = image.pixel(0, 0);
    int different = 0;
    for (int y = 0; y < image.height(); y += 3)
        for (int x = 0; x < image.width(); x += 3)
            if (image.pixel(x, y) != first && ++different > 100) return true;
    return false;
}

} // namespace

class TestAppWindow : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_dir;
    QString m_capture;

    void openAndWait(MainWindow& w, const QString& path, int needs = AnalysisController::NeedSelection) {
        w.openFile(path);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        QVERIFY(w.controller()->waitUntilReady(needs, 120000));
    }

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("tsa-explorer-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test_app_window"));
        QSettings().clear();
        QVERIFY(m_dir.isValid());
        QString error;
        m_capture = tsa::test::writeSmallCapture(m_dir, QStringLiteral("small.safetensors"), {}, &error);
        QVERIFY2(!m_capture.isEmpty(), qPrintable(error));
    }

    void init() { QSettings().clear(); }

    void tauSliderDrivesSelectionAndViews() {
        MainWindow w(nullptr, false);
        w.show();
        openAndWait(w, m_capture);
        AnalysisController* c = w.controller();
        const int layer = c->params().layer;
        w.showView(QStringLiteral("selection"));
        auto* map = dynamic_cast<views::SelectionMapView*>(w.viewSet()->view(QStringLiteral("selection")));
        auto* coverage = dynamic_cast<views::CoverageView*>(w.viewSet()->view(QStringLiteral("coverage")));
        QVERIFY(map && coverage);
        QTRY_VERIFY(map->data().selection == c->selection(layer));
        const auto before = c->selection(layer);
        const int coverageRefreshes = w.viewSet()->refreshCount(QStringLiteral("coverage"));

        QSlider* slider = w.controls()->tauEditor()->slider();
        slider->setValue(TauEditor::sliderPosition(0.2));
        // Synchronous: the visible selection view has the new selection without an event-loop turn.
        QVERIFY(qAbs(c->params().tsa.tau - 0.2) < 0.002);
        const auto after = c->selection(layer);
        QVERIFY(after && after != before);
        QVERIFY(after->kept < before->kept);
        QCOMPARE(map->data().selection, after);
        QCOMPARE(w.controls()->tauEditor()->field()->text(), TauEditor::format(c->params().tsa.tau));
        // The hidden coverage view did no work while the slider moved, and catches up when shown.
        QCOMPARE(w.viewSet()->refreshCount(QStringLiteral("coverage")), coverageRefreshes);
        w.showView(QStringLiteral("coverage"));
        QCOMPARE(coverage->data().tau, c->params().tsa.tau);
        QCOMPARE(coverage->data().layer.budgetDropped, after->budgetCount + 1);
        QVERIFY(w.viewSet()->refreshCount(QStringLiteral("coverage")) > coverageRefreshes);

        // The numeric field drives the same path.
        w.controls()->tauEditor()->field()->setText(QStringLiteral("0.001"));
        QVERIFY(w.controls()->tauEditor()->commitText());
        QCOMPARE(c->params().tsa.tau, 0.001);
        QCOMPARE(slider->value(), TauEditor::sliderPosition(0.001));
        QCOMPARE(coverage->data().tau, 0.001);
        QVERIFY(c->selection(layer)->kept > after->kept);
    }

    void layerAndHeadReachEveryView() {
        MainWindow w(nullptr, false);
        w.show();
        openAndWait(w, m_capture, kAll);
        AnalysisController* c = w.controller();
        QComboBox* layerBox = w.controls()->layerBox();
        QCOMPARE(layerBox->count(), 4);
        const int newLayer = c->params().layer == 3 ? 2 : 3;
        layerBox->setCurrentIndex(newLayer);
        emit layerBox->activated(newLayer);
        w.controls()->headBox()->setValue(3);
        QCOMPARE(c->params().layer, newLayer);
        QCOMPARE(c->params().head, 3);
        QVERIFY(c->waitUntilReady(kAll, 120000));
        w.viewSet()->flush();

        const int id = c->modelLayerId(newLayer);
        auto* overview = dynamic_cast<views::OverviewView*>(w.viewSet()->view(QStringLiteral("overview")));
        QCOMPARE(overview->selectedLayer(), newLayer);
        QCOMPARE(overview->selectedHead(), 3);
        auto* map = dynamic_cast<views::SelectionMapView*>(w.viewSet()->view(QStringLiteral("selection")));
        QCOMPARE(map->data().layerId, id);
        QCOMPARE(map->data().selection, c->selection(newLayer));
        auto* coverage = dynamic_cast<views::CoverageView*>(w.viewSet()->view(QStringLiteral("coverage")));
        QCOMPARE(coverage->data().layerId, id);
        auto* error = dynamic_cast<views::ErrorView*>(w.viewSet()->view(QStringLiteral("error")));
        QCOMPARE(error->selectedLayer(), newLayer);
        QCOMPARE(error->selectedHead(), 3);
        auto* depth = dynamic_cast<views::DepthView*>(w.viewSet()->view(QStringLiteral("depth")));
        QCOMPARE(depth->data().head, 3);
        // Every view's title names what it shows now; none still talks about the old layer/head pair.
        for (auto* v : w.viewSet()->views()) {
            const QString title = v->viewTitle();
            const auto match = QRegularExpression(QStringLiteral("[Ll]ayer (\\d+)")).match(title);
            if (match.hasMatch())
                QVERIFY2(match.captured(1).toInt() == id,
                         qPrintable(v->viewName() + QStringLiteral(": ") + title));
        }
        // Clicking in a view picks for all of them.
        emit overview->cellClicked(0, 1);
        QCOMPARE(c->params().layer, 0);
        QCOMPARE(c->params().head, 1);
        QCOMPARE(w.controls()->layerBox()->currentIndex(), 0);
        QCOMPARE(w.controls()->headBox()->value(), 1);
    }

    void exportsProduceValidFiles() {
        MainWindow w(nullptr, false);
        w.show();
        openAndWait(w, m_capture, kAll);
        QTemporaryDir out;
        QString error;
        for (const QString& name : w.viewSet()->names()) {
            const QString png = out.filePath(name + QStringLiteral(".png"));
            QVERIFY2(w.exportView(name, png, QSize(900, 600), 2.0, &error), qPrintable(error));
            const QImage image(png);
            QCOMPARE(image.size(), QSize(1800, 1200));
            QVERIFY2(hasContent(image), qPrintable(name));
            const QString svg = out.filePath(name + QStringLiteral(".svg"));
            QVERIFY2(w.exportView(name, svg, QSize(900, 600), 1.0, &error), qPrintable(error));
            QFile svgFile(svg);
            QVERIFY(svgFile.open(QIODevice::ReadOnly));
            QVERIFY2(svgFile.readAll().contains("<svg"), qPrintable(name));
            // PDF: a complete document (header to trailer) with an embedded font; the CLI test reads it
            // back with poppler for page size and text.
            const QString pdf = out.filePath(name + QStringLiteral(".pdf"));
            QVERIFY2(w.exportView(name, pdf, QSize(900, 600), 1.0, &error), qPrintable(error));
            QFile pdfFile(pdf);
            QVERIFY(pdfFile.open(QIODevice::ReadOnly));
            const QByteArray pdfBytes = pdfFile.readAll();
            QVERIFY2(pdfBytes.startsWith("%PDF-"), qPrintable(name));
            QVERIFY2(pdfBytes.trimmed().endsWith("%%EOF"), qPrintable(name));
            QVERIFY2(pdfBytes.contains("/FontFile2"), qPrintable(name));
            const QString csv = out.filePath(name + QStringLiteral(".csv"));
            QVERIFY2(w.exportView(name, csv, QSize(900, 600), 1.0, &error), qPrintable(error));
            QFile csvFile(csv);
            QVERIFY(csvFile.open(QIODevice::ReadOnly));
            const QList<QByteArray> lines = csvFile.readAll().split('\n');
            QVERIFY2(lines.size() >= 2 && !lines.first().trimmed().isEmpty(), qPrintable(name));
        }
        QVERIFY(!w.exportView(QStringLiteral("nope"), out.filePath(QStringLiteral("x.png")), QSize(900, 600),
                              1, &error));

        QStringList written;
        const QString folder = out.filePath(QStringLiteral("all"));
        QVERIFY2(w.exportAllViews(folder, QSize(800, 500), 1.0,
                                  {QStringLiteral("png"), QStringLiteral("svg"), QStringLiteral("csv")},
                                  &error, &written),
                 qPrintable(error));
        QCOMPARE(written.size(), int(w.viewSet()->views().size()) * 3);
        for (const QString& f : written)
            QVERIFY(QFileInfo(f).size() > 0);
        QVERIFY(written.first().contains(QStringLiteral("_L")));
    }

    void badFileShowsErrorAndWindowStillWorks() {
        MainWindow w(nullptr, false);
        w.show();
        openAndWait(w, m_capture);
        const QString bad = m_dir.filePath(QStringLiteral("broken.safetensors"));
        QFile f(bad);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write(QByteArray(64, '\xff'));
        f.close();
        QSignalSpy shown(&w, &MainWindow::errorShown);
        w.openFile(bad);
        QVERIFY(waitFor([&] { return shown.count() == 1; }));
        QVERIFY(shown.at(0).at(0).toString().contains(QStringLiteral("broken.safetensors")));
        QMessageBox* box = w.errorBox();
        QVERIFY(box);
        QVERIFY(box->isVisible());
        QVERIFY(!box->isModal());
        QVERIFY(box->text().contains(QStringLiteral("broken.safetensors")));
        box->close();
        QTRY_VERIFY(!w.errorBox());
        // Old data stays, and the controls keep working.
        QCOMPARE(w.controller()->filePath(), QFileInfo(m_capture).absoluteFilePath());
        const auto before = w.controller()->selection(w.controller()->params().layer);
        w.controls()->tauEditor()->slider()->setValue(TauEditor::sliderPosition(0.3));
        QVERIFY(w.controller()->selection(w.controller()->params().layer) != before);
        // A bad session file is reported the same way.
        const QString badSession = m_dir.filePath(QStringLiteral("bad.json"));
        QFile s(badSession);
        QVERIFY(s.open(QIODevice::WriteOnly));
        s.write("{\"format\": 3}");
        s.close();
        QVERIFY(!w.openSession(badSession));
        QCOMPARE(shown.count(), 2);
        QVERIFY(w.errorBox());
    }

    // Issue 9 item 5: the window's selection map, depth and error views show the ViewSet's one token range;
    // a tau step keeps the zoom, another file shows everything.
    void zoomableViewsShareTheViewSetsRange() {
        MainWindow w(nullptr, false);
        w.show();
        openAndWait(w, m_capture, AnalysisController::NeedAllSelections | AnalysisController::NeedAllMetrics);
        ViewSet* set = w.viewSet();
        set->flush(); // hidden views get their data lazily
        auto* selection = dynamic_cast<views::SelectionMapView*>(set->view(QStringLiteral("selection")));
        auto* depth = dynamic_cast<views::DepthView*>(set->view(QStringLiteral("depth")));
        auto* error = dynamic_cast<views::ErrorView*>(set->view(QStringLiteral("error")));
        QVERIFY(selection && depth && error);
        QCOMPARE(selection->rangeModel(), set->tokenRange());
        QCOMPARE(depth->rangeModel(), set->tokenRange());
        QCOMPARE(error->rangeModel(), set->tokenRange());
        const qint64 tokens = w.controller()->tokenCount();
        QCOMPARE(set->tokenRange()->total(), tokens);
        error->setVisibleRange(100, 300); // the error view used to follow only
        QCOMPARE(selection->visibleRange(), (views::TokenRange{100, 300}));
        QCOMPARE(depth->visibleRange(), (views::TokenRange{100, 300}));
        w.controller()->setTau(0.01);
        QVERIFY(w.controller()->waitUntilReady(AnalysisController::NeedSelection, 60000));
        set->flush();
        QCOMPARE(selection->visibleRange(), (views::TokenRange{100, 300}));
        openAndWait(w, m_capture);
        set->flush();
        QCOMPARE(set->tokenRange()->range(), (views::TokenRange{0, tokens}));
        QCOMPARE(selection->visibleRange(), (views::TokenRange{0, tokens}));
    }

    // Issue 9 item 4: colour map, overview metric and the view on screen are the views' state (ViewSet), not
    // analysis parameters: changing them repaints and starts no job.
    void viewStateRecomputesNothing() {
        MainWindow w(nullptr, false);
        w.show();
        openAndWait(w, m_capture);
        QVERIFY(waitFor([&] { return w.controller()->isIdle(); }));
        w.showView(QStringLiteral("selection"));
        auto* map = dynamic_cast<views::SelectionMapView*>(w.viewSet()->view(QStringLiteral("selection")));
        QVERIFY(map);
        w.viewSet()->flush();
        const QImage before = map->grab().toImage();
        const double tau = w.controller()->params().tsa.tau;
        QSignalSpy params(w.controller(), &AnalysisController::paramsChanged);
        QSignalSpy progress(w.controller(), &AnalysisController::progress);
        QSignalSpy selection(w.controller(), &AnalysisController::selectionChanged);
        QSignalSpy layers(w.controller(), &AnalysisController::layersChanged);
        QSignalSpy states(w.viewSet(), &ViewSet::viewStateChanged);
        w.controls()->colourMapBox()->setCurrentText(QStringLiteral("magma"));
        QVERIFY(w.controller()->isIdle());
        QComboBox* metric = w.controls()->metricBox();
        metric->setCurrentIndex(metric->findData(QStringLiteral("kept")));
        QVERIFY(w.controller()->isIdle());
        w.showView(QStringLiteral("overview"));
        for (int i = 0; i < 20; ++i) {
            QCoreApplication::processEvents();
            QVERIFY(w.controller()->isIdle()); // no job started, none queued behind a timer
        }
        QCOMPARE(params.count(), 0);
        for (const QList<QVariant>& report : progress) // idle reports only (a tab switch asks for a pass)
            QVERIFY2(report[0].toString().isEmpty() && report[2].toInt() == 0,
                     qPrintable(report[0].toString()));
        QCOMPARE(selection.count(), 0);
        QCOMPARE(layers.count(), 0);
        QCOMPARE(w.controller()->params().tsa.tau, tau);
        QVERIFY(states.count() >= 3);
        QCOMPARE(w.viewSet()->viewState().colorMap, QStringLiteral("magma"));
        QCOMPARE(w.viewSet()->viewState().overviewMetric, QStringLiteral("kept"));
        QCOMPARE(w.viewSet()->viewState().view, QStringLiteral("overview"));
        // ... and the views did change: the selection map is drawn in the new colours.
        w.showView(QStringLiteral("selection"));
        QVERIFY(map->grab().toImage() != before);
        QVERIFY(w.controller()->isIdle());
    }

    void sessionRoundTrip() {
        const QString session = m_dir.filePath(QStringLiteral("round.json"));
        {
            MainWindow w(nullptr, false);
            w.show();
            openAndWait(w, m_capture);
            ExplorerParams p = w.controller()->params();
            p.tsa.tau = 0.037;
            p.tsa.minTokens = 512;
            p.layer = 3;
            p.head = 2;
            w.controller()->setParams(p);
            w.controls()->colourMapBox()->setCurrentText(QStringLiteral("magma")); // the views' state
            w.showView(QStringLiteral("depth"));
            QVERIFY(w.saveSession(session));
        }
        MainWindow w(nullptr, false);
        w.show();
        QVERIFY(w.openSession(session));
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        const ExplorerParams& p = w.controller()->params();
        QCOMPARE(w.controller()->filePath(), QFileInfo(m_capture).absoluteFilePath());
        QCOMPARE(p.tsa.tau, 0.037);
        QCOMPARE(p.tsa.minTokens, tsa::Index(512));
        QCOMPARE(p.layer, 3);
        QCOMPARE(p.head, 2);
        QCOMPARE(w.viewSet()->viewState().colorMap, QStringLiteral("magma"));
        QCOMPARE(w.currentViewName(), QStringLiteral("depth"));
        QCOMPARE(w.controls()->tauEditor()->value(), 0.037);
        QCOMPARE(w.controls()->colourMapBox()->currentText(), QStringLiteral("magma"));
    }

    // Issue 8 item 2: tau 0 (the dense baseline) goes through the field, the slider, a session and the
    // command line and comes back as 0, with every layer dense.
    void tauZeroRoundTrip() {
        const QString session = m_dir.filePath(QStringLiteral("dense.json"));
        {
            MainWindow w(nullptr, false);
            w.show();
            openAndWait(w, m_capture);
            TauEditor* editor = w.controls()->tauEditor();
            editor->field()->setText(QStringLiteral("0"));
            QVERIFY(editor->commitText());
            QCOMPARE(w.controller()->params().tsa.tau, 0.0);
            QCOMPARE(editor->slider()->value(), 0);
            QVERIFY(w.controller()->waitUntilReady(AnalysisController::NeedAllSelections, 60000));
            for (int l = 0; l < w.controller()->layerCount(); ++l)
                QVERIFY(!w.controller()->selection(l)->sparse);
            // The slider leaves 0 and comes back to it.
            editor->slider()->setValue(10);
            QVERIFY(w.controller()->params().tsa.tau > 0.0);
            editor->slider()->setValue(0);
            QCOMPARE(w.controller()->params().tsa.tau, 0.0);
            QCOMPARE(editor->field()->text(), QStringLiteral("0"));
            QVERIFY(w.saveSession(session));
        }
        {
            MainWindow w(nullptr, false);
            w.show();
            QVERIFY(w.openSession(session));
            QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
            QCOMPARE(w.controller()->params().tsa.tau, 0.0);
            QCOMPARE(w.controls()->tauEditor()->field()->text(), QStringLiteral("0"));
            QCOMPARE(w.controls()->tauEditor()->slider()->value(), 0);
        }
        // --tau 0 on the command line reaches the window the same way.
        CommandLine cl;
        QString message;
        QCOMPARE(parseCommandLine({QStringLiteral("tsa-explorer"), m_capture, QStringLiteral("--tau"),
                                   QStringLiteral("0")},
                                  &cl, &message),
                 ParseOutcome::Run);
        MainWindow w(nullptr, false);
        ExplorerParams p = w.controller()->params();
        cl.applyTo(&p);
        w.controller()->setParams(p);
        QCOMPARE(w.controls()->tauEditor()->field()->text(), QStringLiteral("0"));
        QCOMPARE(w.controls()->tauEditor()->slider()->value(), 0);
        // A session with a tau the rule refuses is refused with the reason, not silently altered.
        QFile bad(m_dir.filePath(QStringLiteral("tau7.json")));
        QVERIFY(bad.open(QIODevice::WriteOnly));
        bad.write("{\"format\": \"tsa-explorer-session\", \"version\": 1, \"file\": \"" + m_capture.toUtf8() +
                  "\", \"params\": {\"tau\": 0.7}}");
        bad.close();
        QString error;
        QVERIFY(!loadSession(bad.fileName(), &error));
        QVERIFY2(error.contains(QStringLiteral("tau 0.7")), qPrintable(error));
    }

    void settingsPersistBetweenSessions() {
        {
            MainWindow w;
            w.show();
            openAndWait(w, m_capture);
            ExplorerParams p = w.controller()->params();
            p.tsa.tau = 0.0421;
            p.tsa.window = 64;
            p.head = 1;
            p.plan.mode = tsa::SparseLayerMode::All;
            w.controller()->setParams(p);
            w.showView(QStringLiteral("coverage"));
            w.close(); // writes the settings
        }
        MainWindow w;
        const ExplorerParams& p = w.controller()->params();
        QCOMPARE(p.tsa.tau, 0.0421);
        QCOMPARE(p.tsa.window, tsa::Index(64));
        QCOMPARE(p.head, 1);
        QCOMPARE(int(p.plan.mode), int(tsa::SparseLayerMode::All));
        QCOMPARE(w.currentViewName(), QStringLiteral("coverage"));
        QVERIFY(w.recentFiles().contains(QFileInfo(m_capture).absoluteFilePath()));
        QCOMPARE(w.controls()->windowBox()->value(), 64);
        // The next start reopens the last file.
        w.show();
        w.startup();
        QVERIFY(waitFor([&] { return w.controller()->hasCapture(); }));
        QCOMPARE(w.controller()->filePath(), QFileInfo(m_capture).absoluteFilePath());
    }

    void firstStartOpensTheBundledSample() {
        const QString sample = MainWindow::bundledSamplePath();
        if (sample.isEmpty()) QSKIP("no bundled sample in this checkout");
        MainWindow w;
        w.show();
        w.startup();
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() || w.errorBox(); }));
        QVERIFY(!w.errorBox());
        QCOMPARE(w.controller()->filePath(), sample);
    }

    // File > Open Example lists the bundled examples; the stories260K one is a session that opens the
    // real capture with its settings for 512 tokens.
    void openExampleMenuOpensStories260k() {
        MainWindow w(nullptr, false);
        w.show();
        auto* menu = w.findChild<QMenu*>(QStringLiteral("examplesMenu"));
        QVERIFY(menu);
        QAction* stories = nullptr;
        QStringList paths;
        for (QAction* a : menu->actions()) {
            paths << a->data().toString();
            if (a->data().toString().endsWith(QLatin1String("stories260k.session.json"))) stories = a;
        }
        QVERIFY2(paths.contains(MainWindow::bundledSamplePath()), qPrintable(paths.join(QLatin1Char(' '))));
        QVERIFY2(stories, qPrintable(paths.join(QLatin1Char(' '))));
        stories->trigger();
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() || w.errorBox(); }));
        QVERIFY(!w.errorBox());
        QVERIFY(w.controller()->filePath().endsWith(QLatin1String("stories260k.safetensors")));
        const ExplorerParams& p = w.controller()->params();
        QCOMPARE(p.tsa.window, tsa::Index(32));
        QCOMPARE(p.tsa.minTokens, tsa::Index(64));
        QCOMPARE(int(p.plan.mode), int(tsa::SparseLayerMode::All));
        QCOMPARE(w.controller()->layerCount(), 5);
        QCOMPARE(w.currentViewName(), QStringLiteral("selection"));
    }

    void generateDialogWritesAndOpens() {
        MainWindow w(nullptr, false);
        w.show();
        GenerateDialog dialog(&w);
        const QString out = m_dir.filePath(QStringLiteral("generated.safetensors"));
        dialog.outputEdit()->setText(out);
        dialog.layersBox()->setValue(2);
        dialog.headsBox()->setValue(2);
        dialog.kvHeadsBox()->setValue(1);
        dialog.tokensBox()->setValue(1300);
        dialog.headDimBox()->setValue(16);
        QSignalSpy generated(&dialog, &GenerateDialog::generated);
        connect(&dialog, &GenerateDialog::generated, &w, &MainWindow::openFile);
        dialog.start();
        QVERIFY(dialog.isRunning());
        QVERIFY(waitFor([&] { return generated.count() == 1; }));
        QCOMPARE(generated.at(0).at(0).toString(), out);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture(); }));
        QCOMPARE(w.controller()->layerCount(), 2);
        QCOMPARE(w.controller()->tokenCount(), tsa::Index(1300));
    }

    void dropAndClipboard() {
        MainWindow w(nullptr, false);
        w.show();
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(m_capture)});
        QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&w, &enter);
        QVERIFY(enter.isAccepted());
        QDropEvent drop(QPointF(10, 10), Qt::CopyAction, &mime, Qt::LeftButton, Qt::NoModifier);
        QCoreApplication::sendEvent(&w, &drop);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture(); }));
        QCOMPARE(w.controller()->filePath(), QFileInfo(m_capture).absoluteFilePath());
        // Something that is not a capture is refused at the door.
        QMimeData text;
        text.setUrls({QUrl::fromLocalFile(m_dir.filePath(QStringLiteral("notes.txt")))});
        QDragEnterEvent refuse(QPoint(10, 10), Qt::CopyAction, &text, Qt::LeftButton, Qt::NoModifier);
        refuse.setAccepted(false);
        QCoreApplication::sendEvent(&w, &refuse);
        QVERIFY(!refuse.isAccepted());

        QVERIFY(w.controller()->waitUntilReady(AnalysisController::NeedAllSelections, 60000));
        w.showView(QStringLiteral("overview"));
        QGuiApplication::clipboard()->clear();
        w.copyImage();
        const QImage copied = QGuiApplication::clipboard()->image();
        QVERIFY(hasContent(copied));
    }

    void keyboardStepsLayersAndHeads() {
        MainWindow w(nullptr, false);
        w.show();
        openAndWait(w, m_capture);
        w.controller()->setLayer(0);
        QTest::keyClick(&w, Qt::Key_PageDown);
        QCOMPARE(w.controller()->params().layer, 1);
        QTest::keyClick(&w, Qt::Key_PageUp);
        QCOMPARE(w.controller()->params().layer, 0);
    }

    void errorMetricMenuSwitchesTheStatistic() {
        MainWindow w(nullptr, false);
        w.show();
        openAndWait(w, m_capture);
        auto* menu = w.findChild<QMenu*>(QStringLiteral("errorMetricMenu"));
        QVERIFY(menu);
        auto* errorView = dynamic_cast<tsa::views::ErrorView*>(w.viewSet()->view(QStringLiteral("error")));
        QVERIFY(errorView);
        const auto actions = menu->actions();
        QCOMPARE(actions.size(), 5);
        for (QAction* action : actions) {
            action->trigger();
            QVERIFY(action->isChecked());
            QCOMPARE(errorView->viewTitle(),
                     QStringLiteral("Error against dense attention: %1").arg(action->text()));
        }
        QCOMPARE(errorView->metric(), tsa::views::ErrorMetric::DroppedRows);
        QCOMPARE(w.currentViewName(), QStringLiteral("error"));
    }
};

QTEST_MAIN(TestAppWindow)
#include "test_app_window.moc"
