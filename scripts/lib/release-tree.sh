# Sourced by the scripts that build or test in a Debian root (debian-root.sh, image.sh, package-test.sh, image-test.sh).
#
# release_tree DIR: unmounts whatever is mounted under DIR (deepest first; lazily if busy), then removes DIR without
# crossing into any mount. It refuses (returns 1, DIR left in place) when a mount remains: a bind of /dev or of the
# repository left mounted under a test root must never be deleted through.
release_tree() {
    local dir=$1 m
    [ -e "$dir" ] || return 0
    for m in $(awk -v r="$dir/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r); do umount "$m" 2>/dev/null || umount -l "$m"; done
    if awk -v r="$dir/" 'index($2, r) == 1 { found = 1 } END { exit !found }' /proc/mounts; then
        echo "not removing $dir: something is still mounted under it" >&2
        return 1
    fi
    rm -rf --one-file-system "$dir"
}
