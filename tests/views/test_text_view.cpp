// The Text view: line breaking and hit-testing at the edges of the text (long tokens, empty strings,
// newlines, right-to-left and combining characters, invalid UTF-8 from a real tokenizer), measures and
// tooltips, search, scrolling and the minimap, CSV and HTML export, and the cross-view link of the
// selected token position through the explorer's ViewSet on a generated capture. Timing at 128K tokens
// is measured by `tsa-explorer --bench-text` (docs/benchmarks.md), not here.
#include "app/explorer/analysis_controller.h"
#include "app/explorer/headless.h"
#include "app/explorer/view_set.h"
#include "test_app_support.h"
#include "test_views_fake_data.h"
#include "views/attention_map_view.h"
#include "views/coverage_view.h"
#include "views/depth_view.h"
#include "views/selection_map_view.h"
#include "views/text_layout.h"
#include "views/text_view.h"

#include <QFontMetricsF>
#include <QImage>
#include <QMouseEvent>
#include <QPainter>
#include <QSignalSpy>
#include <QtTest>

using namespace tsa::views;

namespace {

// Tokens that stress layout: a long token, an empty one, newlines (one and two), right-to-left text,
// a combining mark split from its letter, a lone UTF-8 lead byte, a markup-looking token for escaping.
std::shared_ptr<std::vector<std::string>> edgeTokens(qint64 tokens) {
    static const std::vector<std::string> special = {
        "<s>",
        " " + std::string(400, 'W'),         // wider than any line
        "",                                  // empty
        ".\n",                               // line break after
        "\n\n",                              // blank line
        " \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", // " שלום"
        "e\xCC\x81",                         // e + combining acute
        "\xCC\x81",                          // a lone combining mark
        "\xE2",                              // lead byte of a split character
        " <b>&amp;\"'",                      // must be escaped in HTML
    };
    auto out = std::make_shared<std::vector<std::string>>();
    for (qint64 t = 0; t < tokens; ++t)
        out->push_back(t < qint64(special.size())
                           ? special[std::size_t(t)]
                           : (t % 7 == 3 ? std::string(".") : " word" + std::to_string(t % 13)));
    return out;
}

QImage renderImage(const ExportableView& view, const QSize& size) {
    QImage image(size, QImage::Format_ARGB32);
    image.fill(Qt::transparent);
    QPainter painter(&image);
    view.render(painter, size);
    return image;
}

} // namespace

class TestTextView : public QObject {
    Q_OBJECT

    qint64 m_tokens = 2048, m_window = 64;
    std::vector<std::shared_ptr<tsa::LayerScores>> m_scores;
    std::vector<std::shared_ptr<tsa::Selection>> m_selections;

    TextViewData data(int layer, int head, std::shared_ptr<const std::vector<std::string>> strings) const {
        TextViewData d;
        d.layerId = layer;
        d.head = head;
        d.tokens = m_tokens;
        d.tokenStrings = std::move(strings);
        auto ids = std::make_shared<std::vector<std::int32_t>>();
        for (qint64 t = 0; t < m_tokens; ++t)
            ids->push_back(std::int32_t(1000 + t % 97));
        d.tokenIds = ids;
        d.selection = m_selections[std::size_t(layer)];
        d.scores = m_scores[std::size_t(layer)];
        for (std::size_t l = 0; l < m_selections.size(); ++l) {
            d.layerIds.push_back(int(l));
            d.layers.push_back(m_selections[l]);
        }
        return d;
    }

private slots:
    void initTestCase() {
        for (int l = 0; l < 4; ++l) {
            m_scores.push_back(fake::scores(4, m_tokens, m_window, 31 + l));
            m_selections.push_back(fake::selection(*m_scores.back(), 0.01, 256, l >= 2));
        }
        QVERIFY(m_selections[3]->sparse);
    }

    // ---- TextLayout, the pure part.
    void layoutBreaksLinesGreedily() {
        TextLayout layout;
        layout.build({30, 30, 30, 30, 30}, {0, 0, 0, 0, 0}, 100);
        QCOMPARE(layout.lineCount(), 2);
        QCOMPARE(layout.lineBegin(1), 3);
        QCOMPARE(layout.x(2), 60.0);
        QCOMPARE(layout.x(3), 0.0);
        QCOMPARE(layout.lineOf(4), 1);
        // Hit-testing at the edges of a token and of the line.
        QCOMPARE(layout.tokenAt(0, 0.0), 0);
        QCOMPARE(layout.tokenAt(0, 29.9), 0);
        QCOMPARE(layout.tokenAt(0, 30.0), 1);
        QCOMPARE(layout.tokenAt(0, 89.9), 2);
        QCOMPARE(layout.tokenAt(0, 90.0), -1); // right of the last token
        QCOMPARE(layout.tokenAt(1, 59.9), 4);
        QCOMPARE(layout.tokenAt(1, 60.0), -1);
        QCOMPARE(layout.tokenAt(0, -1.0), -1);
        QCOMPARE(layout.tokenAt(2, 10.0), -1); // below the text
    }

    void layoutLongTokensEmptyTokensAndNewlines() {
        TextLayout layout;
        // 0: normal, 1: wider than the line, 2: empty (zero width), 3: newline, 4: two newlines, 5: last.
        layout.build({20, 500, 0, 10, 10, 10}, {0, 0, 0, 1, 2, 0}, 100);
        QCOMPARE(layout.lineBegin(1), 1); // the long token gets a line of its own
        QVERIFY(layout.clamped(1));
        QCOMPARE(layout.width(1), 100.0);
        QCOMPARE(layout.lineBegin(2), 2);
        QVERIFY(layout.width(2) >= 3.0); // still hoverable
        QCOMPARE(layout.tokenAt(2, 1.0), 2);
        // Token 3 ends a line; token 4 ends it and leaves a blank line; token 5 starts after the blank one.
        QCOMPARE(layout.lineOf(3), 2);
        QCOMPARE(layout.lineOf(4), 3);
        QCOMPARE(layout.lineCount(), 6);
        QCOMPARE(layout.lineBegin(4), layout.lineEnd(4)); // blank
        QCOMPARE(layout.tokenAt(4, 5.0), -1);
        QCOMPARE(layout.lineOf(5), 5);
        QCOMPARE(layout.tokenAt(5, 5.0), 5);
        // A newline on the very last token adds no empty line.
        layout.build({10, 10}, {0, 1}, 100);
        QCOMPARE(layout.lineCount(), 1);
        layout.build({}, {}, 100);
        QCOMPARE(layout.lineCount(), 1);
        QCOMPARE(layout.tokenAt(0, 1.0), -1);
    }

    void widthsShapeComplexScripts() {
        QFont font(QStringLiteral("DejaVu Sans"));
        font.setPixelSize(14);
        font.setKerning(false);
        TokenWidths widths(font);
        const QFontMetricsF fm(font);
        QCOMPARE(widths.width(QStringLiteral(" the")), fm.horizontalAdvance(QStringLiteral(" the")));
        // Combining mark and right-to-left runs are measured whole, as drawn.
        const QString combining = QString::fromUtf8("e\xCC\x81");
        const QString hebrew = QString::fromUtf8("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D");
        QCOMPARE(widths.width(combining), fm.horizontalAdvance(combining));
        QCOMPARE(widths.width(hebrew), fm.horizontalAdvance(hebrew));
        QCOMPARE(widths.width(QString()), 0.0);
    }

    // ---- The view.
    void rendersAndHitTestsEdgeTokens() {
        TextView view;
        view.resize(900, 600);
        view.setData(data(3, 1, edgeTokens(m_tokens)));
        QCOMPARE(view.screenLayout().tokenCount(), m_tokens);
        // Decoded for display.
        QCOMPARE(view.displayText(2), QString::fromUtf8("\xE2\x88\x85")); // empty -> ∅
        QCOMPARE(view.displayText(3), QString::fromUtf8(".\xE2\x86\xB5"));
        QCOMPARE(view.displayText(8), QString(QChar(0xFFFD)));
        QVERIFY(view.screenLayout().clamped(1));
        // The picture: drawn, sized, with the text's colours.
        const QImage image = renderImage(view, QSize(900, 600));
        QCOMPARE(image.size(), QSize(900, 600));
        QSet<QRgb> colours;
        for (int y = 0; y < image.height(); y += 3)
            for (int x = 0; x < image.width(); x += 3)
                colours.insert(image.pixel(x, y));
        QVERIFY(colours.size() > 20);
        // Hit-testing agrees with the layout for every visible token, at its left edge and centre.
        const TextLayout& layout = view.screenLayout();
        const QPoint origin = [&] {
            for (int y = 0; y < 600; ++y)
                for (int x = 0; x < 60; ++x)
                    if (view.tokenAt(QPoint(x, y)) == 0) return QPoint(x, y);
            return QPoint(-1, -1);
        }();
        QVERIFY(origin.x() >= 0);
        const int lineHeight = [&] {
            for (int y = origin.y(); y < 600; ++y)
                if (view.tokenAt(QPoint(origin.x(), y)) == 1) return y - origin.y();
            return -1;
        }();
        QVERIFY(lineHeight > 10); // token 1 (the long one) starts the next line
        int checked = 0;
        for (qint64 line = 0; line < std::min<qint64>(layout.lineCount(), view.visibleLines()); ++line)
            for (qint64 t = layout.lineBegin(line); t < layout.lineEnd(line); ++t) {
                const int y = origin.y() + int(line) * lineHeight + lineHeight / 2 - 2;
                const int x = origin.x() + int(std::ceil(layout.x(t) + 0.01));
                QCOMPARE(view.tokenAt(QPoint(x, y)), t);
                QCOMPARE(view.tokenAt(QPoint(x + int(layout.width(t) / 2), y)), t);
                ++checked;
            }
        QVERIFY(checked > 50);
        // Outside the text: nothing.
        QCOMPARE(view.tokenAt(QPoint(2, 2)), -1);
    }

    void tooltipNamesTokenScoreRankAndLayers() {
        TextView view;
        view.resize(900, 600);
        view.setData(data(3, 1, edgeTokens(m_tokens)));
        const tsa::Selection& sel = *m_selections[3];
        const std::int32_t keptToken = sel.head(1)[20];
        view.scrollToToken(keptToken);
        // Find the token on screen by scanning.
        QPoint where(-1, -1);
        for (int y = 0; y < 600 && where.x() < 0; y += 4)
            for (int x = 0; x < 900; x += 4)
                if (view.tokenAt(QPoint(x, y)) == keptToken) {
                    where = QPoint(x, y);
                    break;
                }
        QVERIFY(where.x() >= 0);
        const QString tip = view.toolTipAt(where);
        QVERIFY2(tip.contains(QStringLiteral("position %1").arg(keptToken)), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("token id %1").arg(1000 + keptToken % 97)), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("kept")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("n_h = ")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("rank ")), qPrintable(tip));
        QVERIFY2(tip.contains(QStringLiteral("in sparse layers: ")), qPrintable(tip));
        // The rank is the position in the head's descending order.
        const auto& s = *m_scores[3];
        const std::int32_t* order = s.headOrder(1);
        const qint64 rank = std::find(order, order + s.prefix, keptToken) - order + 1;
        QVERIFY2(tip.contains(QStringLiteral("rank %1 ").arg(rank)), qPrintable(tip));
        // Invalid UTF-8 in the raw string is escaped, not passed through.
        view.scrollToToken(0);
        for (int y = 0; y < 600; y += 2)
            for (int x = 0; x < 900; x += 2)
                if (view.tokenAt(QPoint(x, y)) == 8) {
                    QVERIFY(view.toolTipAt(QPoint(x, y)).contains(QStringLiteral("\\xe2")));
                    return;
                }
        QFAIL("token 8 not found on the first page");
    }

    void measuresColourTheText() {
        TextView view;
        view.resize(900, 600);
        view.setData(data(3, 0, edgeTokens(m_tokens)));
        QSet<QRgb> previous;
        for (auto m : {TextMeasure::Kept, TextMeasure::HeadScore, TextMeasure::LayerScore,
                       TextMeasure::LayerPersistence, TextMeasure::HeadPersistence}) {
            QSignalSpy changed(&view, &TextView::measureChanged);
            view.setMeasure(m);
            QCOMPARE(view.measure(), m);
            QVERIFY(view.viewTitle().contains(TextView::measureName(m)));
            const QImage image = renderImage(view, QSize(900, 600));
            QSet<QRgb> colours;
            for (int y = 100; y < 500; y += 2)
                for (int x = 20; x < 700; x += 2)
                    colours.insert(image.pixel(x, y));
            QVERIFY(colours.size() > 10);
            QVERIFY(colours != previous);
            previous = colours;
        }
        // Persistence across layers: the tooltip reports the count over the two sparse layers.
        const QString csv = view.csv();
        const QStringList lines = csv.split(QStringLiteral("\r\n"), Qt::SkipEmptyParts);
        QCOMPARE(lines.size(), int(m_tokens) + 1);
        QVERIFY(lines[0].startsWith(QStringLiteral("layer_id,head,position,token_id,token,kept")));
        // The token with a quote and markup is quoted per RFC 4180 and escaped as in tooltips.
        QVERIFY2(lines[10].contains(QStringLiteral("\" <b>&amp;\\\"\"'\"")), qPrintable(lines[10]));
    }

    void withoutStringsShowsIdsOrPositions() {
        TextView view;
        view.resize(700, 400);
        TextViewData d = data(3, 0, nullptr);
        view.setData(d);
        QCOMPARE(view.displayText(5), QStringLiteral("1005 "));
        d.tokenIds = nullptr;
        view.setData(d);
        QCOMPARE(view.displayText(5), QStringLiteral("5 "));
        QVERIFY(view.setSearch(QStringLiteral("17 "), false));
        QVERIFY(view.matchCount() >= 1);
        QCOMPARE(view.matchTokens().front(), 17);
        // No data at all: a message, no crash.
        view.setData(TextViewData{});
        QCOMPARE(renderImage(view, QSize(400, 300)).size(), QSize(400, 300));
        QCOMPARE(view.tokenAt(QPoint(100, 100)), -1);
        QVERIFY(view.toolTipAt(QPoint(100, 100)).isEmpty());
    }

    void searchPlainAndRegexStepsThroughMatches() {
        TextView view;
        view.resize(900, 600);
        view.setData(data(3, 0, edgeTokens(m_tokens)));
        QSignalSpy clicked(&view, &TextView::tokenClicked);
        // Plain, case-insensitive: " word5" occurs at every t % 13 == 5 (not a period position).
        QVERIFY(view.setSearch(QStringLiteral("WORD5"), false));
        qint64 expected = 0;
        for (qint64 t = 10; t < m_tokens; ++t)
            if (t % 7 != 3 && t % 13 == 5) ++expected;
        QCOMPARE(view.matchCount(), expected);
        QVERIFY(view.findNext());
        const qint64 first = view.selectedPosition();
        QCOMPARE(first, view.matchTokens().front());
        QCOMPARE(clicked.count(), 1);
        QVERIFY(view.findNext());
        QCOMPARE(view.selectedPosition(), view.matchTokens()[1]);
        QVERIFY(view.findPrevious());
        QVERIFY(view.findPrevious()); // wraps to the last
        QCOMPARE(view.selectedPosition(), view.matchTokens().back());
        // The selected match is on screen.
        const TextLayout& layout = view.screenLayout();
        const qint64 top = layout.lineOf(view.topToken());
        QVERIFY(layout.lineOf(view.selectedPosition()) >= top);
        QVERIFY(layout.lineOf(view.selectedPosition()) < top + view.visibleLines());
        // A match across tokens and newlines, as a regular expression.
        QVERIFY(view.setSearch(QStringLiteral("\\.\\n\\n"), true));
        QCOMPARE(view.matchCount(), 1);
        QCOMPARE(view.matchTokens().front(), 3);
        // Right-to-left and combining text is found as typed.
        QVERIFY(view.setSearch(QString::fromUtf8("\xD7\xA9\xD7\x9C"), false));
        QCOMPARE(view.matchTokens(), std::vector<qint64>{5});
        QVERIFY(view.setSearch(QString::fromUtf8("e\xCC\x81"), false));
        QCOMPARE(view.matchTokens(), std::vector<qint64>{6});
        // A bad expression reports the error and clears the matches.
        QVERIFY(!view.setSearch(QStringLiteral("(unclosed"), true));
        QVERIFY(!view.searchError().isEmpty());
        QCOMPARE(view.matchCount(), 0);
        QVERIFY(!view.findNext());
        // Empty matches (a regex that matches nothing visible) are skipped.
        QVERIFY(view.setSearch(QStringLiteral("x*"), true));
        QCOMPARE(view.matchCount(), 0);
    }

    void scrollingAndMinimap() {
        TextView view;
        view.resize(900, 600);
        view.setData(data(3, 0, edgeTokens(m_tokens)));
        QCOMPARE(view.topToken(), 0);
        view.scrollPages(1);
        const TextLayout& layout = view.screenLayout();
        QCOMPARE(layout.lineOf(view.topToken()), qint64(view.visibleLines() - 1));
        view.scrollPages(-5);
        QCOMPARE(view.topToken(), 0);
        view.scrollLines(1'000'000); // clamps at the last page
        QVERIFY(layout.lineOf(view.topToken()) <= layout.lineCount() - view.visibleLines());
        QVERIFY(view.topToken() > 0);
        // A click at the top of the minimap jumps back to the start; near the bottom to the end.
        const QString tip = view.toolTipAt(QPoint(900 - 14 - 20, 300));
        QVERIFY2(tip.startsWith(QStringLiteral("minimap")), qPrintable(tip));
        QTest::mouseClick(&view, Qt::LeftButton, {}, QPoint(900 - 14 - 20, 100));
        const qint64 afterTop = view.topToken();
        QTest::mouseClick(&view, Qt::LeftButton, {}, QPoint(900 - 14 - 20, 590));
        QVERIFY(view.topToken() > afterTop);
        // Wheel: three lines per notch.
        view.scrollPages(-100);
        QWheelEvent wheel(QPointF(200, 300), view.mapToGlobal(QPointF(200, 300)), QPoint(), QPoint(0, -120),
                          Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
        QApplication::sendEvent(&view, &wheel);
        QCOMPARE(layout.lineOf(view.topToken()), 3);
        // A click on a token selects it.
        QSignalSpy clicked(&view, &TextView::tokenClicked);
        for (int y = 120; y < 500; y += 4) {
            const qint64 t = view.tokenAt(QPoint(200, y));
            if (t < 0) continue;
            QTest::mouseClick(&view, Qt::LeftButton, {}, QPoint(200, y));
            QCOMPARE(clicked.count(), 1);
            QCOMPARE(clicked.front().front().toLongLong(), t);
            QCOMPARE(view.selectedPosition(), t);
            return;
        }
        QFAIL("no token under x = 200");
    }

    void htmlIsSelfContainedAndEscaped() {
        TextView view;
        view.setData(data(3, 0, edgeTokens(m_tokens)));
        view.setMeasure(TextMeasure::HeadScore);
        const QString html = view.html();
        QVERIFY(html.startsWith(QStringLiteral("<!DOCTYPE html>")));
        QVERIFY(html.contains(QStringLiteral("<meta charset=\"utf-8\">")));
        QVERIFY(!html.contains(QStringLiteral("<script")));
        QVERIFY(!html.contains(QStringLiteral("http://")) && !html.contains(QStringLiteral("https://")));
        QCOMPARE(html.count(QStringLiteral(" title=\"")),
                 qsizetype(m_tokens)); // one per token, none elsewhere
        // Markup in a token is text, not tags; quotes in attributes are entities.
        QVERIFY(html.contains(QStringLiteral(" &lt;b&gt;&amp;amp;&quot;&#39;")));
        QVERIFY(!html.contains(QStringLiteral(" <b>")));
        // The measure is in each token's title.
        QVERIFY(html.contains(QStringLiteral("title=\"100: ")));
        QVERIFY(html.contains(QStringLiteral("n_h ")));
        QVERIFY(html.contains(QStringLiteral("window, always kept")));
    }

    // ---- Headless export of the text view: no dense attention for metrics it does not show.
    void headlessTextNeedsNoMetrics() {
        using Need = tsa::app::AnalysisController::Need;
        tsa::app::ExplorerParams params;
        tsa::app::ViewState state;
        QVERIFY(!(tsa::app::ViewSet::needsOf(QStringLiteral("text"), params, state) &
                  (Need::NeedMetrics | Need::NeedAllMetrics)));
        QVERIFY(tsa::app::ViewSet::needsOf(QStringLiteral("text"), params, state) & Need::NeedAllSelections);
        QVERIFY(tsa::app::ViewSet::needsOf(QStringLiteral("error"), params, state) & Need::NeedAllMetrics);
        state.overviewMetric = QStringLiteral("error-p95");
        QVERIFY(tsa::app::ViewSet::needsOf(QStringLiteral("overview"), params, state) & Need::NeedAllMetrics);

        QTemporaryDir dir;
        QString error;
        const QString path = tsa::test::writeSmallCapture(dir, QStringLiteral("m.safetensors"), {}, &error);
        QVERIFY2(!path.isEmpty(), qPrintable(error));
        tsa::app::AnalysisController controller;
        tsa::app::ViewSet views(&controller);
        controller.setMetricsEnabled(false);
        tsa::app::ExplorerParams p;
        p.tsa.minTokens = 256;
        QVERIFY2(tsa::app::openForHeadless(controller, path, p, std::nullopt, 60000, &error),
                 qPrintable(error));
        QVERIFY(controller.waitUntilReady(views.needsOf(QStringLiteral("text")), 60000));
        QVERIFY(tsa::test::waitFor([&] { return controller.isIdle(); }));
        const int sparse = controller.firstSparseLayer();
        QVERIFY(sparse >= 0);
        QVERIFY(controller.selection(sparse) && controller.selection(sparse)->sparse);
        QVERIFY(!controller.cachedDense(sparse)); // the dense reference was never computed
        bool current = true;
        QVERIFY(!controller.metrics(sparse, &current));
    }

    // ---- Cross-view linking through the explorer's ViewSet, on a generated capture.
    void selectedPositionLinksTheViews() {
        QTemporaryDir dir;
        QString error;
        const QString path = tsa::test::writeSmallCapture(dir, QStringLiteral("c.safetensors"), {}, &error);
        QVERIFY2(!path.isEmpty(), qPrintable(error));
        tsa::app::AnalysisController controller;
        tsa::app::ViewSet views(&controller);
        tsa::app::ExplorerParams params;
        params.tsa.minTokens = 256;
        QVERIFY2(tsa::app::openForHeadless(controller, path, params, std::nullopt, 60000, &error),
                 qPrintable(error));
        controller.setLayer(controller.firstSparseLayer());
        QVERIFY(controller.waitUntilReady(
            views.needsOf(QStringLiteral("text")) | tsa::app::AnalysisController::NeedAttentionMap, 60000));
        views.flush();
        auto* text = dynamic_cast<TextView*>(views.view(QStringLiteral("text")));
        auto* map = dynamic_cast<SelectionMapView*>(views.view(QStringLiteral("selection")));
        auto* depth = dynamic_cast<DepthView*>(views.view(QStringLiteral("depth")));
        auto* attention = dynamic_cast<AttentionMapView*>(views.view(QStringLiteral("attention")));
        auto* coverage = dynamic_cast<CoverageView*>(views.view(QStringLiteral("coverage")));
        QVERIFY(text && map && depth && attention && coverage);
        QVERIFY(tsa::app::explorerViewNames().contains(QStringLiteral("text")));
        // The generator's placeholder words reach the text.
        QVERIFY(text->displayText(1).startsWith(QLatin1Char(' ')) ||
                text->displayText(1) == QStringLiteral("."));
        text->resize(900, 600);

        // A click in the text selects the position everywhere (the text does not jump).
        QSignalSpy changed(&views, &tsa::app::ViewSet::selectedPositionChanged);
        const qint64 top = text->topToken();
        for (int y = 120; y < 500; y += 4) {
            const qint64 t = text->tokenAt(QPoint(300, y));
            if (t < 0) continue;
            QTest::mouseClick(text, Qt::LeftButton, {}, QPoint(300, y));
            QCOMPARE(views.selectedPosition(), t);
            QCOMPARE(map->markedPosition(), t);
            QCOMPARE(depth->markedPosition(), t);
            QCOMPARE(attention->markedPosition(), t);
            QCOMPARE(text->topToken(), top);
            QCOMPARE(changed.count(), 1);
            // The coverage chart marks where it sits in the head's ranking.
            auto scores = controller.scores(controller.params().layer);
            const std::int32_t* order = scores->headOrder(controller.params().head);
            const qint64 rank = std::find(order, order + scores->prefix, std::int32_t(t)) - order;
            QCOMPARE(coverage->markedToken(), qint64(scores->prefix - rank));
            break;
        }
        QCOMPARE(changed.count(), 1);

        // A click elsewhere (the selection map's signal) scrolls the text to the position.
        const qint64 far = controller.tokenCount() - 300;
        emit map->tokenClicked(far);
        QCOMPARE(text->selectedPosition(), far);
        const TextLayout& layout = text->screenLayout();
        const qint64 line = layout.lineOf(far), first = layout.lineOf(text->topToken());
        QVERIFY(line >= first && line < first + text->visibleLines());
        QCOMPARE(depth->markedPosition(), far);
        // The coverage chart's click picks the token at that place in the ranking.
        auto scores = controller.scores(controller.params().layer);
        emit coverage->droppedCountClicked(scores->prefix); // the highest n_h
        QCOMPARE(views.selectedPosition(), qint64(scores->headOrder(controller.params().head)[0]));
        // The attention map's click selects the key position.
        emit attention->blockClicked(64, 32);
        QCOMPARE(text->selectedPosition(), 32);
        // Window tokens are outside the ranking: no coverage mark.
        views.setSelectedPosition(controller.tokenCount() - 1);
        QCOMPARE(coverage->markedToken(), -1);
        views.setSelectedPosition(-1);
        QCOMPARE(map->markedPosition(), -1);
        QCOMPARE(text->selectedPosition(), -1);
    }
};

QTEST_MAIN(TestTextView)
#include "test_text_view.moc"
