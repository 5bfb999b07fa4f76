#!/usr/bin/env bash
# Contract test of the command line on effect files (tsa-effect/1, tools/tsa_eval.py): `tsa info` summarises
# one (text and --json), `tsa export --view effect` renders it alone to PNG/SVG/CSV, and a malformed one
# exits 2 naming the file and the key or tensor at fault. The files are written here with python3's
# standard library (no torch), following docs/effect.md.
# Usage: bash test_effect.sh PATH_TO_TSA SOURCE_DIR
set -u
. "$(dirname "$0")/lib.sh" "$@"

# Writes an effect file: $1 path, $2 a python expression that edits `effect` / `tensors` (or "pass").
write_effect() {
    python3 - "$1" "$2" <<'EOF'
import json, struct, sys
path, change = sys.argv[1], sys.argv[2]
effect = {
    "format": "tsa-effect/1", "model": "tiny", "model_type": "llama", "num_layers": 2, "q_heads": 2,
    "kv_heads": 1, "head_dim": 4,
    "params": {"window": 2, "pool_kernel": 3, "min_tokens": 4, "sparse_layers": "list", "delta": 0.5,
               "layers": [1]},
    "workload": {"kind": "text", "source": "story.txt", "last_n": 4,
                 "selection_case": {"length": 8, "depth": None}},
    "taus": [0, 0.01],
    "dense": {"ppl": 3.0, "prefill_ms": 1.5, "answers": []},
    "runs": [
        {"tau": 0, "kl_last": 0.0, "kl_mean": 0.0, "top1_agreement": 1.0, "ppl": 3.0,
         "mean_kept_fraction": 1.0, "layer_kept_fraction": [1.0, 1.0], "jaccard_vs_dense": [None, 1.0],
         "prefill_ms": 1.4, "needle": []},
        {"tau": 0.01, "kl_last": 0.02, "kl_mean": 0.01, "top1_agreement": 0.75, "ppl": 3.2,
         "mean_kept_fraction": 0.5, "layer_kept_fraction": [1.0, 0.5], "jaccard_vs_dense": [None, 0.8],
         "prefill_ms": 1.1, "needle": []},
    ],
}
tensors = {
    "tokens": ([8], [1, 5, 9, 13, 17, 21, 25, 29]),
    "runs.1.layers.1.kept": ([2, 4], [0, 1, 6, 7, 0, 3, 6, 7]),
    "runs.1.layers.1.kept_dense": ([2, 4], [0, 2, 6, 7, 0, 3, 6, 7]),
}
exec(change)
header, data = {"__metadata__": {"format": "tsa-effect/1", "effect": json.dumps(effect)}}, b""
for name, (shape, values) in tensors.items():
    blob = struct.pack("<%di" % len(values), *values)
    header[name] = {"dtype": "I32", "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
    data += blob
text = json.dumps(header).encode()
text += b" " * ((8 - len(text) % 8) % 8)
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
EOF
}

GOOD="$TMP/good_effect.safetensors"
write_effect "$GOOD" "pass" || { echo "FAIL: cannot write the test file (python3)"; exit 1; }

# 1. tsa info: the summary, one line per tau, and the Jaccard computed from the kept sets.
out=$("$TSA" info "$GOOD" 2>&1); rc=$?
[ $rc -eq 0 ] || fail "info exited $rc: $out"
expect_contains "info" "$out" "format:        tsa-effect/1"
expect_contains "info" "$out" "layers:        2, sparse: 1 (list)"
expect_contains "info" "$out" "parameters:    W 2, k 3, min_tokens 4"
expect_contains "info" "$out" "workload:      text (story.txt), L = 8, last 4 positions"
expect_contains "info" "$out" "kept sets:     yes"
expect_contains "info" "$out" "0.800"
out=$("$TSA" info "$GOOD" --json); rc=$?
[ $rc -eq 0 ] || fail "info --json exited $rc"
expect_contains "info --json" "$out" '"format":"tsa-effect/1"'
expect_contains "info --json" "$out" '"taus":[0.0,0.01]'
expect_contains "info --json" "$out" '"mean_jaccard":0.8'
python3 -c 'import json,sys; json.loads(sys.argv[1])' "$out" || fail "info --json is not JSON"

# 2. tsa export --view effect on the effect file alone: PNG, SVG, CSV.
for ext in png svg csv; do
    out=$("$TSA" export "$GOOD" --view effect --out "$TMP/effect.$ext" --tau 0.01 --width 900 --height 600 2>&1)
    rc=$?
    [ $rc -eq 0 ] || fail "export .$ext exited $rc: $out"
    [ -s "$TMP/effect.$ext" ] || fail "export .$ext wrote nothing"
done
expect_contains "csv" "$(cat "$TMP/effect.csv")" "layer,1,0.01,,,,,,,,,1,1,0.5,4,,0.8,0.8"
expect_contains "svg" "$(cat "$TMP/effect.svg")" "no needle runs in this file"
# Another view needs a capture.
out=$("$TSA" export "$GOOD" --view overview --out "$TMP/overview.png" 2>&1); rc=$?
[ $rc -eq 2 ] || fail "export --view overview of an effect file exited $rc, expected 2"
expect_contains "export overview" "$out" "--view effect"

# Beside a capture (the bundled sample: other tokens, so no comparison), and the effect view without one.
SAMPLE="$SRC/sample_data/sample.safetensors"
if [ -f "$SAMPLE" ]; then
    out=$("$TSA" export "$SAMPLE" --effect "$GOOD" --view effect --out "$TMP/beside.png" 2>&1); rc=$?
    [ $rc -eq 0 ] || fail "export beside a capture exited $rc: $out"
    [ -s "$TMP/beside.png" ] || fail "export beside a capture wrote nothing"
    out=$("$TSA" export "$SAMPLE" --view effect --out "$TMP/none.png" 2>&1); rc=$?
    [ $rc -eq 2 ] || fail "export --view effect without an effect file exited $rc, expected 2"
    expect_contains "no effect" "$out" "--effect EFFECT"
fi

# 3. Malformed files: exit 2, the file and the key or tensor named.
check_bad() { # label change expected-fragment
    local f="$TMP/bad_$1.safetensors" out rc
    write_effect "$f" "$2"
    out=$("$TSA" info "$f" 2>&1); rc=$?
    [ $rc -eq 2 ] || fail "$1: info exited $rc, expected 2"
    expect_contains "$1" "$out" "$f"
    expect_contains "$1" "$out" "$3"
    out=$("$TSA" export "$f" --view effect --out "$TMP/bad.png" 2>&1); rc=$?
    [ $rc -eq 2 ] || fail "$1: export exited $rc, expected 2"
    expect_contains "$1 (export)" "$out" "$3"
}
check_bad runs_taus 'effect["taus"] = [0, 0.01, 0.02]' "'runs' has 2 entries but 'taus' has 3"
check_bad out_of_range 'tensors["runs.1.layers.1.kept"][1][2] = 8' "runs.1.layers.1.kept"
check_bad unsorted 'tensors["runs.1.layers.1.kept_dense"][1][0:2] = [2, 0]' "not sorted ascending"
check_bad shape 'tensors["runs.1.layers.1.kept"] = ([1, 4], [0, 1, 6, 7])' "q_heads is 2"
check_bad layer_array 'effect["runs"][1]["layer_kept_fraction"] = [1.0]' "'layer_kept_fraction' has 1 entries"

finish "effect file CLI contract"
