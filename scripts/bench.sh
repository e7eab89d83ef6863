#!/usr/bin/env bash
# make bench: start the services, build in release mode, print the benchmark tables.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start
swift build -c release --product concord-bench
swift build -c release --product concord  # the bench runs it as a child process
.build/release/concord-bench "${@:-all}"
