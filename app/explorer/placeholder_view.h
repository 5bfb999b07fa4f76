// Stands in for a view that the views library does not provide (yet), so the tab, export and screenshot
// paths stay uniform. It says what would be shown here instead of leaving a blank tab.
#pragma once

#include "views/exportable_view.h"

#include <QWidget>

namespace tsa::app {

class PlaceholderView : public QWidget, public views::ExportableView {
    Q_OBJECT
public:
    PlaceholderView(QString name, QString title, QWidget* parent = nullptr);

    void setText(const QString& text);
    QString viewName() const override { return m_name; }
    QString viewTitle() const override { return m_title; }
    void render(QPainter& painter, const QSize& size) const override;
    QString csv() const override;
    QWidget* widget() override { return this; }

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    QString m_name;
    QString m_title;
    QString m_text;
};

} // namespace tsa::app
