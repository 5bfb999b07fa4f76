#!/usr/bin/env bash
# Contract of `tsa run`: table, JSON, --save layout and metadata, exit codes.
set -euo pipefail
tsa=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$tsa" generate --seed 3 --layers 4 --heads 4 --kv-heads 2 --tokens 1600 --head-dim 32 --out "$tmp/cap.safetensors" 2>/dev/null \
    || fail "tsa generate failed"

# Table: one row per layer, first half dense (not a sparse layer), second half sparse.
"$tsa" run "$tmp/cap.safetensors" --min-tokens 256 --quiet >"$tmp/table.txt" || fail "tsa run failed"
grep -q "not a sparse layer" "$tmp/table.txt" || fail "dense layers not reported"
grep -Eq "^ +3  sparse" "$tmp/table.txt" || fail "layer 3 should be sparse: $(cat "$tmp/table.txt")"

# JSON and --save.
"$tsa" run "$tmp/cap.safetensors" --min-tokens 256 --tau 0.01 --layers 1,3 --json --quiet \
    --save "$tmp/out.safetensors" --save-output --save-dense >"$tmp/run.json" || fail "tsa run --save failed"
python3 - "$tmp/run.json" "$tmp/out.safetensors" <<'PY'
import json, struct, sys
summary = json.load(open(sys.argv[1]))
assert set(summary["layers"]) == {"1", "3"}, summary["layers"].keys()
l3 = summary["layers"]["3"]
assert l3["sparse"] and l3["kept"] == l3["capacity"] + 128, l3
assert summary["layers"]["1"]["sparse"] is False
raw = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
tsa = json.loads(meta["tsa"])
assert tsa["layers"]["3"]["kept"] == l3["kept"]
assert header["layers.3.indices"]["dtype"] == "I32" and header["layers.3.indices"]["shape"] == [4, l3["kept"]]
assert header["layers.3.scores"]["shape"] == [4, 1600 - 128]
assert header["layers.3.output"]["shape"] == [4, 1600, 32]
assert header["layers.1.dense_output"]["shape"] == [4, 1600, 32]
assert "layers.1.indices" not in header  # dense layers have no selection
# indices rows sorted, in range, window included
off = header["layers.3.indices"]["data_offsets"]
vals = struct.unpack("<%di" % ((off[1] - off[0]) // 4), raw[8 + n + off[0]:8 + n + off[1]])
k = l3["kept"]
for h in range(4):
    row = vals[h * k:(h + 1) * k]
    assert list(row) == sorted(row) and row[0] >= 0 and row[-1] == 1599
    assert list(row[-128:]) == list(range(1600 - 128, 1600))
print("save layout ok")
PY

# Bad input: exit code 2 and a message naming the problem.
set +e
"$tsa" run "$tmp/missing.safetensors" 2>"$tmp/err.txt"; [ $? -eq 2 ] || fail "missing file should exit 2"
"$tsa" run "$tmp/cap.safetensors" --tau abc 2>"$tmp/err.txt"; [ $? -eq 2 ] || fail "bad tau should exit 2"
grep -q "tau" "$tmp/err.txt" || fail "bad tau message"
"$tsa" run "$tmp/cap.safetensors" --pool-kernel 4 2>/dev/null; [ $? -eq 2 ] || fail "even kernel should exit 2"
"$tsa" run "$tmp/cap.safetensors" --layers 9 2>/dev/null; [ $? -eq 2 ] || fail "unknown layer should exit 2"
"$tsa" run "$tmp/cap.safetensors" --bogus 2>/dev/null; [ $? -eq 2 ] || fail "unknown option should exit 2"
printf 'not a safetensors file' >"$tmp/bad.safetensors"
"$tsa" run "$tmp/bad.safetensors" 2>"$tmp/err.txt"; [ $? -eq 2 ] || fail "malformed file should exit 2"
grep -q "bad.safetensors" "$tmp/err.txt" || fail "error should name the file: $(cat "$tmp/err.txt")"
set -e

# The real tiny model (skipped when ../shared is absent).
real="$src/../shared/data/stories260k/qkv_512.safetensors"
if [ -f "$real" ]; then
    "$tsa" run "$real" --window 32 --min-tokens 64 --tau 0.05 --sparse-layers drift --quiet >"$tmp/real.txt" \
        || fail "tsa run on the stories260K capture failed"
    grep -q "sparse" "$tmp/real.txt" || fail "no sparse layer on the real capture"
fi
echo "test_run: ok"
