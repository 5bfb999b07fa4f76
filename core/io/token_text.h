// Token strings made fit to read: a capture's token_strings come from real tokenizers, which store word
// starts as markers (byte-level BPE "Ġ", SentencePiece "▁"), bytes as "<0x0A>" pieces or as the GPT-2
// byte alphabet, and may hold newlines, control characters, bidi overrides and bytes that are not valid
// UTF-8 on their own (a multi-byte character split across tokens). The views draw every token as its own
// run of text; these pure functions turn a raw string into what that run shows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tsa {

// How a capture's token strings mark spaces and bytes; detected once per document, because a single
// token cannot tell "Ġ" the marker from "Ġ" the letter.
enum class TokenEncoding {
    Plain,     // already decoded text (tools/capture_qkv.py writes this)
    ByteLevel, // GPT-2 / Llama-3 byte-level BPE: every byte mapped to a printable code point, "Ġ" = space
    SentencePiece, // "▁" = space, "<0xNN>" = a raw byte
};

const char* tokenEncodingName(TokenEncoding encoding);

// Looks at up to `sample` tokens: ByteLevel when word-start markers "Ġ" are common and every token is
// written in the byte alphabet, SentencePiece when "▁" is common, Plain otherwise.
TokenEncoding detectTokenEncoding(const std::vector<std::string>& tokens, std::size_t sample = 4096);

struct DisplayToken {
    // Valid UTF-8 without control characters: newlines and tabs are shown as "↵" and "→", other
    // controls as their Unicode control pictures ("␀", "␛"), explicit bidi controls as "<U+202E>", bytes
    // that are not valid UTF-8 as U+FFFD. A token that decodes to nothing shows "∅".
    std::string text;
    int lineBreaks = 0; // newlines in the token: the running text breaks after it (a blank line per extra)
    bool placeholder = false; // text is a stand-in (empty token), not the token's characters
    bool replaced = false;    // invalid UTF-8 bytes were replaced
};

// The token as running text shows it (spaces kept, so consecutive tokens concatenate into words).
DisplayToken displayToken(std::string_view raw, TokenEncoding encoding);

// The token's text with markers decoded, newlines kept as '\n' and invalid bytes as U+FFFD: what a
// search over the document matches against.
std::string searchableTokenText(std::string_view raw, TokenEncoding encoding);

// The raw string quoted for a tooltip or a CSV cell: printable UTF-8 as is, \n \t \r \\ \" escaped,
// other control bytes and invalid bytes as \xNN.
std::string escapedTokenText(std::string_view raw);

} // namespace tsa
