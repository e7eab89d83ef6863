#!/usr/bin/env bash
# make model: the protocols model-checked with spin (Models/*.pml, docs/models.md).
# Each model is searched exhaustively at its bounds and must hold; each mutation of
# its protocol must be refuted by a counterexample, whose trail is written to
# .build/models/<model>.<mutation>.trail.txt (the shortest spin finds with -i).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v spin >/dev/null || { [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq spin >/dev/null; }
command -v spin >/dev/null || { echo "spin is not installed (apt-get install spin)" >&2; exit 1; }
out=.build/models
mkdir -p "$out"
status=0
# model | mutations that must fail
models=(
  "publication MUT_MARK_FIRST MUT_NO_LOOK MUT_NO_LOCK MUT_NO_LAST_LOOK"
  "sync_queue MUT_CONFIRM_FIRST"
  "undo MUT_FORWARD"
)
check() {  # name, -D flag or "", expect 0|fail
    local name=$1 define=$2 expect=$3 dir
    dir=$(mktemp -d)
    cp "Models/$name.pml" "$dir/"
    ( cd "$dir" && spin $define -a "$name.pml" >/dev/null && gcc -O2 -DSAFETY -w -o pan pan.c ) || { echo "$name $define: spin or gcc failed" >&2; return 1; }
    local result
    result=$(cd "$dir" && ./pan -m1000000 $( [ "$expect" = fail ] && echo -i ) 2>&1)
    local errors states depth
    errors=$(sed -n 's/.*errors: \([0-9]*\).*/\1/p' <<<"$result" | head -n1)
    states=$(sed -n 's/^ *\([0-9][0-9]*\) states, stored.*/\1/p' <<<"$result" | head -n1)
    depth=$(sed -n 's/.*depth reached \([0-9]*\).*/\1/p' <<<"$result" | head -n1)
    if [ "$expect" = 0 ]; then
        if [ "$errors" = 0 ]; then echo "holds    $name: $states states, depth $depth"; else echo "FAILS    $name: $errors error(s)"; grep -m1 "assertion" <<<"$result"; status=1; fi
    else
        if [ "${errors:-0}" != 0 ]; then
            local trail="$out/$name.${define#-D}.trail.txt"
            ( cd "$dir" && spin -t $define -p -g "$name.pml" ) > "$trail" 2>&1 || true
            local steps
            steps=$(grep -c "proc " "$trail" || true)
            echo "refuted  $name with ${define#-D}: $(grep -m1 -o 'assertion violated.*' <<<"$result" | cut -c1-110) — $steps steps ($trail)"
        else
            echo "NOT REFUTED $name with ${define#-D}: the model cannot tell this mutation from the protocol"; status=1
        fi
    fi
    rm -rf "$dir"
}
for entry in "${models[@]}"; do
    set -- $entry
    name=$1; shift
    check "$name" "" 0
    for m in "$@"; do check "$name" "-D$m" fail; done
done
exit $status
