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
# The tests give each concord they run its stores: no configuration file of this machine's (an installed package's
# /etc/concord/concord.yaml) may add to that.
export CONCORD_CONFIG=none
# The protocol models first (seconds): a protocol that no longer holds fails the run.
models=0
if [ $# -eq 0 ]; then scripts/model.sh || models=1; fi
swift build --build-tests || exit 1
swift test --skip-build "$@"
rc=$?
# The Redis-facing suites once more over TLS: the same server's TLS port (56381), its certificate verified
# against the local CA by the tests' connections and by every `concord` they run (CONCORD_REDIS_CA).
tls=0
# The package's release build starts now, niced, beside the TLS pass (mostly waiting on failovers: ~1.5 min of
# idle cores); beside the main tests it only slowed them (docs/testing.md).
release_build=
if [ $# -eq 0 ] && [ "$(id -u)" = 0 ]; then
    mkdir -p .build-deb && { nice -n 10 scripts/deb.sh --build-only > .build-deb/release-build.log 2>&1 & }
    release_build=$!
fi
if [ $# -eq 0 ]; then
    echo "make test: the Redis-facing suites again over TLS (rediss://localhost:56381)"
    CONCORD_TEST_REDIS_TLS=1 CONCORD_REDIS_CA="$PWD/.local/tls/ca.pem" swift test --skip-build \
        --filter 'ConcordRedisTests.RedisTests|ConcordFlowTests.SyncTests|SentinelSyncTests|LiveAuditTests|EventStreamTests|FailoverStreamTests' || tls=1
    [ "$tls" = 0 ] || echo "make test: the TLS pass failed (see above)" >&2
fi
# The package and the image, as an ops team and a cluster get them: make deb (release build, lintian), installed in
# a fresh Debian 12 root (scripts/package-test.sh), then make image and its checks (scripts/image-test.sh).
package=0
if [ $# -eq 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "make test: the Debian package and the container image (make deb, make image)"
        # The release build started beside the TLS pass: its failure is reported here (deb.sh below builds what is left).
        if [ -n "$release_build" ] && ! wait "$release_build"; then cat .build-deb/release-build.log >&2 || true; fi
        { scripts/deb.sh && deb=$(ls -t concord_*_amd64.deb | head -n 1) && scripts/package-test.sh "$deb" \
            && scripts/image.sh "$deb" && scripts/image-test.sh "concord_$(dpkg-deb -f "$deb" Version)_oci"; } || package=1
        [ "$package" = 0 ] || echo "make test: the package or image tests failed (see above)" >&2
    else
        echo "make test: SKIPPED the package and image tests: they need root (debootstrap, chroot); run make test as root" >&2
    fi
fi
[ "$models" = 0 ] || echo "make test: a protocol model failed (see above; make model)" >&2
exit $(( rc != 0 ? rc : (models != 0 ? models : (tls != 0 ? tls : package)) ))
