#!/usr/bin/env bash
# Contract of `tsa export`: PNG/SVG/PDF/CSV by extension for every view, HTML for the text view, exit 2
# with a message for a bad file,
# view or option, nothing written on failure. Usage: bash test_export.sh PATH_TO_TSA SOURCE_DIR
set -u
. "$(dirname "$0")/lib.sh" "$@"
# No platform on purpose for the first export: tsa export must pick offscreen itself.
unset QT_QPA_PLATFORM DISPLAY WAYLAND_DISPLAY
use_private_runtime_dir

CAPTURE="$TMP/c.safetensors"
"$TSA" generate --out "$CAPTURE" --layers 4 --heads 4 --kv-heads 2 --tokens 2048 --head-dim 32 --quiet \
    || { echo "FAIL: tsa generate did not write a capture"; exit 1; }

png_size() { # width height of a PNG from its IHDR
    od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4, $5*16777216+$6*65536+$7*256+$8}'
}

# A PDF: the magic, one page of 800 x 500 pt, every font embedded and text that reads back (the title
# is real text, not pixels). pdfinfo/pdffonts/pdftotext (poppler-utils) are in setup.sh's test packages.
check_pdf() {
    local pdf=$1
    [ -f "$pdf" ] || { fail "$pdf missing"; return; }
    [ "$(head -c 5 "$pdf")" = "%PDF-" ] || { fail "$pdf does not start with %PDF-"; return; }
    if command -v pdffonts >/dev/null; then
        pdfinfo "$pdf" | grep -Eq "^Page size: +800 x 500 pts" || fail "$pdf page size: $(pdfinfo "$pdf" | grep 'Page size')"
        pdfinfo "$pdf" | grep -Eq "^Pages: +1$" || fail "$pdf is not one page"
        # pdffonts: two header lines, then one row per font; column "emb" must say yes for each.
        local fonts; fonts=$(pdffonts "$pdf" | tail -n +3)
        [ -n "$fonts" ] || fail "$pdf has no fonts (text drawn as paths or pixels?)"
        echo "$fonts" | awk '{ if ($(NF-4) != "yes") bad = 1 } END { exit bad }' || fail "$pdf has a font not embedded: $fonts"
        [ "$(pdftotext "$pdf" - | tr -d '[:space:]' | wc -c)" -gt 10 ] || fail "$pdf has no extractable text"
    else
        echo "note: poppler-utils not installed, PDF checked by its magic only"
    fi
}

for view in overview selection coverage attention error depth sparsity howitworks text; do
    expect_rc 0 "png $view" "$TSA" export "$CAPTURE" --view "$view" --out "$TMP/$view.png" --width 800 --height 500
    if [ -f "$TMP/$view.png" ]; then
        is_png "$TMP/$view.png" || fail "$view.png is not a PNG"
        [ "$(png_size "$TMP/$view.png")" = "800 500" ] || fail "$view.png is $(png_size "$TMP/$view.png"), wanted 800 500"
        # A real picture compresses to more than a blank canvas would.
        [ "$(stat -c %s "$TMP/$view.png")" -gt 4000 ] || fail "$view.png looks blank"
    else
        fail "$view.png missing"
    fi
    expect_rc 0 "svg $view" "$TSA" export "$CAPTURE" --view "$view" --out "$TMP/$view.svg"
    grep -q "<svg" "$TMP/$view.svg" 2>/dev/null || fail "$view.svg has no <svg"
    expect_rc 0 "pdf $view" "$TSA" export "$CAPTURE" --view "$view" --out "$TMP/$view.pdf" --width 800 --height 500
    check_pdf "$TMP/$view.pdf"
    expect_rc 0 "csv $view" "$TSA" export "$CAPTURE" --view "$view" --out "$TMP/$view.csv"
    [ "$(wc -l <"$TMP/$view.csv" 2>/dev/null || echo 0)" -ge 2 ] || fail "$view.csv has no data rows"
done

# The text view as a self-contained HTML page: one span per token with a title, the generator's
# placeholder words in it, nothing fetched from elsewhere; other views have no HTML export.
expect_rc 0 "html text" "$TSA" export "$CAPTURE" --view text --head 1 --out "$TMP/text.html"
grep -q '<meta charset="utf-8">' "$TMP/text.html" 2>/dev/null || fail "text.html has no charset"
[ "$(grep -o ' title="' "$TMP/text.html" | wc -l)" -eq 2048 ] || fail "text.html does not hold 2048 token spans"
grep -q '> secret</span>' "$TMP/text.html" || fail "text.html lacks the needle phrase"
! grep -qE '<script|src=|href=' "$TMP/text.html" || fail "text.html is not self-contained"
expect_rc 0 "html by n_h" "$TSA" export "$CAPTURE" --view text --text-measure n_h --out "$TMP/text_nh.html"
grep -q 'style="background:#' "$TMP/text_nh.html" || fail "text_nh.html has no score colours"
grep -q 'n_h 0' "$TMP/text_nh.html" || fail "text_nh.html titles lack n_h"
expect_rc 2 "bad text measure" "$TSA" export "$CAPTURE" --view text --text-measure nope --out "$TMP/t.png"
expect_rc 2 "text measure for another view" "$TSA" export "$CAPTURE" --view depth --text-measure g --out "$TMP/t.png"
expect_rc 2 "html for another view" "$TSA" export "$CAPTURE" --view overview --out "$TMP/o.html"
grep -q "text view" "$TMP/err.txt" || fail "html error does not name the text view: $(cat "$TMP/err.txt")"
[ ! -e "$TMP/o.html" ] || fail "a refused html export left o.html"

# Parameters reach the picture: layer, head and tau appear in the report line; scale multiplies pixels.
expect_rc 0 "params" "$TSA" export "$CAPTURE" --view coverage --out "$TMP/p.png" --layer 3 --head 2 --tau 0.02 \
    --window 64 --pool-kernel 5 --min-tokens 512 --width 600 --height 400 --scale 2
grep -q "layer 3, head 2, tau 0.02" "$TMP/out.txt" || fail "report line: $(cat "$TMP/out.txt")"
[ "$(png_size "$TMP/p.png")" = "1200 800" ] || fail "--scale 2 gave $(png_size "$TMP/p.png")"
expect_rc 0 "list plan" "$TSA" export "$CAPTURE" --view sparsity --out "$TMP/l.csv" --sparse-layers list --layer-list 1,3
expect_rc 0 "explicit platform" env QT_QPA_PLATFORM=offscreen "$TSA" export "$CAPTURE" --view depth --out "$TMP/d.png"

# Bad input: exit 2, a message naming the problem, no output file.
echo "not a capture" >"$TMP/bad.safetensors"
expect_rc 2 "bad file" "$TSA" export "$TMP/bad.safetensors" --view overview --out "$TMP/bad.png"
grep -q "bad.safetensors" "$TMP/err.txt" || fail "bad file message does not name the file: $(cat "$TMP/err.txt")"
[ ! -e "$TMP/bad.png" ] || fail "bad file left an output"
expect_rc 2 "missing file" "$TSA" export "$TMP/none.safetensors" --view overview --out "$TMP/x.png"
expect_rc 2 "unknown view" "$TSA" export "$CAPTURE" --view nope --out "$TMP/x.png"
grep -q "overview" "$TMP/err.txt" || fail "unknown view message does not list the views"
expect_rc 2 "bad extension" "$TSA" export "$CAPTURE" --view overview --out "$TMP/x.gif"
expect_rc 2 "bad tau" "$TSA" export "$CAPTURE" --view overview --out "$TMP/x.png" --tau abc
expect_rc 2 "tau out of range" "$TSA" export "$CAPTURE" --view overview --out "$TMP/x.png" --tau 0.9
expect_rc 2 "even kernel" "$TSA" export "$CAPTURE" --view overview --out "$TMP/x.png" --pool-kernel 4
expect_rc 2 "unknown option" "$TSA" export "$CAPTURE" --view overview --out "$TMP/x.png" --bogus 1
expect_rc 2 "missing layer" "$TSA" export "$CAPTURE" --view overview --out "$TMP/x.png" --layer 17
expect_rc 2 "missing head" "$TSA" export "$CAPTURE" --view overview --out "$TMP/x.png" --head 9
expect_rc 2 "no view" "$TSA" export "$CAPTURE" --out "$TMP/x.png"
expect_rc 2 "no out" "$TSA" export "$CAPTURE" --view overview
[ ! -e "$TMP/x.png" ] || fail "a failed export left x.png"
expect_rc 1 "unwritable out" "$TSA" export "$CAPTURE" --view overview --out "$TMP/no/such/dir/x.png"
expect_rc 0 "help" "$TSA" export --help
grep -q "howitworks" "$TMP/out.txt" || fail "help does not list the views"

finish "tsa export"
