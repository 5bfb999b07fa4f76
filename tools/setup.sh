#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (root, or a user with sudo):
#   tools/setup.sh explore   install what is missing, build, open the explorer on the bundled sample
#   tools/setup.sh test      install what is missing, build, run the whole test suite headless
# Nothing is downloaded except Debian packages.
set -euo pipefail

mode=${1:-}
case "$mode" in
explore | test) ;;
*)
    echo "usage: tools/setup.sh explore|test" >&2
    exit 2
    ;;
esac
cd "$(dirname "$0")/.."

# One list, tools/debian-packages.txt: `build` packages for both modes, `test` packages for the test mode.
stages='build'
[ "$mode" = test ] && stages='build|test'
mapfile -t packages < <(awk -v s="^($stages)\$" '!/^#/ && NF >= 2 && $2 ~ s { print $1 }' tools/debian-packages.txt)
if [ ${#packages[@]} -eq 0 ]; then
    echo "tools/setup.sh: no packages read from tools/debian-packages.txt" >&2
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "Installing from Debian: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# `explore` installs only the build packages, so it must not configure the tests (GoogleTest is a test
# package); `test` switches them back on in case an earlier `explore` configured the same build folder.
tests=OFF
[ "$mode" = test ] && tests=ON
cmake --preset release -DTSA_BUILD_TESTS=$tests >/dev/null
cmake --build --preset release

if [ "$mode" = explore ]; then
    sample=sample_data/sample.safetensors
    if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
        echo "No display: run 'build/release/app/tsa-explorer $sample' from a desktop session," >&2
        echo "or render a view headless: build/release/app/tsa-explorer $sample --view selection --screenshot out.png" >&2
        exit 1
    fi
    exec build/release/app/tsa-explorer "$sample"
fi

export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$(mktemp -d)}
chmod 700 "$XDG_RUNTIME_DIR"
ctest --preset release -j2
