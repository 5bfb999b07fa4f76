// Token strings for display: printable ASCII with at most the encoding's space marker takes a one-pass
// fast path (one allocation: the output); otherwise, per token, undo the tokenizer's markers (byte-level
// BPE byte alphabet, SentencePiece "▁" and "<0xNN>" byte pieces) into an intermediate byte string, then
// walk its UTF-8 once, replacing invalid bytes by U+FFFD and controls by visible stand-ins. Input: one
// raw token string of n bytes; cost O(n). Encoding detection looks at a bounded sample of the document's
// tokens (O(sample x token length)).
#include "core/io/token_text.h"

#include <array>

namespace tsa {

namespace {

constexpr char32_t kInvalid = 0xFFFFFFFF;

// Decodes one code point at s[i]; advances i. Returns kInvalid (and advances one byte) for a byte that
// does not start a well-formed sequence (overlong forms, surrogates and values above U+10FFFF included).
char32_t nextCodePoint(std::string_view s, std::size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    int len = 0;
    char32_t cp = 0, min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1F;
        min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0F;
        min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07;
        min = 0x10000;
    } else {
        ++i;
        return kInvalid;
    }
    if (i + std::size_t(len) > s.size()) {
        ++i;
        return kInvalid;
    }
    for (int k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + std::size_t(k)]);
        if ((b & 0xC0) != 0x80) {
            ++i;
            return kInvalid;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        ++i;
        return kInvalid;
    }
    i += std::size_t(len);
    return cp;
}

void appendUtf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

// The GPT-2 byte alphabet: bytes that are printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for
// themselves; the other 68 bytes, in ascending order, are written as U+0100, U+0101, ... Returns the
// code point -> byte inverse, -1 for code points outside the alphabet.
const std::array<int, 324>& byteLevelInverse() {
    static const std::array<int, 324> table = [] {
        std::array<int, 324> t{};
        t.fill(-1);
        int next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            t[std::size_t(printable ? b : next++)] = b;
        }
        return t;
    }();
    return table;
}

int byteLevelByte(char32_t cp) {
    return cp < 324 ? byteLevelInverse()[cp] : -1;
}

// Raw token -> the bytes of the text it stands for (may be invalid UTF-8: a split character).
std::string decodeMarkers(std::string_view raw, TokenEncoding encoding) {
    std::string out;
    out.reserve(raw.size());
    if (encoding == TokenEncoding::ByteLevel) {
        // Every code point must be in the alphabet; a token that is not (a special token with other
        // characters) is kept as written.
        std::string bytes;
        for (std::size_t i = 0; i < raw.size();) {
            const char32_t cp = nextCodePoint(raw, i);
            const int b = cp == kInvalid ? -1 : byteLevelByte(cp);
            if (b < 0) return std::string(raw);
            bytes += char(b);
        }
        return bytes;
    }
    if (encoding == TokenEncoding::SentencePiece) {
        for (std::size_t i = 0; i < raw.size();) {
            if (raw.compare(i, 3, "\xE2\x96\x81") == 0) { // U+2581 LOWER ONE EIGHTH BLOCK: a space
                out += ' ';
                i += 3;
                continue;
            }
            if (raw.size() - i >= 6 && raw.compare(i, 3, "<0x") == 0 && raw[i + 5] == '>') {
                auto hex = [](char c) {
                    if (c >= '0' && c <= '9') return c - '0';
                    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                    return -1;
                };
                const int hi = hex(raw[i + 3]), lo = hex(raw[i + 4]);
                if (hi >= 0 && lo >= 0) {
                    out += char(hi * 16 + lo);
                    i += 6;
                    continue;
                }
            }
            out += raw[i++];
        }
        return out;
    }
    return std::string(raw);
}

bool isBidiControl(char32_t cp) {
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E || cp == 0x200F ||
           cp == 0x061C;
}

void appendCodeLabel(std::string& out, char32_t cp) {
    static const char* digits = "0123456789ABCDEF";
    out += "<U+";
    for (int shift = 12; shift >= 0; shift -= 4)
        out += digits[(cp >> shift) & 0xF];
    out += '>';
}

// One pass over decoded bytes. forSearch keeps '\n' and '\t' as themselves (what a person types into a
// search) and produces no placeholder.
DisplayToken render(const std::string& decoded, bool forSearch) {
    DisplayToken d;
    d.text.reserve(decoded.size() + 2);
    const std::string_view s(decoded);
    for (std::size_t i = 0; i < s.size();) {
        const char32_t cp = nextCodePoint(s, i);
        if (cp == kInvalid) {
            appendUtf8(d.text, 0xFFFD);
            d.replaced = true;
        } else if (cp == '\n') {
            ++d.lineBreaks;
            forSearch ? d.text += '\n' : d.text += "\xE2\x86\xB5"; // ↵
        } else if (cp == '\r') {
            if (i < s.size() && s[i] == '\n') continue;            // CR LF is one line break
            forSearch ? d.text += '\r' : d.text += "\xE2\x90\x8D"; // ␍
        } else if (cp == '\t') {
            forSearch ? d.text += '\t' : d.text += "\xE2\x86\x92"; // →
        } else if (cp < 0x20) {
            appendUtf8(d.text, 0x2400 + cp); // control pictures ␀ .. ␟
        } else if (cp == 0x7F) {
            appendUtf8(d.text, 0x2421); // ␡
        } else if ((cp >= 0x80 && cp <= 0x9F) || isBidiControl(cp)) {
            // C1 controls have no glyph; a bidi override would reorder the text drawn after it.
            appendCodeLabel(d.text, cp);
        } else {
            appendUtf8(d.text, cp);
        }
    }
    if (d.text.empty() && !forSearch) {
        d.text = "\xE2\x88\x85"; // ∅
        d.placeholder = true;
    }
    return d;
}

bool contains(std::string_view s, std::string_view what) {
    return s.find(what) != std::string_view::npos;
}

// Most tokens are printable ASCII plus at most the encoding's space marker: one pass, one allocation.
// Returns false (out untouched) when the token needs the general path.
bool asciiFastPath(std::string_view raw, TokenEncoding encoding, std::string& out) {
    if (raw.empty()) return false;
    out.reserve(raw.size());
    for (std::size_t i = 0; i < raw.size(); ++i) {
        const auto b = static_cast<unsigned char>(raw[i]);
        if (b >= 0x20 && b < 0x7F) {
            // A space is itself in plain text and SentencePiece; byte-level writes it as "Ġ". A possible
            // byte piece "<0x" takes the general path.
            if (encoding == TokenEncoding::ByteLevel && b == ' ') return false;
            if (encoding == TokenEncoding::SentencePiece && b == '<' && raw.compare(i, 3, "<0x") == 0)
                return false;
            out += char(b);
        } else if (encoding == TokenEncoding::ByteLevel && raw.compare(i, 2, "\xC4\xA0") == 0) {
            out += ' ';
            ++i;
        } else if (encoding == TokenEncoding::SentencePiece && raw.compare(i, 3, "\xE2\x96\x81") == 0) {
            out += ' ';
            i += 2;
        } else {
            out.clear();
            return false;
        }
    }
    return true;
}

} // namespace

const char* tokenEncodingName(TokenEncoding encoding) {
    switch (encoding) {
    case TokenEncoding::Plain:
        return "plain";
    case TokenEncoding::ByteLevel:
        return "byte-level BPE";
    case TokenEncoding::SentencePiece:
        return "SentencePiece";
    }
    return "plain";
}

TokenEncoding detectTokenEncoding(const std::vector<std::string>& tokens, std::size_t sample) {
    const std::size_t n = std::min(tokens.size(), sample);
    std::size_t nonEmpty = 0, byteStarts = 0, pieceStarts = 0;
    bool allInByteAlphabet = true;
    for (std::size_t t = 0; t < n; ++t) {
        const std::string_view s(tokens[t]);
        if (s.empty()) continue;
        ++nonEmpty;
        if (contains(s, "\xC4\xA0") || contains(s, "\xC4\x8A")) ++byteStarts; // Ġ (space), Ċ (newline)
        if (contains(s, "\xE2\x96\x81")) ++pieceStarts;                       // ▁
        for (std::size_t i = 0; i < s.size() && allInByteAlphabet;) {
            const char32_t cp = nextCodePoint(s, i);
            if (cp == kInvalid || byteLevelByte(cp) < 0) allInByteAlphabet = false;
        }
    }
    // Word starts are a large share of any text's tokens; 5 % leaves room for code, numbers, CJK.
    const std::size_t threshold = std::max<std::size_t>(1, nonEmpty / 20);
    if (byteStarts >= threshold && allInByteAlphabet) return TokenEncoding::ByteLevel;
    if (pieceStarts >= threshold) return TokenEncoding::SentencePiece;
    return TokenEncoding::Plain;
}

DisplayToken displayToken(std::string_view raw, TokenEncoding encoding) {
    DisplayToken fast;
    if (asciiFastPath(raw, encoding, fast.text)) return fast;
    return render(decodeMarkers(raw, encoding), false);
}

std::string searchableTokenText(std::string_view raw, TokenEncoding encoding) {
    return render(decodeMarkers(raw, encoding), true).text;
}

std::string escapedTokenText(std::string_view raw) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    out.reserve(raw.size() + 2);
    for (std::size_t i = 0; i < raw.size();) {
        const std::size_t start = i;
        const char32_t cp = nextCodePoint(raw, i);
        auto hexByte = [&](unsigned char b) {
            out += "\\x";
            out += digits[b >> 4];
            out += digits[b & 0xF];
        };
        if (cp == kInvalid) {
            hexByte(static_cast<unsigned char>(raw[start]));
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\\') {
            out += "\\\\";
        } else if (cp == '"') {
            out += "\\\"";
        } else if (cp < 0x20 || cp == 0x7F) {
            hexByte(static_cast<unsigned char>(cp));
        } else if ((cp >= 0x80 && cp <= 0x9F) || isBidiControl(cp)) {
            appendCodeLabel(out, cp);
        } else {
            out.append(raw.substr(start, i - start));
        }
    }
    return out;
}

} // namespace tsa
