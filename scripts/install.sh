#!/usr/bin/env bash
# make install PREFIX=/usr/local DESTDIR=…: the release build of concord with what an
# ops team expects beside it (docs/operations.md, "Installing"):
#   PREFIX/bin/concord
#   PREFIX/share/concord/rules/          the rule catalog (used when neither --rules, CONCORD_RULES nor ./Rules exists)
#   PREFIX/share/man/man1/concord*.1     one page per subcommand (concord-audit.1, …), generated from the argument parser
#   PREFIX/share/bash-completion/completions/concord, zsh/site-functions/_concord, fish/vendor_completions.d/concord.fish
#   PREFIX/share/concord/deploy/         the systemd units and the Kubernetes example, with this PREFIX's paths
#   PREFIX/share/doc/concord/            README and docs/
set -euo pipefail
cd "$(dirname "$0")/.."
DESTDIR=${1:-}
PREFIX=${2:-/usr/local}
root="$DESTDIR$PREFIX"
# CONCORD_BUILD_FLAGS: more `swift build` options (make deb: --static-swift-stdlib --scratch-path .build-deb).
read -r -a flags <<< "${CONCORD_BUILD_FLAGS:-}"
scratch=.build
for ((i = 0; i < ${#flags[@]}; i++)); do [ "${flags[$i]}" = --scratch-path ] && scratch=${flags[$((i + 1))]}; done
# Man pages: swift-argument-parser's generate-manual tool (the plugin's, built alone in debug: seconds) reads the help
# the binary dumps. Pages named as git names its own: concord-rules-list.1 for `concord rules list` (man concord-rules-list).
build() {  # build PRODUCT [swift build options]: quiet, but a failure shows its errors
    local product=$1 log
    shift
    mkdir -p "$scratch"
    log=$scratch/install-build-$product.log
    swift build "$@" "${flags[@]}" --product "$product" > "$log" 2>&1 \
        || { grep -E "error:" "$log" | sort -u | head -n 20 >&2; echo "install: building $product failed (the whole log: $log)" >&2; exit 1; }
}
build generate-manual
man=$scratch/man
rm -rf "$man" && mkdir -p "$man"
build concord -c release
bin=$(swift build -c release "${flags[@]}" --show-bin-path)/concord
# CONCORD_BUILD_ONLY=1: the builds alone (make test runs them in the background, niced, while the tests run).
if [ -n "${CONCORD_BUILD_ONLY:-}" ]; then echo "install: built $bin and generate-manual"; exit 0; fi
"$(swift build "${flags[@]}" --show-bin-path)/generate-manual" "$bin" --output-directory "$man" --multi-page --authors "the Concord authors"
for page in "$man"/concord.*.1; do  # concord.rules.list.1
    dashed=$(basename "$page" .1 | tr . -)
    command=$(echo "$dashed" | tr - ' ')
    # NAME names the page (whatis, apropos); the synopsis and the text name the command; links follow the new names.
    sed -i -E "/^\.Sh NAME/{n;s/^\.Nm .*/.Nm $dashed/}; s/^\.Nm\$/.Nm \"$command\"/" "$page"
    mv "$page" "$man/$dashed.1"
done
sed -i -E '/^\.Xr concord\./{s/\./-/g; s/^-Xr/.Xr/}' "$man"/concord*.1
ls "$man"/concord.1 "$man"/concord-audit.1 >/dev/null 2>&1 || { echo "install: the manual pages were not generated" >&2; exit 1; }
install -d "$root/bin" "$root/share/concord/rules" "$root/share/man/man1" "$root/share/bash-completion/completions" \
    "$root/share/zsh/site-functions" "$root/share/fish/vendor_completions.d" "$root/share/concord/deploy" "$root/share/doc/concord"
install -m 0755 "$bin" "$root/bin/concord"
cp -R Rules/. "$root/share/concord/rules/"
install -m 0644 "$man"/concord*.1 "$root/share/man/man1/"
# bash completion files are sourced, not run: no #! line.
"$bin" --generate-completion-script bash | sed '1{/^#!/d}' > "$root/share/bash-completion/completions/concord"
"$bin" --generate-completion-script zsh > "$root/share/zsh/site-functions/_concord"
"$bin" --generate-completion-script fish > "$root/share/fish/vendor_completions.d/concord.fish"
cp -R deploy/. "$root/share/concord/deploy/"
# The units name the binary and the docs where this PREFIX puts them.
find "$root/share/concord/deploy" -type f \( -name '*.service' -o -name '*.timer' -o -name '*.yaml' -o -name '*.sh' \) \
    -exec sed -i "s#/usr/local/bin/concord#$PREFIX/bin/concord#g; s#/usr/local/share/#$PREFIX/share/#g" {} +
cp README.md "$root/share/doc/concord/"
cp -R docs "$root/share/doc/concord/"
echo "installed concord into $root: bin/concord, share/concord/rules ($(ls Rules/*.yaml | wc -l) files), $(ls "$man" | wc -l) man pages, completions, deploy/"
