#include "app/explorer/export_dialog.h"

#include "app/explorer/view_export.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>

namespace tsa::app {

ExportDialog::ExportDialog(const QString& suggestedPath, const QSize& size, bool folderMode, QWidget* parent)
    : QDialog(parent), m_folderMode(folderMode), m_path(new QLineEdit(suggestedPath, this)),
      m_width(new QSpinBox(this)), m_height(new QSpinBox(this)), m_scale(new QComboBox(this)) {
    setWindowTitle(folderMode ? tr("Export All Views") : tr("Export View"));
    QSettings settings;
    m_width->setRange(200, 8000);
    m_height->setRange(150, 8000);
    m_width->setValue(settings.value(QStringLiteral("export/width"), size.width()).toInt());
    m_height->setValue(settings.value(QStringLiteral("export/height"), size.height()).toInt());
    m_width->setSuffix(tr(" px"));
    m_height->setSuffix(tr(" px"));
    for (int s : {1, 2, 3, 4})
        m_scale->addItem(QStringLiteral("%1×").arg(s), s);
    m_scale->setCurrentIndex(m_scale->findData(settings.value(QStringLiteral("export/scale"), 2).toInt()));
    m_scale->setToolTip(tr("PNG pixels per logical pixel (and heatmap pixels per point in a PDF, at least "
                           "2); SVG and PDF are vectors"));

    // Room for a full path without scrolling.
    m_path->setMinimumWidth(m_path->fontMetrics().horizontalAdvance(QLatin1Char('x')) * 56);
    m_path->setObjectName(QStringLiteral("exportPath"));
    auto* browse = new QPushButton(tr("Browse…"), this);
    connect(browse, &QPushButton::clicked, this, &ExportDialog::browse);
    auto* pathRow = new QHBoxLayout;
    pathRow->addWidget(m_path, 1);
    pathRow->addWidget(browse);
    auto* sizeRow = new QHBoxLayout;
    sizeRow->addWidget(m_width);
    sizeRow->addWidget(new QLabel(QStringLiteral("×"), this));
    sizeRow->addWidget(m_height);

    auto* form = new QFormLayout(this);
    form->addRow(folderMode ? tr("Folder") : tr("File"), pathRow);
    if (folderMode) {
        m_formats = new QComboBox(this);
        m_formats->addItem(tr("PNG, SVG and CSV"), QStringLiteral("png,svg,csv"));
        m_formats->addItem(tr("PNG, SVG, PDF and CSV"), QStringLiteral("png,svg,pdf,csv"));
        m_formats->addItem(tr("PNG only"), QStringLiteral("png"));
        m_formats->addItem(tr("SVG only"), QStringLiteral("svg"));
        m_formats->addItem(tr("PDF only"), QStringLiteral("pdf"));
        m_formats->addItem(tr("CSV only"), QStringLiteral("csv"));
        form->addRow(tr("Formats"), m_formats);
    }
    form->addRow(tr("Size"), sizeRow);
    form->addRow(tr("PNG scale"), m_scale);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &ExportDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &ExportDialog::reject);
    form->addRow(buttons);
}

QString ExportDialog::path() const {
    return m_path->text().trimmed();
}
QSize ExportDialog::imageSize() const {
    return {m_width->value(), m_height->value()};
}
double ExportDialog::scale() const {
    return m_scale->currentData().toDouble();
}
QStringList ExportDialog::formats() const {
    if (!m_formats) return {};
    return m_formats->currentData().toString().split(QLatin1Char(','));
}

void ExportDialog::browse() {
    const QString chosen =
        m_folderMode ? QFileDialog::getExistingDirectory(this, windowTitle(), path())
                     : QFileDialog::getSaveFileName(this, windowTitle(), path(), exportFileFilter());
    if (!chosen.isEmpty()) {
        m_path->setText(chosen);
        m_confirmedPath = chosen; // the save dialog already asked about replacing it
    }
}

void ExportDialog::accept() {
    if (path().isEmpty() || (!m_folderMode && formatForPath(path()) == ExportFormat::Unknown)) {
        QMessageBox::warning(this, windowTitle(),
                             m_folderMode ? tr("Choose a folder.")
                                          : tr("Choose a file name ending in .png, .svg, .pdf or .csv."));
        return;
    }
    // A typed path that names an existing file is replaced only when the user says so.
    if (!m_folderMode && QFileInfo(path()).isFile() && path() != m_confirmedPath) {
        QMessageBox ask(QMessageBox::Question, windowTitle(),
                        tr("%1 already exists. Replace it?").arg(QDir::toNativeSeparators(path())),
                        QMessageBox::Yes | QMessageBox::No, this);
        ask.setObjectName(QStringLiteral("overwriteBox"));
        ask.setDefaultButton(QMessageBox::No);
        if (ask.exec() != QMessageBox::Yes) return;
        m_confirmedPath = path();
    }
    QSettings settings;
    settings.setValue(QStringLiteral("export/width"), m_width->value());
    settings.setValue(QStringLiteral("export/height"), m_height->value());
    settings.setValue(QStringLiteral("export/scale"), m_scale->currentData().toInt());
    QDialog::accept();
}

} // namespace tsa::app
