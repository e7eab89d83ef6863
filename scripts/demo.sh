#!/usr/bin/env bash
# make demo: start the local services, build concord, create the schema,
# simulate a workload through the write paths and the sync, and print a doctor
# report (connectivity, versions, a round trip through each store, queues).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start
echo "== building concord (release)"
swift build -c release --product concord 2>&1 | tail -n 1
bin=.build/release/concord
echo
echo "== concord setup"
"$bin" setup
echo
echo "== concord simulate: 200 runs of 20 events through the real write paths, then the live sync"
"$bin" simulate --runs 200 --events-per-run 20 --seed "$(date +%s)"
echo
echo "== concord doctor"
"$bin" doctor
echo
echo "The services keep running; stop them with: make services-stop"
