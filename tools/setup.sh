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

packages=(cmake ninja-build g++ pkg-config qt6-base-dev qt6-charts-dev qt6-svg-dev libgl-dev
    libxkbcommon-dev libeigen3-dev libgtest-dev libbenchmark-dev libopenblas-dev nlohmann-json3-dev libzip-dev
    fonts-dejavu-core)
if [ "$mode" = test ]; then
    packages+=(xvfb xauth clang libclang-rt-14-dev python3-numpy python3-torch python3-pytest poppler-utils dpkg-dev file)
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

cmake --preset release >/dev/null
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
