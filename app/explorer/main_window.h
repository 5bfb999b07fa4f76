// The explorer window: menus, the parameter dock, the views in tabs and a status bar with progress.
// It wires the AnalysisController (model and background work) to the ControlsPanel and the ViewSet and
// owns everything that talks to the user: file dialogs, error boxes, drag and drop, settings, sessions.
#pragma once

#include <QMainWindow>
#include <QSize>
#include <QStringList>

class QLabel;
class QMenu;
class QMessageBox;
class QProgressBar;
class QTabWidget;
class QTimer;

namespace tsa::app {

class AnalysisController;
class ControlsPanel;
class ViewSet;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    // useSettings false: start from default parameters and never write QSettings (headless runs must be
    // reproducible and must not change the user's window).
    explicit MainWindow(QWidget* parent = nullptr, bool useSettings = true);
    ~MainWindow() override;

    AnalysisController* controller() const { return m_controller; }
    ViewSet* viewSet() const { return m_views; }
    ControlsPanel* controls() const { return m_controls; }
    QTabWidget* tabs() const { return m_tabs; }

    // First start: the file argument, else the last file of the previous session, else the bundled sample.
    void startup(const QString& fileArgument = {});
    // A capture (.safetensors, .npz), an effect file (metadata format tsa-effect/1) or a session (.json).
    void openPath(const QString& path);
    void openFile(const QString& path);
    // An effect file from tools/tsa_eval.py, beside the open capture (or alone); shows the Effect view.
    // switchView false keeps the view on screen (a session or --view chose it).
    void openEffect(const QString& path, bool switchView = true);
    void closeEffect(); // and forget it (the next start does not reopen it)
    bool openSession(const QString& path);
    bool saveSession(const QString& path);

    bool exportView(const QString& name, const QString& path, const QSize& size, double scale,
                    QString* error);
    // Writes every view of the current layer and head into folder, once per extension ("png", "svg",
    // "pdf", "csv"); file names say view, layer and head.
    bool exportAllViews(const QString& folder, const QSize& size, double scale, const QStringList& extensions,
                        QString* error, QStringList* written = nullptr);
    void copyImage();

    void showView(const QString& name);
    QString currentViewName() const;
    QStringList recentFiles() const;

    // Errors are shown in a non-modal box (object name "errorBox") so the window stays usable and tests
    // can find and close it; errorShown fires first.
    void showError(const QString& message);
    QMessageBox* errorBox() const;

    static QString bundledSamplePath(); // empty when none is found
    static QString bundledEffectPath(); // sample_data/stories260k_effect.safetensors, empty when absent
    static QSize defaultExportSize() { return {1200, 800}; }

signals:
    void errorShown(const QString& message);

protected:
    void closeEvent(QCloseEvent* event) override;
    bool eventFilter(QObject* watched, QEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private:
    void buildMenus();
    void rebuildRecentMenu();
    // lastKey: the setting reopened at the next start ("lastFile" for captures, "lastEffect" for effects).
    void addRecentFile(const QString& path, const QString& lastKey = QStringLiteral("lastFile"));
    void onProgress(const QString& message, int done, int total);
    void onFileOpened(const QString& path);
    void onEffectOpened(const QString& path);
    void chooseAndOpenEffect();
    void saveSettings();
    void chooseAndOpen();
    void chooseAndExport();
    void chooseAndExportAll();
    void chooseAndSaveSession();
    void chooseAndOpenSession();
    void generateSynthetic();
    void stepLayer(int delta);
    void stepHead(int delta);

    AnalysisController* m_controller;
    ViewSet* m_views;
    ControlsPanel* m_controls;
    QTabWidget* m_tabs;
    QLabel* m_statusText;
    QLabel* m_statusHint;
    QProgressBar* m_progress;
    QMenu* m_recentMenu = nullptr;
    QTimer* m_settingsTimer;
    QString m_pendingView;            // from a session, applied once its file is open
    bool m_effectFromSession = false; // the effect opening now belongs to a session: keep its view
    bool m_useSettings;
};

} // namespace tsa::app
