#!/usr/bin/env bash
# Contract test of `tsa generate`: help, presets, byte-identical output for a seed whatever the thread
# count, the file format (read back with `tsa info`), that the bundled sample is what its documented
# command regenerates, and exit code 2 with a reason on stderr for bad options.
# Usage: bash test_generate.sh PATH_TO_TSA SOURCE_DIR
set -u
. "$(dirname "$0")/lib.sh" "$@"
expect_usage_error() { # label needle-in-stderr args...
    local label=$1 needle=$2 err rc
    shift 2
    err=$("$TSA" generate "$@" 2>&1 >/dev/null); rc=$?
    [ $rc -eq 2 ] || fail "$label: exit $rc, expected 2"
    expect_contains "$label" "$err" "$needle"
}

# 1. Help and presets.
out=$("$TSA" generate --help); rc=$?
[ $rc -eq 0 ] || fail "--help exited $rc"
for opt in --preset --seed --layers --heads --kv-heads --tokens --head-dim --out; do expect_contains "help" "$out" "$opt"; done
out=$("$TSA" generate --list-presets); rc=$?
[ $rc -eq 0 ] || fail "--list-presets exited $rc"
for p in default retrieval streaming diffuse shifting sample; do expect_contains "list" "$out" "$p"; done

# 2. Determinism: same seed, same bytes, whatever the thread count; another seed differs.
small=(--tokens 300 --layers 3 --heads 4 --kv-heads 2 --head-dim 32 --quiet)
"$TSA" generate "${small[@]}" --seed 5 --threads 1 --out "$TMP/a.safetensors" || fail "generate a"
"$TSA" generate "${small[@]}" --seed 5 --threads 2 --out "$TMP/b.safetensors" || fail "generate b"
"$TSA" generate "${small[@]}" --seed 6 --out "$TMP/c.safetensors" || fail "generate c"
cmp -s "$TMP/a.safetensors" "$TMP/b.safetensors" || fail "same seed gave different bytes across thread counts"
cmp -s "$TMP/a.safetensors" "$TMP/c.safetensors" && fail "different seeds gave identical files"

# 3. Progress on stderr, nothing on stdout.
err=$("$TSA" generate --tokens 200 --layers 2 --out "$TMP/p.safetensors" 2>&1 >"$TMP/stdout"); rc=$?
[ $rc -eq 0 ] || fail "progress run exited $rc"
expect_contains "progress" "$err" "layer 2 of 2"
[ -s "$TMP/stdout" ] && fail "generate wrote to stdout"

# 4. Format, through tsa info when it is implemented, else through python.
"$TSA" generate --preset retrieval --tokens 512 --layers 2 --seed 3 --out "$TMP/r.safetensors" --quiet || fail "retrieval"
info=$("$TSA" info --json "$TMP/r.safetensors" 2>/dev/null); rc=$?
if [ $rc -eq 0 ]; then
    for kv in '"layers":2' '"q_heads":8' '"kv_heads":2' '"tokens":512' '"head_dim":64' '"dtype":"BF16"' \
              '"has_drift":true' '"has_token_strings":true'; do
        expect_contains "info" "$info" "$kv"
    done
    expect_contains "info" "$info" "synthetic:retrieval"
fi
if command -v python3 > /dev/null; then
    python3 - "$TMP/r.safetensors" <<'PY' || fail "format check (python)"
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
m = h.pop('__metadata__')
assert m['format'] == 'tsa-qkv/1' and m['layout'] == 'HLD', m
assert m['model'] == 'synthetic:retrieval' and m['num_layers'] == '2', m
g = json.loads(m['generator'])
assert g['seed'] == 3 and g['tokens'] == 512 and g['needles'] == 16, g
s = json.loads(m['token_strings'])
needles = json.loads(m['needles'])
assert len(s) == 512 and s[0] == '<s>' and len(needles) == 16, s[:5]
# Needles read as four-digit codes, distinct, the words before them " the secret code is" where they are words.
codes = [s[p] for p in needles]
assert all(len(c) == 5 and c[0] == ' ' and c[1:].isdigit() for c in codes) and len(set(codes)) == 16, codes
assert any(s[p - 4:p] == [' the', ' secret', ' code', ' is'] for p in needles), [s[p - 4:p] for p in needles]
assert h['tokens']['dtype'] == 'I32' and h['tokens']['shape'] == [512]
for l in range(2):
    assert h[f'layers.{l}.q'] == {**h[f'layers.{l}.q'], 'dtype': 'BF16', 'shape': [8, 512, 64]}
    assert h[f'layers.{l}.k']['shape'] == [2, 512, 64] and h[f'layers.{l}.v']['shape'] == [2, 512, 64]
    assert h[f'layers.{l}.drift']['dtype'] == 'F32' and h[f'layers.{l}.drift']['shape'] == [512]
PY
fi

# 5. --print-config reflects the overrides; presets can be given as a path.
out=$("$TSA" generate --preset "$SRC/sample_data/presets/streaming.json" --seed 42 --tokens 1000 --print-config); rc=$?
[ $rc -eq 0 ] || fail "--print-config exited $rc"
expect_contains "print-config" "$out" '"preset": "streaming"'
expect_contains "print-config" "$out" '"seed": 42'
expect_contains "print-config" "$out" '"tokens": 1000'

# 6. The bundled sample is exactly what its documented command writes.
if [ -f "$SRC/sample_data/sample.safetensors" ]; then
    "$TSA" generate --preset sample --out "$TMP/sample.safetensors" --quiet || fail "regenerate sample"
    # Byte-identical on the machine that made it; another CPU's vector code may move a last bit, so
    # fall back to: same header, and BF16 values equal but for rare one-ulp differences.
    if ! cmp -s "$SRC/sample_data/sample.safetensors" "$TMP/sample.safetensors"; then
        python3 - "$SRC/sample_data/sample.safetensors" "$TMP/sample.safetensors" <<'PY' ||
import json, struct, sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
na, nb = (struct.unpack("<Q", x[:8])[0] for x in (a, b))
ha, hb = json.loads(a[8:8 + na]), json.loads(b[8:8 + nb])
assert ha == hb, "headers differ"
da, db = a[8 + na:], b[8 + nb:]
assert len(da) == len(db)
diff = sum(1 for i in range(0, len(da), 2) if da[i:i + 2] != db[i:i + 2])
assert diff <= len(da) // 2 // 1000, f"{diff} values differ"
for i in range(0, len(da), 2):
    if da[i:i + 2] != db[i:i + 2]:
        x, y = (struct.unpack("<H", d[i:i + 2])[0] for d in (da, db))
        assert abs(x - y) <= 1, f"value at byte {i} differs by more than one ulp"
PY
            fail "sample_data/sample.safetensors differs from 'tsa generate --preset sample' (regenerate it, see sample_data/README.md)"
    fi
    size=$(wc -c < "$SRC/sample_data/sample.safetensors")
    [ "$size" -le 8000000 ] || fail "sample is $size bytes, over 8 MB"
fi

# 7. Bad options: exit 2 and a reason.
expect_usage_error "no --out" "--out FILE is required" --tokens 100
expect_usage_error "unknown option" "unknown option --bogus" --bogus 1 --out "$TMP/x"
expect_usage_error "gqa" "multiple of kv_heads" --heads 6 --kv-heads 4 --out "$TMP/x"
expect_usage_error "odd head dim" "head_dim" --head-dim 63 --out "$TMP/x"
expect_usage_error "bad number" "not an integer" --tokens lots --out "$TMP/x"
expect_usage_error "bad seed" "--seed" --seed -3 --out "$TMP/x"
expect_usage_error "missing preset" "cannot open generator preset" --preset no_such_preset --out "$TMP/x"
expect_usage_error "zero layers" "--layers" --layers 0 --out "$TMP/x"
expect_usage_error "huge layers" "--layers" --layers 99999999999 --out "$TMP/x"
expect_usage_error "bad dtype" "--dtype" --dtype int8 --out "$TMP/x"
expect_usage_error "positional" "unexpected argument" stray --out "$TMP/x"
echo '{"heavy_hiter_shift": 0.5}' > "$TMP/typo.json"
expect_usage_error "preset typo" "unknown key 'heavy_hiter_shift'" --preset "$TMP/typo.json" --out "$TMP/x"
[ -e "$TMP/x" ] && fail "a failed run left an output file"

# 8. An unwritable destination is a failure of the operation (exit 1), not a usage error.
"$TSA" generate --tokens 100 --layers 1 --quiet --out "$TMP/no/such/dir/x.safetensors" 2>/dev/null; rc=$?
[ $rc -eq 1 ] || fail "unwritable output: exit $rc, expected 1"

finish test_generate
