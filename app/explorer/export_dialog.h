// Asks where and how big to export a view: path (format by extension), logical size and pixel scale for
// PNG (and the heatmaps inside a PDF). Remembers the last choices in QSettings so repeated exports are two
// clicks.
#pragma once

#include <QDialog>
#include <QSize>

class QComboBox;
class QLineEdit;
class QSpinBox;

namespace tsa::app {

class ExportDialog : public QDialog {
    Q_OBJECT
public:
    // folderMode: choose a folder (Export All Views) instead of a file.
    ExportDialog(const QString& suggestedPath, const QSize& size, bool folderMode, QWidget* parent = nullptr);

    QString path() const;
    QSize imageSize() const;
    double scale() const;
    // For Export All Views: the extensions to write ("png", "svg", "pdf", "csv").
    QStringList formats() const;

    void accept() override;

private:
    void browse();

    bool m_folderMode;
    QLineEdit* m_path;
    QSpinBox* m_width;
    QSpinBox* m_height;
    QComboBox* m_scale;
    QComboBox* m_formats = nullptr;
    QString m_confirmedPath; // chosen in the save dialog, which already asked about replacing it
};

} // namespace tsa::app
