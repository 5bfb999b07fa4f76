#!/usr/bin/env bash
# The methods views headless (issue 11): `tsa export --view methods|method-heads` and the attention map with
# a method's pattern, `tsa-explorer --view methods --screenshot`, on the bundled stories260K capture with
# the blocks scaled down as docs/methods.md does for 512 tokens; bad --set/--method/--methods-y: exit 2.
# Usage: bash test_methods_export.sh PATH_TO_TSA SOURCE_DIR
set -u
. "$(dirname "$0")/lib.sh" "$@"
EXPLORER="$(dirname "$TSA")/tsa-explorer"
CAPTURE="$SRC/sample_data/stories260k.safetensors"
export QT_QPA_PLATFORM=offscreen
use_private_runtime_dir

COMMON=(--layer 2 --tau 0.02 --window 32 --min-tokens 64 --sparse-layers all
    --set flexprefill.block_size=32,flexprefill.min_budget=64,xattention.block_size=32,xattention.stride=8,streaming.sink=16,streaming.local=64,oracle.tile=32)

expect_rc 0 "methods png" "$TSA" export "$CAPTURE" --view methods --out "$TMP/m.png" "${COMMON[@]}" --width 900 --height 560
is_png "$TMP/m.png" && [ "$(stat -c %s "$TMP/m.png")" -gt 8000 ] || fail "methods png missing or blank"
expect_rc 0 "methods svg" "$TSA" export "$CAPTURE" --view methods --out "$TMP/m.svg" "${COMMON[@]}" --methods-x speedup --methods-y recall
grep -q "speedup" "$TMP/m.svg" || fail "the speedup axis title is not in the SVG"
expect_rc 0 "methods csv" "$TSA" export "$CAPTURE" --view methods --out "$TMP/m.csv" "${COMMON[@]}"
# 9 methods, each its current point plus a sweep of 4-6 values: at least 40 rows, every method present.
[ "$(wc -l <"$TMP/m.csv")" -ge 41 ] || fail "methods.csv has $(wc -l <"$TMP/m.csv") lines"
for m in tsa minference flexprefill xattention streaming oracle tsa+minference tsa+flexprefill tsa+xattention; do
    grep -q ",$m," "$TMP/m.csv" || fail "methods.csv lacks $m"
done
grep -q "^2,flexprefill,gamma,0.95,1," "$TMP/m.csv" || fail "current flexprefill point missing: $(head -3 "$TMP/m.csv")"
expect_rc 0 "heads csv" "$TSA" export "$CAPTURE" --view method-heads --method tsa+flexprefill --out "$TMP/h.csv" "${COMMON[@]}"
[ "$(wc -l <"$TMP/h.csv")" -eq 9 ] || fail "method-heads.csv: $(wc -l <"$TMP/h.csv") lines, wanted 8 heads + header"
grep -q "tsa+flexprefill" "$TMP/h.csv" || fail "method-heads.csv does not name the method"
expect_rc 0 "attention with a pattern" "$TSA" export "$CAPTURE" --view attention --method minference --out "$TMP/a.png" "${COMMON[@]}"
expect_rc 0 "attention svg with a pattern" "$TSA" export "$CAPTURE" --view attention --method minference --out "$TMP/a.svg" "${COMMON[@]}"
grep -q "skipped by minference" "$TMP/a.svg" || fail "the attention map's legend does not name the method"
# The pattern in compressed coordinates: a composed method's blocks over the head's kept tokens.
expect_rc 0 "attention in compressed coordinates" "$TSA" export "$CAPTURE" --view attention --method tsa+xattention \
    --method-overlay compressed --out "$TMP/c.svg" "${COMMON[@]}"
grep -q "compressed coordinates" "$TMP/c.svg" || fail "the compressed overlay's title is not in the SVG"
expect_rc 0 "compressed cells csv" "$TSA" export "$CAPTURE" --view attention --method tsa+xattention \
    --method-overlay compressed --out "$TMP/c.csv" "${COMMON[@]}"
head -1 "$TMP/c.csv" | grep -q "query_cell,key_cell" || fail "compressed CSV header: $(head -1 "$TMP/c.csv")"
[ "$(tr -d '\r' <"$TMP/c.csv" | awk -F, 'NR > 1 && ($3 != "tsa+xattention" || ($10 != 0 && $10 != 1))' | wc -l)" -eq 0 ] &&
    [ "$(wc -l <"$TMP/c.csv")" -gt 100 ] || fail "compressed CSV rows: $(sed -n 2p "$TMP/c.csv")"
expect_rc 2 "bad overlay coordinates" "$TSA" export "$CAPTURE" --view attention --method tsa --out "$TMP/x.png" \
    --method-overlay both
grep -q "method-overlay" "$TMP/err.txt" || fail "overlay message: $(cat "$TMP/err.txt")"

expect_rc 2 "unknown knob" "$TSA" export "$CAPTURE" --view methods --out "$TMP/x.png" --set flexprefill.nope=1
grep -q "flexprefill.nope" "$TMP/err.txt" || fail "unknown knob message: $(cat "$TMP/err.txt")"
expect_rc 2 "knob out of range" "$TSA" export "$CAPTURE" --view methods --out "$TMP/x.png" --set flexprefill.gamma=3
grep -q "gamma" "$TMP/err.txt" || fail "range message does not name gamma: $(cat "$TMP/err.txt")"
expect_rc 2 "tsa knob by --set" "$TSA" export "$CAPTURE" --view methods --out "$TMP/x.png" --set tsa.tau=0.1
expect_rc 2 "unknown method" "$TSA" export "$CAPTURE" --view method-heads --out "$TMP/x.csv" --method nope
grep -q "'nope'.*tsa+xattention" "$TMP/err.txt" || fail "method message: $(cat "$TMP/err.txt")"
expect_rc 2 "bad y axis" "$TSA" export "$CAPTURE" --view methods --out "$TMP/x.png" --methods-y nope
[ ! -e "$TMP/x.png" ] && [ ! -e "$TMP/x.csv" ] || fail "a refused export left a file"

# The window's screenshot path shows the same view (and its axis switches).
if [ -x "$EXPLORER" ]; then
    expect_rc 0 "screenshot" "$EXPLORER" "$CAPTURE" --view methods --layer 2 --tau 0.02 --window 32 --min-tokens 64 \
        --sparse-layers all --screenshot "$TMP/s.png" --size 1000x700
    is_png "$TMP/s.png" && [ "$(stat -c %s "$TMP/s.png")" -gt 8000 ] || fail "screenshot missing or blank"
    grep -q "methods view" "$TMP/out.txt" || fail "screenshot report: $(cat "$TMP/out.txt")"
    # The window's command line takes the methods' knobs, the method and the overlay as tsa export does.
    expect_rc 0 "screenshot, compressed overlay" "$EXPLORER" "$CAPTURE" --view attention "${COMMON[@]}" \
        --method tsa+flexprefill --method-overlay compressed --screenshot "$TMP/c.png" --size 1000x700
    is_png "$TMP/c.png" || fail "compressed-overlay screenshot missing"
    expect_rc 2 "window: unknown knob" "$EXPLORER" "$CAPTURE" --set flexprefill.nope=1
    grep -q "flexprefill.nope" "$TMP/err.txt" || fail "window knob message: $(cat "$TMP/err.txt")"
fi

finish "methods export"
