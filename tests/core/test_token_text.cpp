// Token strings for display: marker decoding per tokenizer family, newlines and controls, invalid UTF-8
// from split characters, right-to-left and combining text passed through, escaping for tooltips.
#include "core/io/token_text.h"

#include <gtest/gtest.h>

using namespace tsa;

namespace {

const std::string kArrow = "\xE2\x86\xB5";       // ↵
const std::string kReplacement = "\xEF\xBF\xBD"; // U+FFFD
const std::string kEmpty = "\xE2\x88\x85";       // ∅

} // namespace

TEST(TokenText, PlainTextPassesThrough) {
    const DisplayToken d = displayToken(" the", TokenEncoding::Plain);
    EXPECT_EQ(d.text, " the");
    EXPECT_EQ(d.lineBreaks, 0);
    EXPECT_FALSE(d.placeholder);
    EXPECT_FALSE(d.replaced);
}

TEST(TokenText, ByteLevelMarkersDecode) {
    // "Ġthe" = " the"; "Ċ" = newline; "ĉ" = tab; "Ã©" = the two bytes of "é".
    EXPECT_EQ(displayToken("\xC4\xA0the", TokenEncoding::ByteLevel).text, " the");
    const DisplayToken nl = displayToken("\xC4\x8A", TokenEncoding::ByteLevel);
    EXPECT_EQ(nl.text, kArrow);
    EXPECT_EQ(nl.lineBreaks, 1);
    EXPECT_EQ(displayToken("\xC4\x89x", TokenEncoding::ByteLevel).text, "\xE2\x86\x92x");
    EXPECT_EQ(displayToken("caf\xC3\x83\xC2\xA9", TokenEncoding::ByteLevel).text, "caf\xC3\xA9");
    // Special tokens in ASCII are their own bytes.
    EXPECT_EQ(displayToken("<|begin_of_text|>", TokenEncoding::ByteLevel).text, "<|begin_of_text|>");
    // A token outside the byte alphabet is shown as written rather than mangled.
    EXPECT_EQ(displayToken("\xE2\x96\x81x", TokenEncoding::ByteLevel).text, "\xE2\x96\x81x");
}

TEST(TokenText, ByteLevelSplitCharacterIsReplaced) {
    // "€" is E2 82 AC; a tokenizer may put E2 in one token and 82 AC in the next. In the byte alphabet
    // 0xE2 is "â" (U+00E2), 0x82 is U+0122 ("Ģ"), 0xAC is "¬" (U+00AC).
    const DisplayToken first = displayToken("\xC3\xA2", TokenEncoding::ByteLevel);
    EXPECT_EQ(first.text, kReplacement);
    EXPECT_TRUE(first.replaced);
    const DisplayToken second = displayToken("\xC4\xA2\xC2\xAC", TokenEncoding::ByteLevel);
    EXPECT_EQ(second.text, kReplacement + kReplacement);
}

TEST(TokenText, SentencePieceMarkersAndByteTokens) {
    EXPECT_EQ(displayToken("\xE2\x96\x81Once", TokenEncoding::SentencePiece).text, " Once");
    const DisplayToken nl = displayToken("<0x0A>", TokenEncoding::SentencePiece);
    EXPECT_EQ(nl.text, kArrow);
    EXPECT_EQ(nl.lineBreaks, 1);
    EXPECT_EQ(displayToken("<0x41><0x42>", TokenEncoding::SentencePiece).text, "AB");
    // A lone lead byte of a multi-byte character.
    EXPECT_EQ(displayToken("<0xE2>", TokenEncoding::SentencePiece).text, kReplacement);
    // Not a byte token: kept.
    EXPECT_EQ(displayToken("<0xZZ>", TokenEncoding::SentencePiece).text, "<0xZZ>");
    EXPECT_EQ(searchableTokenText("\xE2\x96\x81\xE2\x96\x81x", TokenEncoding::SentencePiece), "  x");
}

TEST(TokenText, NewlinesAndControls) {
    const DisplayToken two = displayToken(".\n\n", TokenEncoding::Plain);
    EXPECT_EQ(two.text, "." + kArrow + kArrow);
    EXPECT_EQ(two.lineBreaks, 2);
    EXPECT_EQ(displayToken("\r\n", TokenEncoding::Plain).lineBreaks, 1);
    EXPECT_EQ(displayToken("\r\n", TokenEncoding::Plain).text, kArrow);
    EXPECT_EQ(displayToken(std::string("a\0b", 3), TokenEncoding::Plain).text, "a\xE2\x90\x80"
                                                                               "b"); // ␀
    EXPECT_EQ(displayToken("\x1B", TokenEncoding::Plain).text, "\xE2\x90\x9B");      // ␛
    EXPECT_EQ(displayToken("\x7F", TokenEncoding::Plain).text, "\xE2\x90\xA1");      // ␡
    EXPECT_EQ(displayToken("\xC2\x85", TokenEncoding::Plain).text, "<U+0085>");      // NEL
    // A right-to-left override would reorder everything drawn after it: shown as a label instead.
    EXPECT_EQ(displayToken("a\xE2\x80\xAE"
                           "b",
                           TokenEncoding::Plain)
                  .text,
              "a<U+202E>b");
    // Search text keeps the characters a person types.
    EXPECT_EQ(searchableTokenText("a\nb\tc", TokenEncoding::Plain), "a\nb\tc");
}

TEST(TokenText, EmptyTokenGetsAPlaceholder) {
    const DisplayToken d = displayToken("", TokenEncoding::Plain);
    EXPECT_EQ(d.text, kEmpty);
    EXPECT_TRUE(d.placeholder);
    EXPECT_EQ(searchableTokenText("", TokenEncoding::Plain), "");
}

TEST(TokenText, RightToLeftAndCombiningPassThrough) {
    const std::string hebrew = "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D";          // שלום
    const std::string combining = "e\xCC\x81";                              // e + COMBINING ACUTE
    const std::string arabic = " \xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7"; // " مرحبا"
    EXPECT_EQ(displayToken(hebrew, TokenEncoding::Plain).text, hebrew);
    EXPECT_EQ(displayToken(combining, TokenEncoding::Plain).text, combining);
    EXPECT_EQ(displayToken(arabic, TokenEncoding::Plain).text, arabic);
    // A token that is only a combining mark (split from its base letter) stays a mark.
    EXPECT_EQ(displayToken("\xCC\x81", TokenEncoding::Plain).text, "\xCC\x81");
}

TEST(TokenText, InvalidUtf8IsReplacedPerByte) {
    EXPECT_EQ(displayToken("\xFF", TokenEncoding::Plain).text, kReplacement);
    EXPECT_EQ(displayToken("a\xC3", TokenEncoding::Plain).text, "a" + kReplacement);             // truncated
    EXPECT_EQ(displayToken("\xC0\xAF", TokenEncoding::Plain).text, kReplacement + kReplacement); // overlong
    EXPECT_EQ(displayToken("\xED\xA0\x80", TokenEncoding::Plain).text,
              kReplacement + kReplacement + kReplacement); // a UTF-16 surrogate
    EXPECT_EQ(displayToken("\xF4\x90\x80\x80", TokenEncoding::Plain).text.find("\xF4"),
              std::string::npos); // above U+10FFFF
    EXPECT_TRUE(displayToken("\x80", TokenEncoding::Plain).replaced);
}

TEST(TokenText, EscapedForTooltips) {
    EXPECT_EQ(escapedTokenText("\xC4\xA0the"), "\xC4\xA0the");
    EXPECT_EQ(escapedTokenText("a\nb\t\"\\"), "a\\nb\\t\\\"\\\\");
    EXPECT_EQ(escapedTokenText("\xE2"), "\\xe2");
    EXPECT_EQ(escapedTokenText(std::string("\0", 1)), "\\x00");
    EXPECT_EQ(escapedTokenText("\xE2\x80\xAE"), "<U+202E>");
}

TEST(TokenText, DetectsTheEncoding) {
    EXPECT_EQ(detectTokenEncoding({"<|begin_of_text|>", "The",
                                   "\xC4\xA0"
                                   "cat",
                                   "\xC4\xA0sat", "."}),
              TokenEncoding::ByteLevel);
    EXPECT_EQ(detectTokenEncoding({"<s>", "\xE2\x96\x81Once", "\xE2\x96\x81upon", "<0x0A>"}),
              TokenEncoding::SentencePiece);
    EXPECT_EQ(detectTokenEncoding({"<s>", " Once", " upon", "\n"}), TokenEncoding::Plain);
    EXPECT_EQ(detectTokenEncoding({}), TokenEncoding::Plain);
    // Decoded text that happens to contain "Ġ" among characters outside the byte alphabet is not
    // byte-level.
    EXPECT_EQ(detectTokenEncoding({"\xC4\xA0", " \xE2\x82\xAC", " x"}), TokenEncoding::Plain);
}

TEST(TokenText, AsciiFastPathAgreesWithTheGeneralPath) {
    // searchableTokenText always takes the general path; for tokens without newlines, tabs or controls
    // its text equals what display shows.
    const std::vector<std::pair<std::string, TokenEncoding>> cases = {
        {" the", TokenEncoding::Plain},
        {"<|endoftext|>", TokenEncoding::Plain},
        {"\xC4\xA0the", TokenEncoding::ByteLevel},
        {"a\xC4\xA0"
         "b\xC4\xA0",
         TokenEncoding::ByteLevel},
        {" spaced", TokenEncoding::ByteLevel}, // a plain space is outside the byte alphabet
        {"\xE2\x96\x81Once", TokenEncoding::SentencePiece},
        {"x<0x41>", TokenEncoding::SentencePiece},
        {"<0x", TokenEncoding::SentencePiece},
        {"~!{}", TokenEncoding::SentencePiece},
    };
    for (const auto& [raw, encoding] : cases) {
        const DisplayToken d = displayToken(raw, encoding);
        EXPECT_EQ(d.text, searchableTokenText(raw, encoding)) << raw;
        EXPECT_EQ(d.lineBreaks, 0) << raw;
        EXPECT_FALSE(d.replaced) << raw;
    }
}

namespace {

// Whether s is well-formed UTF-8 holding no C0 control, DEL or C1 control.
bool validAndVisible(const std::string& s) {
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        int len = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || i + std::size_t(len) > s.size()) return false;
        char32_t cp = len == 1 ? b : b & (0x7F >> len);
        for (int k = 1; k < len; ++k) {
            const auto c = static_cast<unsigned char>(s[i + std::size_t(k)]);
            if ((c & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (c & 0x3F);
        }
        if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += std::size_t(len);
    }
    return true;
}

} // namespace

TEST(TokenText, ArbitraryBytesGiveValidVisibleText) {
    // Random byte strings biased toward the interesting bytes (markers, lead and continuation bytes,
    // controls): whatever a tokenizer stores, display text is valid UTF-8 without controls, never empty.
    std::uint64_t state = 12345;
    auto next = [&state] {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        return std::uint32_t(state >> 33);
    };
    const unsigned char interesting[] = {0x00, 0x0A, 0x0D, 0x09, 0x1B, 0x7F, 0x80, 0xBF,
                                         0xC0, 0xC2, 0xC4, 0xA0, 0xE2, 0x96, 0x81, 0xED,
                                         0xF0, 0xF4, 0xFF, '<',  '0',  'x',  'A',  '>'};
    for (int n = 0; n < 20000; ++n) {
        std::string raw;
        const int len = int(next() % 12);
        for (int k = 0; k < len; ++k)
            raw += char(next() % 2 ? interesting[next() % sizeof(interesting)] : next() % 256);
        for (auto encoding : {TokenEncoding::Plain, TokenEncoding::ByteLevel, TokenEncoding::SentencePiece}) {
            const DisplayToken d = displayToken(raw, encoding);
            ASSERT_FALSE(d.text.empty());
            ASSERT_TRUE(validAndVisible(d.text)) << escapedTokenText(raw);
            ASSERT_TRUE(validAndVisible(escapedTokenText(raw))) << escapedTokenText(raw);
        }
    }
}
