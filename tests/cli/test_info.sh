#!/usr/bin/env bash
# Contract test of `tsa info`: text and --json output on the real stories260K capture (skipped when
# absent) and on a crafted file, and exit code 2 with the reason on stderr for bad files and options.
# Usage: bash test_info.sh PATH_TO_TSA SOURCE_DIR
set -u
. "$(dirname "$0")/lib.sh" "$@"

# Writes a safetensors file: $1 path, $2 header JSON, $3 data bytes (zeros).
write_safetensors() {
    local header=$2 pad n i bytes=""
    pad=$(( (8 - ${#header} % 8) % 8 ))
    header="$header$(printf '%*s' "$pad" '')"
    n=${#header}
    for i in 0 1 2 3 4 5 6 7; do bytes+=$(printf '\\x%02x' $(( (n >> (8 * i)) & 255 ))); done
    { printf "$bytes"; printf '%s' "$header"; head -c "$3" /dev/zero; } > "$1"
}

# 1. The real capture, when the shared data is there.
REAL="$SRC/../shared/data/stories260k/qkv_512.safetensors"
if [ -f "$REAL" ]; then
    out=$("$TSA" info "$REAL"); rc=$?
    [ $rc -eq 0 ] || fail "info on stories260K exited $rc"
    expect_contains "text" "$out" "layers:        5"
    expect_contains "text" "$out" "query heads:   8"
    expect_contains "text" "$out" "kv heads:      4"
    expect_contains "text" "$out" "tokens:        512"
    expect_contains "text" "$out" "head dim:      8"
    expect_contains "text" "$out" "dtype:         F32"
    expect_contains "text" "$out" "token ids:     yes"
    expect_contains "text" "$out" "drift:         yes"
    expect_contains "text" "$out" "stories260K"
    out=$("$TSA" info --json "$REAL"); rc=$?
    [ $rc -eq 0 ] || fail "info --json on stories260K exited $rc"
    for kv in '"layers":5' '"q_heads":8' '"kv_heads":4' '"tokens":512' '"head_dim":8' '"dtype":"F32"' \
              '"has_tokens":true' '"has_drift":true' '"has_token_strings":false' '"layer_ids":[0,1,2,3,4]'; do
        expect_contains "json" "$out" "$kv"
    done
    [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] || fail "--json is not one line"
    if command -v python3 > /dev/null; then
        printf '%s' "$out" | python3 -c 'import json,sys; json.load(sys.stdin)' || fail "--json output is not valid JSON"
    fi
else
    echo "SKIP: $REAL not present"
fi

# 2. A crafted partial F16 capture with token strings: layers 1 and 3 of 4, q [4, 3, 2], k/v [2, 3, 2].
H='{"__metadata__":{"format":"tsa-qkv/1","model":"tiny \"quoted\"","num_layers":"4","token_strings":"[\"a\",\"b\",\"c\"]"}'
off=0
for l in 1 3; do
    for t in q k v; do
        if [ $t = q ]; then heads=4; else heads=2; fi
        bytes=$((heads * 3 * 2 * 2))
        H+=",\"layers.$l.$t\":{\"dtype\":\"F16\",\"shape\":[$heads,3,2],\"data_offsets\":[$off,$((off + bytes))]}"
        off=$((off + bytes))
    done
done
H+='}'
write_safetensors "$TMP/tiny.safetensors" "$H" "$off"
out=$("$TSA" info "$TMP/tiny.safetensors" --json 2>"$TMP/err"); rc=$?
[ $rc -eq 0 ] || fail "info on crafted file exited $rc: $(cat "$TMP/err")"
for kv in '"layers":2' '"q_heads":4' '"kv_heads":2' '"tokens":3' '"head_dim":2' '"dtype":"F16"' \
          '"has_tokens":false' '"has_drift":false' '"has_token_strings":true' '"model":"tiny \"quoted\""' \
          '"layer_ids":[1,3]' '"model_layers":4'; do
    expect_contains "crafted json" "$out" "$kv"
done
out=$("$TSA" info "$TMP/tiny.safetensors"); rc=$?
[ $rc -eq 0 ] || fail "text info on crafted file exited $rc"
expect_contains "crafted text" "$out" "2 (ids 1,3, of 4 model layers)"
expect_contains "crafted text" "$out" "token strings: yes"

# 3. Bad inputs: exit 2, nothing on stdout, the file and the problem on stderr.
expect_bad() { # label expected-stderr-substring args...
    local label=$1 want=$2
    shift 2
    out=$("$TSA" info "$@" 2>"$TMP/err"); rc=$?
    [ $rc -eq 2 ] || fail "$label: exit $rc, expected 2"
    [ -z "$out" ] || fail "$label: printed to stdout: $out"
    expect_contains "$label stderr" "$(cat "$TMP/err")" "$want"
}
head -c 100 "$TMP/tiny.safetensors" > "$TMP/truncated.safetensors"
expect_bad "truncated" "truncated.safetensors: truncated" "$TMP/truncated.safetensors"
: > "$TMP/empty.safetensors"
expect_bad "empty" "empty.safetensors: file is empty" "$TMP/empty.safetensors"
write_safetensors "$TMP/missing_k.safetensors" \
    '{"layers.0.q":{"dtype":"F32","shape":[2,2,2],"data_offsets":[0,32]},"layers.0.v":{"dtype":"F32","shape":[2,2,2],"data_offsets":[32,64]}}' 64
expect_bad "missing k" "'layers.0.k' is missing" "$TMP/missing_k.safetensors"
write_safetensors "$TMP/json.safetensors" '{"layers.0.q": nope}' 0
expect_bad "invalid json" "invalid JSON" --json "$TMP/json.safetensors"
expect_bad "missing file" "no_such_file" "$TMP/no_such_file.safetensors"
expect_bad "no file" "missing FILE"
expect_bad "two files" "expected one FILE" a b
expect_bad "unknown option" "unknown option --bogus" "$TMP/tiny.safetensors" --bogus

out=$("$TSA" info --help); rc=$?
[ $rc -eq 0 ] || fail "--help exited $rc"
expect_contains "help" "$out" "usage: tsa info"

finish test_info
