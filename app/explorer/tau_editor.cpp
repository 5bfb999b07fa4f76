#include "app/explorer/tau_editor.h"

#include "app/explorer/explorer_params.h"
#include "core/param_rules.h"
#include "views/number_format.h"

#include <QEvent>
#include <QGridLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QSignalBlocker>
#include <QSlider>
#include <algorithm>
#include <cmath>

namespace tsa::app {

TauEditor::TauEditor(QWidget* parent)
    : QWidget(parent), m_slider(new QSlider(Qt::Horizontal, this)), m_field(new QLineEdit(this)),
      m_problemLabel(new QLabel(this)) {
    m_slider->setObjectName(QStringLiteral("tauSlider"));
    m_slider->setRange(0, kSteps);
    m_slider->setPageStep(kSteps / 20);
    m_slider->setToolTip(tr("tau: the share of the layer's attention that the dropped tokens may carry.\n"
                            "Far left is 0 (every layer dense); then log scale from %1 to %2.")
                             .arg(format(kTauMin), format(kTauMax)));
    m_field->setObjectName(QStringLiteral("tauField"));
    m_field->setToolTip(tr("tau, 0 to %1: type a number (0.005, 1e-5; 0 = dense) and press Return.\n"
                           "Up/Down step along the slider.")
                            .arg(format(kTauMaximum)));
    // Wide enough for "0.000123" and "1e-05" without scrolling.
    m_field->setMinimumWidth(m_field->fontMetrics().horizontalAdvance(QStringLiteral("0.0001234")) + 14);
    m_field->setMaximumWidth(m_field->minimumWidth() + 30);
    m_field->installEventFilter(this);
    m_problemLabel->setObjectName(QStringLiteral("tauProblem"));
    m_problemLabel->setWordWrap(true);
    m_problemLabel->setStyleSheet(QStringLiteral("color: #b00020;"));
    m_problemLabel->hide();
    auto* layout = new QGridLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setVerticalSpacing(2);
    layout->addWidget(m_slider, 0, 0);
    layout->addWidget(m_field, 0, 1);
    layout->addWidget(m_problemLabel, 1, 0, 1, 2);
    layout->setColumnStretch(0, 1);
    connect(m_slider, &QSlider::valueChanged, this, &TauEditor::fromSlider);
    connect(m_field, &QLineEdit::editingFinished, this, &TauEditor::commitText);
    // While a refusal is shown, say at once when the text has become acceptable (or why not, still).
    connect(m_field, &QLineEdit::textEdited, this, [this](const QString& text) {
        if (m_problem.isEmpty()) return;
        showProblem(QString::fromStdString(tsa::parseTau(text.toStdString(), nullptr)));
    });
    setValue(m_value);
}

QString TauEditor::format(double tau) {
    return views::fmt::value(tau, 6);
}

int TauEditor::sliderPosition(double tau) {
    if (!(tau > 0.0)) return 0;
    const double lo = std::log10(kTauMin), hi = std::log10(kTauMax);
    const double t = (std::log10(std::clamp(tau, kTauMin, kTauMax)) - lo) / (hi - lo);
    return 1 + int(std::lround(t * (kSteps - 1)));
}

double TauEditor::tauAt(int position) {
    if (position <= 0) return 0.0;
    const double lo = std::log10(kTauMin), hi = std::log10(kTauMax);
    const double tau = std::pow(10.0, lo + (hi - lo) * double(position - 1) / (kSteps - 1));
    // Three significant digits: slider values read like numbers a person would type.
    const double digits = std::pow(10.0, std::floor(std::log10(tau)) - 2);
    return std::clamp(std::round(tau / digits) * digits, kTauMin, kTauMax);
}

void TauEditor::setValue(double tau) {
    // Another parameter changing (head, layer) re-syncs the controls: keep what the user is typing, and a
    // refusal shown for it, while tau itself is unchanged.
    const bool typing = m_field->isModified() || !m_problem.isEmpty();
    const bool changed = tau != m_value;
    m_value = tau;
    const QSignalBlocker a(m_slider);
    m_slider->setValue(sliderPosition(tau));
    if (typing && !changed) return;
    m_field->setText(format(tau));
    showProblem({});
}

bool TauEditor::commitText() {
    double tau = 0.0;
    const std::string problem = tsa::parseTau(m_field->text().toStdString(), &tau);
    if (!problem.empty()) {
        showProblem(QString::fromStdString(problem));
        return false;
    }
    showProblem({});
    // "0.0050" and "5e-3" are the value 0.005: show it the one way the views write it.
    m_field->setText(format(tau));
    if (tau == m_value) return true;
    m_value = tau;
    const QSignalBlocker a(m_slider);
    m_slider->setValue(sliderPosition(tau));
    emit valueChanged(tau);
    return true;
}

void TauEditor::showProblem(const QString& problem) {
    m_problem = problem;
    m_problemLabel->setText(problem.isEmpty() ? QString() : problem + tr(" (not applied)"));
    m_problemLabel->setVisible(!problem.isEmpty());
    m_field->setStyleSheet(problem.isEmpty() ? QString()
                                             : QStringLiteral("QLineEdit { border: 2px solid #b00020; }"));
}

void TauEditor::fromSlider(int position) {
    const double tau = tauAt(position);
    // A typed value the slider cannot show exactly (1e-5 rests on the first log step) is kept until the
    // slider really moves to another position.
    if (tau == m_value || sliderPosition(m_value) == position) return;
    m_value = tau;
    m_field->setText(format(tau));
    showProblem({});
    emit valueChanged(tau);
}

bool TauEditor::eventFilter(QObject* watched, QEvent* event) {
    if (watched == m_field && event->type() == QEvent::KeyPress) {
        const int key = static_cast<QKeyEvent*>(event)->key();
        const int step = key == Qt::Key_Up         ? 1
                         : key == Qt::Key_Down     ? -1
                         : key == Qt::Key_PageUp   ? 50
                         : key == Qt::Key_PageDown ? -50
                                                   : 0;
        if (step != 0) {
            m_slider->setValue(std::clamp(sliderPosition(m_value) + step, 0, kSteps));
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

} // namespace tsa::app
