// Renders every view with realistic fake data to PNG (and SVG) for a human to look at: the images land in
// $TSA_VIEWS_SHOTS_DIR (default /tmp/views-shots). Also checks each picture is the requested size and not
// blank.
#include "test_views_fake_data.h"
#include "views/attention_map_view.h"
#include "views/coverage_view.h"
#include "views/depth_view.h"
#include "views/error_view.h"
#include "views/how_it_works_panel.h"
#include "views/overview_view.h"
#include "views/selection_map_view.h"
#include "views/sparsity_view.h"
#include "views/text_view.h"

#include <QDir>
#include <QImage>
#include <QPainter>
#include <QtTest>

using namespace tsa::views;

namespace {

QString shotsDir() {
    const QString dir = qEnvironmentVariable("TSA_VIEWS_SHOTS_DIR", QStringLiteral("/tmp/views-shots"));
    QDir().mkpath(dir);
    return dir;
}

QImage shoot(const ExportableView& view, const QSize& size, const QString& name) {
    QImage image(size, QImage::Format_ARGB32);
    image.fill(Qt::transparent);
    {
        QPainter painter(&image);
        painter.setRenderHint(QPainter::Antialiasing);
        painter.setRenderHint(QPainter::TextAntialiasing);
        view.render(painter, size);
    }
    image.save(shotsDir() + QLatin1Char('/') + name + QStringLiteral(".png"));
    return image;
}

int distinctColours(const QImage& image) {
    QSet<QRgb> colours;
    for (int y = 0; y < image.height(); y += 3)
        for (int x = 0; x < image.width(); x += 3)
            colours.insert(image.pixel(x, y));
    return colours.size();
}

struct Model {
    int layers = 16;
    int heads = 32;
    int kvHeads = 8;
    qint64 tokens = 8192;
    qint64 window = 128;
    double tau = 0.005;
    std::vector<std::shared_ptr<tsa::LayerScores>> scores;
    std::vector<std::shared_ptr<tsa::Selection>> selections;
    std::vector<std::shared_ptr<tsa::LayerMetrics>> metrics;

    Model() {
        for (int l = 0; l < layers; ++l) {
            scores.push_back(fake::scores(heads, tokens, window, 100 + l));
            selections.push_back(fake::selection(*scores.back(), tau, 1024, l >= layers / 2));
            metrics.push_back(fake::metrics(*selections.back(), 7 + l));
        }
    }
};

} // namespace

class TestViewsShots : public QObject {
    Q_OBJECT
    Model m_model;

private slots:
    void overview() {
        OverviewView view;
        OverviewData data;
        data.qHeads = m_model.heads;
        data.kvHeads = m_model.kvHeads;
        for (int l = 0; l < m_model.layers; ++l)
            data.layers.push_back(
                makeOverviewLayer(l, *m_model.selections[l], l < 13 ? m_model.metrics[l].get() : nullptr));
        view.setData(data);
        view.setSelected(10, 5);
        QImage a = shoot(view, {900, 560}, "overview_kept");
        QCOMPARE(a.size(), QSize(900, 560));
        QVERIFY(distinctColours(a) > 20);
        view.setMetric(OverviewMetric::ErrorP95);
        shoot(view, {900, 560}, "overview_error");
        view.setMetric(OverviewMetric::RetainedMass);
        shoot(view, {640, 420}, "overview_mass_small");
    }

    void selectionMap() {
        SelectionMapView view;
        SelectionMapData data;
        data.layerId = 12;
        data.selection = m_model.selections[12];
        data.scores = m_model.scores[12];
        data.groupSize = m_model.heads / m_model.kvHeads;
        data.tokenStrings = fake::tokenStrings(m_model.tokens);
        view.setData(data);
        view.setSelectedHead(5);
        QImage a = shoot(view, {1100, 560}, "selection_full");
        QVERIFY(distinctColours(a) > 20);
        view.setVisibleRange(7900, 8192);
        shoot(view, {1100, 560}, "selection_zoom_end");
        data.layerId = 2;
        data.selection = m_model.selections[2];
        data.scores = m_model.scores[2];
        view.setData(data);
        shoot(view, {900, 500}, "selection_dense");
    }

    void depth() {
        DepthView view;
        view.setData(fake::depthData(m_model.selections, 5));
        view.setSelectedLayer(11);
        QImage a = shoot(view, {1200, 520}, "depth");
        QVERIFY(distinctColours(a) > 20);
    }

    void coverage() {
        CoverageView view;
        CoverageData data;
        data.layerId = 12;
        data.tau = m_model.tau;
        data.prefix = m_model.scores[12]->prefix;
        data.sparse = true;
        data.layer = fake::coverage(*m_model.scores[12], -1, data.tau);
        for (int h = 0; h < m_model.heads; ++h)
            data.heads.push_back(fake::coverage(*m_model.scores[12], h, data.tau));
        view.setData(data);
        view.resize(900, 500);
        QImage a = shoot(view, {900, 500}, "coverage_log");
        QVERIFY(distinctColours(a) > 5);
        view.setHighlightedHead(5);
        view.setLogY(false);
        shoot(view, {900, 500}, "coverage_linear");
        shoot(view, {600, 420}, "coverage_small");
    }

    void error() {
        ErrorView view;
        view.setData(fake::errorData(m_model.layers, m_model.heads, m_model.window));
        for (int l = 0; l < 13; ++l)
            view.setLayerMetrics(l, m_model.metrics[l]);
        view.setSelected(12, 5);
        QImage a = shoot(view, {1000, 720}, "error");
        QVERIFY(distinctColours(a) > 20);
        view.setVisibleRange(3000, 3400);
        view.setMetric(ErrorMetric::DroppedRows);
        shoot(view, {1000, 720}, "error_zoom_dropped");
    }

    void attention() {
        AttentionMapView view;
        AttentionBlocks blocks = fake::attentionBlocks(m_model.tokens, 64, m_model.selections[12].get(), 5);
        blocks.layerId = 12;
        view.setData(blocks);
        QImage a = shoot(view, {820, 720}, "attention");
        QVERIFY(distinctColours(a) > 20);
    }

    void sparsity() {
        SparsityView view;
        SparsityData data;
        data.tau = m_model.tau;
        data.tokens = m_model.tokens;
        for (int l = 0; l < m_model.layers; ++l)
            data.layers.push_back(makeSparsityLayer(l, *m_model.selections[l]));
        view.setData(data);
        view.setSelectedLayer(12);
        QImage a = shoot(view, {900, 420}, "sparsity");
        QVERIFY(distinctColours(a) > 5);
    }

    void text() {
        TextView view;
        TextViewData data;
        data.layerId = 12;
        data.head = 5;
        data.groupSize = m_model.heads / m_model.kvHeads;
        data.tokens = m_model.tokens;
        data.tokenStrings = fake::tokenStrings(m_model.tokens);
        data.selection = m_model.selections[12];
        data.scores = m_model.scores[12];
        for (int l = 0; l < m_model.layers; ++l) {
            data.layerIds.push_back(l);
            data.layers.push_back(m_model.selections[std::size_t(l)]);
        }
        view.resize(1100, 640);
        view.setData(data);
        view.setSearch(QStringLiteral("needle"), false);
        view.setSelectedPosition(300);
        for (auto m : {TextMeasure::Kept, TextMeasure::HeadScore, TextMeasure::LayerScore,
                       TextMeasure::LayerPersistence, TextMeasure::HeadPersistence}) {
            view.setMeasure(m);
            QImage a = shoot(view, {1100, 640}, QStringLiteral("text_%1").arg(int(m)));
            QCOMPARE(a.size(), QSize(1100, 640));
            QVERIFY(distinctColours(a) > 20);
        }
        view.scrollToToken(m_model.tokens - 1);
        shoot(view, {1100, 640}, "text_end_window");
    }

    void howItWorks() {
        HowItWorksPanel view;
        HowItWorksData data;
        data.layerId = 12;
        data.head = 5;
        data.groupSize = 4;
        data.scores = m_model.scores[12];
        data.selection = m_model.selections[12];
        view.setData(data);
        for (int step = 0; step < HowItWorksPanel::kStepCount; ++step) {
            view.setStep(step);
            QImage a = shoot(view, {960, 600},
                             QStringLiteral("howitworks_%1_%2")
                                 .arg(step + 1)
                                 .arg(HowItWorksPanel::stepName(step).toLower()));
            QVERIFY(distinctColours(a) > 5);
        }
    }
};

QTEST_MAIN(TestViewsShots)
#include "test_views_shots.moc"
