#include "app/explorer/generate_dialog.h"

#include "app/explorer/data_paths.h"
#include "core/synth/generator.h"

#include <QComboBox>
#include <QCoreApplication>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QStandardPaths>
#include <QThread>

namespace tsa::app {

QStringList GenerateDialog::presetDirectories() {
    QStringList dirs;
    for (const QString& dir : dataDirectoryCandidates())
        dirs << dir + QStringLiteral("/presets");
    return dirs;
}

GenerateDialog::GenerateDialog(QWidget* parent)
    : QDialog(parent), m_preset(new QComboBox(this)), m_presetDescription(new QLabel(this)),
      m_seed(new QSpinBox(this)), m_layers(new QSpinBox(this)), m_qHeads(new QSpinBox(this)),
      m_kvHeads(new QSpinBox(this)), m_tokens(new QSpinBox(this)), m_headDim(new QSpinBox(this)),
      m_dtype(new QComboBox(this)), m_output(new QLineEdit(this)), m_progress(new QProgressBar(this)),
      m_status(new QLabel(this)),
      m_buttons(new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this)) {
    setWindowTitle(tr("Generate Synthetic Capture"));
    setObjectName(QStringLiteral("generateDialog"));

    m_preset->addItem(tr("default"), QString());
    QStringList seen;
    for (const QString& dir : presetDirectories()) {
        for (const QFileInfo& f :
             QDir(dir).entryInfoList({QStringLiteral("*.json")}, QDir::Files, QDir::Name)) {
            if (seen.contains(f.completeBaseName())) continue;
            seen << f.completeBaseName();
            m_preset->addItem(f.completeBaseName(), f.absoluteFilePath());
        }
    }
    m_presetDescription->setWordWrap(true);
    m_presetDescription->setStyleSheet(QStringLiteral("color: palette(mid);"));

    const GeneratorConfig defaults;
    m_seed->setRange(0, 1 << 30);
    m_seed->setValue(int(defaults.seed));
    m_layers->setRange(1, 256);
    m_qHeads->setRange(1, 256);
    m_kvHeads->setRange(1, 256);
    m_tokens->setRange(16, 1 << 20);
    m_tokens->setSingleStep(1024);
    m_tokens->setGroupSeparatorShown(true);
    m_headDim->setRange(2, 512);
    m_headDim->setSingleStep(2);
    m_layers->setValue(defaults.layers);
    m_qHeads->setValue(int(defaults.qHeads));
    m_kvHeads->setValue(int(defaults.kvHeads));
    m_tokens->setValue(int(defaults.tokens));
    m_headDim->setValue(int(defaults.headDim));
    m_dtype->addItem(QStringLiteral("BF16"), int(DType::BF16));
    m_dtype->addItem(QStringLiteral("F16"), int(DType::F16));
    m_dtype->addItem(QStringLiteral("F32"), int(DType::F32));

    const QString docs = QStandardPaths::writableLocation(QStandardPaths::DocumentsLocation);
    m_output->setText(
        QDir(docs.isEmpty() ? QDir::homePath() : docs).filePath(QStringLiteral("synthetic.safetensors")));
    auto* browse = new QPushButton(tr("Browse…"), this);
    connect(browse, &QPushButton::clicked, this, &GenerateDialog::browse);
    auto* outRow = new QHBoxLayout;
    outRow->addWidget(m_output, 1);
    outRow->addWidget(browse);

    m_progress->setRange(0, 1);
    m_progress->setValue(0);
    m_progress->hide();

    auto* form = new QFormLayout(this);
    form->addRow(tr("Preset"), m_preset);
    form->addRow(QString(), m_presetDescription);
    form->addRow(tr("Seed"), m_seed);
    form->addRow(tr("Layers"), m_layers);
    form->addRow(tr("Query heads"), m_qHeads);
    form->addRow(tr("KV heads"), m_kvHeads);
    form->addRow(tr("Tokens"), m_tokens);
    form->addRow(tr("Head dim"), m_headDim);
    form->addRow(tr("Data type"), m_dtype);
    form->addRow(tr("Output"), outRow);
    form->addRow(m_progress);
    form->addRow(m_status);
    form->addRow(m_buttons);
    m_buttons->button(QDialogButtonBox::Ok)->setText(tr("Generate"));

    connect(m_preset, &QComboBox::currentIndexChanged, this, &GenerateDialog::loadPreset);
    connect(m_buttons, &QDialogButtonBox::accepted, this, &GenerateDialog::start);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &GenerateDialog::reject);
}

GenerateDialog::~GenerateDialog() {
    if (m_cancel) m_cancel->store(true);
    if (m_thread) {
        m_thread->wait();
        delete m_thread;
    }
}

void GenerateDialog::browse() {
    const QString path = QFileDialog::getSaveFileName(this, windowTitle(), m_output->text(),
                                                      tr("Safetensors (*.safetensors)"));
    if (!path.isEmpty()) m_output->setText(path);
}

void GenerateDialog::loadPreset() {
    const QString path = m_preset->currentData().toString();
    GeneratorConfig config;
    if (!path.isEmpty()) {
        auto r = loadGeneratorPreset(path.toStdString());
        if (!r.ok()) {
            m_status->setText(
                tr("Preset %1: %2").arg(QFileInfo(path).fileName(), QString::fromStdString(r.error())));
            return;
        }
        config = r.value();
    }
    m_presetDescription->setText(QString::fromStdString(config.description));
    // The default preset has no description: no empty row under Preset.
    m_presetDescription->setVisible(!m_presetDescription->text().isEmpty());
    m_seed->setValue(int(config.seed));
    m_layers->setValue(config.layers);
    m_qHeads->setValue(int(config.qHeads));
    m_kvHeads->setValue(int(config.kvHeads));
    m_tokens->setValue(int(config.tokens));
    m_headDim->setValue(int(config.headDim));
    m_status->clear();
}

void GenerateDialog::setRunning(bool running) {
    for (QWidget* w : std::initializer_list<QWidget*>{m_preset, m_seed, m_layers, m_qHeads, m_kvHeads,
                                                      m_tokens, m_headDim, m_dtype, m_output})
        w->setEnabled(!running);
    m_buttons->button(QDialogButtonBox::Ok)->setEnabled(!running);
    m_progress->setVisible(running);
}

void GenerateDialog::start() {
    if (m_thread) return;
    GeneratorConfig config;
    const QString presetPath = m_preset->currentData().toString();
    if (!presetPath.isEmpty()) {
        auto r = loadGeneratorPreset(presetPath.toStdString());
        if (r.ok()) config = r.value();
    }
    config.seed = std::uint64_t(m_seed->value());
    config.layers = m_layers->value();
    config.qHeads = m_qHeads->value();
    config.kvHeads = m_kvHeads->value();
    config.tokens = m_tokens->value();
    config.headDim = m_headDim->value();
    if (Status s = validateGeneratorConfig(config); !s.ok()) {
        m_status->setText(QString::fromStdString(s.message));
        return;
    }
    const QString out = QFileInfo(m_output->text().trimmed()).absoluteFilePath();
    if (m_output->text().trimmed().isEmpty()) {
        m_status->setText(tr("Choose an output file."));
        return;
    }
    SyntheticWriteOptions options;
    options.dtype = DType(m_dtype->currentData().toInt());
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    auto cancel = m_cancel;
    QPointer<GenerateDialog> self(this);
    options.progress = [self, cancel](int done, int total) {
        QMetaObject::invokeMethod(
            self,
            [self, done, total] {
                if (!self) return;
                self->m_progress->setRange(0, total);
                self->m_progress->setValue(done);
                self->m_status->setText(tr("Layer %1 of %2 written").arg(done).arg(total));
            },
            Qt::QueuedConnection);
        return !cancel->load();
    };
    setRunning(true);
    m_progress->setRange(0, config.layers);
    m_progress->setValue(0);
    m_status->setText(tr("Generating…"));
    m_thread = QThread::create([self, config, out, options] {
        auto r = writeSyntheticCapture(config, out.toStdString(), options);
        const bool ok = r.ok();
        const QString text = ok ? out : QString::fromStdString(r.error());
        QMetaObject::invokeMethod(
            self,
            [self, ok, text] {
                if (self) self->finish(ok, text);
            },
            Qt::QueuedConnection);
    });
    m_thread->start();
}

void GenerateDialog::finish(bool ok, const QString& pathOrError) {
    if (m_thread) {
        m_thread->wait();
        delete m_thread;
        m_thread = nullptr;
    }
    setRunning(false);
    const bool cancelled = m_cancel && m_cancel->load();
    m_cancel.reset();
    if (ok) {
        emit generated(pathOrError);
        accept();
        return;
    }
    m_status->setText(cancelled ? tr("Cancelled; nothing was written.") : pathOrError);
    if (!cancelled) emit failed(pathOrError);
}

void GenerateDialog::reject() {
    // Cancel stops a running generation first; a second Cancel closes.
    if (m_thread) {
        if (m_cancel) m_cancel->store(true);
        m_status->setText(tr("Cancelling after the current layer…"));
        return;
    }
    QDialog::reject();
}

} // namespace tsa::app
