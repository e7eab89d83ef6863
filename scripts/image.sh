#!/usr/bin/env bash
# make image → an OCI image of concord, built without a Docker engine (docs/operations.md, "The container image"):
#   concord_<version>_oci/          an OCI image layout (tags <version> and latest), for skopeo, crane or ctr
#   concord_<version>_image.tar     the same image as a docker-archive tar (docker load, kind load image-archive,
#                                   podman load), named concord:<version>
# Built from a minimal Debian 12 root (scripts/debian-root.sh: debootstrap --variant=minbase, cached) with the
# package of `make deb` installed and nothing else but the Debian libraries it depends on and CA certificates; the
# user concord is uid/gid 10001 (the manifests' runAsUser), ENTRYPOINT ["concord"], /reports for the reports.
# What is removed: apt's lists and caches, documentation (but the copyright files), man pages, locales, logs.
# Needs root (chroot), umoci and skopeo.
#   scripts/image.sh [concord_X_amd64.deb]     (default: make deb first)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[image] %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "image: needs root (chroot)" >&2; exit 1; }
for tool in umoci skopeo; do command -v $tool >/dev/null || { echo "image: $tool is not installed (apt-get install $tool)" >&2; exit 1; }; done
deb=${1:-}
if [ -z "$deb" ]; then
    scripts/deb.sh
    deb=$(ls -t concord_*_amd64.deb | head -n 1)
fi
version=$(dpkg-deb -f "$deb" Version)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
created=$(git log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
source=${CONCORD_IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null || echo unknown)}
cache=$(scripts/debian-root.sh)
work=$PWD/.build-deb/image
root=$work/root
# Nothing may stay mounted under the work folder when it is removed (a failed run's proc, say).
. scripts/lib/release-tree.sh
release_tree "$work" && mkdir -p "$root"
mounted=0
trap '[ "$mounted" = 1 ] && { umount "$root/proc" 2>/dev/null || umount -l "$root/proc"; }; true' EXIT
tar -C "$root" -xf "$cache"
mount -t proc proc "$root/proc" && mounted=1
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

# The user first, with the manifests' ids: the package's postinst keeps a concord user that exists.
in_root groupadd --gid 10001 concord
in_root useradd --uid 10001 --gid 10001 --home-dir /var/lib/concord --no-create-home --shell /usr/sbin/nologin concord
cp "$deb" "$root/tmp/"
in_root apt-get update -qq >/dev/null
in_root apt-get install -y -qq --no-install-recommends "./tmp/$(basename "$deb")" ca-certificates > "$work/apt.log" 2>&1 \
    || { cat "$work/apt.log" >&2; exit 1; }
in_root install -d -o 10001 -g 10001 -m 0775 /reports
in_root chown 10001:10001 /var/lib/concord
# Nothing the image does not run: apt's lists and caches, docs (the copyright files stay), man pages, locales, logs.
in_root apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/tmp/* "$root"/var/tmp/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$root/var/log" -type f -delete
find "$root/dev" -mindepth 1 -delete   # the runtime provides /dev
: > "$root/etc/resolv.conf"
{ umount "$root/proc" 2>/dev/null || umount -l "$root/proc"; } && mounted=0

# The OCI layout: an empty image unpacked, its rootfs replaced by the root, repacked as one layer, then configured.
layout=$work/oci
umoci init --layout "$layout"
umoci new --image "$layout:$version"
umoci unpack --image "$layout:$version" "$work/bundle" >/dev/null
rmdir "$work/bundle/rootfs" && mv "$root" "$work/bundle/rootfs"
umoci repack --image "$layout:$version" --history.created_by "scripts/image.sh: debootstrap minbase + $(basename "$deb")" "$work/bundle"
umoci config --image "$layout:$version" --os linux --architecture amd64 --created "$created" \
    --config.entrypoint concord --config.user 10001:10001 --config.workingdir /var/lib/concord \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --config.env LANG=C.UTF-8 \
    --config.volume /reports \
    --config.label org.opencontainers.image.title=concord \
    --config.label "org.opencontainers.image.description=Consistency audit and repair for a workflow in PostgreSQL, Neo4j and Redis" \
    --config.label "org.opencontainers.image.version=$version" \
    --config.label "org.opencontainers.image.revision=$revision" \
    --config.label "org.opencontainers.image.source=$source" \
    --config.label "org.opencontainers.image.created=$created" \
    --config.label org.opencontainers.image.base.name=debian:bookworm-minbase \
    --history.created_by "scripts/image.sh: ENTRYPOINT [\"concord\"], USER 10001:10001"
umoci tag --image "$layout:$version" latest
umoci gc --layout "$layout"
out=concord_${version}_oci
rm -rf "$out" && mv "$layout" "$out"
tar=concord_${version}_image.tar
rm -f "$tar"
skopeo copy --quiet "oci:$out:$version" "docker-archive:$tar:concord:$version"
release_tree "$work"
size=$(skopeo inspect --raw "oci:$out:$version" | python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(sys.stdin)["layers"]))')
say "$out (tags $version, latest) and $tar (concord:$version): one layer, $((size / 1024 / 1024)) MiB compressed, $(du -sh "$tar" | cut -f1) as a docker-archive"
