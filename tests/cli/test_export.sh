#!/usr/bin/env bash
# Contract of `tsa export`: PNG/SVG/PDF/CSV by extension for every view, exit 2 with a message for a bad file,
# view or option, nothing written on failure. Usage: bash test_export.sh PATH_TO_TSA SOURCE_DIR
set -u
TSA=${1:?usage: test_export.sh PATH_TO_TSA SOURCE_DIR}
SOURCE_DIR=${2:?usage: test_export.sh PATH_TO_TSA SOURCE_DIR}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# No platform on purpose for the first export: tsa export must pick offscreen itself.
unset QT_QPA_PLATFORM DISPLAY WAYLAND_DISPLAY
export XDG_RUNTIME_DIR="$WORK/runtime"
mkdir -m 700 "$XDG_RUNTIME_DIR"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_rc() { # expected_rc description command...
    local want=$1 what=$2; shift 2
    "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
    local rc=$?
    [ "$rc" -eq "$want" ] || { fail "$what: exit $rc, wanted $want"; cat "$WORK/err.txt"; }
}

CAPTURE="$WORK/c.safetensors"
"$TSA" generate --out "$CAPTURE" --layers 4 --heads 4 --kv-heads 2 --tokens 2048 --head-dim 32 --quiet \
    || { echo "FAIL: tsa generate did not write a capture"; exit 1; }

is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
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

for view in overview selection coverage attention error depth sparsity howitworks; do
    expect_rc 0 "png $view" "$TSA" export "$CAPTURE" --view "$view" --out "$WORK/$view.png" --width 800 --height 500
    if [ -f "$WORK/$view.png" ]; then
        is_png "$WORK/$view.png" || fail "$view.png is not a PNG"
        [ "$(png_size "$WORK/$view.png")" = "800 500" ] || fail "$view.png is $(png_size "$WORK/$view.png"), wanted 800 500"
        # A real picture compresses to more than a blank canvas would.
        [ "$(stat -c %s "$WORK/$view.png")" -gt 4000 ] || fail "$view.png looks blank"
    else
        fail "$view.png missing"
    fi
    expect_rc 0 "svg $view" "$TSA" export "$CAPTURE" --view "$view" --out "$WORK/$view.svg"
    grep -q "<svg" "$WORK/$view.svg" 2>/dev/null || fail "$view.svg has no <svg"
    expect_rc 0 "pdf $view" "$TSA" export "$CAPTURE" --view "$view" --out "$WORK/$view.pdf" --width 800 --height 500
    check_pdf "$WORK/$view.pdf"
    expect_rc 0 "csv $view" "$TSA" export "$CAPTURE" --view "$view" --out "$WORK/$view.csv"
    [ "$(wc -l <"$WORK/$view.csv" 2>/dev/null || echo 0)" -ge 2 ] || fail "$view.csv has no data rows"
done

# Parameters reach the picture: layer, head and tau appear in the report line; scale multiplies pixels.
expect_rc 0 "params" "$TSA" export "$CAPTURE" --view coverage --out "$WORK/p.png" --layer 3 --head 2 --tau 0.02 \
    --window 64 --pool-kernel 5 --min-tokens 512 --width 600 --height 400 --scale 2
grep -q "layer 3, head 2, tau 0.02" "$WORK/out.txt" || fail "report line: $(cat "$WORK/out.txt")"
[ "$(png_size "$WORK/p.png")" = "1200 800" ] || fail "--scale 2 gave $(png_size "$WORK/p.png")"
expect_rc 0 "list plan" "$TSA" export "$CAPTURE" --view sparsity --out "$WORK/l.csv" --sparse-layers list --layer-list 1,3
expect_rc 0 "explicit platform" env QT_QPA_PLATFORM=offscreen "$TSA" export "$CAPTURE" --view depth --out "$WORK/d.png"

# Bad input: exit 2, a message naming the problem, no output file.
echo "not a capture" >"$WORK/bad.safetensors"
expect_rc 2 "bad file" "$TSA" export "$WORK/bad.safetensors" --view overview --out "$WORK/bad.png"
grep -q "bad.safetensors" "$WORK/err.txt" || fail "bad file message does not name the file: $(cat "$WORK/err.txt")"
[ ! -e "$WORK/bad.png" ] || fail "bad file left an output"
expect_rc 2 "missing file" "$TSA" export "$WORK/none.safetensors" --view overview --out "$WORK/x.png"
expect_rc 2 "unknown view" "$TSA" export "$CAPTURE" --view nope --out "$WORK/x.png"
grep -q "overview" "$WORK/err.txt" || fail "unknown view message does not list the views"
expect_rc 2 "bad extension" "$TSA" export "$CAPTURE" --view overview --out "$WORK/x.gif"
expect_rc 2 "bad tau" "$TSA" export "$CAPTURE" --view overview --out "$WORK/x.png" --tau abc
expect_rc 2 "tau out of range" "$TSA" export "$CAPTURE" --view overview --out "$WORK/x.png" --tau 0.9
expect_rc 2 "even kernel" "$TSA" export "$CAPTURE" --view overview --out "$WORK/x.png" --pool-kernel 4
expect_rc 2 "unknown option" "$TSA" export "$CAPTURE" --view overview --out "$WORK/x.png" --bogus 1
expect_rc 2 "missing layer" "$TSA" export "$CAPTURE" --view overview --out "$WORK/x.png" --layer 17
expect_rc 2 "missing head" "$TSA" export "$CAPTURE" --view overview --out "$WORK/x.png" --head 9
expect_rc 2 "no view" "$TSA" export "$CAPTURE" --out "$WORK/x.png"
expect_rc 2 "no out" "$TSA" export "$CAPTURE" --view overview
[ ! -e "$WORK/x.png" ] || fail "a failed export left x.png"
expect_rc 1 "unwritable out" "$TSA" export "$CAPTURE" --view overview --out "$WORK/no/such/dir/x.png"
expect_rc 0 "help" "$TSA" export --help
grep -q "howitworks" "$WORK/out.txt" || fail "help does not list the views"

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "tsa export: all checks passed"
