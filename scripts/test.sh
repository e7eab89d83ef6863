#!/usr/bin/env bash
# make test: install what is missing, start the services, build, run every
# test against them, stop the services (also on failure), exit with the result.
set -uo pipefail
cd "$(dirname "$0")/.."
started_here=0
if ! scripts/services.sh status >/dev/null 2>&1; then started_here=1; fi
scripts/services.sh start || exit 1
cleanup() { if [ "$started_here" = 1 ] || [ -n "${CI:-}" ]; then scripts/services.sh stop; fi; }
trap cleanup EXIT
export CONCORD_VENV_PYTHON="$PWD/.local/venv/bin/python"
swift build --build-tests || exit 1
swift test --skip-build "$@"
