// Input events over the whole window, offscreen: hover, mouse moves and tooltip requests over every widget
// of every view (a tooltip request once crashed the coverage view), and the window laid out at 800x600
// with nothing clipped (tick labels not elided, widgets at least their minimum sizes).
#include "app/explorer/analysis_controller.h"
#include "app/explorer/controls_panel.h"
#include "app/explorer/main_window.h"
#include "app/explorer/view_set.h"
#include "test_app_support.h"
#include "views/exportable_view.h"

#include <QAbstractButton>
#include <QHelpEvent>
#include <QHoverEvent>
#include <QMouseEvent>
#include <QSettings>
#include <QStandardPaths>
#include <QTabWidget>
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
};

QTEST_MAIN(TestAppEvents)
#include "test_app_events.moc"
