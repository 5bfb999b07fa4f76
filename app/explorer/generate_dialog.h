// File ▸ Generate Synthetic: the generator's shape, seed and preset in a form; writing runs on a worker
// thread with a progress bar and a Cancel that stops after the current layer (the writer never leaves a
// partial file). On success generated(path) asks the window to open the result.
#pragma once

#include <QDialog>
#include <atomic>
#include <memory>

class QComboBox;
class QDialogButtonBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QSpinBox;
class QThread;

namespace tsa::app {

class GenerateDialog : public QDialog {
    Q_OBJECT
public:
    explicit GenerateDialog(QWidget* parent = nullptr);
    ~GenerateDialog() override; // cancels and waits for a running generation

    // Preset files found next to the bundled sample (name -> path).
    static QStringList presetDirectories();

    QLineEdit* outputEdit() const { return m_output; }
    QSpinBox* tokensBox() const { return m_tokens; }
    QSpinBox* layersBox() const { return m_layers; }
    QSpinBox* headsBox() const { return m_qHeads; }
    QSpinBox* kvHeadsBox() const { return m_kvHeads; }
    QSpinBox* headDimBox() const { return m_headDim; }
    QComboBox* presetBox() const { return m_preset; }
    // Starts generating with the current fields (what OK does).
    void start();
    bool isRunning() const { return m_thread != nullptr; }

signals:
    void generated(const QString& path);
    void failed(const QString& message);

protected:
    void reject() override;

private:
    void browse();
    void loadPreset();
    void finish(bool ok, const QString& pathOrError);
    void setRunning(bool running);

    QComboBox* m_preset;
    QLabel* m_presetDescription;
    QSpinBox* m_seed;
    QSpinBox* m_layers;
    QSpinBox* m_qHeads;
    QSpinBox* m_kvHeads;
    QSpinBox* m_tokens;
    QSpinBox* m_headDim;
    QComboBox* m_dtype;
    QLineEdit* m_output;
    QProgressBar* m_progress;
    QLabel* m_status;
    QDialogButtonBox* m_buttons;
    QThread* m_thread = nullptr;
    std::shared_ptr<std::atomic<bool>> m_cancel;
};

} // namespace tsa::app
