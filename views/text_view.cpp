#include "views/text_view.h"

#include "views/colour_bar.h"
#include "views/colour_map.h"
#include "views/csv_writer.h"
#include "views/number_format.h"
#include "views/view_style.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QHBoxLayout>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMouseEvent>
#include <QPainter>
#include <QRegularExpression>
#include <QToolButton>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string_view>
#include <unordered_map>

namespace tsa::views {

namespace {

constexpr double kControlsHeight = 34.0;
constexpr double kLegendHeight = 24.0;
constexpr double kMinimapWidth = 46.0;
constexpr double kTextPixels = 14.0;
constexpr qint64 kMaxMatches = 100000;

const QRgb kKeptBackground = qRgb(206, 224, 244);
const QRgb kDroppedText = qRgb(172, 172, 172);
const QRgb kMatchColour = qRgb(255, 196, 0);

QRgb mixToWhite(QRgb c, double keep) {
    auto mix = [keep](int v) { return int(std::lround(v * keep + 255.0 * (1.0 - keep))); };
    return qRgb(mix(qRed(c)), mix(qGreen(c)), mix(qBlue(c)));
}

bool isDark(QRgb c) {
    return 0.299 * qRed(c) + 0.587 * qGreen(c) + 0.114 * qBlue(c) < 128.0;
}

QString htmlEscape(const QString& s) {
    return s.toHtmlEscaped().replace(QLatin1Char('\''), QStringLiteral("&#39;"));
}

QString hexColour(QRgb c) {
    return QColor(c).name(QColor::HexRgb);
}

} // namespace

TextView::TextView(QWidget* parent) : PlotView(parent) {
    m_font = QFont(QStringLiteral("DejaVu Sans"));
    m_font.setPixelSize(int(kTextPixels));
    m_font.setStyleHint(QFont::SansSerif);
    // Token widths are sums of character advances; kerning would move glyphs against that sum.
    m_font.setKerning(false);
    m_widths = std::make_unique<TokenWidths>(m_font);
    setFocusPolicy(Qt::ClickFocus);

    m_controls = new QWidget(this);
    m_controls->setObjectName(QStringLiteral("textControls"));
    m_controls->setAutoFillBackground(true);
    auto* row = new QHBoxLayout(m_controls);
    row->setContentsMargins(8, 4, 8, 2);
    row->addWidget(new QLabel(tr("Colour by"), m_controls));
    m_measureBox = new QComboBox(m_controls);
    m_measureBox->setObjectName(QStringLiteral("textMeasure"));
    for (auto m : {TextMeasure::Kept, TextMeasure::HeadScore, TextMeasure::LayerScore,
                   TextMeasure::LayerPersistence, TextMeasure::HeadPersistence})
        m_measureBox->addItem(measureName(m), int(m));
    row->addWidget(m_measureBox);
    row->addSpacing(16);
    m_searchField = new QLineEdit(m_controls);
    m_searchField->setObjectName(QStringLiteral("textSearch"));
    m_searchField->setPlaceholderText(tr("Find in text (Enter: next, Shift+Enter: previous)"));
    m_searchField->setClearButtonEnabled(true);
    row->addWidget(m_searchField, 1);
    m_regexBox = new QCheckBox(tr("Regex"), m_controls);
    m_regexBox->setObjectName(QStringLiteral("textRegex"));
    row->addWidget(m_regexBox);
    m_prevButton = new QToolButton(m_controls);
    m_prevButton->setArrowType(Qt::UpArrow);
    m_prevButton->setToolTip(tr("Previous match"));
    m_nextButton = new QToolButton(m_controls);
    m_nextButton->setArrowType(Qt::DownArrow);
    m_nextButton->setToolTip(tr("Next match"));
    row->addWidget(m_prevButton);
    row->addWidget(m_nextButton);
    m_matchLabel = new QLabel(m_controls);
    m_matchLabel->setObjectName(QStringLiteral("textMatches"));
    m_matchLabel->setMinimumWidth(120);
    row->addWidget(m_matchLabel);

    connect(m_measureBox, &QComboBox::currentIndexChanged, this,
            [this](int index) { setMeasure(TextMeasure(m_measureBox->itemData(index).toInt())); });
    auto research = [this] {
        setSearch(m_searchField->text(), m_regexBox->isChecked());
        updateMatchLabel();
    };
    connect(m_searchField, &QLineEdit::textChanged, this, research);
    connect(m_regexBox, &QCheckBox::toggled, this, research);
    connect(m_searchField, &QLineEdit::returnPressed, this, [this] {
        (QApplication::keyboardModifiers() & Qt::ShiftModifier) ? findPrevious() : findNext();
    });
    connect(m_nextButton, &QToolButton::clicked, this, [this] { findNext(); });
    connect(m_prevButton, &QToolButton::clicked, this, [this] { findPrevious(); });
}

TextView::~TextView() = default;

QString TextView::measureName(TextMeasure measure) {
    switch (measure) {
    case TextMeasure::Kept:
        return tr("kept / dropped");
    case TextMeasure::HeadScore:
        return tr("head score n_h");
    case TextMeasure::LayerScore:
        return tr("layer score G");
    case TextMeasure::LayerPersistence:
        return tr("kept in how many sparse layers");
    case TextMeasure::HeadPersistence:
        return tr("kept by how many heads");
    }
    return {};
}

QStringList TextView::measureKeys() {
    return {QStringLiteral("kept"), QStringLiteral("n_h"), QStringLiteral("g"), QStringLiteral("layers"),
            QStringLiteral("heads")};
}

bool TextView::measureFromKey(const QString& key, TextMeasure* measure) {
    const int i = int(measureKeys().indexOf(key.toLower()));
    if (i < 0) return false;
    *measure = TextMeasure(i); // measureKeys() is in enum order
    return true;
}

void TextView::setData(TextViewData data) {
    m_data = std::move(data);
    const void* key0 = m_data.tokenStrings.get();
    const void* key1 = m_data.tokenIds.get();
    if (key0 != m_docKey[0] || key1 != m_docKey[1] || m_data.tokens != m_docTokens) {
        m_docKey[0] = key0;
        m_docKey[1] = key1;
        m_docTokens = m_data.tokens;
        rebuildDocument();
        m_topToken = 0;
        m_selected = -1;
        setSearch(m_searchField->text(), m_regexBox->isChecked());
        updateMatchLabel();
    }
    rebuildMeasure();
    update();
}

void TextView::setMeasure(TextMeasure measure) {
    if (measure == m_measure) return;
    m_measure = measure;
    const int index = m_measureBox->findData(int(measure));
    if (index >= 0 && index != m_measureBox->currentIndex()) m_measureBox->setCurrentIndex(index);
    rebuildMeasure();
    update();
    emit measureChanged(measure);
}

void TextView::setColourMap(const QString& name) {
    m_colourMap = name;
    ++m_measureVersion;
    update();
}

void TextView::rebuildDocument() {
    const qint64 L = std::max<qint64>(0, m_data.tokens);
    const auto* strings = m_data.tokenStrings.get();
    const auto* ids = m_data.tokenIds.get();
    m_distinct.clear();
    m_docIndex.assign(std::size_t(L), 0);
    auto add = [this](std::string display, qint64 first, int breaks, bool placeholder) {
        Distinct d;
        d.width = float(m_widths->width(std::string_view(display)));
        d.display = std::move(display);
        d.first = first;
        d.breaks = std::uint8_t(std::min(breaks, 255));
        d.placeholder = placeholder;
        m_distinct.push_back(std::move(d));
        return std::int32_t(m_distinct.size() - 1);
    };
    if (strings && qint64(strings->size()) >= L) {
        // Decoded once per distinct string.
        m_encoding = tsa::detectTokenEncoding(*strings);
        std::unordered_map<std::string_view, std::int32_t> seen;
        seen.reserve(std::size_t(std::min<qint64>(L, 1 << 16)));
        m_distinct.reserve(std::size_t(std::min<qint64>(L, 1 << 16)));
        for (qint64 t = 0; t < L; ++t) {
            const std::string_view raw((*strings)[std::size_t(t)]);
            auto [it, inserted] = seen.try_emplace(raw, 0);
            if (inserted) {
                tsa::DisplayToken d = tsa::displayToken(raw, m_encoding);
                it->second = add(std::move(d.text), t, d.lineBreaks, d.placeholder);
            }
            m_docIndex[std::size_t(t)] = it->second;
        }
    } else if (ids && qint64(ids->size()) >= L) {
        m_encoding = tsa::TokenEncoding::Plain;
        std::unordered_map<std::int32_t, std::int32_t> seen;
        for (qint64 t = 0; t < L; ++t) {
            const std::int32_t id = (*ids)[std::size_t(t)];
            auto [it, inserted] = seen.try_emplace(id, 0);
            if (inserted) it->second = add(std::to_string(id) + ' ', t, 0, false);
            m_docIndex[std::size_t(t)] = it->second;
        }
    } else {
        m_encoding = tsa::TokenEncoding::Plain;
        m_distinct.reserve(std::size_t(L));
        for (qint64 t = 0; t < L; ++t)
            m_docIndex[std::size_t(t)] = add(std::to_string(t) + ' ', t, 0, false);
    }
    m_displayCache.assign(m_distinct.size(), QString());
    m_tokenWidth.resize(std::size_t(L));
    m_tokenBreaks.resize(std::size_t(L));
    for (qint64 t = 0; t < L; ++t) {
        const Distinct& d = m_distinct[std::size_t(m_docIndex[std::size_t(t)])];
        m_tokenWidth[std::size_t(t)] = d.width;
        m_tokenBreaks[std::size_t(t)] = d.breaks;
    }
    ++m_docVersion;
}

const QString& TextView::displayOf(std::int32_t index) const {
    QString& cached = m_displayCache[std::size_t(index)];
    if (cached.isNull()) cached = QString::fromStdString(m_distinct[std::size_t(index)].display);
    return cached;
}

QString TextView::searchOf(std::int32_t index) const {
    const auto* strings = m_data.tokenStrings.get();
    const Distinct& d = m_distinct[std::size_t(index)];
    if (strings && d.first < qint64(strings->size()))
        return QString::fromStdString(tsa::searchableTokenText((*strings)[std::size_t(d.first)], m_encoding));
    return displayOf(index);
}

void TextView::rebuildMeasure() {
    const qint64 L = std::max<qint64>(0, m_data.tokens);
    const tsa::Selection* sel = m_data.selection.get();
    const tsa::LayerScores* scores = m_data.scores.get();
    const int head = m_data.head;
    m_prefix = sel ? qint64(sel->prefix) : (scores ? qint64(scores->prefix) : L);
    if (sel && !sel->sparse) m_prefix = std::min<qint64>(L, qint64(sel->tokens - sel->window));
    m_prefix = std::clamp<qint64>(m_prefix, 0, L);
    const bool sparse = sel && sel->sparse && head >= 0 && head < sel->qHeads &&
                        qint64(sel->indices.size()) >= qint64(sel->qHeads) * sel->kept;
    m_kept.assign(std::size_t(L), sparse ? 0 : 1);
    if (sparse) {
        const std::int32_t* idx = sel->head(head);
        for (qint64 i = 0; i < sel->kept; ++i)
            if (idx[i] >= 0 && idx[i] < L) m_kept[std::size_t(idx[i])] = 1;
    }
    m_keptPrefix.resize(std::size_t(L) + 1);
    m_keptPrefix[0] = 0;
    for (qint64 t = 0; t < L; ++t)
        m_keptPrefix[std::size_t(t) + 1] = m_keptPrefix[std::size_t(t)] + m_kept[std::size_t(t)];

    const float nan = std::numeric_limits<float>::quiet_NaN();
    m_value.assign(std::size_t(L), nan);
    m_sparseLayers = 0;
    auto logScaleOver = [&](const float* v, qint64 n) {
        double hi = 0, minPositive = INFINITY;
        for (qint64 j = 0; j < n; ++j) {
            m_value[std::size_t(j)] = v[j];
            hi = std::max(hi, double(v[j]));
            if (v[j] > 0) minPositive = std::min(minPositive, double(v[j]));
        }
        hi = hi > 0 ? hi : 1.0;
        // Five decades below the peak, as the selection map: sinks on top, the flat tail at the bottom.
        m_scale =
            AxisScale::logarithmic(std::max(std::isfinite(minPositive) ? minPositive : hi, hi * 1e-5), hi);
    };
    const qint64 scored = scores ? std::min<qint64>(qint64(scores->prefix), L) : 0;
    switch (m_measure) {
    case TextMeasure::Kept:
        m_scale = AxisScale::linear(0, 1);
        break;
    case TextMeasure::HeadScore:
        if (scores && head >= 0 && head < scores->qHeads &&
            qint64(scores->headNorm.size()) >= qint64(scores->qHeads) * scores->prefix)
            logScaleOver(scores->headScores(head), scored);
        else
            m_scale = AxisScale::logarithmic(1e-5, 1);
        break;
    case TextMeasure::LayerScore:
        if (scores && qint64(scores->layerNorm.size()) >= scores->prefix)
            logScaleOver(scores->layerNorm.data(), scored);
        else
            m_scale = AxisScale::logarithmic(1e-5, 1);
        break;
    case TextMeasure::LayerPersistence: {
        std::vector<std::uint16_t> count(std::size_t(L), 0);
        for (const auto& layer : m_data.layers) {
            if (!layer || !layer->sparse || head >= layer->qHeads || layer->tokens != L) continue;
            ++m_sparseLayers;
            const std::int32_t* idx = layer->head(head);
            for (qint64 i = 0; i < layer->kept; ++i)
                if (idx[i] >= 0 && idx[i] < L) ++count[std::size_t(idx[i])];
        }
        if (m_sparseLayers > 0)
            for (qint64 t = 0; t < L; ++t)
                m_value[std::size_t(t)] = float(count[std::size_t(t)]);
        m_scale = AxisScale::linear(0, std::max(1, m_sparseLayers));
        break;
    }
    case TextMeasure::HeadPersistence: {
        const int heads = sel ? int(sel->qHeads) : 0;
        if (sel && sel->sparse) {
            std::vector<std::uint16_t> count(std::size_t(L), 0);
            for (int h = 0; h < heads; ++h) {
                const std::int32_t* idx = sel->head(h);
                for (qint64 i = 0; i < sel->kept; ++i)
                    if (idx[i] >= 0 && idx[i] < L) ++count[std::size_t(idx[i])];
            }
            for (qint64 t = 0; t < L; ++t)
                m_value[std::size_t(t)] = float(count[std::size_t(t)]);
        } else if (sel) {
            m_value.assign(std::size_t(L), float(heads));
        }
        m_scale = AxisScale::linear(0, std::max(1, heads));
        break;
    }
    }
    ++m_measureVersion;
}

double TextView::lineHeight() const {
    return std::ceil(QFontMetricsF(m_font).height() * 1.45);
}

TextView::Layout TextView::layoutFor(const QSize& size, bool onScreen) const {
    Layout l;
    const double w = size.width(), h = size.height();
    const double top = onScreen ? kControlsHeight : 0.0;
    l.title = QRectF(10, top, w - 20, style::kTitleHeight);
    l.legend = QRectF(10, top + style::kTitleHeight, w - 20, kLegendHeight);
    const double textTop = top + style::kTitleHeight + kLegendHeight + 8;
    const double right = continuousMeasure() ? style::kColourBarReserve : style::kRightPad;
    const double height = std::max(10.0, h - textTop - 10);
    l.minimap = QRectF(w - right - kMinimapWidth, textTop, kMinimapWidth - 10, height);
    l.text = QRectF(14, textTop, std::max(40.0, l.minimap.left() - 14 - 14), height);
    l.bar = QRectF(w - style::kColourBarReserve + 16, textTop, 14, height);
    return l;
}

const TextLayout& TextView::layoutForWidth(double width) const {
    // Two caches: the window's width and the last export's, so an export does not evict the screen's.
    auto& layout = m_paintingOnScreen ? m_layout : m_exportLayout;
    auto& cachedWidth = m_paintingOnScreen ? m_layoutWidth : m_exportLayoutWidth;
    auto& version = m_paintingOnScreen ? m_layoutDocVersion : m_exportLayoutDocVersion;
    if (!layout || cachedWidth != width || version != m_docVersion) {
        if (!layout) layout = std::make_unique<TextLayout>();
        layout->build(m_tokenWidth, m_tokenBreaks, width);
        cachedWidth = width;
        version = m_docVersion;
    }
    return *layout;
}

const TextLayout& TextView::screenLayout() const {
    m_paintingOnScreen = true;
    const TextLayout& layout = layoutForWidth(layoutFor(size(), true).text.width());
    m_paintingOnScreen = false;
    return layout;
}

int TextView::visibleLines() const {
    return std::max(1, int(layoutFor(size(), true).text.height() / lineHeight()));
}

void TextView::scrollToToken(qint64 token) {
    if (m_data.tokens <= 0) return;
    token = std::clamp<qint64>(token, 0, m_data.tokens - 1);
    const TextLayout& layout = screenLayout();
    const qint64 line = std::max<qint64>(0, layout.lineOf(token) - visibleLines() / 3);
    m_topToken = layout.lineBegin(line);
    update();
}

void TextView::scrollLines(qint64 lines) {
    if (m_data.tokens <= 0) return;
    const TextLayout& layout = screenLayout();
    const qint64 last = std::max<qint64>(0, layout.lineCount() - visibleLines());
    const qint64 line = std::clamp<qint64>(layout.lineOf(m_topToken) + lines, 0, last);
    // Blank lines start at the next token: step past them so the anchor moves.
    m_topToken = std::min<qint64>(layout.lineBegin(line), m_data.tokens - 1);
    update();
}

void TextView::scrollPages(int pages) {
    scrollLines(qint64(pages) * std::max(1, visibleLines() - 1));
}

void TextView::setSelectedPosition(qint64 position, bool scroll) {
    m_selected = position >= 0 && position < m_data.tokens ? position : -1;
    if (scroll && m_selected >= 0) {
        const TextLayout& layout = screenLayout();
        const qint64 top = layout.lineOf(m_topToken), line = layout.lineOf(m_selected);
        if (line < top || line >= top + visibleLines()) scrollToToken(m_selected);
    }
    update();
}

QString TextView::displayText(qint64 position) const {
    if (position < 0 || position >= qint64(m_docIndex.size())) return {};
    return displayOf(m_docIndex[std::size_t(position)]);
}

// ---- search

void TextView::buildSearchText() const {
    if (m_searchDocVersion == m_docVersion && !m_searchStart.empty()) return;
    const qint64 L = qint64(m_docIndex.size());
    std::vector<QString> search(m_distinct.size());
    qint64 size = 0;
    for (std::size_t i = 0; i < m_distinct.size(); ++i)
        search[i] = searchOf(std::int32_t(i));
    for (qint64 t = 0; t < L; ++t)
        size += search[std::size_t(m_docIndex[std::size_t(t)])].size();
    m_searchText.clear();
    m_searchText.reserve(size);
    m_searchStart.assign(std::size_t(L) + 1, 0);
    for (qint64 t = 0; t < L; ++t) {
        m_searchStart[std::size_t(t)] = m_searchText.size();
        m_searchText += search[std::size_t(m_docIndex[std::size_t(t)])];
    }
    m_searchStart[std::size_t(L)] = m_searchText.size();
    m_searchDocVersion = m_docVersion;
}

bool TextView::setSearch(const QString& pattern, bool regex) {
    m_matches.clear();
    m_currentMatch = -1;
    m_searchError.clear();
    update();
    if (pattern.isEmpty() || m_docIndex.empty()) return true;
    buildSearchText();
    auto tokenOf = [this](qint64 offset) {
        // Tokens with an empty search text share their offset with the next one: take the last token
        // starting at or before the offset that is not empty, i.e. the one holding the character.
        const auto it = std::upper_bound(m_searchStart.begin(), m_searchStart.end() - 1, offset);
        return std::max<qint64>(0, qint64(it - m_searchStart.begin()) - 1);
    };
    auto addMatch = [&](qint64 offset, qint64 length) {
        m_matches.emplace_back(tokenOf(offset), tokenOf(offset + std::max<qint64>(1, length) - 1));
    };
    if (regex) {
        const QRegularExpression re(pattern, QRegularExpression::UseUnicodePropertiesOption);
        if (!re.isValid()) {
            m_searchError = tr("bad expression: %1").arg(re.errorString());
            return false;
        }
        auto it = re.globalMatch(m_searchText);
        while (it.hasNext() && qint64(m_matches.size()) < kMaxMatches) {
            const QRegularExpressionMatch m = it.next();
            if (m.capturedLength() > 0) addMatch(m.capturedStart(), m.capturedLength());
        }
    } else {
        qsizetype from = 0;
        while (qint64(m_matches.size()) < kMaxMatches) {
            const qsizetype at = m_searchText.indexOf(pattern, from, Qt::CaseInsensitive);
            if (at < 0) break;
            addMatch(at, pattern.size());
            from = at + std::max<qsizetype>(1, pattern.size());
        }
    }
    return true;
}

std::vector<qint64> TextView::matchTokens() const {
    std::vector<qint64> out;
    for (const auto& m : m_matches)
        out.push_back(m.first);
    return out;
}

bool TextView::findNext() {
    if (m_matches.empty()) return false;
    if (m_currentMatch < 0) {
        // The first match at or after the top of the page.
        const auto it =
            std::lower_bound(m_matches.begin(), m_matches.end(), std::make_pair(m_topToken, qint64(-1)));
        m_currentMatch = it == m_matches.end() ? 0 : qint64(it - m_matches.begin());
    } else {
        m_currentMatch = (m_currentMatch + 1) % matchCount();
    }
    const qint64 t = m_matches[std::size_t(m_currentMatch)].first;
    setSelectedPosition(t, true);
    updateMatchLabel();
    emit tokenClicked(t);
    return true;
}

bool TextView::findPrevious() {
    if (m_matches.empty()) return false;
    m_currentMatch = m_currentMatch <= 0 ? matchCount() - 1 : m_currentMatch - 1;
    const qint64 t = m_matches[std::size_t(m_currentMatch)].first;
    setSelectedPosition(t, true);
    updateMatchLabel();
    emit tokenClicked(t);
    return true;
}

void TextView::updateMatchLabel() {
    if (!m_searchError.isEmpty())
        m_matchLabel->setText(m_searchError);
    else if (m_searchField->text().isEmpty())
        m_matchLabel->clear();
    else if (m_matches.empty())
        m_matchLabel->setText(tr("no match"));
    else if (m_currentMatch < 0)
        m_matchLabel->setText(tr("%1 matches").arg(fmt::integer(matchCount())));
    else
        m_matchLabel->setText(
            tr("%1 of %2").arg(fmt::integer(m_currentMatch + 1), fmt::integer(matchCount())));
}

// ---- colours and text

void TextView::tokenColours(qint64 t, QRgb* background, QRgb* text) const {
    const bool kept = m_kept[std::size_t(t)] != 0;
    const QRgb dark = style::text().rgb();
    *background = 0;
    *text = dark;
    if (m_measure == TextMeasure::Kept) {
        if (kept)
            *background = kKeptBackground;
        else
            *text = kDroppedText;
        return;
    }
    const float v = m_value[std::size_t(t)];
    if (std::isnan(v)) return;
    const QRgb c = ColourMap::byName(m_colourMap).rgbAt(m_scale.unitClamped(v));
    const bool scoreMeasure = m_measure == TextMeasure::HeadScore || m_measure == TextMeasure::LayerScore;
    if (scoreMeasure && !kept) {
        // Dropped tokens keep a hint of their score but read as faded.
        *background = mixToWhite(c, 0.25);
        *text = kDroppedText;
        return;
    }
    *background = c;
    *text = isDark(c) ? qRgb(255, 255, 255) : dark;
}

QString TextView::measureText(qint64 t) const {
    const bool window = t >= m_prefix;
    QString s = window ? QStringLiteral("window, always kept")
                       : (m_kept[std::size_t(t)] ? QStringLiteral("kept") : QStringLiteral("dropped"));
    const float v = m_value[std::size_t(t)];
    switch (m_measure) {
    case TextMeasure::Kept:
        break;
    case TextMeasure::HeadScore:
        if (!std::isnan(v)) s += QStringLiteral(", n_h %1").arg(fmt::value(v, 4));
        break;
    case TextMeasure::LayerScore:
        if (!std::isnan(v)) s += QStringLiteral(", G %1").arg(fmt::value(v, 4));
        break;
    case TextMeasure::LayerPersistence:
        if (!std::isnan(v))
            s += QStringLiteral(", kept in %1 of %2 sparse layers").arg(int(v)).arg(m_sparseLayers);
        break;
    case TextMeasure::HeadPersistence:
        if (!std::isnan(v))
            s += QStringLiteral(", kept by %1 of %2 heads").arg(int(v)).arg(int(std::lround(m_scale.hi)));
        break;
    }
    return s;
}

QString TextView::tokenLabel(qint64 t) const {
    QString s;
    if (const auto* ids = m_data.tokenIds.get(); ids && t < qint64(ids->size()))
        s += QStringLiteral("token id %1").arg((*ids)[std::size_t(t)]);
    if (const auto* strings = m_data.tokenStrings.get(); strings && t < qint64(strings->size())) {
        const std::string& raw = (*strings)[std::size_t(t)];
        const QString shown = searchOf(m_docIndex[std::size_t(t)]);
        const QString escaped = QString::fromStdString(tsa::escapedTokenText(raw));
        if (!s.isEmpty()) s += QStringLiteral("  ");
        s += QStringLiteral("\"%1\"").arg(escaped);
        if (m_encoding != tsa::TokenEncoding::Plain)
            s += QStringLiteral(" (%1: \"%2\")")
                     .arg(QString::fromLatin1(tsa::tokenEncodingName(m_encoding)),
                          QString::fromStdString(tsa::escapedTokenText(shown.toStdString())));
    }
    return s;
}

QString TextView::viewTitle() const {
    if (m_data.tokens <= 0) return QStringLiteral("Text");
    QString title = QStringLiteral("Text: layer %1, head %2").arg(m_data.layerId).arg(m_data.head);
    const tsa::Selection* sel = m_data.selection.get();
    if (!sel)
        title += QStringLiteral(", selecting…");
    else if (sel->sparse)
        title +=
            QStringLiteral(", kept %1 of %2 tokens (%3)")
                .arg(fmt::integer(sel->kept), fmt::integer(sel->tokens), fmt::percent(sel->keptFraction()));
    else
        title += QStringLiteral(", dense (%1)").arg(denseReasonLabel(sel->denseReason));
    title += QStringLiteral("; colour: %1").arg(measureName(m_measure));
    return title;
}

// ---- drawing

QImage TextView::minimapImage(const QSize& pixels, const TextLayout& layout) const {
    const int w = std::max(1, pixels.width()), h = std::max(1, pixels.height());
    QImage image(w, h, QImage::Format_RGB32);
    const qint64 lines = std::max<qint64>(1, layout.lineCount());
    const ColourMap& map = ColourMap::byName(m_colourMap);
    for (int y = 0; y < h; ++y) {
        // Row y covers lines [l0, l1): their kept share in the current head.
        const qint64 l0 = std::min(lines - 1, qint64(y) * lines / h);
        const qint64 l1 = std::max(l0 + 1, qint64(y + 1) * lines / h);
        const qint64 t0 = layout.lineBegin(l0), t1 = layout.lineEnd(std::min(lines, l1) - 1);
        QRgb c = style::missing().rgb();
        if (t1 > t0) {
            const double share =
                double(m_keptPrefix[std::size_t(t1)] - m_keptPrefix[std::size_t(t0)]) / double(t1 - t0);
            c = map.rgbAt(share);
        }
        auto* line = reinterpret_cast<QRgb*>(image.scanLine(y));
        std::fill(line, line + w, c);
    }
    return image;
}

void TextView::drawText(QPainter& painter, const QRectF& area, const TextLayout& layout,
                        qint64 topToken) const {
    const double lh = lineHeight();
    const QFontMetricsF fm(m_font);
    const double baseline = (lh - fm.height()) / 2 + fm.ascent();
    const qint64 firstLine = std::max<qint64>(0, layout.lineOf(topToken));
    const qint64 lines = qint64(std::ceil(area.height() / lh));
    const QRgb window = style::windowTokens().rgb();
    painter.save();
    painter.setClipRect(area);
    painter.setFont(m_font);
    // Matches that touch the visible range, found by binary search.
    const qint64 lastLine = std::min(layout.lineCount(), firstLine + lines);
    const qint64 firstVisible = firstLine < layout.lineCount() ? layout.lineBegin(firstLine) : 0;
    const qint64 lastVisible = lastLine > 0 ? layout.lineEnd(lastLine - 1) : 0;
    auto matchIt = std::lower_bound(m_matches.begin(), m_matches.end(), firstVisible,
                                    [](const auto& m, qint64 t) { return m.second < t; });
    for (qint64 i = 0; firstLine + i < lastLine; ++i) {
        const qint64 line = firstLine + i;
        const double y = area.top() + double(i) * lh;
        for (qint64 t = layout.lineBegin(line); t < layout.lineEnd(line); ++t) {
            const QRectF box(area.left() + layout.x(t), y + 1, layout.width(t), lh - 2);
            QRgb bg = 0, fg = 0;
            tokenColours(t, &bg, &fg);
            if (bg) painter.fillRect(box, QColor(bg));
            const Distinct& d = m_distinct[std::size_t(m_docIndex[std::size_t(t)])];
            painter.setPen(d.placeholder ? QColor(kDroppedText) : QColor(fg));
            const QString& shown = displayOf(m_docIndex[std::size_t(t)]);
            const QString& text =
                layout.clamped(t) ? fm.elidedText(shown, Qt::ElideRight, box.width()) : shown;
            painter.drawText(QPointF(box.left(), y + baseline), text);
            if (t >= m_prefix)
                painter.fillRect(QRectF(box.left(), box.bottom() - 2, box.width(), 2.5), QColor(window));
        }
    }
    // Search matches and the selected token on top.
    painter.setBrush(Qt::NoBrush);
    auto frame = [&](qint64 a, qint64 b, const QPen& pen) {
        for (qint64 t = std::max(a, firstVisible); t <= b && t < lastVisible; ++t) {
            const qint64 line = layout.lineOf(t);
            const double y = area.top() + double(line - firstLine) * lh;
            painter.setPen(pen);
            painter.drawRect(QRectF(area.left() + layout.x(t) + 0.5, y + 0.5, layout.width(t) - 1, lh - 1));
        }
    };
    for (auto it = matchIt; it != m_matches.end() && it->first < lastVisible; ++it) {
        const bool current = m_currentMatch >= 0 && it - m_matches.begin() == m_currentMatch;
        frame(it->first, it->second, QPen(QColor(kMatchColour), current ? 2.5 : 1.5));
    }
    if (m_selected >= firstVisible && m_selected < lastVisible)
        frame(m_selected, m_selected, QPen(style::highlight(), 2.5));
    painter.restore();
}

void TextView::paintEvent(QPaintEvent*) {
    QPainter painter(this);
    m_paintingOnScreen = true;
    render(painter, size());
    m_paintingOnScreen = false;
}

void TextView::resizeEvent(QResizeEvent* event) {
    m_controls->setGeometry(0, 0, width(), int(kControlsHeight));
    PlotView::resizeEvent(event);
}

void TextView::render(QPainter& painter, const QSize& size) const {
    painter.save();
    const QRectF all(0, 0, size.width(), size.height());
    style::fillBackground(painter, all);
    const bool onScreen = m_paintingOnScreen;
    const Layout l = layoutFor(size, onScreen);
    style::drawTitle(painter, l.title, viewTitle());
    if (m_data.tokens <= 0 || m_docIndex.empty()) {
        style::drawMessage(painter, l.text.united(l.minimap), QStringLiteral("No capture open"));
        painter.restore();
        return;
    }
    const TextLayout& layout = layoutForWidth(l.text.width());
    drawText(painter, l.text, layout, m_topToken);

    // Minimap, the visible lines outlined, match and selection ticks.
    const double scale = style::deviceScale(painter);
    const QSize pixels(std::max(1, int(std::lround(l.minimap.width() * scale))),
                       std::max(1, int(std::lround(l.minimap.height() * scale))));
    const quint64 key[3] = {m_measureVersion, m_docVersion,
                            quint64(layout.lineCount()) * 4096u + quint64(pixels.height())};
    if (!onScreen || m_minimap.size() != pixels || !std::equal(key, key + 3, m_minimapKey)) {
        QImage image = minimapImage(pixels, layout);
        if (!onScreen) {
            painter.drawImage(l.minimap, image);
        } else {
            m_minimap = std::move(image);
            std::copy(key, key + 3, m_minimapKey);
        }
    }
    if (onScreen) painter.drawImage(l.minimap, m_minimap);
    const double lines = double(std::max<qint64>(1, layout.lineCount()));
    auto yOfLine = [&](double line) { return l.minimap.top() + line / lines * l.minimap.height(); };
    painter.setPen(QPen(QColor(kMatchColour), 1.0));
    const int tickStride = std::max<int>(1, int(m_matches.size() / 4000));
    for (std::size_t i = 0; i < m_matches.size(); i += std::size_t(tickStride)) {
        const double y = yOfLine(double(layout.lineOf(m_matches[i].first)) + 0.5);
        painter.drawLine(QPointF(l.minimap.left() - 5, y), QPointF(l.minimap.left() - 1, y));
    }
    if (m_selected >= 0) {
        const double y = yOfLine(double(layout.lineOf(m_selected)) + 0.5);
        painter.setPen(QPen(style::highlight(), 2.0));
        painter.drawLine(QPointF(l.minimap.left() - 6, y), QPointF(l.minimap.right(), y));
    }
    const double topLine = double(layout.lineOf(m_topToken));
    const double shown = std::floor(l.text.height() / lineHeight());
    painter.setPen(QPen(style::text(), 1.5));
    painter.setBrush(Qt::NoBrush);
    painter.drawRect(QRectF(l.minimap.left() - 1, yOfLine(topLine), l.minimap.width() + 2,
                            std::max(3.0, yOfLine(topLine + shown) - yOfLine(topLine))));
    painter.setPen(QPen(style::axis(), 1.0));
    painter.drawRect(l.minimap);
    painter.setPen(QPen(style::axis(), 1.0));
    painter.drawRect(l.text.adjusted(-4, -2, 4, 2));

    // Legend and colour bar.
    const ColourMap& map = ColourMap::byName(m_colourMap);
    std::vector<LegendItem> items;
    if (m_measure == TextMeasure::Kept) {
        items.push_back({QColor(kKeptBackground), QStringLiteral("kept"), LegendItem::Shape::Box});
        items.push_back(
            {QColor(kDroppedText), QStringLiteral("dropped (faded text)"), LegendItem::Shape::Line});
    } else if (m_measure == TextMeasure::HeadScore || m_measure == TextMeasure::LayerScore) {
        items.push_back({QColor(mixToWhite(map.rgbAt(0.6), 0.25)), QStringLiteral("dropped (faded)"),
                         LegendItem::Shape::Box});
    }
    items.push_back(
        {style::windowTokens(), QStringLiteral("window (always kept)"), LegendItem::Shape::ThickLine});
    items.push_back({style::highlight(), QStringLiteral("selected"), LegendItem::Shape::Line});
    if (!m_matches.empty())
        items.push_back({QColor(kMatchColour), QStringLiteral("match"), LegendItem::Shape::Line});
    items.push_back({map.colourAt(0.8), QStringLiteral("minimap: kept share"), LegendItem::Shape::Box});
    drawLegend(painter, l.legend.topLeft(), items, true);
    if (continuousMeasure()) {
        QString title;
        TickStyle ticks = TickStyle::Number;
        switch (m_measure) {
        case TextMeasure::HeadScore:
            title = QStringLiteral("normalised score n_h (log)");
            break;
        case TextMeasure::LayerScore:
            title = QStringLiteral("layer score G (log)");
            break;
        case TextMeasure::LayerPersistence:
            title = QStringLiteral("sparse layers keeping it");
            ticks = TickStyle::Integer;
            break;
        default:
            title = QStringLiteral("heads keeping it");
            ticks = TickStyle::Integer;
            break;
        }
        drawColourBar(painter, l.bar, map, m_scale, title, ticks);
    }
    painter.restore();
}

// ---- hit-testing, tooltips, interaction

qint64 TextView::tokenAt(const QPoint& pos) const {
    const Layout l = layoutFor(size(), true);
    if (m_docIndex.empty() || !l.text.contains(pos)) return -1;
    const TextLayout& layout = screenLayout();
    const qint64 line = layout.lineOf(m_topToken) + qint64((pos.y() - l.text.top()) / lineHeight());
    return layout.tokenAt(line, pos.x() - l.text.left());
}

QString TextView::toolTipAt(const QPoint& pos) const {
    const Layout l = layoutFor(size(), true);
    if (!m_docIndex.empty() && l.minimap.adjusted(-6, 0, 0, 0).contains(pos)) {
        const TextLayout& layout = screenLayout();
        const qint64 lines = layout.lineCount();
        const qint64 line = std::clamp<qint64>(
            qint64((pos.y() - l.minimap.top()) / l.minimap.height() * double(lines)), 0, lines - 1);
        const qint64 t0 = layout.lineBegin(line), t1 = std::max(t0 + 1, layout.lineEnd(line));
        return QStringLiteral("minimap: line %1 of %2, positions %3–%4\nclick or drag to jump")
            .arg(fmt::integer(line + 1), fmt::integer(lines), fmt::integer(t0), fmt::integer(t1 - 1));
    }
    const qint64 t = tokenAt(pos);
    if (t < 0) return {};
    QString text = QStringLiteral("position %1 of %2").arg(fmt::integer(t), fmt::integer(m_data.tokens));
    const QString label = tokenLabel(t);
    if (!label.isEmpty()) text += QStringLiteral("\n") + label;
    text += QStringLiteral("\nlayer %1, head %2 (kv %3): %4")
                .arg(m_data.layerId)
                .arg(m_data.head)
                .arg(m_data.head / std::max(1, m_data.groupSize))
                .arg(measureText(t));
    const tsa::LayerScores* scores = m_data.scores.get();
    if (scores && t < scores->prefix && m_data.head < scores->qHeads &&
        qint64(scores->headNorm.size()) >= qint64(scores->qHeads) * scores->prefix) {
        text += QStringLiteral("\nn_h = %1").arg(fmt::value(scores->headScores(m_data.head)[t], 5));
        if (qint64(scores->headRank.size()) >= qint64(scores->qHeads) * scores->prefix) {
            const std::int32_t* order = scores->headOrder(m_data.head);
            const auto it = std::find(order, order + scores->prefix, std::int32_t(t));
            text += QStringLiteral(", rank %1 of %2 in head %3")
                        .arg(fmt::integer(qint64(it - order) + 1), fmt::integer(scores->prefix))
                        .arg(m_data.head);
        }
        if (qint64(scores->layerNorm.size()) > t)
            text += QStringLiteral("; G = %1").arg(fmt::value(scores->layerNorm[std::size_t(t)], 5));
    }
    // Kept in which sparse layers (by this head).
    QStringList kept, dropped;
    for (std::size_t i = 0; i < m_data.layers.size(); ++i) {
        const auto& sel = m_data.layers[i];
        if (!sel || !sel->sparse || m_data.head >= sel->qHeads) continue;
        const std::int32_t* idx = sel->head(m_data.head);
        const QString id = QString::number(i < m_data.layerIds.size() ? m_data.layerIds[i] : int(i));
        (std::binary_search(idx, idx + sel->kept, std::int32_t(t)) ? kept : dropped) << id;
    }
    if (!kept.isEmpty() || !dropped.isEmpty()) {
        text += QStringLiteral("\nkept by head %1 in sparse layers: %2 (%3 of %4)")
                    .arg(m_data.head)
                    .arg(kept.isEmpty() ? QStringLiteral("none") : kept.join(QStringLiteral(", ")))
                    .arg(kept.size())
                    .arg(kept.size() + dropped.size());
        if (!dropped.isEmpty())
            text += QStringLiteral("; dropped in %1").arg(dropped.join(QStringLiteral(", ")));
    }
    return text;
}

void TextView::jumpFromMinimap(const QPointF& pos) {
    const Layout l = layoutFor(size(), true);
    const TextLayout& layout = screenLayout();
    const double f = std::clamp((pos.y() - l.minimap.top()) / l.minimap.height(), 0.0, 1.0);
    const qint64 line = std::clamp<qint64>(qint64(f * double(layout.lineCount())) - visibleLines() / 2, 0,
                                           std::max<qint64>(0, layout.lineCount() - visibleLines()));
    m_topToken = std::min<qint64>(layout.lineBegin(line), std::max<qint64>(0, m_data.tokens - 1));
    update();
}

void TextView::wheelEvent(QWheelEvent* event) {
    // Three lines per notch (120 eighths of a degree), as text editors scroll.
    const int delta = event->angleDelta().y();
    if (delta != 0) scrollLines(-qint64(std::lround(delta / 40.0)));
    event->accept();
}

void TextView::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return PlotView::mousePressEvent(event);
    const Layout l = layoutFor(size(), true);
    if (l.minimap.adjusted(-6, 0, 0, 0).contains(event->position())) {
        m_draggingMinimap = true;
        jumpFromMinimap(event->position());
    }
}

void TextView::mouseMoveEvent(QMouseEvent* event) {
    if (m_draggingMinimap) jumpFromMinimap(event->position());
}

void TextView::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return PlotView::mouseReleaseEvent(event);
    if (m_draggingMinimap) {
        m_draggingMinimap = false;
        return;
    }
    const qint64 t = tokenAt(event->pos());
    if (t >= 0) {
        setSelectedPosition(t, false);
        emit tokenClicked(t);
    }
}

void TextView::keyPressEvent(QKeyEvent* event) {
    if (event->matches(QKeySequence::Find)) {
        m_searchField->setFocus();
        m_searchField->selectAll();
        return;
    }
    switch (event->key()) {
    case Qt::Key_Down:
        scrollLines(1);
        return;
    case Qt::Key_Up:
        scrollLines(-1);
        return;
    case Qt::Key_Space:
        scrollPages(event->modifiers() & Qt::ShiftModifier ? -1 : 1);
        return;
    case Qt::Key_Home:
        m_topToken = 0;
        update();
        return;
    case Qt::Key_End:
        scrollLines(std::numeric_limits<int>::max() / 2);
        return;
    case Qt::Key_F3:
        (event->modifiers() & Qt::ShiftModifier) ? findPrevious() : findNext();
        return;
    default:
        PlotView::keyPressEvent(event);
    }
}

// ---- export

QString TextView::csv() const {
    CsvWriter out;
    out.row({"layer_id", "head", "position", "token_id", "token", "kept", "window", "n_h", "G",
             "sparse_layers_keeping", "sparse_layers", "heads_keeping", "heads"});
    const qint64 L = qint64(m_docIndex.size());
    const auto* ids = m_data.tokenIds.get();
    const auto* strings = m_data.tokenStrings.get();
    const tsa::LayerScores* scores = m_data.scores.get();
    const bool hasHead = scores && m_data.head < scores->qHeads &&
                         qint64(scores->headNorm.size()) >= qint64(scores->qHeads) * scores->prefix;
    // Persistence counts for every token, whatever the shown measure.
    std::vector<int> layersKeeping(std::size_t(L), 0), headsKeeping(std::size_t(L), 0);
    int sparseLayers = 0;
    for (const auto& sel : m_data.layers) {
        if (!sel || !sel->sparse || m_data.head >= sel->qHeads) continue;
        ++sparseLayers;
        const std::int32_t* idx = sel->head(m_data.head);
        for (qint64 i = 0; i < sel->kept; ++i)
            if (idx[i] >= 0 && idx[i] < L) ++layersKeeping[std::size_t(idx[i])];
    }
    const tsa::Selection* sel = m_data.selection.get();
    const int heads = sel ? int(sel->qHeads) : 0;
    if (sel && sel->sparse)
        for (int h = 0; h < heads; ++h)
            for (qint64 i = 0; i < sel->kept; ++i)
                if (sel->head(h)[i] >= 0 && sel->head(h)[i] < L) ++headsKeeping[std::size_t(sel->head(h)[i])];
    for (qint64 t = 0; t < L; ++t) {
        const bool scored = scores && t < scores->prefix;
        out.row(
            {QString::number(m_data.layerId), QString::number(m_data.head), QString::number(t),
             ids && t < qint64(ids->size()) ? QString::number((*ids)[std::size_t(t)]) : QString(),
             strings && t < qint64(strings->size())
                 ? QString::fromStdString(tsa::escapedTokenText((*strings)[std::size_t(t)]))
                 : QString(),
             QString::number(int(m_kept[std::size_t(t)])), QString::number(int(t >= m_prefix)),
             fmt::csvValue(scored && hasHead ? scores->headScores(m_data.head)[t] : NAN),
             fmt::csvValue(scored && qint64(scores->layerNorm.size()) > t ? scores->layerNorm[std::size_t(t)]
                                                                          : NAN),
             QString::number(layersKeeping[std::size_t(t)]), QString::number(sparseLayers),
             QString::number(sel && !sel->sparse ? heads : headsKeeping[std::size_t(t)]),
             QString::number(heads)});
    }
    return out.text();
}

QString TextView::html() const {
    QString out;
    const qint64 L = qint64(m_docIndex.size());
    out.reserve(int(std::min<qint64>(L * 90 + 4096, qint64(1) << 30)));
    const QString title = htmlEscape(viewTitle());
    out += QStringLiteral("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>");
    out += title;
    out += QStringLiteral(
        "</title>\n<style>\n"
        "body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:24px 32px;color:#202020;background:#fff}\n"
        "h1{font-size:16px}\n.legend{font-size:13px;margin-bottom:14px}\n"
        ".legend span{padding:1px 6px;margin-right:10px}\n"
        ".text{white-space:pre-wrap;word-wrap:break-word;font-size:15px;line-height:1.75;max-width:1100px}\n"
        ".k{background:#cee0f4}\n.d{color:#acacac}\n.w{border-bottom:2px solid #f08c00}\n.e{color:#acacac}\n"
        "</style>\n</head>\n<body>\n<h1>");
    out += title;
    out += QStringLiteral("</h1>\n<div class=\"legend\">");
    if (m_measure == TextMeasure::Kept)
        out += QStringLiteral("<span class=\"k\">kept</span><span class=\"d\">dropped</span>");
    else
        out += QStringLiteral("<span>colour: %1 (%2 %3 to %4); hover a token for its value</span>")
                   .arg(htmlEscape(measureName(m_measure)), m_scale.log ? QStringLiteral("log,") : QString(),
                        fmt::value(m_scale.lo), fmt::value(m_scale.hi));
    out += QStringLiteral("<span class=\"w\">window (always kept)</span></div>\n<div class=\"text\">");
    for (qint64 t = 0; t < L; ++t) {
        const Distinct& d = m_distinct[std::size_t(m_docIndex[std::size_t(t)])];
        QStringList classes;
        QString style;
        if (m_measure == TextMeasure::Kept) {
            classes << (m_kept[std::size_t(t)] ? QStringLiteral("k") : QStringLiteral("d"));
        } else {
            QRgb bg = 0, fg = 0;
            tokenColours(t, &bg, &fg);
            if (bg) style = QStringLiteral("background:%1;color:%2").arg(hexColour(bg), hexColour(fg));
        }
        if (t >= m_prefix) classes << QStringLiteral("w");
        if (d.placeholder) classes << QStringLiteral("e");
        out += QStringLiteral("<span");
        if (!classes.isEmpty()) out += QStringLiteral(" class=\"%1\"").arg(classes.join(QLatin1Char(' ')));
        if (!style.isEmpty()) out += QStringLiteral(" style=\"%1\"").arg(style);
        out += QStringLiteral(" title=\"%1: %2\">").arg(t).arg(htmlEscape(measureText(t)));
        out += htmlEscape(displayOf(m_docIndex[std::size_t(t)]));
        out += QStringLiteral("</span>");
        for (int b = 0; b < std::min<int>(d.breaks, 2); ++b)
            out += QLatin1Char('\n');
    }
    out += QStringLiteral("</div>\n</body>\n</html>\n");
    return out;
}

} // namespace tsa::views
