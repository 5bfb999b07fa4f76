// Monkey test of the explorer window, offscreen: thousands of random mouse moves, hovers, tooltip
// requests, clicks, double clicks, wheel turns, drags and key presses over every view and the parameter
// controls, with tau changes (0 included), W / min_tokens changes, view switches and file switches between
// captures of different shapes in between. It passes when the window survives (no crash, no sanitizer
// report: CI runs it under ASan, label "monkey") and still answers afterwards.
//
// TSA_MONKEY_SEED: the seed (default fixed, 20260801); "random" draws one. TSA_MONKEY_EVENTS: how many
// events (default 6000). The seed is printed first, and again in any failure message, so a failing run
// can be replayed exactly.
#include "app/explorer/analysis_controller.h"
#include "app/explorer/controls_panel.h"
#include "app/explorer/main_window.h"
#include "app/explorer/tau_editor.h"
#include "app/explorer/view_set.h"
#include "test_app_support.h"
#include "views/exportable_view.h"

#include <QApplication>
#include <QDialog>
#include <QHelpEvent>
#include <QHoverEvent>
#include <QKeyEvent>
#include <QLineEdit>
#include <QMenu>
#include <QMouseEvent>
#include <QRandomGenerator>
#include <QSettings>
#include <QSlider>
#include <QStandardPaths>
#include <QTabBar>
#include <QTabWidget>
#include <QTimer>
#include <QWheelEvent>
#include <QtTest>
#include <random>

using namespace tsa::app;
using tsa::test::waitFor;

namespace {

quint64 seedFromEnvironment() {
    const QByteArray text = qgetenv("TSA_MONKEY_SEED");
    if (text == "random") return QRandomGenerator::global()->generate64();
    bool ok = false;
    const quint64 seed = text.toULongLong(&ok);
    return ok ? seed : 20260801;
}

int eventsFromEnvironment() {
    bool ok = false;
    const int n = qEnvironmentVariableIntValue("TSA_MONKEY_EVENTS", &ok);
    return ok && n > 0 ? n : 6000;
}

} // namespace

class MonkeyWindow : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_dir;
    QStringList m_captures;
    quint64 m_seed = 0;
    std::mt19937_64 m_rng;

    int uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(m_rng); }
    double unit() { return std::uniform_real_distribution<double>(0.0, 1.0)(m_rng); }
    QString where() const { return QStringLiteral("seed %1 (replay: TSA_MONKEY_SEED=%1)").arg(m_seed); }

    // The widgets a user can point at now: the visible view and the parameter controls, all descendants.
    QList<QWidget*> targets(MainWindow& w) {
        QList<QWidget*> out;
        auto add = [&](QWidget* root) {
            if (!root || !root->isVisible()) return;
            out << root;
            for (QWidget* child : root->findChildren<QWidget*>())
                if (child->isVisible() && child->width() > 1 && child->height() > 1) out << child;
        };
        if (auto* view = w.viewSet()->view(w.currentViewName())) add(view->widget());
        add(w.controls());
        add(w.tabs()->tabBar());
        return out;
    }

    QPoint randomPoint(QWidget* widget) {
        return QPoint(uniform(0, std::max(0, widget->width() - 1)),
                      uniform(0, std::max(0, widget->height() - 1)));
    }

    void mouse(QWidget* widget, QEvent::Type type, const QPoint& pos, Qt::MouseButton button,
               Qt::MouseButtons buttons, Qt::KeyboardModifiers mods = {}) {
        QMouseEvent event(type, QPointF(pos), QPointF(widget->mapToGlobal(pos)), button, buttons, mods);
        QCoreApplication::sendEvent(widget, &event);
    }

    // One random user action on a random widget; returns its kind for the tally.
    int act(MainWindow& w, const QList<QWidget*>& pool) {
        QPointer<QWidget> widget = pool[uniform(0, int(pool.size()) - 1)];
        const QPoint pos = randomPoint(widget);
        const int kind = uniform(0, 9);
        switch (kind) {
        case 0: { // move, no button
            mouse(widget, QEvent::MouseMove, pos, Qt::NoButton, Qt::NoButton);
            break;
        }
        case 1: { // hover and tooltip
            QHoverEvent hover(QEvent::HoverMove, QPointF(pos), QPointF(widget->mapToGlobal(pos)),
                              QPointF(pos));
            QCoreApplication::sendEvent(widget, &hover);
            if (widget) {
                QHelpEvent help(QEvent::ToolTip, pos, widget->mapToGlobal(pos));
                QCoreApplication::sendEvent(widget, &help);
            }
            break;
        }
        case 2: // click, mostly left
            QTest::mouseClick(widget, unit() < 0.8 ? Qt::LeftButton : Qt::RightButton, {}, pos);
            break;
        case 3:
            QTest::mouseDClick(widget, Qt::LeftButton, {}, pos);
            break;
        case 4: { // wheel, sometimes with Ctrl or Shift
            const Qt::KeyboardModifiers mods =
                unit() < 0.2 ? Qt::ControlModifier : (unit() < 0.1 ? Qt::ShiftModifier : Qt::NoModifier);
            QWheelEvent wheel(QPointF(pos), QPointF(widget->mapToGlobal(pos)), QPoint(),
                              QPoint(0, unit() < 0.5 ? 120 : -120) * uniform(1, 4), Qt::NoButton, mods,
                              Qt::NoScrollPhase, false);
            QCoreApplication::sendEvent(widget, &wheel);
            break;
        }
        case 5: { // drag
            mouse(widget, QEvent::MouseButtonPress, pos, Qt::LeftButton, Qt::LeftButton);
            const int steps = uniform(1, 6);
            for (int i = 0; i < steps && widget; ++i)
                mouse(widget, QEvent::MouseMove, randomPoint(widget), Qt::NoButton, Qt::LeftButton);
            if (widget)
                mouse(widget, QEvent::MouseButtonRelease, randomPoint(widget), Qt::LeftButton, Qt::NoButton);
            break;
        }
        case 6: { // a key a user might press while looking at a view or typing in a field
            static const int keys[] = {Qt::Key_Left,      Qt::Key_Right,    Qt::Key_Up,     Qt::Key_Down,
                                       Qt::Key_PageUp,    Qt::Key_PageDown, Qt::Key_Home,   Qt::Key_End,
                                       Qt::Key_Plus,      Qt::Key_Minus,    Qt::Key_0,      Qt::Key_5,
                                       Qt::Key_Period,    Qt::Key_Return,   Qt::Key_Escape, Qt::Key_Space,
                                       Qt::Key_Backspace, Qt::Key_A,        Qt::Key_E,      Qt::Key_Tab};
            const int key = keys[uniform(0, int(std::size(keys)) - 1)];
            QWidget* to =
                QApplication::focusWidget() && unit() < 0.5 ? QApplication::focusWidget() : widget.data();
            QTest::keyClick(to, Qt::Key(key));
            break;
        }
        case 7: { // tau: slider, typed text (valid or not) or the controller
            const double r = unit();
            TauEditor* tau = w.controls()->tauEditor();
            if (r < 0.4) {
                tau->slider()->setValue(uniform(0, TauEditor::kSteps));
            } else if (r < 0.7) {
                static const char* texts[] = {"0", "0.005", "1e-5", "0.3", "0.7", "-1", "abc", "0.0001", ""};
                tau->field()->setText(QString::fromLatin1(texts[uniform(0, 8)]));
                tau->commitText();
            } else {
                w.controller()->setTau(unit() < 0.1 ? 0.0 : std::pow(10.0, -4.0 + 3.7 * unit()));
            }
            break;
        }
        case 8: { // another view, sometimes layer/head or W/min_tokens
            const QStringList names = w.viewSet()->names();
            w.showView(names[uniform(0, int(names.size()) - 1)]);
            if (unit() < 0.3)
                w.controller()->setLayer(uniform(0, std::max(0, w.controller()->layerCount() - 1)));
            if (unit() < 0.3)
                w.controller()->setHead(uniform(0, std::max(0, w.controller()->headCount() - 1)));
            if (unit() < 0.1) w.controller()->setWindow(uniform(1, 300));
            if (unit() < 0.1) w.controller()->setMinTokens(uniform(0, 1500));
            break;
        }
        default: { // resize now and then: layouts change under the pointer
            if (unit() < 0.3)
                w.resize(uniform(640, 1400), uniform(480, 950));
            else
                mouse(widget, QEvent::MouseMove, pos, Qt::NoButton, Qt::NoButton);
            break;
        }
        }
        return kind;
    }

private slots:
    void initTestCase() {
        QStandardPaths::setTestModeEnabled(true);
        QCoreApplication::setOrganizationName(QStringLiteral("tsa-explorer-tests"));
        QCoreApplication::setApplicationName(QStringLiteral("monkey_window"));
        QSettings().clear();
        m_seed = seedFromEnvironment();
        m_rng.seed(m_seed);
        qInfo("monkey: %s, %d events", qPrintable(where()), eventsFromEnvironment());
        QVERIFY(m_dir.isValid());
        // Different shapes so a file switch changes layer and head counts under open views.
        tsa::test::SmallCaptureShape a;
        a.layers = 4;
        a.qHeads = 4;
        a.kvHeads = 2;
        a.tokens = 1024;
        tsa::test::SmallCaptureShape b;
        b.layers = 2;
        b.qHeads = 8;
        b.kvHeads = 1;
        b.tokens = 700;
        b.headDim = 16;
        b.seed = 3;
        QString error;
        for (const auto& [name, shape] :
             {std::pair{QStringLiteral("a.safetensors"), a}, std::pair{QStringLiteral("b.safetensors"), b}}) {
            const QString path = tsa::test::writeSmallCapture(m_dir, name, shape, &error);
            QVERIFY2(!path.isEmpty(), qPrintable(error));
            m_captures << path;
        }
    }

    void survivesRandomInput() {
        MainWindow w(nullptr, false);
        w.resize(1100, 750);
        w.show();
        w.activateWindow();
        // A click may open a menu or a dialog with its own event loop: close it so the run goes on.
        QTimer closer;
        connect(&closer, &QTimer::timeout, [] {
            if (QWidget* popup = QApplication::activePopupWidget()) popup->close();
            if (auto* dialog = qobject_cast<QDialog*>(QApplication::activeModalWidget())) dialog->reject();
        });
        closer.start(20);
        w.openFile(m_captures[0]);
        QVERIFY2(waitFor([&] { return w.controller()->hasCapture() && !w.controller()->isOpening(); }),
                 qPrintable(where()));
        const int events = eventsFromEnvironment();
        int tally[10] = {};
        QList<QWidget*> pool = targets(w);
        for (int i = 0; i < events; ++i) {
            if (i > 0 && i % 700 == 0) {
                // A file switch, sometimes while work for the previous file is still running.
                w.openFile(m_captures[(i / 700) % m_captures.size()]);
                if (unit() < 0.5)
                    QVERIFY2(waitFor([&] { return !w.controller()->isOpening(); }), qPrintable(where()));
            }
            if (pool.isEmpty() || i % 10 == 0) pool = targets(w);
            if (pool.isEmpty()) continue;
            ++tally[act(w, pool)];
            if (i % 5 == 0) QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
            // Widgets can die under the pointer (a view rebuilds its chart, a hidden tooltip label is
            // deleted later): never keep stale pointers, so the pool is rebuilt after the events ran.
            pool = targets(w);
        }
        QString counts;
        for (int k = 0; k < 10; ++k)
            counts += QStringLiteral("%1 ").arg(tally[k]);
        qInfo("monkey: event kinds (move hover click dclick wheel drag key tau view resize): %s",
              qPrintable(counts));
        for (int k = 0; k < 10; ++k)
            QVERIFY2(tally[k] > 0, qPrintable(where()));

        // Still answering: a tau change reaches the visible layer's selection.
        w.controller()->setTau(0.02);
        QVERIFY2(w.controller()->waitUntilReady(AnalysisController::NeedSelection, 120000),
                 qPrintable(where()));
        const auto sel = w.controller()->selection(w.controller()->params().layer);
        QVERIFY2(sel != nullptr, qPrintable(where()));
        QCOMPARE(w.controller()->params().tsa.tau, 0.02);
        closer.stop();
    }
};

QTEST_MAIN(MonkeyWindow)
#include "monkey_window.moc"
