#!/usr/bin/env bash
# CI's stages, run inside the brand-new Debian 12 root that .ci/fresh_root.sh makes (they also run on any
# Debian 12 machine). Usage: .ci/inside.sh [setup] [asan] [fuzz]   (default: all three, in that order)
#   setup  the README's `tools/setup.sh test` (installs the packages, builds, runs every CTest test), with the
#          64-bit indexing test switched on, then what setup.sh cannot show by itself: the bundled sample's
#          screenshot renders and is not blank, and the Python modules the tests need import (a missing one
#          would only skip those tests).
#   asan   the core tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   fuzz   each libFuzzer target for a while (.ci/fuzz.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(setup asan fuzz)

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

stage_asan() {
    echo "== AddressSanitizer + UndefinedBehaviorSanitizer: core tests"
    cmake --preset asan >/dev/null
    cmake --build --preset asan
    ASAN_OPTIONS=detect_leaks=1 ctest --preset asan -j2 -L core
}

stage_fuzz() {
    echo "== libFuzzer: parsers"
    .ci/fuzz.sh
}

for s in "${stages[@]}"; do
    case "$s" in
    setup | asan | fuzz)
        started=$(date +%s)
        "stage_$s"
        echo "== stage $s: $(($(date +%s) - started)) s"
        ;;
    *)
        echo "usage: .ci/inside.sh [setup] [asan] [fuzz]" >&2
        exit 2
        ;;
    esac
done
