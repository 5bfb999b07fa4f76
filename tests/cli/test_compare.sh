#!/usr/bin/env bash
# Contract of `tsa compare`: table, JSON schema, --sweep, --save layout and metadata, --set, exit codes.
set -euo pipefail
. "$(dirname "$0")/lib.sh" "$@"

"$TSA" generate --seed 5 --layers 2 --heads 4 --kv-heads 2 --tokens 1300 --head-dim 32 --out "$TMP/cap.safetensors" 2>/dev/null \
    || fail "tsa generate failed"
settings="tsa.min_tokens=256,flexprefill.min_budget=256"

# Table: a header per layer and one row per method.
"$TSA" compare "$TMP/cap.safetensors" --layers 1 --set "$settings" >"$TMP/table.txt" || fail "tsa compare failed"
for m in tsa minference flexprefill xattention streaming oracle tsa+minference tsa+flexprefill tsa+xattention; do
    re=${m//+/\\+}
    grep -Eq "^$re +(0\.[0-9]+|1\.0000) " "$TMP/table.txt" || fail "no row for $m: $(cat "$TMP/table.txt")"
done

# JSON (to a file, written atomically) and --save.
"$TSA" compare "$TMP/cap.safetensors" --layers 0,1 --methods tsa,flexprefill,tsa+flexprefill,oracle --set "$settings" \
    --json "$TMP/report.json" --save "$TMP/patterns.safetensors" || fail "tsa compare --json --save failed"
python3 - "$TMP/report.json" "$TMP/patterns.safetensors" "$TMP/cap.safetensors" <<'PY'
import json, struct, sys
report = json.load(open(sys.argv[1]))
assert report["file"] == sys.argv[3]
assert [l["layer"] for l in report["layers"]] == [0, 1]
for layer in report["layers"]:
    names = [m["method"] for m in layer["methods"]]
    assert names == ["tsa", "flexprefill", "tsa+flexprefill", "oracle"], names
    for m in layer["methods"]:
        for key in ("method", "params", "density", "retained_mass", "error_p95", "error_last_w", "oracle_recall",
                    "time_ms", "dense_time_ms", "heads"):
            assert key in m, (key, m.keys())
        assert 0 < m["density"] <= 1 and 0 < m["retained_mass"] <= 1 + 1e-6, m
        assert 0 < m["oracle_recall"] <= 1 + 1e-6, m
        assert len(m["heads"]) == 4 and m["time_ms"] > 0 and m["dense_time_ms"] > 0
    by = {m["method"]: m for m in layer["methods"]}
    assert by["flexprefill"]["params"]["gamma"] == 0.95 and by["flexprefill"]["params"]["min_budget"] == 256
    assert by["tsa+flexprefill"]["params"]["tsa.min_tokens"] == 256
    # composition computes no more than either part
    assert by["tsa+flexprefill"]["density"] <= by["tsa"]["density"] + 1e-12
raw = open(sys.argv[2], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
meta = header.pop("__metadata__")
assert meta["format"] == "tsa-patterns"
flex = json.loads(meta["layers.1.flexprefill"])
assert flex["method"] == "flexprefill" and flex["block_rows"] == 128 and flex["params"]["tau"] == 0.1
assert header["layers.1.flexprefill.blocks"]["dtype"] == "U8"
assert header["layers.1.flexprefill.blocks"]["shape"] == [4, 11, 11]
comp = json.loads(meta["layers.1.tsa+flexprefill"])
assert comp["compressed"] and comp["length"] < 1300
assert header["layers.1.tsa+flexprefill.tokens"]["dtype"] == "I32"
assert header["layers.1.tsa+flexprefill.tokens"]["shape"] == [4, comp["length"]]
qb = (comp["length"] + 127) // 128
assert header["layers.1.tsa+flexprefill.blocks"]["shape"] == [4, qb, qb]
assert header["layers.1.tsa.tokens"]["shape"] == header["layers.1.tsa+flexprefill.tokens"]["shape"]
print("json and save layout ok")
PY

# --sweep: the current setting plus every value of each method's knob.
"$TSA" compare "$TMP/cap.safetensors" --layers 1 --methods xattention,streaming --sweep --json - >"$TMP/sweep.json" \
    || fail "--sweep failed"
python3 - "$TMP/sweep.json" <<'PY'
import json, sys
methods = json.load(open(sys.argv[1]))["layers"][0]["methods"]
thresholds = [m["params"]["threshold"] for m in methods if m["method"] == "xattention"]
assert thresholds == [0.9, 0.7, 0.8, 0.9, 0.95], thresholds
local = [m["params"]["local"] for m in methods if m["method"] == "streaming"]
assert local == [1024, 128, 256, 512, 1024, 2048], local
dens = [m["density"] for m in methods if m["method"] == "streaming"][1:]
assert dens == sorted(dens), dens  # a wider window computes more
print("sweep ok")
PY

# Bad input: exit code 2 and a message naming the file or option.
set +e
"$TSA" compare "$TMP/missing.safetensors" 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "missing file should exit 2"
grep -q "missing.safetensors" "$TMP/err.txt" || fail "error should name the file: $(cat "$TMP/err.txt")"
printf 'not a safetensors file' >"$TMP/bad.safetensors"
"$TSA" compare "$TMP/bad.safetensors" 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "malformed file should exit 2"
grep -q "bad.safetensors" "$TMP/err.txt" || fail "error should name the file"
"$TSA" compare "$TMP/cap.safetensors" --methods tsa,flexprefil 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "unknown method should exit 2"
grep -q -- "--methods: unknown method 'flexprefil'" "$TMP/err.txt" || fail "method message: $(cat "$TMP/err.txt")"
"$TSA" compare "$TMP/cap.safetensors" --set flexprefill.gamma=1.5 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "bad gamma should exit 2"
grep -q "flexprefill.gamma must be in" "$TMP/err.txt" || fail "gamma message: $(cat "$TMP/err.txt")"
"$TSA" compare "$TMP/cap.safetensors" --set xattention.strid=8 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "unknown knob should exit 2"
grep -q "unknown parameter 'xattention.strid'" "$TMP/err.txt" || fail "knob message"
"$TSA" compare "$TMP/cap.safetensors" --set tsa.tau 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "--set without = should exit 2"
"$TSA" compare "$TMP/cap.safetensors" --layers 7 2>"$TMP/err.txt"; [ $? -eq 2 ] || fail "unknown layer should exit 2"
grep -q -- "--layers: layer 7" "$TMP/err.txt" || fail "layer message"
"$TSA" compare "$TMP/cap.safetensors" --bogus 2>/dev/null; [ $? -eq 2 ] || fail "unknown option should exit 2"
"$TSA" compare 2>/dev/null; [ $? -eq 2 ] || fail "no file should exit 2"
"$TSA" compare "$TMP/cap.safetensors" --layers 1 --methods streaming --json "$TMP/no/such/dir/r.json" 2>"$TMP/err.txt"
[ $? -eq 1 ] || fail "unwritable --json should exit 1"
grep -q "no/such/dir/r.json" "$TMP/err.txt" || fail "json write error should name the file"
set -e
"$TSA" compare --help | grep -q "tsa compare FILE" || fail "--help"
finish "tsa compare contract"
