// Input events over the whole window, offscreen: hover, mouse moves and tooltip requests over every widget
// of every view (a tooltip request once crashed the coverage view), and the window laid out at 800x600
// with nothing clipped (tick labels not elided, widgets at least their minimum sizes).
#include "app/explorer/analysis_controller.h"
#include "app/explorer/controls_panel.h"
#include "app/explorer/export_dialog.h"
#include "app/explorer/main_window.h"
#include "app/explorer/tau_editor.h"
#include "app/explorer/view_set.h"
#include "test_app_support.h"
#include "views/coverage_view.h"
#include "views/depth_view.h"
#include "views/error_view.h"
#include "views/exportable_view.h"
#include "views/selection_map_view.h"
#include "views/view_style.h"

#include <QAbstractButton>
#include <QApplication>
#include <QChart>
#include <QChartView>
#include <QClipboard>
#include <QDockWidget>
#include <QFontMetricsF>
#include <QHelpEvent>
#include <QHoverEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QMouseEvent>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSettings>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTextDocument>
#include <QTimer>
#include <QToolTip>
#include <QtTest>

using namespace tsa::app;
using tsa::test::waitFor;

namespace {

constexpr int kAll = AnalysisController::NeedSelection | AnalysisController::NeedMetrics |
                     AnalysisController::NeedAttentionMap | AnalysisController::NeedAllSelections |
                     AnalysisController::NeedAllMetrics;

// Sends the events a resting or moving mouse produces at pos of widget w, as the window system would.
void hoverAt(QWidget* w, const QPoint& pos) {
    const QPointF local(pos);
    const QPointF global(w->mapToGlobal(pos));
    QMouseEvent move(QEvent::MouseMove, local, global, Qt::NoButton, Qt::NoButton, Qt::NoModifier);
    QCoreApplication::sendEvent(w, &move);
    QHoverEvent hover(QEvent::HoverMove, local, global, local);
    QCoreApplication::sendEvent(w, &hover);
    QHelpEvent help(QEvent::ToolTip, pos, w->mapToGlobal(pos));
    QCoreApplication::sendEvent(w, &help);
}

} // namespace

class TestAppEvents : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_dir;
    QString m_capture;

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("tsa-explorer-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("test_app_events"));
        QSettings().clear();
        QVERIFY(m_dir.isValid());
        QString error;
        m_capture = tsa::test::writeSmallCapture(m_dir, QStringLiteral("small.safetensors"), {}, &error);
        QVERIFY2(!m_capture.isEmpty(), qPrintable(error));
    }

    // Issue 8 item 1: a tooltip request over the coverage chart crashed (QWidget::mapFrom given a child).
    // Every view, every visible widget inside it, a grid of positions, all three kinds of hover event.
    void hoverAndTooltipsOverEveryView() {
        MainWindow w(nullptr, false);
        w.resize(1100, 750);
        w.show();
        w.openFile(m_capture);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        QVERIFY(w.controller()->waitUntilReady(kAll, 120000));
        int tooltips = 0;
        QStringList viewsWithTips;
        for (const QString& name : w.viewSet()->names()) {
            w.showView(name);
            w.viewSet()->flush();
            QCoreApplication::processEvents();
            QWidget* root = w.viewSet()->view(name)->widget();
            QVERIFY(root->isVisible());
            QList<QWidget*> targets{root};
            targets += root->findChildren<QWidget*>();
            bool tipHere = false;
            for (QWidget* target : targets) {
                if (!target->isVisible() || target->width() < 2 || target->height() < 2) continue;
                for (int gy = 0; gy <= 6; ++gy) {
                    for (int gx = 0; gx <= 8; ++gx) {
                        const QPoint pos(gx * (target->width() - 1) / 8, gy * (target->height() - 1) / 6);
                        QToolTip::hideText();
                        hoverAt(target, pos);
                        if (QToolTip::isVisible() && !QToolTip::text().isEmpty()) {
                            ++tooltips;
                            tipHere = true;
                        }
                    }
                }
            }
            if (tipHere) viewsWithTips << name;
            QCoreApplication::processEvents();
        }
        QToolTip::hideText();
        // Hover reached real tooltips: the views that explain values on hover did so.
        QVERIFY2(viewsWithTips.contains(QStringLiteral("coverage")), qPrintable(viewsWithTips.join(',')));
        QVERIFY2(viewsWithTips.contains(QStringLiteral("selection")), qPrintable(viewsWithTips.join(',')));
        QVERIFY(tooltips > 10);
        QVERIFY(w.controller()->hasCapture());
    }

    // Issue 8 item 4: a tau change keeps every layer's previous values on screen (stale, not blank), dense
    // layers stay current, the new values fill in layer by layer, and the colour scale is held until the
    // user asks to fit it.
    void errorViewKeepsValuesWhileUpdating() {
        MainWindow w(nullptr, false);
        w.show();
        w.openFile(m_capture);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        w.showView(QStringLiteral("error"));
        auto* error = dynamic_cast<tsa::views::ErrorView*>(w.viewSet()->view(QStringLiteral("error")));
        QVERIFY(error);
        error->setMetric(tsa::views::ErrorMetric::DroppedRows); // linear 0..max: the held range is visible
        w.controller()->setTau(0.3);
        QVERIFY(w.controller()->waitUntilReady(kAll, 120000));
        w.viewSet()->flush();
        const double wideHi = error->colourScale().hi;
        const int layers = w.controller()->layerCount();
        for (int l = 0; l < layers; ++l)
            QVERIFY(error->data().metrics[std::size_t(l)] && !error->isStale(l));

        w.controller()->setTau(0.002);
        w.viewSet()->flush();
        int stale = 0;
        for (int l = 0; l < layers; ++l) {
            QVERIFY2(error->data().metrics[std::size_t(l)], "a layer went blank after a tau change");
            if (error->isStale(l)) {
                ++stale;
                QVERIFY(w.controller()->isSparseLayer(l));
            }
        }
        QVERIFY(stale > 0);
        QVERIFY(w.controller()->waitUntilReady(kAll, 120000));
        w.viewSet()->flush();
        for (int l = 0; l < layers; ++l)
            QVERIFY(!error->isStale(l));
        // Smaller errors now, same scale; fitting shrinks it to the values shown.
        QCOMPARE(error->colourScale().hi, wideHi);
        error->fitColourScale();
        QVERIFY(error->colourScale().hi < wideHi);
    }

    // Issue 8 item 7: a layer-list warning leaves the status bar once the list is corrected.
    void fixedLayerListClearsTheWarning() {
        MainWindow w(nullptr, false);
        w.show();
        w.openFile(m_capture);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        auto* hint = w.findChild<QLabel*>(QStringLiteral("statusHint"));
        QVERIFY(hint);
        ExplorerParams p = w.controller()->params();
        p.plan.mode = tsa::SparseLayerMode::List;
        p.plan.list = {99};
        w.controller()->setParams(p);
        QVERIFY(!w.controller()->planProblem().isEmpty());
        QVERIFY(hint->text().contains(QStringLiteral("99")));
        p.plan.list = {1, 2};
        w.controller()->setParams(p);
        QVERIFY(w.controller()->planProblem().isEmpty());
        QVERIFY2(hint->text().isEmpty(), qPrintable(hint->text()));
    }

    // Issue 8 item 8: the selection map keeps the box around the current head after another file opens.
    void headBoxSurvivesOpeningAnotherFile() {
        tsa::test::SmallCaptureShape shape;
        shape.seed = 11;
        shape.tokens = 1500;
        QString error;
        const QString other =
            tsa::test::writeSmallCapture(m_dir, QStringLiteral("other.safetensors"), shape, &error);
        QVERIFY2(!other.isEmpty(), qPrintable(error));
        MainWindow w(nullptr, false);
        w.show();
        w.showView(QStringLiteral("selection"));
        auto* map =
            dynamic_cast<tsa::views::SelectionMapView*>(w.viewSet()->view(QStringLiteral("selection")));
        QVERIFY(map);
        for (const QString& path : {m_capture, other, m_capture}) {
            w.openFile(path);
            QVERIFY(waitFor([&] {
                return w.controller()->filePath() == QFileInfo(path).absoluteFilePath() &&
                       !w.controller()->isOpening();
            }));
            if (path == m_capture && w.controller()->params().head != 2) w.controller()->setHead(2);
            QVERIFY(w.controller()->waitUntilReady(AnalysisController::NeedSelection, 60000));
            w.viewSet()->flush();
            QCOMPARE(map->selectedHead(), 2);
            QVERIFY(map->data().selection && map->data().selection->qHeads > 2);
        }
    }

    // Issue 8 item 9: Ctrl+C with the cursor in a parameter field copies the view (with feedback).
    void copyShortcutWorksFromAParameterField() {
        MainWindow w(nullptr, false);
        w.show();
        w.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&w));
        w.openFile(m_capture);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        QVERIFY(w.controller()->waitUntilReady(AnalysisController::NeedSelection, 60000));
        w.showView(QStringLiteral("selection"));
        QLineEdit* field = w.controls()->tauEditor()->field();
        field->setFocus();
        field->deselect();
        QGuiApplication::clipboard()->clear();
        QTest::keyClick(field, Qt::Key_C, Qt::ControlModifier);
        QVERIFY(!QGuiApplication::clipboard()->image().isNull());
        auto* status = w.findChild<QLabel*>(QStringLiteral("statusText"));
        QVERIFY(status->text().startsWith(QStringLiteral("Copied")));
        // With text selected, Ctrl+C copies the text as usual.
        field->selectAll();
        QTest::keyClick(field, Qt::Key_C, Qt::ControlModifier);
        QCOMPARE(QGuiApplication::clipboard()->text(), field->text());
    }

    // Issue 8 item 10: Export View asks before replacing a file typed into its path field.
    void exportDialogAsksBeforeReplacing() {
        const QString existing = m_dir.filePath(QStringLiteral("exists.png"));
        QFile f(existing);
        QVERIFY(f.open(QIODevice::WriteOnly));
        f.write("x");
        f.close();
        for (const auto answer : {QMessageBox::No, QMessageBox::Yes}) {
            ExportDialog dialog(existing, QSize(800, 600), false);
            QString asked;
            QTimer::singleShot(0, [&] {
                auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
                if (!box) return;
                asked = box->text();
                box->button(answer)->click();
            });
            dialog.accept();
            QVERIFY2(asked.contains(QStringLiteral("exists.png")), qPrintable(asked));
            QCOMPARE(dialog.result(),
                     answer == QMessageBox::Yes ? int(QDialog::Accepted) : int(QDialog::Rejected));
        }
        // A new file name is not asked about.
        ExportDialog fresh(m_dir.filePath(QStringLiteral("new.png")), QSize(800, 600), false);
        fresh.accept();
        QCOMPARE(fresh.result(), int(QDialog::Accepted));
    }

    // Issue 8 item 5: at 800x600 the parameters fit their dock, every view keeps a usable size, coverage
    // ticks are spaced for their labels (Qt Charts elided colliding ones) and the depth view's overlap
    // matrix stays readable.
    void smallWindowLayout() {
        MainWindow w(nullptr, false);
        w.resize(800, 600);
        w.show();
        w.openFile(m_capture);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        QVERIFY(w.controller()->waitUntilReady(kAll, 120000));
        QCOMPARE(w.size(), QSize(800, 600));
        auto* dock = w.findChild<QDockWidget*>(QStringLiteral("parametersDock"));
        QVERIFY(dock);
        auto* scroll = dock->findChild<QScrollArea*>();
        QVERIFY(scroll);
        QVERIFY2(!scroll->horizontalScrollBar()->isVisible(), "the parameters are wider than their dock");
        QVERIFY(dock->width() < 400);
        for (const QString& name : w.viewSet()->names()) {
            w.showView(name);
            w.viewSet()->flush();
            QCoreApplication::processEvents();
            QWidget* view = w.viewSet()->view(name)->widget();
            QVERIFY2(view->width() >= 380 && view->height() >= 380,
                     qPrintable(name + QStringLiteral(" is %1x%2").arg(view->width()).arg(view->height())));
        }
        w.showView(QStringLiteral("coverage"));
        QTest::qWait(50); // the chart is rebuilt for its new width on the next event-loop turn
        auto* coverage =
            dynamic_cast<tsa::views::CoverageView*>(w.viewSet()->view(QStringLiteral("coverage")));
        auto* chartView = coverage->findChild<QChartView*>();
        QVERIFY(chartView && chartView->chart());
        const double xMax = coverage->data().prefix;
        const double step = coverage->xTickStep();
        QVERIFY(step > 0 && xMax > 0);
        const double perTick = chartView->chart()->plotArea().width() / std::floor(xMax / step);
        const double label =
            QFontMetricsF(tsa::views::style::tickFont()).horizontalAdvance(QString::number(qint64(xMax)));
        QVERIFY2(perTick > label + 6,
                 qPrintable(QStringLiteral("%1 px per tick for %2 px labels").arg(perTick).arg(label)));
        auto* depth = dynamic_cast<tsa::views::DepthView*>(w.viewSet()->view(QStringLiteral("depth")));
        QVERIFY(depth->matrixRect(depth->size()).width() >= 120);
    }

    // The lesson on a dense layer offers the first sparse layer, and the button takes the window there.
    void lessonJumpsToTheFirstSparseLayer() {
        MainWindow w(nullptr, false);
        w.show();
        w.openFile(m_capture);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        w.controller()->setLayer(0); // the second half is sparse by default: layer 0 is dense
        w.showView(QStringLiteral("howitworks"));
        QVERIFY(w.controller()->waitUntilReady(AnalysisController::NeedSelection, 60000));
        w.viewSet()->flush();
        auto* jump = w.viewSet()
                         ->view(QStringLiteral("howitworks"))
                         ->widget()
                         ->findChild<QPushButton*>(QStringLiteral("jumpToSparseLayer"));
        QVERIFY(jump);
        QTRY_VERIFY(jump->isVisible());
        jump->click();
        QVERIFY(w.controller()->isSparseLayer(w.controller()->params().layer));
        for (int l = 0; l < w.controller()->params().layer; ++l)
            QVERIFY(!w.controller()->isSparseLayer(l));
        w.viewSet()->flush();
        QTRY_VERIFY(!jump->isVisible());
    }

    // Issue 8 item 3: the dense reason "L <= min_tokens + W" reaches the summary whole (escaped rich text).
    void denseSummaryIsEscaped() {
        MainWindow w(nullptr, false);
        w.show();
        w.openFile(m_capture);
        QVERIFY(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }));
        w.controller()->setMinTokens(5000); // more than the 2048 tokens: every layer too short
        QVERIFY(w.controller()->waitUntilReady(AnalysisController::NeedSelection, 60000));
        auto* label = w.controls()->findChild<QLabel*>(QStringLiteral("selectionSummary"));
        QVERIFY(label);
        QTRY_VERIFY(label->text().contains(QStringLiteral("dense")));
        QTextDocument shown;
        shown.setHtml(label->text());
        QVERIFY2(shown.toPlainText().contains(QStringLiteral("too short (L <= min_tokens + W)")),
                 qPrintable(shown.toPlainText()));
    }
};

QTEST_MAIN(TestAppEvents)
#include "test_app_events.moc"
