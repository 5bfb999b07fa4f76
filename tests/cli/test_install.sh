#!/usr/bin/env bash
# `cmake --install` lays out what the package ships: binaries in bin/, samples, the example session, presets
# and their README in share/tsa-explorer/, desktop entry, MIME types, icons and copyright in their freedesktop
# places; and the installed tsa runs from that prefix. (tools/test_package.sh checks the real .deb, as root.)
# Usage: bash test_install.sh PATH_TO_TSA SOURCE_DIR  (the build directory is two levels above tsa)
set -u
TSA=${1:?usage: test_install.sh PATH_TO_TSA SOURCE_DIR}
BUILD=$(cd "$(dirname "$TSA")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

prefix=$WORK/prefix
cmake --install "$BUILD" --prefix "$prefix" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; echo "FAIL: cmake --install"; exit 1; }
for f in bin/tsa bin/tsa-explorer share/tsa-explorer/sample.safetensors share/tsa-explorer/stories260k.safetensors \
    share/tsa-explorer/stories260k.session.json share/tsa-explorer/README.md share/tsa-explorer/presets/default.json \
    share/tsa-explorer/presets/retrieval.json share/applications/tsa-explorer.desktop \
    share/mime/packages/tsa-explorer.xml share/icons/hicolor/scalable/apps/tsa-explorer.svg \
    share/icons/hicolor/48x48/apps/tsa-explorer.png share/doc/tsa-explorer/copyright; do
    [ -f "$prefix/$f" ] || fail "cmake --install did not write $f"
done
[ -x "$prefix/bin/tsa" ] || fail "bin/tsa is not executable"
grep -q "^Exec=tsa-explorer %f" "$prefix/share/applications/tsa-explorer.desktop" || fail "desktop entry Exec"
grep -q 'glob pattern="\*.safetensors"' "$prefix/share/mime/packages/tsa-explorer.xml" || fail "MIME glob"
if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$prefix/share/applications/tsa-explorer.desktop" || fail "desktop-file-validate"
fi
if command -v xmllint >/dev/null; then
    xmllint --noout "$prefix/share/mime/packages/tsa-explorer.xml" || fail "MIME XML is not well formed"
fi
grep -q "MIT License" "$prefix/share/tsa-explorer/README.md" || fail "the stories260K licence notice is not installed"

# The installed tsa, run from an unrelated folder, on the installed real-model example.
cd "$WORK"
out=$("$prefix/bin/tsa" info "$prefix/share/tsa-explorer/stories260k.safetensors" 2>&1) || fail "installed tsa info: $out"
echo "$out" | grep -Eq "^layers: +5 " || fail "installed tsa info on stories260k: $out"
echo "$out" | grep -Eq "^tokens: +512$" || fail "installed tsa info on stories260k: $out"
"$prefix/bin/tsa" generate --list-presets | grep -q "^retrieval" || fail "installed tsa does not list the presets"

# The Python module, when this build has it: installed where Debian's python3 looks, and working from there.
if [ -n "$(find "$BUILD/python" -maxdepth 1 -name 'tsa_explorer*.so' 2>/dev/null)" ]; then
    modules=("$prefix"/lib/python3/dist-packages/tsa_explorer*.so)
    [ -f "${modules[0]}" ] || fail "cmake --install did not write lib/python3/dist-packages/tsa_explorer*.so"
    out=$(PYTHONPATH="$prefix/lib/python3/dist-packages" /usr/bin/python3 -c "
import tsa_explorer as tsa
c = tsa.open_capture('$prefix/share/tsa-explorer/sample.safetensors')
print(tsa.__file__, tsa.run_layer(*c.layer(5))[1].kept)" 2>&1) || fail "the installed module: $out"
    echo "$out" | grep -q "^$prefix/lib/python3/dist-packages/tsa_explorer.* 1424$" || fail "the installed module: $out"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "cmake --install: all checks passed"
