// Renders resources/icons/tsa-explorer.svg to the PNG sizes the desktop icon theme wants, with Qt's SVG
// renderer (ImageMagick here has no SVG reader). Run after changing the SVG:
//   g++ -std=c++17 -fPIC tools/render_icon.cpp -o /tmp/render_icon $(pkg-config --cflags --libs Qt6Gui
//   Qt6Svg) QT_QPA_PLATFORM=offscreen /tmp/render_icon resources/icons/tsa-explorer.svg resources/icons 16 32
//   48 64 128 256
#include <QGuiApplication>
#include <QImage>
#include <QPainter>
#include <QSvgRenderer>
// argv: SVG, output folder, sizes in pixels (writes tsa-explorer-SIZE.png).
int main(int argc, char** argv) {
    QGuiApplication app(argc, argv);
    QSvgRenderer svg(QString::fromLocal8Bit(argv[1]));
    for (int i = 3; i < argc; ++i) {
        const int s = atoi(argv[i]);
        QImage img(s, s, QImage::Format_ARGB32);
        img.fill(Qt::transparent);
        QPainter p(&img);
        p.setRenderHint(QPainter::Antialiasing);
        svg.render(&p);
        p.end();
        img.save(QString::fromLocal8Bit(argv[2]) + QStringLiteral("/tsa-explorer-%1.png").arg(s));
    }
}
