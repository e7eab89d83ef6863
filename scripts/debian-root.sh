#!/usr/bin/env bash
# Prints the path of a Debian 12 root (debootstrap --variant=minbase, from the mirror apt uses here), made once
# and cached as .local/debian-bookworm-minbase.tar: the package test installs the .deb into a fresh copy of it,
# and make image builds the image from one. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=$PWD/.local/debian-bookworm-minbase.tar
if [ ! -f "$cache" ]; then
    command -v debootstrap >/dev/null || { echo "debian-root: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }
    echo "[debian-root] debootstrap --variant=minbase bookworm (once; cached in .local/)" >&2
    tmp=$PWD/.local/debian-bootstrap
    # debootstrap mounts proc and sys in the target: a run that failed may have left them; never delete through a mount.
    . scripts/lib/release-tree.sh
    release_tree "$tmp" && mkdir -p "$PWD/.local"
    mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    debootstrap --variant=minbase bookworm "$tmp" "${mirror:-http://deb.debian.org/debian}" > "$PWD/.local/debootstrap.log" 2>&1 \
        || { tail -n 20 "$PWD/.local/debootstrap.log" >&2; exit 1; }
    tar -C "$tmp" -cf "$cache.part" . && mv "$cache.part" "$cache"
    release_tree "$tmp"
fi
echo "$cache"
