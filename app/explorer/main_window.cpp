#include "app/explorer/main_window.h"

#include "app/explorer/analysis_controller.h"
#include "app/explorer/controls_panel.h"
#include "app/explorer/data_paths.h"
#include "app/explorer/export_dialog.h"
#include "app/explorer/generate_dialog.h"
#include "app/explorer/session.h"
#include "app/explorer/view_export.h"
#include "app/explorer/view_names.h"
#include "app/explorer/view_set.h"
#include "core/io/effect.h"
#include "views/error_view.h"
#include "views/exportable_view.h"

#include <QAbstractSpinBox>
#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QClipboard>
#include <QCloseEvent>
#include <QCoreApplication>
#include <QDir>
#include <QDockWidget>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHash>
#include <QKeyEvent>
#include <QKeySequence>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QProgressBar>
#include <QScrollArea>
#include <QSettings>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>

namespace tsa::app {

namespace {

constexpr int kMaxRecent = 10;

bool isSessionPath(const QString& path) {
    return QFileInfo(path).suffix().compare(QLatin1String("json"), Qt::CaseInsensitive) == 0;
}

bool isOpenablePath(const QString& path) {
    const QString ext = QFileInfo(path).suffix().toLower();
    return ext == QLatin1String("safetensors") || ext == QLatin1String("npz") || ext == QLatin1String("json");
}

} // namespace

QString MainWindow::bundledSamplePath() {
    return app::bundledSamplePath();
}

QString MainWindow::bundledEffectPath() {
    return app::bundledEffectPath();
}

MainWindow::MainWindow(QWidget* parent, bool useSettings)
    : QMainWindow(parent), m_controller(new AnalysisController(this)),
      m_views(new ViewSet(m_controller, this)), m_controls(new ControlsPanel(m_controller, this)),
      m_tabs(new QTabWidget(this)), m_statusText(new QLabel(this)), m_statusHint(new QLabel(this)),
      m_progress(new QProgressBar(this)), m_settingsTimer(new QTimer(this)), m_useSettings(useSettings) {
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("TSA Explorer"));
    setAcceptDrops(true);

    m_tabs->setObjectName(QStringLiteral("viewTabs"));
    m_tabs->setDocumentMode(true);
    for (auto* v : m_views->views()) {
        const int index = m_tabs->addTab(v->widget(), viewTabLabel(v->viewName(), v->viewTitle()));
        m_tabs->setTabToolTip(index, v->viewTitle());
    }
    setCentralWidget(m_tabs);

    auto* dock = new QDockWidget(tr("Parameters"), this);
    dock->setObjectName(QStringLiteral("parametersDock"));
    auto* scroll = new QScrollArea(dock);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setWidget(m_controls);
    dock->setWidget(scroll);
    dock->setFeatures(QDockWidget::DockWidgetMovable | QDockWidget::DockWidgetFloatable);
    addDockWidget(Qt::LeftDockWidgetArea, dock);

    m_progress->setObjectName(QStringLiteral("progressBar"));
    m_progress->setFixedWidth(180);
    m_progress->setTextVisible(true);
    m_progress->setFormat(QStringLiteral("%v / %m"));
    m_progress->hide();
    m_statusText->setObjectName(QStringLiteral("statusText"));
    m_statusHint->setObjectName(QStringLiteral("statusHint"));
    statusBar()->addWidget(m_statusText, 1);
    statusBar()->addPermanentWidget(m_statusHint);
    statusBar()->addPermanentWidget(m_progress);
    m_statusText->setText(tr("Ready"));

    buildMenus();

    // Settings are written shortly after the last change rather than on every slider step.
    m_settingsTimer->setSingleShot(true);
    m_settingsTimer->setInterval(500);
    connect(m_settingsTimer, &QTimer::timeout, this, &MainWindow::saveSettings);

    connect(m_tabs, &QTabWidget::currentChanged, this, [this](int) {
        m_views->setCurrentView(currentViewName());
        m_settingsTimer->start();
    });
    // Colour map and overview metric are the views' state: the controls set it on the ViewSet, which
    // repaints; the controller never hears of it (nothing is recomputed).
    connect(m_controls, &ControlsPanel::colorMapChosen, m_views, &ViewSet::setColorMap);
    connect(m_controls, &ControlsPanel::overviewMetricChosen, m_views, &ViewSet::setOverviewMetric);
    connect(m_views, &ViewSet::viewStateChanged, m_controls, &ControlsPanel::setViewState);
    connect(m_views, &ViewSet::viewStateChanged, m_settingsTimer, qOverload<>(&QTimer::start));
    m_controls->setViewState(m_views->viewState());
    connect(m_controller, &AnalysisController::paramsChanged, m_settingsTimer, qOverload<>(&QTimer::start));
    connect(m_controller, &AnalysisController::progress, this, &MainWindow::onProgress);
    connect(m_controller, &AnalysisController::paramsChanged, this, [this] {
        // View titles name the layer and head; keep the tab tooltips in step.
        for (int i = 0; i < m_tabs->count(); ++i)
            if (auto* v = dynamic_cast<views::ExportableView*>(m_tabs->widget(i)))
                m_tabs->setTabToolTip(i, v->viewTitle());
    });
    connect(m_controller, &AnalysisController::fileOpened, this, &MainWindow::onFileOpened);
    connect(m_controller, &AnalysisController::fileOpenFailed, this,
            [this](const QString& path, const QString& msg) {
                m_pendingView.clear();
                showError(tr("Cannot open %1.\n\n%2").arg(QDir::toNativeSeparators(path), msg));
            });
    connect(m_controller, &AnalysisController::errorOccurred, this, &MainWindow::showError);
    connect(m_controller, &AnalysisController::effectOpened, this, &MainWindow::onEffectOpened);
    connect(m_controller, &AnalysisController::effectOpenFailed, this,
            [this](const QString& path, const QString& msg) {
                showError(
                    tr("Cannot open the effect file %1.\n\n%2").arg(QDir::toNativeSeparators(path), msg));
            });
    connect(m_controller, &AnalysisController::warning, this, [this](const QString& msg) {
        m_statusHint->setText(msg.left(120));
        m_statusHint->setToolTip(msg);
    });
    // A layer-list warning goes away once the list is corrected (it used to stay in the status bar).
    connect(m_controller, &AnalysisController::paramsChanged, this, [this] {
        if (m_controller->planProblem().isEmpty() &&
            m_statusHint->toolTip().startsWith(tr("Sparse layers:"))) {
            m_statusHint->clear();
            m_statusHint->setToolTip({});
        }
    });
    // Ctrl+C in a parameter field with nothing selected copies the view, as everywhere else in the window
    // (the field used to swallow the shortcut silently).
    qApp->installEventFilter(this);

    resize(1440, 900);
    if (m_useSettings) {
        QSettings settings;
        ViewState viewState;
        m_controller->setParams(loadParams(settings, &viewState));
        m_views->setViewState(viewState);
        restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
        restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    }
    showView(m_views->viewState().view);
    rebuildRecentMenu();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildMenus() {
    QMenu* file = menuBar()->addMenu(tr("&File"));
    file->addAction(tr("&Open…"), QKeySequence::Open, this, &MainWindow::chooseAndOpen);
    file->addAction(tr("Open &Effect…"), this, &MainWindow::chooseAndOpenEffect);
    file->addAction(tr("&Close Effect"), this, &MainWindow::closeEffect);
    m_recentMenu = file->addMenu(tr("Open &Recent"));
    QMenu* examples = file->addMenu(tr("Open E&xample"));
    examples->setObjectName(QStringLiteral("examplesMenu"));
    for (const BundledExample& example : bundledExamples()) {
        QAction* action =
            examples->addAction(example.title, this, [this, path = example.path] { openPath(path); });
        action->setStatusTip(example.description);
        action->setData(example.path);
    }
    if (examples->isEmpty()) examples->addAction(tr("(no bundled examples found)"))->setEnabled(false);
    file->addAction(tr("&Generate Synthetic…"), QKeySequence(tr("Ctrl+G")), this,
                    &MainWindow::generateSynthetic);
    file->addSeparator();
    file->addAction(tr("Open &Session…"), this, &MainWindow::chooseAndOpenSession);
    file->addAction(tr("Save Session &As…"), QKeySequence::SaveAs, this, &MainWindow::chooseAndSaveSession);
    file->addSeparator();
    file->addAction(tr("&Export View…"), QKeySequence(tr("Ctrl+E")), this, &MainWindow::chooseAndExport);
    file->addAction(tr("Export &All Views…"), QKeySequence(tr("Ctrl+Shift+E")), this,
                    &MainWindow::chooseAndExportAll);
    file->addSeparator();
    file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    edit->addAction(tr("&Copy Image"), QKeySequence::Copy, this, &MainWindow::copyImage);
    edit->addAction(tr("Copy &Data as CSV"), QKeySequence(tr("Ctrl+Shift+C")), this, [this] {
        if (auto* v = m_views->view(currentViewName())) QApplication::clipboard()->setText(v->csv());
    });

    QMenu* view = menuBar()->addMenu(tr("&View"));
    view->addAction(tr("&Next Layer"), QKeySequence(Qt::Key_PageDown), this, [this] { stepLayer(1); });
    view->addAction(tr("&Previous Layer"), QKeySequence(Qt::Key_PageUp), this, [this] { stepLayer(-1); });
    view->addAction(tr("Next &Head"), QKeySequence(tr("Ctrl+]")), this, [this] { stepHead(1); });
    view->addAction(tr("Previous H&ead"), QKeySequence(tr("Ctrl+[")), this, [this] { stepHead(-1); });
    view->addSeparator();
    int index = 0;
    for (auto* v : m_views->views()) {
        const QString name = v->viewName();
        auto* action =
            view->addAction(viewTabLabel(name, v->viewTitle()), this, [this, name] { showView(name); });
        if (index < 9) action->setShortcut(QKeySequence(tr("Alt+%1").arg(index + 1)));
        ++index;
    }
    // The error view shows one statistic at a time; the others are a menu choice away.
    if (auto* errorView = dynamic_cast<views::ErrorView*>(m_views->view(QStringLiteral("error")))) {
        view->addSeparator();
        QMenu* errorMenu = view->addMenu(tr("Error &Metric"));
        errorMenu->setObjectName(QStringLiteral("errorMetricMenu"));
        auto* group = new QActionGroup(errorMenu);
        for (auto metric : {views::ErrorMetric::RowErrorMedian, views::ErrorMetric::RowErrorP95,
                            views::ErrorMetric::LastWindowError, views::ErrorMetric::RetainedMassMedian,
                            views::ErrorMetric::DroppedRows}) {
            QAction* action =
                errorMenu->addAction(views::ErrorView::metricName(metric), this, [this, errorView, metric] {
                    errorView->setMetric(metric);
                    showView(QStringLiteral("error"));
                });
            action->setCheckable(true);
            action->setChecked(metric == errorView->metric());
            group->addAction(action);
        }
    }

    // The effect view's x axis and needle score (stored in the parameters, so sessions keep them).
    {
        view->addSeparator();
        auto addChoice = [this](QMenu* menu, const QString& label, const QString& value,
                                QString ExplorerParams::*field) {
            QAction* action = menu->addAction(label, this, [this, value, field] {
                ExplorerParams p = m_controller->params();
                p.*field = value;
                m_controller->setParams(p);
                showView(QStringLiteral("effect"));
            });
            action->setCheckable(true);
            action->setData(value);
            connect(m_controller, &AnalysisController::paramsChanged, action, [this, action, value, field] {
                action->setChecked(m_controller->params().*field == value);
            });
            action->setChecked(m_controller->params().*field == value);
            return action;
        };
        QMenu* axisMenu = view->addMenu(tr("Effect &X Axis"));
        axisMenu->setObjectName(QStringLiteral("effectAxisMenu"));
        auto* axisGroup = new QActionGroup(axisMenu);
        axisGroup->addAction(
            addChoice(axisMenu, tr("Tau"), QStringLiteral("tau"), &ExplorerParams::effectAxis));
        axisGroup->addAction(addChoice(axisMenu, tr("Mean Kept Fraction"), QStringLiteral("kept"),
                                       &ExplorerParams::effectAxis));
        QMenu* needleMenu = view->addMenu(tr("Effect &Needle Score"));
        needleMenu->setObjectName(QStringLiteral("effectNeedleMenu"));
        auto* needleGroup = new QActionGroup(needleMenu);
        needleGroup->addAction(addChoice(needleMenu, tr("Token Overlap"), QStringLiteral("overlap"),
                                         &ExplorerParams::effectNeedle));
        needleGroup->addAction(
            addChoice(needleMenu, tr("Exact Match"), QStringLiteral("exact"), &ExplorerParams::effectNeedle));
    }

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About TSA Explorer"), this, [this] {
        QMessageBox::about(
            this, tr("About TSA Explorer"),
            tr("<b>TSA Explorer %1</b><p>Explore Token Sparse Attention: per-layer, per-head dynamic "
               "token selection for long-context prefill (Jo et al., arXiv 2602.03216).</p>")
                .arg(QCoreApplication::applicationVersion()));
    });
}

// ------------------------------------------------------------------------------------------ files

void MainWindow::startup(const QString& fileArgument) {
    if (!fileArgument.isEmpty()) {
        openPath(fileArgument);
        return;
    }
    const QString last = m_useSettings ? QSettings().value(QStringLiteral("lastFile")).toString() : QString();
    const QString lastEffect =
        m_useSettings ? QSettings().value(QStringLiteral("lastEffect")).toString() : QString();
    if (!lastEffect.isEmpty() && QFileInfo(lastEffect).isFile()) openEffect(lastEffect, false);
    if (!last.isEmpty() && QFileInfo(last).isFile()) {
        openPath(last);
        return;
    }
    const QString sample = bundledSamplePath();
    // First start: the bundled real-model effect file fills the Effect tab (the capture's view stays).
    if (const QString effect = bundledEffectPath(); !effect.isEmpty() && lastEffect.isEmpty())
        openEffect(effect, false);
    if (!sample.isEmpty())
        openFile(sample);
    else
        m_statusText->setText(
            tr("No file open: File ▸ Open, File ▸ Generate Synthetic, or drop a capture here."));
}

void MainWindow::openPath(const QString& path) {
    if (isSessionPath(path))
        openSession(path);
    else if (isEffectFile(path.toStdString()))
        openEffect(path);
    else
        openFile(path);
}

void MainWindow::openEffect(const QString& path, bool switchView) {
    m_effectFromSession = !switchView;
    m_controller->openEffect(QFileInfo(path).absoluteFilePath());
}

void MainWindow::closeEffect() {
    m_controller->closeEffect();
    if (m_useSettings) QSettings().remove(QStringLiteral("lastEffect"));
}

void MainWindow::onEffectOpened(const QString& path) {
    if (!m_controller->hasCapture()) setWindowTitle(tr("%1 — TSA Explorer").arg(QFileInfo(path).fileName()));
    // Remembered apart from the capture: the next start reopens both, the effect beside the capture.
    addRecentFile(path, QStringLiteral("lastEffect"));
    // A session's view wins; otherwise an effect file is opened to be looked at.
    if (m_effectFromSession) {
        m_effectFromSession = false;
        if (!m_pendingView.isEmpty() && !m_controller->isOpening()) {
            showView(m_pendingView);
            m_pendingView.clear();
        }
    } else {
        showView(QStringLiteral("effect"));
    }
    m_settingsTimer->start();
}

void MainWindow::openFile(const QString& path) {
    m_controller->openFile(QFileInfo(path).absoluteFilePath());
}

void MainWindow::onFileOpened(const QString& path) {
    setWindowTitle(tr("%1 — TSA Explorer").arg(QFileInfo(path).fileName()));
    addRecentFile(path);
    if (!m_pendingView.isEmpty()) {
        showView(m_pendingView);
        m_pendingView.clear();
    }
    m_settingsTimer->start();
}

bool MainWindow::openSession(const QString& path) {
    QString error;
    auto session = loadSession(path, &error);
    if (!session) {
        showError(error);
        return false;
    }
    m_pendingView = session->viewState.view;
    ViewState viewState = session->viewState;
    viewState.view = currentViewName(); // the session's view is shown once its file is open
    m_views->setViewState(viewState);
    if (!session->filePath.isEmpty())
        m_controller->openFileWith(session->filePath, session->params);
    else
        m_controller->setParams(session->params);
    // The session's picture: its effect file, or none.
    if (!session->effectPath.isEmpty())
        openEffect(session->effectPath, false);
    else if (m_controller->effect() || m_controller->isOpeningEffect())
        closeEffect();
    return true;
}

bool MainWindow::saveSession(const QString& path) {
    if (!m_controller->hasCapture() && !m_controller->effect()) {
        showError(tr("Open a capture or an effect file before saving a session: a session refers to one."));
        return false;
    }
    Session session;
    if (m_controller->hasCapture()) session.filePath = m_controller->filePath();
    if (m_controller->effect()) session.effectPath = m_controller->effectPath();
    session.params = m_controller->params();
    session.viewState = m_views->viewState();
    session.viewState.view = currentViewName();
    QString error;
    if (!app::saveSession(path, session, &error)) {
        showError(error);
        return false;
    }
    m_statusText->setText(tr("Session saved to %1").arg(QDir::toNativeSeparators(path)));
    return true;
}

QStringList MainWindow::recentFiles() const {
    return QSettings().value(QStringLiteral("recentFiles")).toStringList();
}

void MainWindow::addRecentFile(const QString& path, const QString& lastKey) {
    if (!m_useSettings) return;
    QSettings settings;
    QStringList list = settings.value(QStringLiteral("recentFiles")).toStringList();
    list.removeAll(path);
    list.prepend(path);
    while (list.size() > kMaxRecent)
        list.removeLast();
    settings.setValue(QStringLiteral("recentFiles"), list);
    settings.setValue(lastKey, path);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
    m_recentMenu->clear();
    const QStringList list = recentFiles();
    for (const QString& path : list) {
        // Name and folder: two captures called capture.safetensors in different runs stay apart.
        const QFileInfo info(path);
        QAction* a = m_recentMenu->addAction(
            QStringLiteral("%1 — %2").arg(info.fileName(), QDir::toNativeSeparators(info.absolutePath())),
            this, [this, path] { openPath(path); });
        a->setToolTip(path);
        a->setStatusTip(QDir::toNativeSeparators(path));
    }
    if (list.isEmpty())
        m_recentMenu->addAction(tr("(none)"))->setEnabled(false);
    else {
        m_recentMenu->addSeparator();
        m_recentMenu->addAction(tr("Clear List"), this, [this] {
            QSettings().remove(QStringLiteral("recentFiles"));
            rebuildRecentMenu();
        });
    }
}

void MainWindow::chooseAndOpen() {
    const QString dir = QFileInfo(m_controller->filePath()).absolutePath();
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open Capture or Session"), dir,
                                     tr("Captures and sessions (*.safetensors *.npz *.json);;Captures "
                                        "(*.safetensors *.npz);;Sessions (*.json);;All files (*)"));
    if (!path.isEmpty()) openPath(path);
}

void MainWindow::chooseAndOpenEffect() {
    const QString dir = QFileInfo(m_controller->effectPath().isEmpty() ? m_controller->filePath()
                                                                       : m_controller->effectPath())
                            .absolutePath();
    const QString path = QFileDialog::getOpenFileName(this, tr("Open Effect File"), dir,
                                                      tr("Effect files (*.safetensors);;All files (*)"));
    if (!path.isEmpty()) openEffect(path);
}

void MainWindow::chooseAndOpenSession() {
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Open Session"), QString(), tr("Sessions (*.json)"));
    if (!path.isEmpty()) openSession(path);
}

void MainWindow::chooseAndSaveSession() {
    const QString suggested =
        QFileInfo(m_controller->filePath()).completeBaseName() + QStringLiteral(".session.json");
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save Session"), suggested, tr("Sessions (*.json)"));
    if (!path.isEmpty())
        saveSession(path.endsWith(QLatin1String(".json")) ? path : path + QStringLiteral(".json"));
}

void MainWindow::generateSynthetic() {
    auto* dialog = new GenerateDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &GenerateDialog::generated, this, &MainWindow::openFile);
    dialog->open();
}

// ------------------------------------------------------------------------------------------ export

bool MainWindow::exportView(const QString& name, const QString& path, const QSize& size, double scale,
                            QString* error) {
    auto* view = m_views->view(name);
    if (!view) {
        if (error) *error = tr("No view named '%1'").arg(name);
        return false;
    }
    m_views->flush();
    return writeView(*view, path, size, scale, error);
}

bool MainWindow::exportAllViews(const QString& folder, const QSize& size, double scale,
                                const QStringList& extensions, QString* error, QStringList* written) {
    if (!QDir().mkpath(folder)) {
        if (error) *error = tr("Cannot create the folder %1").arg(folder);
        return false;
    }
    const ExplorerParams& p = m_controller->params();
    // Named after the capture; after the effect file when it is open alone.
    const QString named = m_controller->hasCapture() ? m_controller->filePath() : m_controller->effectPath();
    const QString stem = QStringLiteral("%1_L%2_H%3_tau%4")
                             .arg(QFileInfo(named).completeBaseName())
                             .arg(m_controller->modelLayerId(p.layer))
                             .arg(p.head)
                             .arg(p.tsa.tau);
    m_views->flush();
    for (auto* v : m_views->views())
        for (const QString& ext : extensions) {
            const QString path =
                QDir(folder).filePath(QStringLiteral("%1_%2.%3").arg(stem, v->viewName(), ext));
            if (!writeView(*v, path, size, scale, error)) return false;
            if (written) *written << path;
        }
    return true;
}

void MainWindow::chooseAndExport() {
    auto* view = m_views->view(currentViewName());
    if (!view) return;
    const ExplorerParams& p = m_controller->params();
    const QString suggested = QStringLiteral("%1_L%2_H%3.png")
                                  .arg(view->viewName())
                                  .arg(m_controller->modelLayerId(p.layer))
                                  .arg(p.head);
    ExportDialog dialog(suggested, view->widget()->size(), false, this);
    if (dialog.exec() != QDialog::Accepted) return;
    QString error;
    if (!exportView(view->viewName(), dialog.path(), dialog.imageSize(), dialog.scale(), &error))
        showError(error);
    else
        m_statusText->setText(tr("Exported %1").arg(QDir::toNativeSeparators(dialog.path())));
}

void MainWindow::chooseAndExportAll() {
    ExportDialog dialog(QDir::homePath() + QStringLiteral("/tsa-export"), defaultExportSize(), true, this);
    if (dialog.exec() != QDialog::Accepted) return;
    QString error;
    QStringList written;
    if (!exportAllViews(dialog.path(), dialog.imageSize(), dialog.scale(), dialog.formats(), &error,
                        &written))
        showError(error);
    else
        m_statusText->setText(
            tr("Exported %1 files to %2").arg(written.size()).arg(QDir::toNativeSeparators(dialog.path())));
}

void MainWindow::copyImage() {
    auto* view = m_views->view(currentViewName());
    if (!view) return;
    QWidget* w = view->widget();
    QApplication::clipboard()->setImage(renderImage(*view, w->size(), w->devicePixelRatioF()));
    m_statusText->setText(tr("Copied the %1 view to the clipboard").arg(view->viewTitle()));
}

// ------------------------------------------------------------------------------------------ navigation

void MainWindow::showView(const QString& name) {
    for (int i = 0; i < m_tabs->count(); ++i) {
        auto* v = dynamic_cast<views::ExportableView*>(m_tabs->widget(i));
        if (v && v->viewName() == name) {
            m_tabs->setCurrentIndex(i);
            return;
        }
    }
}

QString MainWindow::currentViewName() const {
    auto* v = dynamic_cast<views::ExportableView*>(m_tabs->currentWidget());
    return v ? v->viewName() : QString();
}

void MainWindow::stepLayer(int delta) {
    const int n = m_controller->layerCount();
    if (n > 0) m_controller->setLayer(std::clamp(m_controller->params().layer + delta, 0, n - 1));
}

void MainWindow::stepHead(int delta) {
    const int n = m_controller->headCount();
    if (n > 0) m_controller->setHead(std::clamp(m_controller->params().head + delta, 0, n - 1));
}

// ------------------------------------------------------------------------------------------ status, errors

void MainWindow::onProgress(const QString& message, int done, int total) {
    if (total <= 0) {
        m_progress->hide();
        m_statusText->setText(message.isEmpty() ? tr("Ready") : message);
        return;
    }
    m_progress->setRange(0, total);
    m_progress->setValue(done);
    m_progress->show();
    m_statusText->setText(message);
}

void MainWindow::showError(const QString& message) {
    emit errorShown(message);
    if (auto* old = errorBox()) old->close();
    auto* box = new QMessageBox(QMessageBox::Warning, tr("TSA Explorer"), message, QMessageBox::Ok, this);
    box->setObjectName(QStringLiteral("errorBox"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    // Non-modal: the error names the problem, and the rest of the window (old data included) stays usable.
    box->setModal(false);
    box->show();
}

QMessageBox* MainWindow::errorBox() const {
    return findChild<QMessageBox*>(QStringLiteral("errorBox"));
}

// ------------------------------------------------------------------------------------------ settings, events

void MainWindow::saveSettings() {
    if (!m_useSettings) return;
    QSettings settings;
    ViewState viewState = m_views->viewState();
    viewState.view = currentViewName();
    saveParams(settings, m_controller->params(), viewState);
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), saveState());
}

bool MainWindow::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::ShortcutOverride &&
        static_cast<QKeyEvent*>(event)->matches(QKeySequence::Copy)) {
        auto* edit = qobject_cast<QLineEdit*>(watched);
        if (auto* spin = qobject_cast<QAbstractSpinBox*>(watched)) edit = spin->findChild<QLineEdit*>();
        if (edit && !edit->hasSelectedText() && isAncestorOf(edit)) {
            event->ignore(); // not overridden: the Copy Image shortcut of the Edit menu runs
            return true;
        }
    }
    return QMainWindow::eventFilter(watched, event);
}

void MainWindow::closeEvent(QCloseEvent* event) {
    saveSettings();
    QMainWindow::closeEvent(event);
}

void MainWindow::dragEnterEvent(QDragEnterEvent* event) {
    const auto urls = event->mimeData()->urls();
    if (!urls.isEmpty() && urls.first().isLocalFile() && isOpenablePath(urls.first().toLocalFile()))
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* event) {
    const auto urls = event->mimeData()->urls();
    if (urls.isEmpty() || !urls.first().isLocalFile()) return;
    openPath(urls.first().toLocalFile());
    event->acceptProposedAction();
}

} // namespace tsa::app
