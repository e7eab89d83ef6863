#!/usr/bin/env bash
# make bench: start the services, build in release mode, print the benchmark tables.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start
# The comparisons the realworld bench runs beside Concord (not needed by make test).
if ! .local/venv/bin/python -c 'import duckdb, redis, psycopg, hiredis, orjson' 2>/dev/null; then
    .local/venv/bin/pip install -q --disable-pip-version-check duckdb==2.0.1 redis==8.1.0 hiredis==3.5.0 orjson==3.11.5 'psycopg[binary]==3.3.9' \
        || .local/venv/bin/pip install -q --disable-pip-version-check duckdb==2.0.1 redis==8.1.0 hiredis==3.5.0 orjson==3.11.5 psycopg==3.3.9
fi
# wrk loads concord serve in the serve bench.
if ! command -v wrk >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null || apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi
swift build -c release --product concord-bench
swift build -c release --product concord  # the bench runs it as a child process
.build/release/concord-bench "${@:-all}"
