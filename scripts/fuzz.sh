#!/usr/bin/env bash
# make fuzz: build the libFuzzer binary (Fuzz/, -sanitize=fuzzer,address) and run
# every target for FUZZ_SECONDS (default 60) from its committed corpus; print
# executions and coverage per target; exit non-zero if any target found a crash,
# a hang, an allocation over the limit or a broken property.
#   FUZZ_SECONDS=600 make fuzz            every target, ten minutes each
#   FUZZ_TARGETS="json resp" make fuzz    some targets
#   FUZZ_JOBS=2 make fuzz                 targets run side by side
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-"json event expression rules packstream bolt resp plan manifest"}
jobs=${FUZZ_JOBS:-1}
scripts/services.sh install >/dev/null || exit 1
echo "== building the fuzzer (release, -sanitize=fuzzer,address)"
swift build --package-path Fuzz --scratch-path .build-fuzz -c release \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -use-ld=lld 2>&1 | grep -E "error|warning: unre|Compiling concord_fuzz|Build" || true
bin=.build-fuzz/release/concord-fuzz
[ -x "$bin" ] || { echo "the fuzzer did not build" >&2; exit 1; }
work=.build-fuzz/runs
mkdir -p "$work"

run() {
    local t=$1 dir="$work/$t"
    rm -rf "$dir"; mkdir -p "$dir/corpus" "$dir/artifacts"
    cp Fuzz/corpus/"$t"/* "$dir/corpus/"
    # -timeout: seconds per input; -rss_limit_mb / -malloc_limit_mb: memory a single input may take.
    CONCORD_FUZZ_TARGET=$t ASAN_OPTIONS=detect_leaks=0 "$bin" "$dir/corpus" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/" > "$dir/log" 2>&1
    echo $? > "$dir/rc"
}

pids=()
for t in $targets; do
    run "$t" &
    pids+=($!)
    if [ "${#pids[@]}" -ge "$jobs" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait

status=0
printf '\n| target | seconds | executions | exec/s | coverage (edges) | features | corpus | result |\n|---|---:|---:|---:|---:|---:|---:|---|\n'
for t in $targets; do
    dir="$work/$t"
    execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$dir/log" | grep -oE '[0-9]+$' || echo 0)
    speed=$(( execs / (seconds > 0 ? seconds : 1) ))
    last=$(grep -E '^#[0-9]+' "$dir/log" | tail -1)
    cov=$(echo "$last" | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+' || echo 0)
    ft=$(echo "$last" | grep -oE 'ft: [0-9]+' | grep -oE '[0-9]+' || echo 0)
    corp=$(echo "$last" | grep -oE 'corp: [0-9]+' | grep -oE '[0-9]+' || echo 0)
    found=$(ls "$dir/artifacts" 2>/dev/null | head -3 | tr '\n' ' ')
    result=clean
    if [ "$(cat "$dir/rc")" != 0 ] || [ -n "$found" ]; then
        result="FOUND: ${found:-exit $(cat "$dir/rc")} (see $dir/log)"
        status=1
    fi
    printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$seconds" "$execs" "$speed" "$cov" "$ft" "$corp" "$result"
done
if [ "$status" != 0 ]; then
    echo
    echo "A finding: reproduce with CONCORD_FUZZ_TARGET=<target> $bin <artifact>; fix it, add the artifact to Fuzz/corpus/<target>/regression-<what>, and make test replays it."
fi
exit $status
