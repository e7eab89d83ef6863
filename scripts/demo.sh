#!/usr/bin/env bash
# make demo: start the local services, build concord, create the schema, and
# print a doctor report (connectivity, versions, a round trip through each store).
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
echo "== concord doctor"
"$bin" doctor
echo
echo "The services keep running; stop them with: make services-stop"
