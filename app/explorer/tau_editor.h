// tau on a logarithmic slider (1e-4 .. 0.5: the interesting values span three decades) next to an exact
// numeric field. The slider emits while dragging, so every position reaches the selection views live.
#pragma once

#include <QWidget>

class QDoubleSpinBox;
class QSlider;

namespace tsa::app {

class TauEditor : public QWidget {
    Q_OBJECT
public:
    explicit TauEditor(QWidget* parent = nullptr);

    double value() const { return m_value; }
    void setValue(double tau); // no signal
    QSlider* slider() const { return m_slider; }
    QDoubleSpinBox* spinBox() const { return m_spin; }

    static constexpr int kSteps = 1000;
    static int sliderPosition(double tau);
    static double tauAt(int position);

signals:
    void valueChanged(double tau);

private:
    void fromSlider(int position);
    void fromSpin(double tau);

    QSlider* m_slider;
    QDoubleSpinBox* m_spin;
    double m_value = 0.005;
};

} // namespace tsa::app
