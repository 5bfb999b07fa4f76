// tau on a logarithmic slider next to an exact text field. The slider's first position is tau 0 (the dense
// baseline); the rest spans kTauMin .. kTauMax on a log scale (the interesting values span three decades).
// The slider emits while dragging, so every position reaches the selection views live.
//
// The field accepts anything tsa::parseTau accepts ("0", "0.005", "1e-5") when Return is pressed or focus
// leaves it, and otherwise refuses visibly: the text stays as typed, the field turns red and a line under it
// gives the reason. It never changes or drops input silently. Up/Down step the slider from the keyboard.
#pragma once

#include <QWidget>

class QLabel;
class QLineEdit;
class QSlider;

namespace tsa::app {

class TauEditor : public QWidget {
    Q_OBJECT
public:
    explicit TauEditor(QWidget* parent = nullptr);

    double value() const { return m_value; }
    void setValue(double tau); // no signal
    QSlider* slider() const { return m_slider; }
    QLineEdit* field() const { return m_field; }
    // Why the field's text was refused; empty while the text is accepted.
    QString problem() const { return m_problem; }
    // Commits the field's text as Return would; true when accepted.
    bool commitText();

    static constexpr int kSteps = 1000;
    static int sliderPosition(double tau); // 0 for tau 0; 1 .. kSteps on the log range
    static double tauAt(int position);
    // How the field writes a value (the same short form the views use in titles).
    static QString format(double tau);

signals:
    void valueChanged(double tau);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void fromSlider(int position);
    void showProblem(const QString& problem);

    QSlider* m_slider;
    QLineEdit* m_field;
    QLabel* m_problemLabel;
    QString m_problem;
    double m_value = 0.005;
};

} // namespace tsa::app
