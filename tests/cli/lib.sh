# What every command-line contract test starts with, sourced as `. "$(dirname "$0")/lib.sh" "$@"`:
# the two arguments CTest passes (the tsa binary, the source tree), a scratch folder removed on exit,
# and checks that count failures so one run reports every broken promise, not just the first.
TSA=${1:?usage: $(basename "$0") PATH_TO_TSA SOURCE_DIR}
SRC=${2:?usage: $(basename "$0") PATH_TO_TSA SOURCE_DIR}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
expect_contains() { # label haystack needle
    case "$2" in *"$3"*) ;; *) fail "$1: output lacks '$3'"$'\n'"$2" ;; esac
}
expect_rc() { # expected_rc description command... (stdout in $TMP/out.txt, stderr in $TMP/err.txt)
    local want=$1 what=$2 rc
    shift 2
    "$@" >"$TMP/out.txt" 2>"$TMP/err.txt"
    rc=$?
    [ "$rc" -eq "$want" ] || { fail "$what: exit $rc, wanted $want"; cat "$TMP/err.txt" >&2; }
}
is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; }
# A private runtime folder so Qt does not warn about (or write to) the user's.
use_private_runtime_dir() {
    export XDG_RUNTIME_DIR="$TMP/runtime"
    mkdir -m 700 "$XDG_RUNTIME_DIR"
}
finish() { # name: exits 1 when any check failed
    if [ "$failures" -ne 0 ]; then
        echo "$failures failure(s)" >&2
        exit 1
    fi
    echo "$1: all checks passed"
}
