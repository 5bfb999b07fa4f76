#!/usr/bin/env bash
# The README's set-up, proved on a brand-new Debian 12 root every time CI runs.
#
# Why: a machine that already has a package hides its absence from the package list (qt6-charts-dev does not
# pull in libqt6opengl6-dev; CI stayed green for weeks on machines that had it from earlier work). So this
# script makes a fresh Debian 12 root with mmdebstrap, copies in a clean clone of the project and the shared
# folder beside it, and runs there, as an ordinary user with sudo (the harder of the README's two cases; root
# is the same script without sudo), .ci/inside.sh: `tools/setup.sh test`, then the checks setup.sh does not do
# itself, the sanitizer tests and the fuzzers. A package missing from tools/debian-packages.txt fails here with
# CMake's or the compiler's own error in the log.
#
# The base image (mmdebstrap --variant=apt with ca-certificates, sudo and git: what a newcomer's machine has)
# is cached as a tarball under $TSA_CI_CACHE (default ${TMPDIR:-/tmp}/tsa-ci-cache) so a second run on the
# same machine only unpacks it; downloaded .deb files are cached beside it (they change nothing about what
# gets installed, only how long the download takes). Mounts are always undone and the root removed, also on
# failure or Ctrl-C.
#
# Usage: .ci/fresh_root.sh [--as-root] [--keep] [-- COMMAND...]
#   --as-root   run the set-up as root instead of as a sudo user
#   --keep      leave the root in place (its path is printed) for inspection
#   COMMAND     run this inside the root (in the project folder, as the chosen user) instead of
#               .ci/inside.sh; for example `.ci/fresh_root.sh -- .ci/inside.sh setup` (no sanitizers, no
#               fuzzing) or `.ci/fresh_root.sh -- tools/setup.sh explore`
# Environment: TSA_SHARED (default: ../shared beside the checkout), TSA_CI_CACHE, TSA_DEBIAN_MIRROR.
set -euo pipefail

as_root=0
keep=0
command=()
while [ $# -gt 0 ]; do
    case "$1" in
    --as-root) as_root=1 ;;
    --keep) keep=1 ;;
    --)
        shift
        command=("$@")
        break
        ;;
    *)
        echo "usage: .ci/fresh_root.sh [--as-root] [--keep] [-- COMMAND...]" >&2
        exit 2
        ;;
    esac
    shift
done

if [ "$(id -u)" -ne 0 ]; then
    echo ".ci/fresh_root.sh: must run as root (mmdebstrap --mode=root, chroot, mount)" >&2
    exit 2
fi
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
shared=${TSA_SHARED:-$repo/../shared}
cache=${TSA_CI_CACHE:-${TMPDIR:-/tmp}/tsa-ci-cache}
mirror=${TSA_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${TSA_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
base=$cache/bookworm-base.tar
mkdir -p "$cache/archives/partial"

if ! command -v mmdebstrap >/dev/null; then
    echo "== installing mmdebstrap (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null
fi

if [ ! -s "$base" ]; then
    echo "== making the Debian 12 base image (once per machine): $base"
    # The same sources a fresh Debian 12 installation has: the release, its updates and security.
    mmdebstrap --mode=root --variant=apt --include=ca-certificates,sudo,git bookworm "$base.tmp.tar" \
        "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
        "deb $security bookworm-security main"
    mv "$base.tmp.tar" "$base"
else
    echo "== reusing the cached Debian 12 base image $base"
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/tsa-fresh-root.XXXXXX")
mounted=()
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    # Innermost first; lazy unmount as a last resort so a busy mount never leaves the root half-removed.
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R "${mounted[i]}" 2>/dev/null || umount -R -l "${mounted[i]}" 2>/dev/null || true
    done
    if [ "$keep" -eq 1 ]; then
        echo "== kept the root at $root (unmounted)"
    else
        # Never follow a mount that is still there into the host: refuse to delete if anything is mounted below.
        if findmnt -rn -o TARGET | grep -q "^$root/"; then
            echo "== $root still has mounts; left in place" >&2
        else
            rm -rf --one-file-system "$root"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "== unpacking the base image into $root"
tar -xf "$base" -C "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A fresh installation knows its own host name (sudo warns on every call otherwise).
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$(hostname)" >"$root/etc/hosts"
# Keep downloaded packages between runs (mmdebstrap's image has none).
rm -f "$root/etc/apt/apt.conf.d/docker-clean"
mount --bind "$cache/archives" "$root/var/cache/apt/archives" && mounted+=("$root/var/cache/apt/archives")
mount -t proc proc "$root/proc" && mounted+=("$root/proc")
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev" && mounted+=("$root/dev")
mount -t tmpfs tmpfs "$root/tmp" && mounted+=("$root/tmp")

echo "== a clean clone of $(git -C "$repo" rev-parse --short HEAD) and the shared folder"
mkdir -p "$root/work"
git clone --quiet --no-hardlinks "$repo" "$root/work/project"
if [ -d "$shared" ]; then
    cp -a "$shared" "$root/work/shared"
else
    echo "note: no shared folder at $shared; tests that use it will skip"
fi

user=root
home=/root
if [ "$as_root" -eq 0 ]; then
    user=newcomer
    home=/home/$user
    chroot "$root" useradd --create-home --shell /bin/bash "$user"
    echo "$user ALL=(ALL) NOPASSWD: ALL" >"$root/etc/sudoers.d/$user"
    chmod 440 "$root/etc/sudoers.d/$user"
    chroot "$root" chown -R "$user:$user" /work
fi

if [ ${#command[@]} -eq 0 ]; then
    command=(.ci/inside.sh)
fi

echo "== running as $user in the fresh root: ${command[*]:0:2} ..."
started=$(date +%s)
# env -i: nothing of this machine's environment (a DISPLAY, a PATH with other tools) leaks into the root.
chroot "$root" /usr/bin/env -i HOME="$home" USER="$user" LOGNAME="$user" TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 CI="${CI:-}" \
    /usr/sbin/runuser -u "$user" -- bash -c 'cd /work/project && exec "$@"' bash "${command[@]}"
echo "== fresh root stage passed in $(($(date +%s) - started)) s"
