#!/usr/bin/env bash
# Contract of `tsa run`: table, JSON, --save layout and metadata, exit codes.
set -euo pipefail
. "$(dirname "$0")/lib.sh" "$@"

"$TSA" generate --seed 3 --layers 4 --heads 4 --kv-heads 2 --tokens 1600 --head-dim 32 --out "$TMP/cap.safetensors" 2>/dev/null \
    || fail "tsa generate failed"

# Table: one row per layer, first half dense (not a sparse layer), second half sparse.
"$TSA" run "$TMP/cap.safetensors" --min-tokens 256 --quiet >"$TMP/table.txt" || fail "tsa run failed"
grep -q "not a sparse layer" "$TMP/table.txt" || fail "dense layers not reported"
grep -Eq "^ +3  sparse" "$TMP/table.txt" || fail "layer 3 should be sparse: $(cat "$TMP/table.txt")"

# JSON and --save.
"$TSA" run "$TMP/cap.safetensors" --min-tokens 256 --tau 0.01 --layers 1,3 --json --quiet \
    --save "$TMP/out.safetensors" --save-output --save-dense >"$TMP/run.json" || fail "tsa run --save failed"
python3 - "$TMP/run.json" "$TMP/out.safetensors" <<'PY'
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
"$TSA" run "$TMP/missing.safetensors" 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "missing file should exit 2"
"$TSA" run "$TMP/cap.safetensors" --tau abc 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "bad tau should exit 2"
grep -q "tau" "$TMP/err.txt" || fail "bad tau message"
"$TSA" run "$TMP/cap.safetensors" --pool-kernel 4 2>/dev/null; [ $? -eq 2 ] || fail "even kernel should exit 2"
"$TSA" run "$TMP/cap.safetensors" --layers 9 2>/dev/null; [ $? -eq 2 ] || fail "unknown layer should exit 2"
"$TSA" run "$TMP/cap.safetensors" --bogus 2>/dev/null; [ $? -eq 2 ] || fail "unknown option should exit 2"
# Every range follows the shared rules (core/param_rules.h): exit 2, the option and the parameter named.
expect_refusal() { # expected-text args...
    local want=$1
    shift
    "$TSA" run "$TMP/cap.safetensors" "$@" 2>"$TMP/err.txt"
    [ $? -eq 2 ] || fail "$* should exit 2"
    grep -qF -- "$want" "$TMP/err.txt" || fail "$*: expected '$want', got: $(cat "$TMP/err.txt")"
}
expect_refusal "--tau: tau 0.7 is above 0.5" --tau 0.7
expect_refusal "--window: window W must be at least 1, got 0" --window 0
expect_refusal "--pool-kernel: pool kernel k must be a positive odd number" --pool-kernel 4
expect_refusal "--min-tokens: min_tokens must not be negative, got -1" --min-tokens -1
expect_refusal "--delta: drift quantile delta must be in [0, 1], got 2" --delta 2
expect_refusal "--layers: '9-2' runs backwards" --layers 9-2
expect_refusal "--layers: 'x' is not a layer number" --layers 1,x
expect_refusal "--sparse-layers: expected half, drift, all or list or a layer list" --sparse-layers most
expect_refusal "--sparse-layers: give the layer list itself" --sparse-layers list
printf 'not a safetensors file' >"$TMP/bad.safetensors"
"$TSA" run "$TMP/bad.safetensors" 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "malformed file should exit 2"
grep -q "bad.safetensors" "$TMP/err.txt" || fail "error should name the file: $(cat "$TMP/err.txt")"
set -e

# A partial capture (layers 1 and 3 of 4, drift included): half/all/list are rules over model layer ids;
# drift takes the quantile over the layers present and says so (docs/layer_plan.md).
python3 - "$TMP/cap.safetensors" "$TMP/partial.safetensors" <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
body = data[8 + n:]
out, blobs, off = {"__metadata__": header["__metadata__"]}, [], 0
for name, t in header.items():
    if name.startswith(("layers.1.", "layers.3.")):
        a, b = t["data_offsets"]
        out[name] = dict(t, data_offsets=[off, off + b - a])
        blobs.append(body[a:b])
        off += b - a
out["__metadata__"]["num_layers"] = "4"
text = json.dumps(out).encode()
with open(sys.argv[2], "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
PY
"$TSA" run "$TMP/partial.safetensors" --min-tokens 256 --json --quiet >"$TMP/partial.json" 2>"$TMP/err.txt" \
    || fail "tsa run on a partial capture failed: $(cat "$TMP/err.txt")"
python3 -c '
import json, sys
layers = json.load(open(sys.argv[1]))["layers"]
assert set(layers) == {"1", "3"}, layers
assert layers["1"]["sparse"] is False and layers["3"]["sparse"] is True, layers  # model half: 2 and 3
' "$TMP/partial.json" || fail "half plan on the partial capture"
"$TSA" run "$TMP/partial.safetensors" --min-tokens 256 --sparse-layers drift --delta 0 --json --quiet \
    >"$TMP/partial.json" 2>"$TMP/err.txt" || fail "drift on a partial capture failed: $(cat "$TMP/err.txt")"
grep -qF "drift quantile over the 2 captured layers of 4" "$TMP/err.txt" \
    || fail "drift on a partial capture should say how it was planned: $(cat "$TMP/err.txt")"
python3 -c '
import json, sys
layers = json.load(open(sys.argv[1]))["layers"]
assert sum(l["sparse"] for l in layers.values()) == 1, layers  # delta 0: the least drifting present layer
' "$TMP/partial.json" || fail "drift plan on the partial capture"

# The real tiny model (skipped when ../shared is absent).
real="$SRC/../shared/data/stories260k/qkv_512.safetensors"
if [ -f "$real" ]; then
    "$TSA" run "$real" --window 32 --min-tokens 64 --tau 0.05 --sparse-layers drift --quiet >"$TMP/real.txt" \
        || fail "tsa run on the stories260K capture failed"
    grep -q "sparse" "$TMP/real.txt" || fail "no sparse layer on the real capture"
fi
finish test_run
