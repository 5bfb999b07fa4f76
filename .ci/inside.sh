#!/usr/bin/env bash
# CI's stages, run inside the brand-new Debian 12 root that .ci/fresh_root.sh makes (they also run on any
# Debian 12 machine). Usage: .ci/inside.sh [explore] [setup] [cli] [package] [asan] [fuzz]
# (default: setup cli package asan fuzz)
#   explore  the README's first command, `tools/setup.sh explore`, as a newcomer runs it: without a display it
#            must build and then say what to run instead; with one (Xvfb) the window must open on the bundled
#            sample. Run it in a root of its own, before anything else installs the test packages, or a
#            package that only `test` installs would hide a gap in what `explore` installs.
#   setup  the README's `tools/setup.sh test` (installs the packages, builds, runs every CTest test), with the
#          64-bit indexing test switched on, then what setup.sh cannot show by itself: the bundled sample's
#          screenshot renders and is not blank, and the Python modules the tests need import (a missing one
#          would only skip those tests).
#   cli    the command line stands alone: configured with TSA_BUILD_GUI=OFF (the cli preset, Qt not even
#          searched), only `tsa` built, then `tsa info` and `tsa run` on the bundled sample and `tsa export`
#          refused with exit 2 and a reason
#   package  tools/test_package.sh (as root): the .deb built without -march=native, installed with apt, and
#          the installed programs run without the source tree (tsa info, headless screenshots, a PDF)
#   asan   under AddressSanitizer + UndefinedBehaviorSanitizer: the core tests, the window's hover/tooltip
#          test on every view, and the monkey test (thousands of random events, fixed seed)
#   fuzz   each libFuzzer target for a while (.ci/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(setup cli package asan fuzz)

stage_explore() {
    echo "== tools/setup.sh explore without a display"
    local out rc
    set +e
    out=$(env -u DISPLAY -u WAYLAND_DISPLAY tools/setup.sh explore 2>&1)
    rc=$?
    set -e
    printf '%s\n' "$out" | tail -n 25
    if [ "$rc" -ne 1 ] || ! grep -q "No display: run" <<<"$out"; then
        echo "setup.sh explore without a display: expected exit 1 and what to run instead, got exit $rc" >&2
        return 1
    fi

    echo "== tools/setup.sh explore with a display (Xvfb): the window opens on the bundled sample"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    # Only to watch the window: an X server and xwininfo, installed after explore's own packages.
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends xvfb x11-utils >/dev/null
    Xvfb :77 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    local xvfb=$! window="" i
    DISPLAY=:77 tools/setup.sh explore >/tmp/explore.log 2>&1 &
    local app=$!
    for i in $(seq 60); do
        window=$(DISPLAY=:77 xwininfo -root -tree 2>/dev/null | grep -F "sample.safetensors" | head -n 1 || true)
        [ -n "$window" ] && break
        kill -0 "$app" 2>/dev/null || break
        sleep 1
    done
    kill "$app" "$xvfb" 2>/dev/null || true
    wait "$app" "$xvfb" 2>/dev/null || true
    if [ -z "$window" ]; then
        echo "no explorer window on the sample appeared within 60 s; its output:" >&2
        cat /tmp/explore.log >&2
        return 1
    fi
    echo "window: $(sed 's/^ *//' <<<"$window")"
}

stage_setup() {
    echo "== tools/setup.sh test (TSA_LARGE_TESTS=1: the 128K x 32 heads x 128 dims indexing test runs too)"
    TSA_LARGE_TESTS=1 tools/setup.sh test

    echo "== the bundled sample's screenshot"
    local out
    out=$(mktemp -d)/sample.png
    QT_QPA_PLATFORM=offscreen build/release/app/tsa-explorer sample_data/sample.safetensors \
        --view selection --screenshot "$out"
    python3 - "$out" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{sys.argv[1]}: not a PNG")
w, h = struct.unpack(">II", data[16:24])
if w < 400 or h < 300 or len(data) < 20000:
    sys.exit(f"{sys.argv[1]}: {w}x{h}, {len(data)} bytes: too small or blank")
print(f"sample screenshot: {w}x{h}, {len(data)} bytes")
PY
    python3 -c 'import numpy, torch, pytest; print("python test modules: numpy", numpy.__version__, "torch", torch.__version__)'
}

stage_cli() {
    echo "== the command line without the GUI (cli preset: TSA_BUILD_GUI=OFF)"
    cmake --preset cli >/dev/null
    if grep -q "^Qt6_DIR" build/cli/CMakeCache.txt; then
        echo "the cli preset searched for Qt; the command line must configure without it" >&2
        return 1
    fi
    cmake --build --preset cli --target tsa
    local tsa=build/cli/app/tsa out rc
    if ldd "$tsa" | grep -q libQt; then
        echo "$tsa links Qt" >&2
        return 1
    fi
    "$tsa" info sample_data/sample.safetensors >/dev/null
    out=$("$tsa" run sample_data/sample.safetensors --layers 6,7 --quiet)
    grep -Eq "^ +7  sparse" <<<"$out" || { echo "tsa run (no GUI): layer 7 not sparse: $out" >&2; return 1; }
    set +e
    out=$("$tsa" export sample_data/sample.safetensors --view overview --out /tmp/x.png 2>&1)
    rc=$?
    set -e
    if [ "$rc" -ne 2 ] || ! grep -q "without the GUI" <<<"$out"; then
        echo "tsa export without the GUI: expected exit 2 and a reason, got exit $rc: $out" >&2
        return 1
    fi
    echo "tsa without Qt: info, run and the export refusal behave"
}

stage_package() {
    echo "== the Debian package, built and installed"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo tools/test_package.sh
}

stage_asan() {
    # One sanitizer build (the asan-gui preset: core, views and window) serves the core tests and the
    # window's monkey test; only the targets those need are built, which keeps the stage short.
    echo "== AddressSanitizer + UndefinedBehaviorSanitizer: core tests, the window's event test and monkey test"
    local targets=(monkey_window test_app_events)
    local t
    for t in tests/core/test_*.cpp; do targets+=("$(basename "$t" .cpp)"); done
    # The fuzz regression replays carry the core label too (hostile inputs under the sanitizers).
    for t in tests/fuzz/fuzz_*.cpp; do targets+=("fuzz_replay_$(basename "$t" .cpp | sed 's/^fuzz_//')"); done
    cmake --preset asan-gui >/dev/null
    cmake --build --preset asan-gui --target "${targets[@]}"
    ctest --preset asan-gui -j2 -L core
    ctest --preset asan-gui -R '^test_app_events$'
    # The fixed seed (monkey_window prints it); TSA_MONKEY_SEED=random for a longer exploratory run.
    ctest --preset asan-gui -L monkey
}

stage_fuzz() {
    echo "== libFuzzer: parsers"
    .ci/fuzz.sh
}

for s in "${stages[@]}"; do
    case "$s" in
    explore | setup | cli | package | asan | fuzz)
        started=$(date +%s)
        "stage_$s"
        echo "== stage $s: $(($(date +%s) - started)) s"
        ;;
    *)
        echo "usage: .ci/inside.sh [explore] [setup] [cli] [package] [asan] [fuzz]" >&2
        exit 2
        ;;
    esac
done
