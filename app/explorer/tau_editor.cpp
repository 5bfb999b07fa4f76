#include "app/explorer/tau_editor.h"

#include "app/explorer/explorer_params.h"

#include <QDoubleSpinBox>
#include <QHBoxLayout>
#include <QSignalBlocker>
#include <QSlider>
#include <algorithm>
#include <cmath>

namespace tsa::app {

TauEditor::TauEditor(QWidget* parent)
    : QWidget(parent), m_slider(new QSlider(Qt::Horizontal, this)), m_spin(new QDoubleSpinBox(this)) {
    m_slider->setObjectName(QStringLiteral("tauSlider"));
    m_slider->setRange(0, kSteps);
    m_slider->setPageStep(kSteps / 20);
    m_slider->setToolTip(
        tr("Attention mass the dropped tokens may cover (log scale, %1 to %2)").arg(kTauMin).arg(kTauMax));
    m_spin->setObjectName(QStringLiteral("tauSpin"));
    // Five decimals show 1e-4 steps exactly; the adaptive step moves by a tenth of the current decade.
    m_spin->setDecimals(5);
    m_spin->setRange(kTauMin, kTauMax);
    m_spin->setStepType(QAbstractSpinBox::AdaptiveDecimalStepType);
    m_spin->setKeyboardTracking(false);
    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_slider, 1);
    layout->addWidget(m_spin);
    connect(m_slider, &QSlider::valueChanged, this, &TauEditor::fromSlider);
    connect(m_spin, &QDoubleSpinBox::valueChanged, this, &TauEditor::fromSpin);
    setValue(m_value);
}

int TauEditor::sliderPosition(double tau) {
    const double lo = std::log10(kTauMin), hi = std::log10(kTauMax);
    const double t = (std::log10(std::clamp(tau, kTauMin, kTauMax)) - lo) / (hi - lo);
    return int(std::lround(t * kSteps));
}

double TauEditor::tauAt(int position) {
    const double lo = std::log10(kTauMin), hi = std::log10(kTauMax);
    const double tau = std::pow(10.0, lo + (hi - lo) * double(position) / kSteps);
    // Three significant digits: slider values read like numbers a person would type.
    const double digits = std::pow(10.0, std::floor(std::log10(tau)) - 2);
    return std::clamp(std::round(tau / digits) * digits, kTauMin, kTauMax);
}

void TauEditor::setValue(double tau) {
    m_value = tau;
    const QSignalBlocker a(m_slider), b(m_spin);
    m_slider->setValue(sliderPosition(tau));
    m_spin->setValue(tau);
}

void TauEditor::fromSlider(int position) {
    const double tau = tauAt(position);
    if (tau == m_value) return;
    m_value = tau;
    const QSignalBlocker b(m_spin);
    m_spin->setValue(tau);
    emit valueChanged(tau);
}

void TauEditor::fromSpin(double tau) {
    if (tau == m_value) return;
    m_value = tau;
    const QSignalBlocker a(m_slider);
    m_slider->setValue(sliderPosition(tau));
    emit valueChanged(tau);
}

} // namespace tsa::app
