#!/usr/bin/env bash
# The Debian package tried as an ops team would, in a Debian 12 root that holds none of the build's files
# (debootstrap --variant=minbase, made once and cached by scripts/debian-root.sh, unpacked afresh for each run): apt installs the .deb with what it depends on from Debian; `concord --version`;
# `concord doctor` against the test stores (Redis also over TLS, trusted through the system's CA store);
# `man concord` renders; `systemd-analyze verify` accepts the installed units; `apt remove` leaves only the
# conffiles, and `apt purge` those too. Needs root (chroot) and the running test services (make test starts them).
#   scripts/package-test.sh [concord_X_amd64.deb]     (default: make deb first)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[package-test] %s\n' "$*"; }
fail() { printf '[package-test] FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot)"
deb=${1:-}
if [ -z "$deb" ]; then
    scripts/deb.sh
    deb=$(ls -t concord_*_amd64.deb | head -n 1)
fi
[ -f "$deb" ] || fail "no package at $deb"

cache=$(scripts/debian-root.sh)
root=$PWD/.local/package-root
mounted=0
. scripts/lib/release-tree.sh
cleanup() { release_tree "$root" || true; }
trap cleanup EXIT
release_tree "$root" && mkdir -p "$root"
tar -C "$root" -xf "$cache"
mount -t proc proc "$root/proc" && mounted=1
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"; }

for f in /usr/bin/concord /usr/lib/x86_64-linux-gnu/libhiredis.so.0.14 /usr/lib/x86_64-linux-gnu/libpq.so.5 /usr/lib/x86_64-linux-gnu/libjansson.so.4; do
    [ ! -e "$root$f" ] || fail "the fresh root already holds $f"
done
say "apt install ./$(basename "$deb") in a fresh Debian 12 root"
cp "$deb" "$root/tmp/"
in_root apt-get update -qq >/dev/null
in_root apt-get install -y -qq --no-install-recommends "./tmp/$(basename "$deb")" > "$root/tmp/apt.log" 2>&1 || { cat "$root/tmp/apt.log"; fail "apt install"; }
# The files the package installed, and what apt pulled in with it.
in_root dpkg -L concord | sort > "$root/tmp/files"
pulled=$(sed -n 's/^Setting up \([^ :]*\).*/\1/p' "$root/tmp/apt.log" | grep -v '^concord$' | tr '\n' ' ')
say "installed $(wc -l < "$root/tmp/files") paths; apt also installed: $pulled"
# What the tests below use that the package does not need: man to read its pages, the CA store to trust the test CA,
# systemd to verify the units against.
in_root apt-get install -y -qq --no-install-recommends man-db ca-certificates systemd >/dev/null 2>&1 || fail "apt install man-db ca-certificates systemd"

version=$(in_root concord --version)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || fail "concord --version printed '$version'"
say "concord --version: $version"
# (Output goes to a file before grep reads it: with pipefail, `grep -q` closing the pipe early fails the writer.)
[[ "$(in_root getent passwd concord)" == *":/var/lib/concord:"* ]] || fail "no concord system user with home /var/lib/concord"
[ "$(in_root stat -c '%U:%G %a' /etc/concord/concord.yaml)" = "root:concord 640" ] || fail "/etc/concord/concord.yaml is not root:concord 0640"
in_root concord config check > "$root/tmp/check" 2>&1 || { cat "$root/tmp/check"; fail "concord config check of the shipped /etc/concord/concord.yaml"; }
# The installed catalog is found from /usr/bin/concord (no --rules, no CONCORD_RULES, no ./Rules in /).
in_root sh -c "cd / && concord rules list" > "$root/tmp/rules" 2>&1; grep -q "event.stuck-in-queue" "$root/tmp/rules" || { cat "$root/tmp/rules"; fail "concord rules list did not find the installed catalog"; }

# The stores written into /etc/concord/concord.yaml as an admin would (PostgreSQL's password in a file beside it, for
# the test's password role), then setup and doctor with no flag and no variable, doctor as the concord user; Redis once
# in plaintext and once over TLS (a flag over the file), trusted through the root's own CA store.
psql=("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql" -h 127.0.0.1 -p 55432 -U postgres -v ON_ERROR_STOP=1 -qtA -d postgres)
PGOPTIONS='-c client_min_messages=warning' "${psql[@]}" -c "DROP DATABASE IF EXISTS concord_package" \
    -c "CREATE DATABASE concord_package OWNER concord_pw" >/dev/null || fail "could not create the test database"
redis-cli -p 56379 -n 58 FLUSHDB >/dev/null
redis-cli -p 56380 GRAPH.DELETE concord_package >/dev/null 2>&1 || true
printf 'concord-test-password\n' > "$root/etc/concord/postgres.password"
in_root chown root:concord /etc/concord/postgres.password && chmod 0640 "$root/etc/concord/postgres.password"
cat > "$root/etc/concord/concord.yaml" <<'YAML'
postgres: {url: "postgresql://concord_pw@127.0.0.1:55432/concord_package", password_file: /etc/concord/postgres.password}
redis: redis://127.0.0.1:56379/58
graph: falkordb://127.0.0.1:56380/concord_package
YAML
in_root concord config check >/dev/null 2>&1 || fail "concord config check of the edited concord.yaml"
in_root concord setup > "$root/tmp/setup" 2>&1 || { cat "$root/tmp/setup"; fail "concord setup"; }
chroot --userspec=concord:concord "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/concord concord doctor > "$root/tmp/doctor" 2>&1 \
    || { cat "$root/tmp/doctor"; fail "concord doctor (as the concord user, the stores from /etc/concord/concord.yaml)"; }
grep -q 'concord_pw:\*\*\*@' "$root/tmp/doctor" || { cat "$root/tmp/doctor"; fail "doctor did not use the configured PostgreSQL"; }
say "concord setup, then concord doctor as the concord user, the stores from /etc/concord/concord.yaml: $(grep -c ' ok ' "$root/tmp/doctor") stores ok"
if [ -f .local/tls/ca.pem ]; then
    mkdir -p "$root/usr/local/share/ca-certificates"
    cp .local/tls/ca.pem "$root/usr/local/share/ca-certificates/concord-test-ca.crt"
    in_root update-ca-certificates >/dev/null 2>&1
    in_root concord doctor --redis rediss://localhost:56381/58 > "$root/tmp/doctor-tls" 2>&1 \
        || { cat "$root/tmp/doctor-tls"; fail "concord doctor over TLS"; }
    grep -q "certificate verified" "$root/tmp/doctor-tls" || { cat "$root/tmp/doctor-tls"; fail "doctor over TLS did not verify the certificate"; }
    say "concord doctor over rediss://: $(grep -m1 'encrypted' "$root/tmp/doctor-tls" | sed 's/^ *//')"
fi

# Issue 29's "done when", as a new user runs it: the stores and an Alertmanager in /etc/concord/concord.yaml, faults
# injected, the nightly units' own command lines run as systemd would (the concord user, /var/lib/concord) → an alert
# per rule with findings; the plan applied → the repaired rules' alerts resolved by the next nightly audit.
if [ -x /usr/bin/prometheus-alertmanager ]; then
    am=$root/tmp/am && mkdir -p "$am/data"
    printf 'route:\n  receiver: "null"\n  group_wait: 1s\nreceivers:\n  - name: "null"\n' > "$am/alertmanager.yml"
    am_port=$((20000 + RANDOM % 9000))
    /usr/bin/prometheus-alertmanager --config.file="$am/alertmanager.yml" --storage.path="$am/data" \
        --web.listen-address=127.0.0.1:$am_port --cluster.listen-address= > "$am/log" 2>&1 &
    am_pid=$!
    trap 'kill $am_pid 2>/dev/null || true; cleanup' EXIT
    for _ in $(seq 50); do curl -sf "http://127.0.0.1:$am_port/-/ready" >/dev/null && break; sleep 0.2; done
    alerts() { curl -s "http://127.0.0.1:$am_port/api/v2/alerts?active=true" | python3 -c 'import json,sys; print(" ".join(sorted(a["labels"].get("rule","") for a in json.load(sys.stdin) if a["labels"]["alertname"]=="ConcordFindings")))'; }
    echo "notify: [alertmanager+http://127.0.0.1:$am_port]" >> "$root/etc/concord/concord.yaml"
    in_root concord simulate --runs 40 --seed 29 --faults all=1 >/dev/null 2>&1 || fail "concord simulate --faults"
    unit() {  # the ExecStart of an installed unit, as systemd runs it: its user, its working directory (its StateDirectory)
        local exec; exec=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/$1")
        in_root install -d -o concord -g concord /var/lib/concord
        chroot --userspec=concord:concord "$root" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/var/lib/concord sh -c "cd /var/lib/concord && exec $exec"
    }
    status=0; unit concord-audit-full.service > "$root/tmp/full" 2>&1 || status=$?
    [ "$status" = 1 ] || { cat "$root/tmp/full"; fail "the weekly unit's audit exited $status (1: findings)"; }
    before=$(alerts)
    [ -n "$before" ] || { cat "$root/tmp/full"; fail "no ConcordFindings alert after the faults were found"; }
    in_root concord plan --report /var/lib/concord/reports/latest.json --output /tmp/plan.json >/dev/null 2>&1 || fail "concord plan"
    in_root concord apply /tmp/plan.json --yes > "$root/tmp/apply" 2>&1 || { status=$?; [ "$status" = 1 ] || { cat "$root/tmp/apply"; fail "concord apply --yes"; }; }
    in_root concord sync --once >/dev/null 2>&1 || fail "concord sync --once"
    status=0; unit concord-audit.service > "$root/tmp/nightly" 2>&1 || status=$?
    [ "$status" -le 1 ] || { cat "$root/tmp/nightly"; fail "the nightly unit's audit exited $status"; }
    after=$(alerts)
    resolved=$(comm -23 <(tr ' ' '\n' <<< "$before" | sort) <(tr ' ' '\n' <<< "$after" | sort) | tr '\n' ' ')
    [ -n "$resolved" ] || fail "no alert resolved after the repair (firing before: $before; after: $after)"
    say "alerts: the full unit's audit raised $(wc -w <<< "$before") (one per rule with error findings); after plan, apply and the nightly unit's audit, resolved: ${resolved}still firing (manual steps): ${after:-none}"
    kill $am_pid 2>/dev/null || true
else
    fail "prometheus-alertmanager is not installed (make deps installs it)"
fi

# man concord renders (man-db formats the gzipped page; a page that does not exist or does not parse fails here).
in_root man -P cat concord > "$root/tmp/man" 2> "$root/tmp/man.err" || { cat "$root/tmp/man.err"; fail "man concord"; }
grep -q "SUBCOMMANDS\|concord-audit\|audit" "$root/tmp/man" || fail "man concord printed no subcommands"
[ ! -s "$root/tmp/man.err" ] || { cat "$root/tmp/man.err"; fail "man concord warned"; }
pages=$(grep -c '^usr/share/man/man1/\|^/usr/share/man/man1/.*\.1\.gz$' "$root/tmp/files" || true)
in_root man -P cat concord-audit > "$root/tmp/man-audit" 2>/dev/null; grep -q -- "--incremental" "$root/tmp/man-audit" || fail "man concord-audit does not document --incremental"
say "man concord renders ($(wc -l < "$root/tmp/man") lines; $pages pages installed)"

# The units, as systemd reads them in that root; installed but not enabled.
units=$(grep '^/lib/systemd/system/.*\.\(service\|timer\)$' "$root/tmp/files" | tr '\n' ' ')
[ -n "$units" ] || fail "no systemd units installed"
for u in $units; do
    [ ! -e "$root/etc/systemd/system/timers.target.wants/$(basename "$u")" ] || fail "$(basename "$u") was enabled by the package"
done
in_root systemd-analyze verify $units > "$root/tmp/verify" 2>&1 || { cat "$root/tmp/verify"; fail "systemd-analyze verify"; }
[ ! -s "$root/tmp/verify" ] || { cat "$root/tmp/verify"; fail "systemd-analyze verify warned"; }
say "systemd-analyze verify: $(echo $units | wc -w) units clean, none enabled"

# Removal leaves the conffile and nothing else of the package's; purge removes it too.
rm "$root/etc/concord/postgres.password"
in_root apt-get remove -y -qq concord >/dev/null 2>&1 || fail "apt remove"
left=$(while read -r f; do if [ ! -d "$root$f" ] && { [ -e "$root$f" ] || [ -L "$root$f" ]; }; then echo "$f"; fi; done < "$root/tmp/files" | tr '\n' ' ')
[ "$left" = "/etc/concord/concord.yaml " ] || fail "after apt remove these files are left: $left"
grep -q concord_package "$root/etc/concord/concord.yaml" || fail "apt remove lost the edited conffile"
in_root apt-get purge -y -qq concord >/dev/null 2>&1 || fail "apt purge"
[ ! -e "$root/etc/concord" ] || fail "apt purge left /etc/concord"
say "apt remove left only /etc/concord/concord.yaml (edited, kept); apt purge removed it"
say "passed"
