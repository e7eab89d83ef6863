#!/usr/bin/env bash
# make deb → concord_<version>_amd64.deb in the repository's top folder (docs/operations.md, "The Debian package").
# A release build with the Swift runtime linked in (--static-swift-stdlib), so that the package depends only on
# Debian's own libraries (Depends from dpkg-shlibdeps); what `make install PREFIX=/usr` installs, in Debian's places:
#   /usr/bin/concord, /usr/share/concord/rules/, /usr/share/man/man1/concord*.1.gz, completions (bash, zsh, fish),
#   /lib/systemd/system/concord-audit{,-full}.{service,timer} (installed, not enabled),
#   /etc/concord/concord.yaml (a conffile, 0640 root:concord), /usr/share/doc/concord/ (README, docs, examples).
# The postinst makes the `concord` system user and /var/lib/concord. lintian runs on the result (deploy/debian/lintian-overrides
# says why each override is there); `scripts/deb.sh --no-lintian` skips it; `--build-only` only builds.
set -euo pipefail
cd "$(dirname "$0")/.."
lint=1
[ "${1:-}" = --no-lintian ] && lint=0
scratch=.build-deb
export CONCORD_BUILD_FLAGS="--static-swift-stdlib --scratch-path $scratch"
# --build-only: the release build alone (make test starts it niced in the background while the tests run).
if [ "${1:-}" = --build-only ]; then CONCORD_BUILD_ONLY=1 exec scripts/install.sh "$scratch/stage" /usr; fi
stage=$scratch/stage
rm -rf "$stage"
scripts/install.sh "$stage" /usr >/dev/null
bin=$stage/usr/bin/concord
version=$("$bin" --version)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || { echo "deb: concord --version printed '$version'" >&2; exit 1; }
pkg=$scratch/pkg/concord_${version}_amd64
rm -rf "$scratch/pkg" && mkdir -p "$pkg"
cp -a "$stage/." "$pkg/"
cd "$pkg"
# Debian's places: zsh completions, the units under /lib/systemd/system, the examples with the docs, man pages compressed.
mkdir -p usr/share/zsh/vendor-completions lib/systemd/system etc/concord usr/share/doc/concord/examples
mv usr/share/zsh/site-functions/_concord usr/share/zsh/vendor-completions/ && rmdir usr/share/zsh/site-functions
mv usr/share/concord/deploy/systemd/*.service usr/share/concord/deploy/systemd/*.timer lib/systemd/system/
chmod 0644 lib/systemd/system/*
# The configuration (a conffile; the postinst makes it 0640 root:concord, lintian wants conffiles shipped 0644).
install -m 0644 usr/share/concord/deploy/concord.yaml etc/concord/concord.yaml
mv usr/share/concord/deploy/* usr/share/doc/concord/examples/ && rmdir usr/share/concord/deploy
gzip -9n usr/share/man/man1/*.1
strip --strip-unneeded usr/bin/concord
# The package's own files.
cd - >/dev/null
install -m 0644 deploy/debian/copyright "$pkg/usr/share/doc/concord/copyright"
maintainer="${DEBFULLNAME:-The Concord authors} <${DEBEMAIL:-concord@localhost}>"
date=$(git log -1 --format=%aD 2>/dev/null || date -R)
printf 'concord (%s) unstable; urgency=medium\n\n  * Built from the Concord repository at %s.\n\n -- %s  %s\n' \
    "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$maintainer" "$date" | gzip -9n > "$pkg/usr/share/doc/concord/changelog.gz"
install -d "$pkg/usr/share/lintian/overrides"
install -m 0644 deploy/debian/lintian-overrides "$pkg/usr/share/lintian/overrides/concord"
find "$pkg" -type d -exec chmod 0755 {} +
# Depends: what the binary links, as dpkg-shlibdeps names Debian's packages for it.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debian"
printf 'Source: concord\n\nPackage: concord\nArchitecture: amd64\n' > "$tmp/debian/control"
depends=$(cd "$tmp" && dpkg-shlibdeps -O "$OLDPWD/$pkg/usr/bin/concord" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "deb: dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
mkdir -p "$pkg/DEBIAN"
sed "s|@VERSION@|$version|; s|@SIZE@|$size|; s|@DEPENDS@|$depends|; s|@MAINTAINER@|$maintainer|" deploy/debian/control.in > "$pkg/DEBIAN/control"
install -m 0644 deploy/debian/conffiles "$pkg/DEBIAN/conffiles"
install -m 0755 deploy/debian/postinst deploy/debian/postrm "$pkg/DEBIAN/"
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"
out=concord_${version}_amd64.deb
dpkg-deb --root-owner-group -Zxz --build "$pkg" "$out" >/dev/null
echo "deb: $out ($(du -h "$out" | cut -f1)), Depends: $depends, adduser"
if [ "$lint" = 1 ]; then
    status=0
    said=$(lintian --fail-on warning,error "$out" 2>&1) || status=$?
    grep -v '^running with root privileges' <<< "$said" || true
    [ "$status" = 0 ] || { echo "deb: lintian found problems (above)" >&2; exit 1; }
    echo "deb: lintian clean (overrides, each explained: deploy/debian/lintian-overrides)"
fi
