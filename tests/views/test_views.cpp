// Views with hand-made data: each renders a non-blank picture of the requested size (also through a 2x
// painter and into SVG), hands out CSV with its header and the expected rows, survives empty data, and
// answers hover hit-tests with exact values. The shared pieces (ticks, LOD bins, colour maps, CSV quoting,
// zoom ranges) are checked directly.
#include "test_views_fake_data.h"
#include "views/attention_map_view.h"
#include "views/axis_scale.h"
#include "views/colour_map.h"
#include "views/coverage_view.h"
#include "views/csv_writer.h"
#include "views/depth_view.h"
#include "views/error_view.h"
#include "views/heatmap_renderer.h"
#include "views/how_it_works_panel.h"
#include "views/number_format.h"
#include "views/overview_view.h"
#include "views/selection_map_view.h"
#include "views/sparsity_view.h"
#include "views/token_range.h"
#include "views/token_range_model.h"
#include "views/view_style.h"

#include <QBuffer>
#include <QElapsedTimer>
#include <QImage>
#include <QPainter>
#include <QPushButton>
#include <QSignalSpy>
#include <QSvgGenerator>
#include <QTemporaryDir>
#include <QWheelEvent>
#include <QtTest>
#include <functional>

using namespace tsa::views;

namespace {

QImage renderImage(const ExportableView& view, const QSize& size, double scale = 1.0) {
    QImage image((QSizeF(size) * scale).toSize(), QImage::Format_ARGB32);
    image.fill(Qt::transparent);
    QPainter painter(&image);
    painter.scale(scale, scale);
    view.render(painter, size);
    return image;
}

// Not blank: fully painted (no transparent corner) and many distinct colours.
bool looksDrawn(const QImage& image, int minColours = 8) {
    if (qAlpha(image.pixel(0, 0)) != 255 || qAlpha(image.pixel(image.width() - 1, image.height() - 1)) != 255)
        return false;
    QSet<QRgb> colours;
    for (int y = 0; y < image.height(); y += 2)
        for (int x = 0; x < image.width(); x += 2)
            colours.insert(image.pixel(x, y));
    return colours.size() >= minColours;
}

QByteArray renderSvg(const ExportableView& view, const QSize& size) {
    QBuffer buffer;
    buffer.open(QIODevice::WriteOnly);
    QSvgGenerator svg;
    svg.setOutputDevice(&buffer);
    svg.setSize(size);
    svg.setViewBox(QRect(QPoint(0, 0), size));
    svg.setTitle(view.viewTitle());
    {
        QPainter painter(&svg);
        view.render(painter, size);
    }
    return buffer.data();
}

QStringList csvLines(const QString& csv) {
    QStringList lines = csv.split(QStringLiteral("\r\n"));
    if (!lines.isEmpty() && lines.last().isEmpty()) lines.removeLast();
    return lines;
}

// A compact model: 4 layers (first two dense), 8 heads over 2 kv heads, 2048 tokens.
struct SmallModel {
    int layers = 4, heads = 8, kvHeads = 2;
    qint64 tokens = 2048, window = 64;
    double tau = 0.01;
    std::vector<std::shared_ptr<tsa::LayerScores>> scores;
    std::vector<std::shared_ptr<tsa::Selection>> selections;
    std::vector<std::shared_ptr<tsa::LayerMetrics>> metrics;
    SmallModel() {
        for (int l = 0; l < layers; ++l) {
            scores.push_back(fake::scores(heads, tokens, window, 11 + l));
            selections.push_back(fake::selection(*scores.back(), tau, 256, l >= 2));
            metrics.push_back(fake::metrics(*selections.back(), 3 + l));
        }
    }
};

// One head's per-row metrics over L rows: row(t) gives (share of the row's mass on dropped keys, its error),
// NaN for a dropped row.
std::shared_ptr<tsa::LayerMetrics> oneHeadRows(qint64 L,
                                               const std::function<std::pair<double, double>(qint64)>& row) {
    auto m = std::make_shared<tsa::LayerMetrics>();
    m->qHeads = 1;
    m->tokens = L;
    m->heads.resize(1);
    m->rowError.resize(std::size_t(L));
    m->retainedMass.resize(std::size_t(L));
    for (qint64 t = 0; t < L; ++t) {
        const auto [lost, error] = row(t);
        m->retainedMass[std::size_t(t)] = float(1.0 - lost);
        m->rowError[std::size_t(t)] = float(error);
    }
    return m;
}

} // namespace

class TestViews : public QObject {
    Q_OBJECT
    SmallModel m;

    SelectionMapData selectionData(int layer) const {
        SelectionMapData d;
        d.layerId = layer;
        d.selection = m.selections[std::size_t(layer)];
        d.scores = m.scores[std::size_t(layer)];
        d.groupSize = m.heads / m.kvHeads;
        d.tokenStrings = fake::tokenStrings(m.tokens);
        return d;
    }

private slots:
    void initTestCase() { QVERIFY2(m.selections[3]->sparse, "fake data should give a sparse layer"); }

    // ---- shared pieces
    void ticks() {
        double step = 0;
        const auto lin = niceLinearTicks(0.0, 1.0, 5, &step);
        QCOMPARE(step, 0.2);
        QCOMPARE(int(lin.size()), 6);
        const auto ints = niceIntegerTicks(0.0, 131072.0, 6, &step);
        QCOMPARE(step, 50000.0);
        QCOMPARE(ints.front(), 0.0);
        const auto logs = niceLogTicks(1e-6, 1.0, 10);
        QCOMPARE(int(logs.size()), 7);
        QVERIFY(std::fabs(logs.front() - 1e-6) < 1e-18);
        QVERIFY(niceLogTicks(0.2, 0.9, 5).size() >= 2); // under a decade still gets labels
        const AxisScale reversed{100.0, 0.0, false};
        QCOMPARE(reversed.unit(100.0), 0.0);
        QCOMPARE(reversed.unit(0.0), 1.0);
        const AxisScale log = AxisScale::logarithmic(0.0, 1.0, 1e-4);
        QCOMPARE(log.lo, 1e-4);
        QCOMPARE(log.unit(0.0), 0.0); // zero clamps to the floor, no NaN
        QCOMPARE(fmt::integer(131072), QStringLiteral("131,072"));
        QCOMPARE(fmt::tokenTick(20000), QStringLiteral("20k"));
        QCOMPARE(fmt::tokenTick(8000), QStringLiteral("8k")); // not "8000" beside "10k"
        QCOMPARE(fmt::tokenTick(1500), QStringLiteral("1.5k"));
        QCOMPARE(fmt::tokenTick(2048), QStringLiteral("2048"));
        QCOMPARE(fmt::percent(0.5234), QStringLiteral("52.3%"));
        QCOMPARE(fmt::value(NAN), QStringLiteral("n/a"));
        // One short form everywhere (the tau field, titles, tooltips): no 3.400e-04 beside 0.00034.
        QCOMPARE(fmt::value(0.00034), QStringLiteral("0.00034"));
        QCOMPARE(fmt::value(0.005), QStringLiteral("0.005"));
        QCOMPARE(fmt::value(1.2e-7), QStringLiteral("1.2e-07"));
    }

    void lodBins() {
        // 10 cells on 4 pixels: bins partition the range; 3 cells on 6 pixels: each cell repeated.
        qint64 covered = 0;
        for (int i = 0; i < 4; ++i) {
            const BinRange b = binRange(0, 10, 4, i);
            QVERIFY(b.end > b.begin);
            covered += b.end - b.begin;
        }
        QCOMPARE(covered, qint64(10));
        QCOMPARE(binRange(5, 3, 6, 5).begin, qint64(7));
        const std::vector<float> data{1, 5, NAN, 2, NAN, NAN, 3, 0};
        const auto maxGrid = aggregateGrid(data.data(), 8, 0, 1, 0, 8, 1, 4, Aggregate::Max);
        QCOMPARE(maxGrid[0], 5.0f);
        QCOMPARE(maxGrid[1], 2.0f);      // NaN ignored
        QVERIFY(std::isnan(maxGrid[2])); // all NaN stays NaN
        const auto meanGrid = aggregateGrid(data.data(), 8, 0, 1, 0, 8, 1, 4, Aggregate::Mean);
        QCOMPARE(meanGrid[0], 3.0f);
        QCOMPARE(meanGrid[3], 1.5f);
        // Two rows into one: max over the block.
        const std::vector<float> two{1, 2, 3, 4};
        QCOMPARE(aggregateGrid(two.data(), 2, 0, 2, 0, 2, 1, 1, Aggregate::Max)[0], 4.0f);
    }

    void colourMaps() {
        for (const QString& name : {"viridis", "magma", "inferno", "cividis", "greys", "rdbu"})
            QVERIFY(ColourMap::exists(name));
        QCOMPARE(ColourMap::names().size(), 6);
        QCOMPARE(ColourMap::byName("nonsense").name(), QStringLiteral("viridis"));
        const ColourMap& v = ColourMap::byName("viridis");
        QCOMPARE(v.rgbAt(0.0), QRgb(0xff440154));
        QCOMPARE(v.rgbAt(1.0), v.entry(255));
        QCOMPARE(v.rgbAt(NAN), v.entry(0));
        const ColourMap& d = ColourMap::byName("RdBu");
        QVERIFY(qBlue(d.rgbAt(0.0)) > qRed(d.rgbAt(0.0)));
        QVERIFY(qRed(d.rgbAt(1.0)) > qBlue(d.rgbAt(1.0)));
        QVERIFY(qGray(d.rgbAt(0.5)) > 230); // white middle
        const AxisScale e = errorColourScale(1e-4, 0.05);
        QVERIFY(std::fabs(std::log10(e.lo) + std::log10(e.hi) + 4.0) < 1e-9); // centred on 1e-2
    }

    void csvQuoting() {
        CsvWriter w;
        w.row({"a", "b,c", "say \"hi\"", "line\nbreak"});
        QCOMPARE(w.text(), QStringLiteral("a,\"b,c\",\"say \"\"hi\"\"\",\"line\nbreak\"\r\n"));
    }

    void tokenRange() {
        const TokenRange all{0, 1000};
        const TokenRange in = all.zoomed(0.8, 0.5, 1000, kMinVisibleTokens); // around the middle
        QCOMPARE(in, (TokenRange{100, 900}));
        QCOMPARE(in.zoomed(0.5, 0.0, 1000, kMinVisibleTokens), (TokenRange{100, 500})); // left edge stays
        QCOMPARE(in.panned(500, 1000), (TokenRange{200, 1000}));                        // stops at the end
        QCOMPARE(in.panned(-500, 1000), (TokenRange{0, 800}));
        QCOMPARE((TokenRange{990, 2000}).clamped(1000, kMinVisibleTokens), (TokenRange{0, 1000}));
        QCOMPARE((TokenRange{995, 996}).clamped(1000, kMinVisibleTokens), (TokenRange{984, 1000}));
        QCOMPARE((TokenRange{3, 4}).clamped(10, kMinVisibleTokens), (TokenRange{0, 10})); // short data: all
    }

    // Issue 10 item 6: beside the trace, each kept row's error against the share of its dense mass that
    // fell on dropped keys, with the rank correlation and where the p95 rows and the last W rows sit.
    void errorRowsAgainstDroppedMass() {
        const qint64 L = 200;
        const int window = 16;
        // Rows lose more mass the further they are from the window; error is a monotone function of the
        // lost share (rank correlation 1); every 10th row dropped (NaN: not a point).
        auto metrics = oneHeadRows(L, [&](qint64 t) {
            const double lost = t >= L - window ? 1e-4 : 0.5 * double(L - t) / double(L);
            const bool dropped = t % 10 == 3 && t < L - window;
            return dropped ? std::pair{double(NAN), double(NAN)} : std::pair{lost, 2.0 * lost * lost};
        });
        ErrorData data;
        data.qHeads = 1;
        data.window = window;
        data.layerIds = {5};
        data.sparse = {true};
        data.metrics = {metrics};
        ErrorView view;
        view.setData(data);
        view.setSelected(0, 0);
        view.resize(1200, 800);
        QVERIFY(looksDrawn(renderImage(view, {1200, 800}), 30));
        QString tip;
        for (int x = 1199; x > 600 && tip.isEmpty(); x -= 5) {
            const QString t = view.toolTipAt(QPoint(x, 650));
            if (t.startsWith(QStringLiteral("Each dot"))) tip = t;
        }
        QVERIFY2(!tip.isEmpty(), "no rows-against-dropped-mass panel right of the trace");
        QVERIFY2(tip.contains(QStringLiteral("rank correlation of error and dropped share 1")),
                 qPrintable(tip));
        const qint64 keptRows = L - 19; // rows 3, 13, ..., 183 dropped
        QVERIFY2(tip.contains(QStringLiteral("%1 kept rows").arg(keptRows)), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("last W rows shown (16) a median 0.0%")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("lost a median 4")), qPrintable(tip)); // the earliest rows: ~48%
        // Zooming the trace to the window narrows the panel's rows too.
        view.setVisibleRange(L - window, L);
        for (int x = 1199; x > 600; x -= 5)
            if (const QString t = view.toolTipAt(QPoint(x, 650)); t.startsWith(QStringLiteral("Each dot"))) {
                QVERIFY2(t.contains(QStringLiteral("16 kept rows")), qPrintable(t));
                break;
            }
        // Narrow windows keep the whole width for the trace.
        QVERIFY(looksDrawn(renderImage(view, {700, 500}), 20));

        // 128K rows: drawn as a point image, the correlation cached (the cost is printed, not asserted).
        const qint64 big = 131072;
        auto many = oneHeadRows(big, [&](qint64 t) {
            const double lost = std::pow(10.0, -6.0 + 6.0 * double((t * 7919) % big) / double(big));
            return std::pair{lost, lost * (1.0 + 0.1 * double(t % 7))};
        });
        data.metrics = {many};
        view.setData(data);
        view.setSelected(0, 0);
        QElapsedTimer timer;
        timer.start();
        QVERIFY(looksDrawn(renderImage(view, {1600, 800}), 30));
        const qint64 first = timer.restart();
        renderImage(view, {1600, 800});
        const qint64 again = timer.restart();
        renderImage(view, {700, 500});
        qInfo("error view, 128K rows: first render %lld ms, again %lld ms; 700x500 (no panel) %lld ms", first,
              again, timer.elapsed());
    }

    // Issue 9 item 5: the token-range model the zoomable views share holds its range clamped to the data.
    void tokenRangeModelClamps() {
        TokenRangeModel model;
        QSignalSpy changed(&model, &TokenRangeModel::rangeChanged);
        model.setTotal(1000);
        QCOMPARE(model.range(), (TokenRange{0, 1000}));
        QCOMPARE(changed.size(), 1);
        QVERIFY(model.setRange({-50, -40})); // before the start and narrower than the minimum
        QCOMPARE(model.range(), (TokenRange{0, kMinVisibleTokens}));
        QVERIFY(model.setRange({990, 2000})); // past the end
        QCOMPARE(model.range().end, qint64(1000));
        QVERIFY(model.range().size() >= kMinVisibleTokens);
        QVERIFY(!model.setRange(model.range())); // unchanged: no signal
        QCOMPARE(changed.size(), 3);
        QVERIFY(model.setRange({200, 400}));
        model.setTotal(1000); // the same data length (a tau step) keeps the zoom
        QCOMPARE(model.range(), (TokenRange{200, 400}));
        QVERIFY(model.zoom(0.5, 0.5)); // about the middle: token 300 stays in the middle
        QCOMPARE(model.range(), (TokenRange{250, 350}));
        QVERIFY(model.zoom(1e6, 0.5)); // zooming far out stops at the data
        QCOMPARE(model.range(), (TokenRange{0, 1000}));
        QVERIFY(!model.isZoomed());
        model.setRange({10, 20});
        model.setTotal(500); // another file: everything
        QCOMPARE(model.range(), (TokenRange{0, 500}));
        model.setTotal(0);
        QVERIFY(model.range().isEmpty());
        QVERIFY(!model.zoom(0.5, 0.5));
    }

    // Issue 9 item 5: the selection map, depth map and error trace share one range; a wheel, drag or
    // double-click in any of them moves all three, both ways, each view emitting its own signal.
    void zoomableViewsShareOneRange() {
        SelectionMapView selection;
        DepthView depth;
        ErrorView error;
        selection.setData(selectionData(3));
        depth.setData(fake::depthData(m.selections, 1));
        ErrorData ed;
        ed.qHeads = m.heads;
        ed.window = m.window;
        ed.layerIds = {0, 1, 2, 3};
        ed.metrics = {m.metrics[0], m.metrics[1], m.metrics[2], m.metrics[3]};
        error.setData(ed);
        error.setSelected(3, 0);
        // Standalone views zoom on their own.
        QVERIFY(selection.rangeModel() != depth.rangeModel());
        selection.setVisibleRange(100, 300);
        QCOMPARE(depth.visibleRange(), (TokenRange{0, m.tokens}));
        selection.resetZoom();

        TokenRangeModel shared;
        shared.setTotal(m.tokens);
        for (auto* v : std::initializer_list<QWidget*>{&selection, &depth, &error})
            v->resize(900, 600);
        selection.setRangeModel(&shared);
        depth.setRangeModel(&shared);
        error.setRangeModel(&shared);
        QSignalSpy selectionRanges(&selection, &SelectionMapView::visibleRangeChanged);
        QSignalSpy depthRanges(&depth, &DepthView::visibleRangeChanged);
        QSignalSpy errorRanges(&error, &ErrorView::visibleRangeChanged);
        auto same = [&] {
            return selection.visibleRange() == shared.range() && depth.visibleRange() == shared.range() &&
                   error.visibleRange() == shared.range();
        };
        auto wheelAt = [](QWidget* w, QPointF pos, int delta) {
            QWheelEvent wheel(pos, w->mapToGlobal(pos), QPoint(), QPoint(0, delta), Qt::NoButton, {},
                              Qt::NoScrollPhase, false);
            QApplication::sendEvent(w, &wheel);
        };

        // Wheel in the selection map: the others follow.
        const QPointF inMap(450, 300);
        QVERIFY(selection.tokenAt(inMap.toPoint()) >= 0);
        wheelAt(&selection, inMap, 240);
        QVERIFY(shared.range().size() < m.tokens);
        QVERIFY(same());
        QCOMPARE(selectionRanges.size(), 1);
        QCOMPARE(depthRanges.size(), 1);
        QCOMPARE(errorRanges.size(), 1);

        // Wheel in the error view's trace (the way that used to be missing): the others follow.
        const TokenRange before = shared.range();
        QPointF inTrace;
        for (int y = 0; y < 600 && inTrace.isNull(); ++y) // the trace panel: below the grid
            if (error.toolTipAt(QPoint(450, y)).startsWith(QStringLiteral("row")))
                inTrace = QPointF(450, y + 10);
        QVERIFY(!inTrace.isNull());
        wheelAt(&error, inTrace, 120);
        QVERIFY(shared.range().size() < before.size());
        QVERIFY(same());
        QCOMPARE(selectionRanges.size(), 2);

        // Drag in the depth map pans all three; a drag is not a click.
        QSignalSpy layerClicks(&depth, &DepthView::layerClicked);
        const TokenRange zoomed = shared.range();
        QPoint inDepth;
        for (int x = 100; x < 900 && inDepth.isNull(); x += 10)
            if (depth.toolTipAt(QPoint(x, 300)).startsWith(QStringLiteral("layer")) &&
                !depth.matrixRect(depth.size()).contains(QPoint(x, 300)))
                inDepth = QPoint(x + 150, 300);
        QVERIFY(!inDepth.isNull());
        QTest::mousePress(&depth, Qt::LeftButton, {}, inDepth);
        QTest::mouseMove(&depth, inDepth - QPoint(100, 0));
        QTest::mouseRelease(&depth, Qt::LeftButton, {}, inDepth - QPoint(100, 0));
        QVERIFY(shared.range().begin > zoomed.begin); // dragged left: later tokens come into view
        QCOMPARE(shared.range().size(), zoomed.size());
        QVERIFY(same());
        QCOMPARE(layerClicks.size(), 0);
        // A click (no movement) still selects.
        QTest::mouseClick(&depth, Qt::LeftButton, {}, inDepth);
        QCOMPARE(layerClicks.size(), 1);

        // Double-click in the error trace shows everything, in all three.
        QTest::mouseDClick(&error, Qt::LeftButton, {}, inTrace.toPoint());
        QCOMPARE(shared.range(), (TokenRange{0, m.tokens}));
        QVERIFY(same());

        // Clamps: a range past the data from one view is clamped for all; new data of the same length
        // (a tau step) keeps the zoom.
        depth.setVisibleRange(m.tokens - 5, m.tokens + 3); // past the end and too narrow
        QCOMPARE(shared.range().end, m.tokens);
        QCOMPARE(shared.range().size(), kMinVisibleTokens);
        QVERIFY(same());
        selection.setData(selectionData(2));
        QCOMPARE(shared.range().size(), kMinVisibleTokens);
        QVERIFY(same());
    }

    // Issue 8 items 11 and 12: the coverage legend's selected head and tau line are told apart by colour;
    // the overview opens on a metric that varies per head, and kept fraction's scale fits its data.
    void overviewDefaultsAndDistinctColours() {
        auto distance = [](const QColor& a, const QColor& b) {
            return std::abs(a.red() - b.red()) + std::abs(a.green() - b.green()) +
                   std::abs(a.blue() - b.blue());
        };
        QVERIFY(distance(style::highlight(), style::tauLine()) > 150);
        QVERIFY(distance(style::budgetLine(), style::tauLine()) > 150);
        OverviewView view;
        QCOMPARE(view.metric(), OverviewMetric::RetainedMass);
        OverviewData data;
        data.qHeads = 2;
        OverviewLayer layer;
        layer.sparse = true;
        layer.keptFraction = {0.97f, 0.97f};
        data.layers = {layer};
        layer.keptFraction = {0.985f, 0.985f};
        data.layers.push_back(layer);
        view.setData(data);
        view.setMetric(OverviewMetric::KeptFraction);
        const AxisScale scale = view.colourScale();
        QVERIFY(scale.lo >= 0.9 && scale.hi <= 1.0);
        QVERIFY(scale.unit(0.985) - scale.unit(0.97) > 0.3); // a visible difference, not two equal colours
    }

    // ---- OverviewView
    void overview() {
        OverviewView view;
        OverviewData data;
        data.qHeads = m.heads;
        data.kvHeads = m.kvHeads;
        for (int l = 0; l < m.layers; ++l)
            data.layers.push_back(makeOverviewLayer(l, *m.selections[std::size_t(l)],
                                                    l < 3 ? m.metrics[std::size_t(l)].get() : nullptr));
        view.setData(data);
        for (auto metric :
             {OverviewMetric::KeptFraction, OverviewMetric::ErrorP95, OverviewMetric::RetainedMass}) {
            view.setMetric(metric);
            const QImage image = renderImage(view, {700, 400});
            QCOMPARE(image.size(), QSize(700, 400));
            QVERIFY(looksDrawn(image));
        }
        QVERIFY(looksDrawn(renderImage(view, {500, 300}, 2.0)));
        const QStringList lines = csvLines(view.csv());
        QCOMPARE(lines.size(), 1 + m.layers * m.heads);
        QVERIFY(lines[0].startsWith("layer_index,layer_id,head,kv_head,sparse,dense_reason,kept_fraction"));
        QVERIFY(lines[1].contains("not a sparse layer"));
        // Layer 3 has no metrics yet: error columns empty.
        QVERIFY(lines.last().endsWith(",,"));

        view.resize(700, 400);
        const auto [r, c] = view.cellAt(QPoint(400, 250));
        QVERIFY(r >= 0 && c >= 0);
        const QString tip = view.toolTipAt(QPoint(400, 250));
        QVERIFY2(tip.contains(QStringLiteral("head %1").arg(c)), qPrintable(tip));
        QVERIFY(tip.contains("kept fraction"));
        QVERIFY(view.toolTipAt(QPoint(2, 2)).isEmpty());
        QSignalSpy cells(&view, &OverviewView::cellClicked);
        QSignalSpy layers(&view, &OverviewView::layerClicked);
        QTest::mouseClick(&view, Qt::LeftButton, {}, QPoint(400, 250));
        QCOMPARE(cells.size(), 1);
        QCOMPARE(cells[0][0].toInt(), r);
        QCOMPARE(cells[0][1].toInt(), c);
        QCOMPARE(layers.size(), 1);
        QCOMPARE(view.selectedLayer(), r);

        view.setData({});
        QVERIFY(looksDrawn(renderImage(view, {400, 300}), 2));
        QCOMPARE(csvLines(view.csv()).size(), 1);
        QVERIFY(view.toolTipAt(QPoint(200, 150)).isEmpty());
    }

    // ---- SelectionMapView
    void selectionMap() {
        SelectionMapView view;
        view.setData(selectionData(3));
        const QImage image = renderImage(view, {900, 420});
        QCOMPARE(image.size(), QSize(900, 420));
        QVERIFY(looksDrawn(image, 30));
        QVERIFY(looksDrawn(renderImage(view, {600, 300}, 2.0), 30));
        const QStringList lines = csvLines(view.csv());
        QCOMPARE(lines[0], QStringLiteral("layer_id,head,kv_head,position_begin,position_end,token,kept_"
                                          "count,token_count,n_h_max,n_h_mean"));
        QCOMPARE(lines.size(), 1 + m.heads * int(m.tokens));
        QVERIFY(lines[1].startsWith("3,0,0,0,1,<s>,"));
        // Kept counts in the CSV add up to the selection's per-head count.
        qint64 kept = 0;
        for (int i = 1; i < lines.size(); ++i)
            if (lines[i].startsWith("3,2,"))
                kept += lines[i].section(',', -4, -4).toLongLong(); // from the end: tokens may hold commas
        QCOMPARE(kept, qint64(m.selections[3]->kept));

        view.resize(900, 420);
        const QString tip = view.toolTipAt(QPoint(450, 200));
        QVERIFY2(tip.contains("head") && (tip.contains("positions") || tip.contains("position")),
                 qPrintable(tip));
        view.setVisibleRange(100, 140); // fewer tokens than pixels: exact positions
        QCOMPARE(view.visibleRange(), (TokenRange{100, 140}));
        const QString exact = view.toolTipAt(QPoint(450, 200));
        QVERIFY2(exact.contains("token \"") && exact.contains("n_h = ") &&
                     (exact.contains("kept") || exact.contains("dropped")),
                 qPrintable(exact));
        const qint64 t = view.tokenAt(QPoint(450, 200));
        QVERIFY(t >= 100 && t < 140);
        QCOMPARE(csvLines(view.csv()).size(), 1 + m.heads * 40);

        // Wheel zoom around the cursor, drag pan, double-click reset.
        view.resetZoom();
        QSignalSpy ranges(&view, &SelectionMapView::visibleRangeChanged);
        QWheelEvent wheel(QPointF(450, 200), view.mapToGlobal(QPointF(450, 200)), QPoint(), QPoint(0, 240),
                          Qt::NoButton, {}, Qt::NoScrollPhase, false);
        QApplication::sendEvent(&view, &wheel);
        QCOMPARE(ranges.size(), 1);
        QVERIFY(view.visibleRange().size() < m.tokens);
        const TokenRange zoomed = view.visibleRange();
        QTest::mousePress(&view, Qt::LeftButton, {}, QPoint(450, 200));
        QTest::mouseMove(&view, QPoint(300, 200));
        QTest::mouseRelease(&view, Qt::LeftButton, {}, QPoint(300, 200));
        QVERIFY(view.visibleRange().begin > zoomed.begin); // dragged left: later tokens come into view
        QTest::mouseDClick(&view, Qt::LeftButton, {}, QPoint(450, 200));
        QCOMPARE(view.visibleRange(), (TokenRange{0, m.tokens}));

        // A dense layer: everything kept, banner, still scores.
        view.setData(selectionData(0));
        QVERIFY(looksDrawn(renderImage(view, {700, 300})));
        QVERIFY(view.viewTitle().contains("dense"));
        // Dense and unscored (too short to score).
        SelectionMapData unscored = selectionData(0);
        unscored.scores = nullptr;
        view.setData(unscored);
        QVERIFY(looksDrawn(renderImage(view, {700, 300})));
        view.setData({});
        QVERIFY(looksDrawn(renderImage(view, {400, 300}), 2));
        QCOMPARE(csvLines(view.csv()).size(), 1);
        QVERIFY(view.toolTipAt(QPoint(200, 150)).isEmpty());
    }

    void selectionMapLod128k() {
        // 32 heads x 128K tokens: the LOD draw buffer must keep this interactive.
        const qint64 L = 131072;
        QElapsedTimer timer;
        timer.start();
        auto scores = fake::scores(32, L, 128, 5);
        auto sel = fake::selection(*scores, 0.005, 1024, true);
        const qint64 makeMs = timer.restart();
        SelectionMapView view;
        SelectionMapData d;
        d.selection = sel;
        d.scores = scores;
        d.groupSize = 4;
        view.setData(d);
        const qint64 setMs = timer.restart();
        const QImage first = renderImage(view, {1600, 800});
        const qint64 firstMs = timer.restart();
        view.setVisibleRange(60000, 70000);
        renderImage(view, {1600, 800});
        const qint64 zoomMs = timer.restart();
        const QString csv = view.csv();
        const qint64 csvMs = timer.elapsed();
        qInfo("128K x 32 heads: fake data %lld ms, setData %lld ms, first render %lld ms, zoomed render %lld "
              "ms, csv %lld ms (%lld rows)",
              makeMs, setMs, firstMs, zoomMs, csvMs, qint64(csvLines(csv).size()));
        QVERIFY(looksDrawn(first, 30));
        QVERIFY(firstMs < 5000); // generous: a sanity bound, not a benchmark
        // At 128K the CSV aggregates into bins instead of 4M rows.
        QVERIFY(csvLines(csv).size() <= 2'000'001);
    }

    // ---- DepthView
    void depth() {
        DepthView view;
        view.setData(fake::depthData(m.selections, 1));
        const QImage image = renderImage(view, {1000, 500});
        QCOMPARE(image.size(), QSize(1000, 500));
        QVERIFY(looksDrawn(image, 20));
        const QStringList lines = csvLines(view.csv());
        QCOMPARE(lines[0],
                 QStringLiteral("kind,head,layer_id,other_layer_id,position_begin,position_end,value"));
        QCOMPARE(lines.filter(QRegularExpression("^jaccard,")).size(), m.layers * m.layers);
        // A dense layer is one kept run over the whole sequence.
        QVERIFY(lines.contains(QStringLiteral("kept_run,1,0,,0,%1,1").arg(m.tokens)));
        view.resize(1000, 500);
        const QString mapTip = view.toolTipAt(QPoint(300, 300));
        QVERIFY2(mapTip.contains("layer") && mapTip.contains("head 1"), qPrintable(mapTip));
        // Jaccard matrix: square right of the map; its centre sits left of the colour bar.
        QString matrixTip;
        for (int x = 990; x > 500 && matrixTip.isEmpty(); x -= 10)
            if (view.toolTipAt(QPoint(x, 200)).contains("Jaccard"))
                matrixTip = view.toolTipAt(QPoint(x, 200));
        QVERIFY2(!matrixTip.isEmpty(), "no Jaccard tooltip found");
        QSignalSpy clicked(&view, &DepthView::layerClicked);
        QTest::mouseClick(&view, Qt::LeftButton, {}, QPoint(300, 300));
        QCOMPARE(clicked.size(), 1);

        DepthData noJaccard = fake::depthData(m.selections, 1);
        noJaccard.jaccard.clear();
        view.setData(noJaccard);
        QVERIFY(looksDrawn(renderImage(view, {800, 400})));
        QCOMPARE(csvLines(view.csv()).filter(QRegularExpression("^jaccard,")).size(), 0);
        view.setData({});
        QVERIFY(looksDrawn(renderImage(view, {400, 300}), 2));
        QVERIFY(view.toolTipAt(QPoint(200, 150)).isEmpty());
    }

    void depthBuilder() {
        // buildDepthData uses core's tsa::jaccard; check it against the hand-computed matrix.
        std::vector<int> ids;
        std::vector<std::shared_ptr<const tsa::Selection>> sels;
        for (int l = 0; l < m.layers; ++l) {
            ids.push_back(l);
            sels.push_back(m.selections[std::size_t(l)]);
        }
        const DepthData built = buildDepthData(2, ids, sels);
        const DepthData expected = fake::depthData(m.selections, 2);
        QCOMPARE(built.jaccard.size(), expected.jaccard.size());
        for (std::size_t i = 0; i < built.jaccard.size(); ++i)
            QVERIFY(std::fabs(built.jaccard[i] - expected.jaccard[i]) < 1e-9);
        QCOMPARE(built.tokens, m.tokens);
        QVERIFY(!built.layers[0].sparse);
        QCOMPARE(qint64(built.layers[3].kept.size()), qint64(m.selections[3]->kept));
    }

    // ---- CoverageView
    void coverage() {
        CoverageView view;
        CoverageData data;
        data.layerId = 3;
        data.tau = m.tau;
        data.prefix = m.scores[3]->prefix;
        data.sparse = true;
        data.layer = fake::coverage(*m.scores[3], -1, m.tau, 256);
        for (int h = 0; h < m.heads; ++h)
            data.heads.push_back(fake::coverage(*m.scores[3], h, m.tau, 256));
        view.setData(data);
        for (bool log : {true, false}) {
            view.setLogY(log);
            const QImage image = renderImage(view, {800, 450});
            QCOMPARE(image.size(), QSize(800, 450));
            QVERIFY(looksDrawn(image, 8));
        }
        QVERIFY(view.logFloor() > 0 && view.logFloor() < m.tau);
        QVERIFY(view.viewTitle().contains("budget"));
        const QStringList lines = csvLines(view.csv());
        QCOMPARE(lines[0],
                 QStringLiteral("layer_id,curve,tokens_dropped,cumulative_mass,tau,budget_dropped"));
        QCOMPARE(lines.size(), 1 + int(data.layer.dropped.size()) * (1 + m.heads));
        // Hover: lay the widget out, then ask inside and outside the plot.
        view.resize(800, 450);
        view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&view));
        QTest::qWait(20);
        QVERIFY(!view.toolTipAt(QPoint(400, 250)).isEmpty());
        QVERIFY(view.toolTipAt(QPoint(1, 1)).isEmpty());
        // A tau change moves the markers in place: the title, CSV and picture follow it.
        const qint64 newBudget = data.layer.budgetDropped + 17;
        view.setTau(m.tau * 2, newBudget);
        QCOMPARE(view.data().tau, m.tau * 2);
        QVERIFY(view.viewTitle().contains(fmt::integer(newBudget)));
        QVERIFY(csvLines(view.csv())[1].endsWith(QStringLiteral(",%1").arg(newBudget)));
        QVERIFY(looksDrawn(renderImage(view, {800, 450}), 8));
        view.setData({});
        QVERIFY(looksDrawn(renderImage(view, {400, 300}), 2));
        QCOMPARE(csvLines(view.csv()).size(), 1);
        view.toolTipAt(QPoint(200, 150));
    }

    // ---- ErrorView with an estimate (sampled rows, intervals): drawn differently, said in tooltip and CSV.
    void errorEstimate() {
        ErrorView view;
        view.setData(fake::errorData(m.layers, m.heads, m.window));
        for (int l = 0; l < m.layers; ++l)
            view.setLayerMetrics(l, m.metrics[std::size_t(l)]);
        view.setSelected(3, 2);
        view.setMetric(ErrorMetric::RowErrorP95);
        view.fitColourScale();
        const QImage exact = renderImage(view, {800, 600});
        auto est = std::make_shared<tsa::LayerMetrics>(*m.metrics[3]);
        est->estimate = true;
        est->confidence = 0.95;
        for (std::size_t i = 0; i < est->rowError.size(); ++i)
            if (i % 17 != 0) est->rowError[i] = NAN; // only sampled rows are known
        auto widen = [](tsa::HeadMetrics& h) {
            h.rowErrorBounds.p95 = {h.rowError.p95 * 0.5, h.rowError.p95 * 2.0};
            h.rowErrorBounds.median = {h.rowError.median * 0.8, INFINITY};
            h.sampledRows = 40;
        };
        for (auto& h : est->heads)
            widen(h);
        widen(est->layer);
        view.setLayerMetrics(3, est);
        const QImage estimated = renderImage(view, {800, 600});
        QVERIFY(looksDrawn(estimated, 12));
        QVERIFY(estimated != exact); // interval thirds, dotted frames, dots in the trace
        if (qEnvironmentVariableIsSet("TSA_VIEW_PNG_DIR"))
            estimated.save(qEnvironmentVariable("TSA_VIEW_PNG_DIR") + "/error_estimate.png");
        const QStringList lines = csvLines(view.csv());
        QVERIFY(lines[0].contains("values,ci_level,row_error_median_lo"));
        QCOMPARE(lines.filter(QRegularExpression("^head,3,.*,estimate,0\\.95,")).size(), m.heads + 1);
        QCOMPARE(lines.filter(QRegularExpression("^head,2,.*,exact,")).size(), m.heads + 1);
        // The trace lists the sampled rows only, each marked as an estimate.
        QVERIFY(lines.filter(QRegularExpression("^trace,")).size() < int(m.tokens) / 10);
        QVERIFY(lines.filter(QRegularExpression("^trace,.*,estimate,")).size() > 0);
        view.resize(800, 600);
        const auto cell = view.cellAt(QPoint(300, 90));
        QVERIFY(cell.first >= 0);
        view.setSelected(3, 2);
        QString tip;
        for (int y = 40; y < 400 && !tip.contains("ESTIMATE"); y += 4)
            tip = view.toolTipAt(QPoint(300, y));
        QVERIFY2(tip.contains("ESTIMATE"), qPrintable(tip));
        QVERIFY2(tip.contains("["), qPrintable(tip));
    }

    // ---- ErrorView
    void error() {
        ErrorView view;
        view.setData(fake::errorData(m.layers, m.heads, m.window));
        QVERIFY(looksDrawn(renderImage(view, {800, 600}))); // all computing
        QCOMPARE(csvLines(view.csv()).filter(QRegularExpression("computing")).size(),
                 m.layers * (m.heads + 1));
        for (int l = 0; l < 3; ++l)
            view.setLayerMetrics(l, m.metrics[std::size_t(l)]);
        view.setLayerMetrics(3, m.metrics[3]);
        view.setSelected(3, 2);
        for (auto metric :
             {ErrorMetric::RowErrorMedian, ErrorMetric::RowErrorP95, ErrorMetric::LastWindowError,
              ErrorMetric::RetainedMassMedian, ErrorMetric::DroppedRows}) {
            view.setMetric(metric);
            QVERIFY(looksDrawn(renderImage(view, {800, 600}), 12));
        }
        const QStringList lines = csvLines(view.csv());
        QVERIFY(lines[0].startsWith("kind,layer_id,head,status,row_error_median"));
        QCOMPARE(lines.filter(QRegularExpression("^head,")).size(), m.layers * (m.heads + 1));
        QCOMPARE(lines.filter(QRegularExpression("^trace,")).size(), int(m.tokens));
        QVERIFY(lines.filter(QRegularExpression("^trace,3,2,dropped,")).size() > 0);
        view.resize(800, 600);
        const QString gridTip = view.toolTipAt(QPoint(300, 90));
        QVERIFY2(gridTip.contains("row error of kept rows"), qPrintable(gridTip));
        const QString traceTip = view.toolTipAt(QPoint(400, 520));
        QVERIFY2(traceTip.contains("row"), qPrintable(traceTip));
        view.setVisibleRange(500, 540);
        const QString exact = view.toolTipAt(QPoint(400, 520));
        QVERIFY2(exact.contains("error") || exact.contains("dropped"), qPrintable(exact));
        QSignalSpy cells(&view, &ErrorView::cellClicked);
        QTest::mouseClick(&view, Qt::LeftButton, {}, QPoint(300, 90));
        QCOMPARE(cells.size(), 1);

        view.setLayerMetrics(99, nullptr); // out of range: ignored
        view.setData({});
        QVERIFY(looksDrawn(renderImage(view, {400, 300}), 2));
        QCOMPARE(csvLines(view.csv()).size(), 1);
        QVERIFY(view.toolTipAt(QPoint(200, 150)).isEmpty());
    }

    // ---- AttentionMapView
    void attention() {
        AttentionMapView view;
        AttentionBlocks blocks = fake::attentionBlocks(m.tokens, 64, m.selections[3].get(), 1);
        view.setData(blocks);
        const QImage image = renderImage(view, {700, 650});
        QCOMPARE(image.size(), QSize(700, 650));
        QVERIFY(looksDrawn(image, 30));
        const QStringList lines = csvLines(view.csv());
        QCOMPARE(lines.size(), 1 + blocks.blocks * (blocks.blocks + 1) / 2);
        QVERIFY(lines[0].startsWith("layer_id,head,query_block,key_block"));
        // The CSV carries the drawn quantity as given (no block sums of sampled rows): block (1, 0).
        const QStringList header = lines[0].split(',');
        const int shareCol = int(header.indexOf("mean_row_share"));
        QVERIFY(shareCol >= 0 && header.contains("sampled_rows") && !header.contains("mass_sum"));
        const QStringList row10 = lines[2].split(',');
        QCOMPARE(row10[2], QStringLiteral("1"));
        QCOMPARE(row10[3], QStringLiteral("0"));
        QCOMPARE(float(row10[shareCol].toDouble()), blocks.share[std::size_t(blocks.blocks)]);
        view.resize(700, 650);
        const QString tip = view.toolTipAt(QPoint(330, 400));
        QVERIFY2(tip.contains("queries") && tip.contains("keys"), qPrintable(tip));
        // More blocks than pixels: aggregated, still drawn.
        view.setData(fake::attentionBlocks(m.tokens, 2, nullptr, 0));
        QVERIFY(looksDrawn(renderImage(view, {500, 450}), 20));
        view.setData({});
        QVERIFY(looksDrawn(renderImage(view, {400, 300}), 2));
        QCOMPARE(csvLines(view.csv()).size(), 1);
        QVERIFY(view.toolTipAt(QPoint(200, 150)).isEmpty());
    }

    // ---- SparsityView
    void sparsity() {
        SparsityView view;
        SparsityData data;
        data.tau = m.tau;
        data.tokens = m.tokens;
        for (int l = 0; l < m.layers; ++l)
            data.layers.push_back(makeSparsityLayer(l, *m.selections[std::size_t(l)]));
        SparsityLayer pending;
        pending.layerId = m.layers;
        pending.sparse = true;
        pending.keptFraction = NAN; // not selected yet
        data.layers.push_back(pending);
        view.setData(data);
        const QImage image = renderImage(view, {700, 380});
        QCOMPARE(image.size(), QSize(700, 380));
        QVERIFY(looksDrawn(image));
        QVERIFY(view.viewTitle().contains("tau = 0.01"));
        const QStringList lines = csvLines(view.csv());
        QCOMPARE(lines.size(), 1 + m.layers + 1);
        QVERIFY(lines[0].startsWith("layer_index,layer_id,sparse,dense_reason,kept_fraction"));
        view.resize(700, 380);
        const int x = int(66 + (700 - 86) * (3.5 / 5.0));
        const QString tip = view.toolTipAt(QPoint(x, 300));
        QVERIFY2(tip.startsWith("layer 3: kept fraction"), qPrintable(tip));
        QVERIFY(view.toolTipAt(QPoint(int(66 + (700 - 86) * (4.5 / 5.0)), 300)).contains("computing"));
        QSignalSpy clicked(&view, &SparsityView::layerClicked);
        QTest::mouseClick(&view, Qt::LeftButton, {}, QPoint(x, 300));
        QCOMPARE(clicked.size(), 1);
        QCOMPARE(clicked[0][0].toInt(), 3);
        view.setData({});
        QVERIFY(looksDrawn(renderImage(view, {400, 300}), 2));
        QCOMPARE(csvLines(view.csv()).size(), 1);
    }

    // ---- HowItWorksPanel
    void howItWorks() {
        HowItWorksPanel view;
        HowItWorksData data;
        data.layerId = 3;
        data.head = 1;
        data.groupSize = 4;
        data.params.tau = m.tau;
        data.params.window = m.window;
        data.params.minTokens = 256;
        data.scores = m.scores[3];
        data.selection = m.selections[3];
        view.setData(data);
        QSignalSpy steps(&view, &HowItWorksPanel::stepChanged);
        for (int step = 0; step < HowItWorksPanel::kStepCount; ++step) {
            view.setStep(step);
            QVERIFY2(looksDrawn(renderImage(view, {800, 520})), qPrintable(HowItWorksPanel::stepName(step)));
            QVERIFY(!view.stepText().isEmpty());
            QVERIFY(csvLines(view.csv()).size() > 1);
        }
        QCOMPARE(steps.size(), HowItWorksPanel::kStepCount - 1);
        view.setStep(HowItWorksPanel::Budget);
        QVERIFY(view.stepText().contains(QStringLiteral("n = %1").arg(m.selections[3]->budgetCount)));
        view.setStep(HowItWorksPanel::Select);
        QVERIFY(view.stepText().contains(QString::number(m.selections[3]->kept)) ||
                view.stepText().contains(fmt::integer(m.selections[3]->kept)));
        view.setStep(HowItWorksPanel::Compress);
        QCOMPARE(csvLines(view.csv()).size(), 1 + int(m.selections[3]->kept));
        view.next();
        QCOMPARE(view.step(), int(HowItWorksPanel::Attend));
        view.previous();
        view.setStep(HowItWorksPanel::Score);
        view.resize(800, 520);
        const QString tip = view.toolTipAt(QPoint(400, 200));
        QVERIFY2(tip.contains("raw a_h"), qPrintable(tip));
        // A dense layer and no data: a message, no crash.
        data.selection = m.selections[0];
        data.scores = m.scores[0];
        view.setData(data);
        view.setStep(HowItWorksPanel::Decompress);
        QVERIFY(looksDrawn(renderImage(view, {600, 400}), 2));
        view.setData({});
        for (int step = 0; step < HowItWorksPanel::kStepCount; ++step) {
            view.setStep(step);
            renderImage(view, {400, 300});
            view.csv();
            view.toolTipAt(QPoint(200, 150));
        }
    }

    // Issue 8, How it works as a lesson: clickable step chips that fit narrow widths, arrow keys, plain
    // captions (tau defined, why W is kept, why one count per head, each head's dropped mass), the score
    // plot zooms, a dense layer offers a jump to the first sparse layer.
    void howItWorksLesson() {
        HowItWorksPanel view;
        HowItWorksData data;
        data.layerId = 3;
        data.head = 1;
        data.params.tau = m.tau;
        data.params.window = m.window;
        data.params.minTokens = 256;
        data.scores = m.scores[3];
        data.selection = m.selections[3];
        data.firstSparseLayerId = 3;
        view.setData(data);
        view.resize(800, 520);
        view.show();
        for (int step = 0; step < HowItWorksPanel::kStepCount; ++step) {
            const QRectF chip = view.chipRect(step, view.size());
            QTest::mouseClick(&view, Qt::LeftButton, {}, chip.center().toPoint());
            QCOMPARE(view.step(), step);
        }
        // The 16-token worked example sits beside the real layer when there is room, on every step.
        QVERIFY(!view.toyRect(QSize(1000, 600)).isEmpty());
        QVERIFY(view.toyRect(QSize(600, 600)).isEmpty());
        for (int step = 0; step < HowItWorksPanel::kStepCount; ++step) {
            view.setStep(step);
            const QImage wide = renderImage(view, {1000, 600});
            QVERIFY(looksDrawn(wide.copy(view.toyRect(QSize(1000, 600)).toRect())));
        }
        // Chips stay inside narrow views.
        for (int width : {800, 520, 380})
            QVERIFY(view.chipRect(HowItWorksPanel::kStepCount - 1, QSize(width, 400)).right() <= width - 4);
        view.setFocus();
        QTest::keyClick(&view, Qt::Key_Home);
        QCOMPARE(view.step(), 0);
        QTest::keyClick(&view, Qt::Key_Right);
        QCOMPARE(view.step(), 1);
        const QString budget = view.stepText();
        QVERIFY2(budget.contains(QStringLiteral("share of the layer's attention")), qPrintable(budget));
        const std::vector<double> dropped = view.droppedMassPerHead();
        QCOMPARE(int(dropped.size()), m.heads);
        for (double d : dropped)
            QVERIFY(d >= 0.0 && d < 1.0);
        QVERIFY(budget.contains(QStringLiteral("dropped mass")));
        QTest::keyClick(&view, Qt::Key_Right);
        QVERIFY(view.stepText().contains(QStringLiteral("same number of tokens")));
        QVERIFY(view.stepText().contains(QStringLiteral("last W tokens are always kept")));
        QTest::keyClick(&view, Qt::Key_Left);
        QTest::keyClick(&view, Qt::Key_Left);
        QCOMPARE(view.step(), int(HowItWorksPanel::Score));
        // The score text quotes the plotted s_h; the wheel zooms the plot and double-click shows all.
        QVERIFY(view.stepText().contains(QStringLiteral("smoothed score s_h")));
        const qint64 all = view.visibleRange().size();
        QWheelEvent wheel(QPointF(400, 250), view.mapToGlobal(QPointF(400, 250)), QPoint(), QPoint(0, 360),
                          Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
        QCoreApplication::sendEvent(&view, &wheel);
        QVERIFY(view.visibleRange().size() < all);
        QVERIFY(looksDrawn(renderImage(view, {800, 520})));
        QTest::mouseDClick(&view, Qt::LeftButton, {}, QPoint(400, 250));
        QCOMPARE(view.visibleRange().size(), all);
        // A dense layer: no "0 dropped rows", and a jump button that asks for the first sparse layer.
        data.layerId = 0;
        data.selection = m.selections[0];
        data.scores = m.scores[0];
        view.setData(data);
        view.setStep(HowItWorksPanel::Decompress);
        QVERIFY(!view.stepText().contains(QStringLiteral("0 dropped")));
        QVERIFY(view.stepText().contains(QStringLiteral("dense")));
        auto* jump = view.findChild<QPushButton*>(QStringLiteral("jumpToSparseLayer"));
        QVERIFY(jump && jump->isVisible());
        QSignalSpy jumped(&view, &HowItWorksPanel::jumpToSparseLayerRequested);
        jump->click();
        QCOMPARE(jumped.size(), 1);
    }

    // ---- every view into SVG
    void svgExport() {
        OverviewView overview;
        OverviewData od;
        od.qHeads = m.heads;
        for (int l = 0; l < m.layers; ++l)
            od.layers.push_back(makeOverviewLayer(l, *m.selections[std::size_t(l)], nullptr));
        overview.setData(od);
        SelectionMapView selection;
        selection.setData(selectionData(3));
        DepthView depth;
        depth.setData(fake::depthData(m.selections, 0));
        CoverageView coverage;
        CoverageData cd;
        cd.tau = m.tau;
        cd.prefix = m.scores[3]->prefix;
        cd.layer = fake::coverage(*m.scores[3], -1, m.tau, 128);
        coverage.setData(cd);
        ErrorView error;
        ErrorData ed;
        ed.qHeads = m.heads;
        ed.layerIds = {0, 1, 2, 3};
        ed.metrics = {m.metrics[0], m.metrics[1], m.metrics[2], m.metrics[3]};
        error.setData(ed);
        error.setSelected(3, 0);
        AttentionMapView attention;
        attention.setData(fake::attentionBlocks(m.tokens, 128, m.selections[3].get(), 0));
        SparsityView sparsity;
        SparsityData sd;
        for (int l = 0; l < m.layers; ++l)
            sd.layers.push_back(makeSparsityLayer(l, *m.selections[std::size_t(l)]));
        sparsity.setData(sd);
        HowItWorksPanel how;
        HowItWorksData hd;
        hd.scores = m.scores[3];
        hd.selection = m.selections[3];
        how.setData(hd);
        const std::vector<ExportableView*> all{&overview, &selection, &depth,    &coverage,
                                               &error,    &attention, &sparsity, &how};
        QSet<QString> names;
        for (ExportableView* v : all) {
            const QByteArray svg = renderSvg(*v, {640, 400});
            QVERIFY2(svg.size() > 1000, qPrintable(v->viewName()));
            QVERIFY2(svg.contains("<svg"), qPrintable(v->viewName()));
            QVERIFY2(svg.contains("<text") || svg.contains("<path"), qPrintable(v->viewName()));
            QVERIFY(v->widget() != nullptr);
            names.insert(v->viewName());
        }
        QCOMPARE(names.size(), int(all.size())); // machine names are unique
    }
};

QTEST_MAIN(TestViews)
#include "test_views.moc"
