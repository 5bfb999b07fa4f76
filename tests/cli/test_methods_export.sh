#!/usr/bin/env bash
# The methods views headless (issue 11): `tsa export --view methods|method-heads` and the attention map with
# a method's pattern, `tsa-explorer --view methods --screenshot`, on the bundled stories260K capture with
# the blocks scaled down as docs/methods.md does for 512 tokens; bad --set/--method/--methods-y: exit 2.
# Usage: bash test_methods_export.sh PATH_TO_TSA SOURCE_DIR
set -u
TSA=${1:?usage: test_methods_export.sh PATH_TO_TSA SOURCE_DIR}
SOURCE_DIR=${2:?usage: test_methods_export.sh PATH_TO_TSA SOURCE_DIR}
EXPLORER="$(dirname "$TSA")/tsa-explorer"
CAPTURE="$SOURCE_DIR/sample_data/stories260k.safetensors"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR="$WORK/runtime"
mkdir -m 700 "$XDG_RUNTIME_DIR"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect_rc() { # expected_rc description command...
    local want=$1 what=$2; shift 2
    "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"
    local rc=$?
    [ "$rc" -eq "$want" ] || { fail "$what: exit $rc, wanted $want"; cat "$WORK/err.txt"; }
}
is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }

COMMON=(--layer 2 --tau 0.02 --window 32 --min-tokens 64 --sparse-layers all
    --set flexprefill.block_size=32,flexprefill.min_budget=64,xattention.block_size=32,xattention.stride=8,streaming.sink=16,streaming.local=64,oracle.tile=32)

expect_rc 0 "methods png" "$TSA" export "$CAPTURE" --view methods --out "$WORK/m.png" "${COMMON[@]}" --width 900 --height 560
is_png "$WORK/m.png" && [ "$(stat -c %s "$WORK/m.png")" -gt 8000 ] || fail "methods png missing or blank"
expect_rc 0 "methods svg" "$TSA" export "$CAPTURE" --view methods --out "$WORK/m.svg" "${COMMON[@]}" --methods-x speedup --methods-y recall
grep -q "speedup" "$WORK/m.svg" || fail "the speedup axis title is not in the SVG"
expect_rc 0 "methods csv" "$TSA" export "$CAPTURE" --view methods --out "$WORK/m.csv" "${COMMON[@]}"
# 9 methods, each its current point plus a sweep of 4-6 values: at least 40 rows, every method present.
[ "$(wc -l <"$WORK/m.csv")" -ge 41 ] || fail "methods.csv has $(wc -l <"$WORK/m.csv") lines"
for m in tsa minference flexprefill xattention streaming oracle tsa+minference tsa+flexprefill tsa+xattention; do
    grep -q ",$m," "$WORK/m.csv" || fail "methods.csv lacks $m"
done
grep -q "^2,flexprefill,gamma,0.95,1," "$WORK/m.csv" || fail "current flexprefill point missing: $(head -3 "$WORK/m.csv")"
expect_rc 0 "heads csv" "$TSA" export "$CAPTURE" --view method-heads --method tsa+flexprefill --out "$WORK/h.csv" "${COMMON[@]}"
[ "$(wc -l <"$WORK/h.csv")" -eq 9 ] || fail "method-heads.csv: $(wc -l <"$WORK/h.csv") lines, wanted 8 heads + header"
grep -q "tsa+flexprefill" "$WORK/h.csv" || fail "method-heads.csv does not name the method"
expect_rc 0 "attention with a pattern" "$TSA" export "$CAPTURE" --view attention --method minference --out "$WORK/a.png" "${COMMON[@]}"
expect_rc 0 "attention svg with a pattern" "$TSA" export "$CAPTURE" --view attention --method minference --out "$WORK/a.svg" "${COMMON[@]}"
grep -q "skipped by minference" "$WORK/a.svg" || fail "the attention map's legend does not name the method"
# The pattern in compressed coordinates: a composed method's blocks over the head's kept tokens.
expect_rc 0 "attention in compressed coordinates" "$TSA" export "$CAPTURE" --view attention --method tsa+xattention \
    --method-overlay compressed --out "$WORK/c.svg" "${COMMON[@]}"
grep -q "compressed coordinates" "$WORK/c.svg" || fail "the compressed overlay's title is not in the SVG"
expect_rc 0 "compressed cells csv" "$TSA" export "$CAPTURE" --view attention --method tsa+xattention \
    --method-overlay compressed --out "$WORK/c.csv" "${COMMON[@]}"
head -1 "$WORK/c.csv" | grep -q "query_cell,key_cell" || fail "compressed CSV header: $(head -1 "$WORK/c.csv")"
[ "$(tr -d '\r' <"$WORK/c.csv" | awk -F, 'NR > 1 && ($3 != "tsa+xattention" || ($10 != 0 && $10 != 1))' | wc -l)" -eq 0 ] &&
    [ "$(wc -l <"$WORK/c.csv")" -gt 100 ] || fail "compressed CSV rows: $(sed -n 2p "$WORK/c.csv")"
expect_rc 2 "bad overlay coordinates" "$TSA" export "$CAPTURE" --view attention --method tsa --out "$WORK/x.png" \
    --method-overlay both
grep -q "method-overlay" "$WORK/err.txt" || fail "overlay message: $(cat "$WORK/err.txt")"

expect_rc 2 "unknown knob" "$TSA" export "$CAPTURE" --view methods --out "$WORK/x.png" --set flexprefill.nope=1
grep -q "flexprefill.nope" "$WORK/err.txt" || fail "unknown knob message: $(cat "$WORK/err.txt")"
expect_rc 2 "knob out of range" "$TSA" export "$CAPTURE" --view methods --out "$WORK/x.png" --set flexprefill.gamma=3
grep -q "gamma" "$WORK/err.txt" || fail "range message does not name gamma: $(cat "$WORK/err.txt")"
expect_rc 2 "tsa knob by --set" "$TSA" export "$CAPTURE" --view methods --out "$WORK/x.png" --set tsa.tau=0.1
expect_rc 2 "unknown method" "$TSA" export "$CAPTURE" --view method-heads --out "$WORK/x.csv" --method nope
grep -q "'nope'.*tsa+xattention" "$WORK/err.txt" || fail "method message: $(cat "$WORK/err.txt")"
expect_rc 2 "bad y axis" "$TSA" export "$CAPTURE" --view methods --out "$WORK/x.png" --methods-y nope
[ ! -e "$WORK/x.png" ] && [ ! -e "$WORK/x.csv" ] || fail "a refused export left a file"

# The window's screenshot path shows the same view (and its axis switches).
if [ -x "$EXPLORER" ]; then
    expect_rc 0 "screenshot" "$EXPLORER" "$CAPTURE" --view methods --layer 2 --tau 0.02 --window 32 --min-tokens 64 \
        --sparse-layers all --screenshot "$WORK/s.png" --size 1000x700
    is_png "$WORK/s.png" && [ "$(stat -c %s "$WORK/s.png")" -gt 8000 ] || fail "screenshot missing or blank"
    grep -q "methods view" "$WORK/out.txt" || fail "screenshot report: $(cat "$WORK/out.txt")"
    # The window's command line takes the methods' knobs, the method and the overlay as tsa export does.
    expect_rc 0 "screenshot, compressed overlay" "$EXPLORER" "$CAPTURE" --view attention "${COMMON[@]}" \
        --method tsa+flexprefill --method-overlay compressed --screenshot "$WORK/c.png" --size 1000x700
    is_png "$WORK/c.png" || fail "compressed-overlay screenshot missing"
    expect_rc 2 "window: unknown knob" "$EXPLORER" "$CAPTURE" --set flexprefill.nope=1
    grep -q "flexprefill.nope" "$WORK/err.txt" || fail "window knob message: $(cat "$WORK/err.txt")"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "methods export: all checks passed"
