#!/usr/bin/env bash
# Builds the Debian package the way it is shipped and checks it works once installed, without the source
# tree: run as root inside a Debian 12 root that has already built the project (`tools/setup.sh test`).
#   1. copies the source tree (no build/, no .git) to build/package-src and configures it with
#      TSA_NATIVE=OFF (a package runs on other CPUs; the SIMD kernels are chosen at run time);
#   2. builds tsa and tsa-explorer (and the Python module when it is configured) there and makes the .deb
#      with `cpack -G DEB`;
#   3. deletes that copy, installs the .deb with apt (which pulls the Qt runtime from its Depends);
#   4. runs the INSTALLED programs from /tmp: `tsa info` on the installed sample, the bundled presets, and
#      headless screenshots of the sample and of the stories260K example session, which must be real
#      pictures (many colours, not one flat fill); the installed Python module runs a layer and renders;
#   5. removes the package again (KEEP_INSTALLED=1 keeps it).
# The .deb is left in $TSA_PACKAGE_OUT (default build/package-deb). Exit status 0 only if every check
# passed; each failure prints "test_package: FAIL: ..." with what was expected.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=${TSA_PACKAGE_OUT:-$repo/build/package-deb}
keep=${KEEP_INSTALLED:-0}
work=$(mktemp -d /tmp/tsa-package.XXXXXX)
trap 'rm -rf "$work" "$repo/build/package-src"' EXIT

say() { echo "test_package: $*"; }
die() {
    echo "test_package: FAIL: $*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (it installs the package with apt)"
[ -f /etc/debian_version ] || die "not a Debian system"

# CPack's DEB generator needs `file` and dpkg-shlibdeps (dpkg-dev) to compute the package's Depends.
missing=()
for p in dpkg-dev file; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} (needed by cpack -G DEB)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 1-2. a baseline build from a copy of the sources, then the package -------------------------------
# The copy sits at build/package-src with its build at build/package-src/build/package: the same relative
# layout as a build/package of the checkout itself, so ccache (with CCACHE_BASEDIR) can reuse objects.
src=$repo/build/package-src
bld=$src/build/package
rm -rf "$src"
mkdir -p "$src"
tar -C "$repo" --exclude=./build --exclude=./.git -cf - . | tar -C "$src" -xf -
say "configuring a package build (TSA_NATIVE=OFF) in $bld"
cmake -S "$src" -B "$bld" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTSA_NATIVE=OFF -DTSA_BUILD_TESTS=OFF \
    -DTSA_BUILD_BENCH=OFF -DCMAKE_INSTALL_PREFIX=/usr >"$work/configure.log" 2>&1 ||
    {
        cat "$work/configure.log"
        die "cmake configure failed"
    }
grep -q "^TSA_NATIVE:BOOL=OFF" "$bld/CMakeCache.txt" || die "the package build is not TSA_NATIVE=OFF"
if grep -q -- "-march=native" "$bld/build.ninja"; then die "the package build uses -march=native"; fi
# The Python module is part of the package when this machine has Python headers and pybind11.
targets=(tsa tsa-explorer)
if cmake --build "$bld" --target help 2>/dev/null | grep -q "^tsa_explorer:"; then targets+=(tsa_explorer); fi
say "building ${targets[*]}"
cmake --build "$bld" --target "${targets[@]}" >"$work/build.log" 2>&1 ||
    {
        tail -50 "$work/build.log"
        die "build failed"
    }
say "cpack -G DEB"
(cd "$bld" && cpack -G DEB) >"$work/cpack.log" 2>&1 ||
    {
        cat "$work/cpack.log"
        die "cpack -G DEB failed"
    }
debs=("$bld"/tsa-explorer_*.deb)
[ -f "${debs[0]}" ] || die "cpack wrote no tsa-explorer_*.deb (see above)"
mkdir -p "$out"
rm -f "$out"/tsa-explorer_*.deb
cp "${debs[0]}" "$out/"
deb=$out/$(basename "${debs[0]}")
say "built $deb ($(du -h "$deb" | cut -f1))"

depends=$(dpkg-deb -f "$deb" Depends)
say "Depends: $depends"
for lib in libqt6widgets6 libqt6charts6 libqt6svg6 libqt6gui6 libgomp1 fonts-dejavu-core; do
    echo "$depends" | grep -q "$lib" || die "Depends lacks $lib: $depends"
done
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/bin/tsa ./usr/bin/tsa-explorer ./usr/share/tsa-explorer/sample.safetensors \
    ./usr/share/tsa-explorer/stories260k.safetensors ./usr/share/tsa-explorer/stories260k.session.json \
    ./usr/share/tsa-explorer/README.md ./usr/share/tsa-explorer/presets/default.json \
    ./usr/share/applications/tsa-explorer.desktop ./usr/share/mime/packages/tsa-explorer.xml \
    ./usr/share/icons/hicolor/scalable/apps/tsa-explorer.svg \
    ./usr/share/icons/hicolor/256x256/apps/tsa-explorer.png ./usr/share/doc/tsa-explorer/copyright; do
    echo "$contents" | grep -qx "$f" || die "the package lacks $f"
done
if [[ " ${targets[*]} " == *" tsa_explorer "* ]]; then
    echo "$contents" | grep -q "^./usr/lib/python3/dist-packages/tsa_explorer.*\.so$" ||
        die "the package lacks the Python module in /usr/lib/python3/dist-packages"
fi

# --- 3. install with apt, without the sources ------------------------------------------------------------
rm -rf "$src"
say "apt-get install $deb"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "$deb" >"$work/apt.log" 2>&1 ||
    {
        cat "$work/apt.log"
        die "apt-get install of the package failed"
    }
for f in /usr/bin/tsa /usr/bin/tsa-explorer /usr/share/tsa-explorer/sample.safetensors; do
    [ -e "$f" ] || die "$f is not installed"
done
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate /usr/share/applications/tsa-explorer.desktop || die "the desktop entry is invalid"
fi
if [ -f /usr/share/mime/globs2 ]; then
    grep -q "application/x-safetensors:\*.safetensors" /usr/share/mime/globs2 ||
        die "the MIME database does not know *.safetensors after installation"
fi

# --- 4. the installed programs, run from an unrelated folder ---------------------------------------------
cd "$work"
export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR=$work/runtime
mkdir -m 700 "$XDG_RUNTIME_DIR"
unset DISPLAY WAYLAND_DISPLAY

info=$(/usr/bin/tsa info /usr/share/tsa-explorer/sample.safetensors) || die "installed tsa info failed"
echo "$info" | sed 's/^/    /'
echo "$info" | grep -Eq "^layers: +8 " || die "tsa info: expected 8 layers in the installed sample"
presets=$(/usr/bin/tsa generate --list-presets) || die "installed tsa generate --list-presets failed"
echo "$presets" | grep -q "^retrieval" || die "the installed tsa does not find its presets: $presets"

# A real picture: PNG, at least 400 x 300, many colours and no single colour covering nearly everything.
check_png() {
    python3 - "$1" <<'PY' || die "$1 is not a real picture (see above)"
import struct, sys, zlib
path = sys.argv[1]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"{path}: not a PNG")
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
if depth != 8 or ctype not in (2, 6):
    sys.exit(f"{path}: unexpected PNG format depth {depth} colour type {ctype}")
bpp = 4 if ctype == 6 else 3
raw, stride = zlib.decompress(idat), w * bpp
prev, rows = bytearray(stride), []
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):  # undo the PNG row filter
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line))
    prev = line
counts = {}
for line in rows:
    for i in range(0, stride, bpp):
        px = line[i:i + 3]
        counts[px] = counts.get(px, 0) + 1
top = max(counts.values()) / (w * h)
print(f"    {path}: {w} x {h}, {len(counts)} colours, most common covers {top:.0%}")
if w < 400 or h < 300 or len(counts) < 64 or top > 0.9:
    sys.exit(f"{path}: looks blank or trivial")
PY
}
/usr/bin/tsa-explorer /usr/share/tsa-explorer/sample.safetensors --view selection --screenshot "$work/sample.png" \
    >"$work/shot.log" 2>&1 || {
    cat "$work/shot.log"
    die "installed tsa-explorer --screenshot on the sample failed"
}
check_png "$work/sample.png"
/usr/bin/tsa-explorer /usr/share/tsa-explorer/stories260k.session.json --screenshot "$work/stories.png" \
    >"$work/shot.log" 2>&1 || {
    cat "$work/shot.log"
    die "installed tsa-explorer --screenshot on the stories260K example session failed"
}
check_png "$work/stories.png"
/usr/bin/tsa export /usr/share/tsa-explorer/sample.safetensors --view coverage --out "$work/coverage.pdf" \
    >/dev/null 2>"$work/export.log" || {
    cat "$work/export.log"
    die "installed tsa export to PDF failed"
}
[ "$(head -c 5 "$work/coverage.pdf")" = "%PDF-" ] || die "installed tsa export wrote no PDF"
if [[ " ${targets[*]} " == *" tsa_explorer "* ]]; then
    # The installed module, found by Debian's python3 (the one it is built for, whatever python3 is first on
    # PATH) without PYTHONPATH: a layer run and a rendered view.
    env -u PYTHONPATH /usr/bin/python3 - "$work/module.png" >"$work/module.log" 2>&1 <<'PY' || {
import sys
import tsa_explorer as tsa
assert tsa.__file__.startswith("/usr/lib/python3/dist-packages/"), tsa.__file__
cap = tsa.open_capture("/usr/share/tsa-explorer/sample.safetensors")
output, selection, metrics = tsa.run_layer(*cap.layer(5))
assert selection.kept == 1424, selection
print(tsa.render("selection", cap, sys.argv[1], layer=5))
PY
        cat "$work/module.log"
        die "the installed Python module failed"
    }
    check_png "$work/module.png"
fi
cp "$work/sample.png" "$work/stories.png" "$out/" 2>/dev/null || true

# --- 5. clean up ------------------------------------------------------------------------------------------
if [ "$keep" != 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq tsa-explorer >"$work/apt.log" 2>&1 ||
        {
            cat "$work/apt.log"
            die "apt-get remove tsa-explorer failed"
        }
    [ ! -e /usr/bin/tsa-explorer ] || die "apt-get remove left /usr/bin/tsa-explorer"
fi
say "OK: $(basename "$deb") builds, installs with its dependencies and runs from /usr"
