#!/usr/bin/env bash
# The image of `make image` checked as a cluster would run it, without a container engine: unpacked again with
# `umoci unpack`, its config read back (skopeo inspect of the docker-archive, and the runtime bundle's config.json),
# its contents checked (what it must hold, what it must not), and its entrypoint run in a chroot of its root as uid
# 10001 with the manifests' ConfigMap (concord.yaml), Secret, /reports and /rules mounted where they mount them:
# `concord --version`, config check, setup and doctor against the test stores, `concord audit --partition 0/2`, then the nightly CronJob's own script (read
# from deploy/kubernetes/concord-audit.yaml) as each of its 4 indexed pods, whose merged report must hold the
# findings of one whole audit. Needs root and the running test services (make test starts them).
#   scripts/image-test.sh [concord_X_oci]     (default: make image first)
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[image-test] %s\n' "$*"; }
fail() { printf '[image-test] FAILED: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (chroot, mount)"
layout=${1:-}
if [ -z "$layout" ]; then
    scripts/image.sh
    layout=$(ls -td concord_*_oci | head -n 1)
fi
version=$(basename "$layout" | sed 's/^concord_\(.*\)_oci$/\1/')
tar=concord_${version}_image.tar
[ -d "$layout" ] && [ -f "$tar" ] || fail "no image at $layout and $tar (make image)"
work=$PWD/.local/image-test
bundle=$work/bundle
rootfs=$bundle/rootfs
mounts=()
# The test binds /dev, the repository's Rules, … under the work folder: released (unmounted first) on every exit.
. scripts/lib/release-tree.sh
cleanup() { release_tree "$work" || true; }
trap cleanup EXIT
release_tree "$work" && mkdir -p "$work"

# The config, as a registry and a runtime see it.
python_check() { python3 -c "import json,sys; d=json.load(sys.stdin); $1" || fail "$2"; }
skopeo inspect --config "docker-archive:$tar" > "$work/config.json"
python_check 'c=d["config"]; assert c["Entrypoint"]==["concord"], c; assert c["User"]=="10001:10001", c
l=c["Labels"]; assert l["org.opencontainers.image.version"]=="'"$version"'", l
assert all(l.get("org.opencontainers.image."+k) for k in ("revision","source","created","title")), l' "the docker-archive's config" < "$work/config.json"
skopeo inspect "oci:$layout:latest" | python_check 'assert d["Labels"]["org.opencontainers.image.version"]=="'"$version"'"' "the tag latest"
umoci unpack --image "$layout:$version" "$bundle" >/dev/null
python_check 'p=d["process"]; assert p["user"]["uid"]==10001 and p["user"]["gid"]==10001, p["user"]; assert p["args"]==["concord"], p["args"]
assert p["cwd"]=="/var/lib/concord", p["cwd"]' "the runtime bundle's config.json" < "$bundle/config.json"
say "config: ENTRYPOINT [\"concord\"], USER 10001:10001, labels version $version, revision, source, created"

# What the root holds, and what it must not.
for f in /usr/bin/concord /usr/share/concord/rules/datasets.yaml /etc/ssl/certs/ca-certificates.crt /bin/sh /usr/bin/mkdir /usr/bin/ls /usr/bin/wc \
         /usr/share/doc/concord/copyright; do
    [ -e "$rootfs$f" ] || fail "the image lacks $f"
done
for f in /usr/bin/gcc /usr/bin/cc /usr/bin/swift /usr/bin/man; do [ ! -e "$rootfs$f" ] || fail "the image holds $f"; done
[ -z "$(ls -A "$rootfs/var/lib/apt/lists" 2>/dev/null)" ] || fail "the image holds apt lists"
[ -z "$(ls -A "$rootfs/usr/share/man" 2>/dev/null)" ] || fail "the image holds man pages"
[ -z "$(find "$rootfs/usr/share/doc" -type f ! -name copyright)" ] || fail "the image holds documentation beyond the copyright files"
[ -z "$(find "$rootfs/dev" -mindepth 1)" ] || fail "the image holds device nodes"
[ "$(stat -c %u "$rootfs/reports")" = 10001 ] || fail "/reports is not uid 10001's"
say "contents: $(du -sm "$rootfs" | cut -f1) MiB unpacked; concord, the catalog, CA certificates, sh, mkdir, ls, wc; no compiler, docs, man pages, apt lists, devices"

# Run it as the pod would: uid 10001; the manifest's ConfigMap (concord.yaml) at /etc/concord, its Secret's files at
# /etc/concord-secrets, /rules and /reports mounted; no store in the environment. The ConfigMap's concord.yaml is read
# from deploy/kubernetes/concord-audit.yaml with its URLs pointed at the test stores: PostgreSQL keeps its password_file
# (the test's password role), the test Redis and FalkorDB need no password.
bind() { mkdir -p "$rootfs$2"; mount --bind "$1" "$rootfs$2"; mounts+=("$rootfs$2"); [ "${3:-}" != ro ] || mount -o remount,bind,ro "$rootfs$2"; }
mount -t proc proc "$rootfs/proc"; mounts+=("$rootfs/proc")
bind /dev /dev
mkdir -p "$work/reports" "$work/config" "$work/secrets" && chown 10001:10001 "$work/reports"
.local/venv/bin/python - deploy/kubernetes/concord-audit.yaml "$work/config/concord.yaml" <<'PY' || fail "the manifest's ConfigMap and mounts"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
config = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "concord-config")["data"]["concord.yaml"])
for job in (d for d in docs if d["kind"] == "CronJob"):
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["config"] == "/etc/concord" and mounts["secrets"] == "/etc/concord-secrets", mounts
assert config["postgres"]["password_file"] == "/etc/concord-secrets/postgres-password", config["postgres"]
config["postgres"]["url"] = "postgresql://concord_pw@127.0.0.1:55432/concord_image"
config["redis"] = "redis://127.0.0.1:56379/57"
config["graph"] = "falkordb://127.0.0.1:56380/concord_image"
yaml.safe_dump(config, open(sys.argv[2], "w"), sort_keys=False)
PY
printf 'concord-test-password' > "$work/secrets/postgres-password"
chgrp 10001 "$work/secrets/postgres-password" && chmod 0440 "$work/secrets/postgres-password"
chmod 0644 "$work/config/concord.yaml"
bind "$work/reports" /reports
bind "$work/config" /etc/concord ro
bind "$work/secrets" /etc/concord-secrets ro
bind "$PWD/Rules" /rules ro
psql=("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql" -h 127.0.0.1 -p 55432 -U postgres -v ON_ERROR_STOP=1 -qtA -d postgres)
PGOPTIONS='-c client_min_messages=warning' "${psql[@]}" -c "DROP DATABASE IF EXISTS concord_image" -c "CREATE DATABASE concord_image OWNER concord_pw" >/dev/null
redis-cli -p 56379 -n 57 FLUSHDB >/dev/null
redis-cli -p 56380 GRAPH.DELETE concord_image >/dev/null 2>&1 || true
pod() {
    chroot --userspec=10001:10001 "$rootfs" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        HOME=/var/lib/concord "$@"
}
entry() { (cd "$rootfs/var/lib/concord" && pod /bin/sh -c 'cd /var/lib/concord && exec concord "$@"' concord "$@"); }
[ "$(entry --version)" = "$version" ] || fail "concord --version"
entry config check > "$work/check" 2>&1 || { cat "$work/check"; fail "concord config check of the mounted /etc/concord/concord.yaml"; }
entry setup > "$work/setup" 2>&1 || { cat "$work/setup"; fail "concord setup"; }
entry doctor > "$work/doctor" 2>&1 || { cat "$work/doctor"; fail "concord doctor"; }
grep -q 'concord_pw:\*\*\*@' "$work/doctor" || { cat "$work/doctor"; fail "doctor did not read the stores from /etc/concord/concord.yaml"; }
entry simulate --runs 40 --seed 7 --faults all=1 > "$work/simulate" 2>&1 || { cat "$work/simulate"; fail "concord simulate"; }
status=0
entry audit --partition 0/2 --format json --output-dir /reports/partition-0 > "$work/audit" 2>&1 || status=$?
[ "$status" = 1 ] || { cat "$work/audit"; fail "concord audit --partition 0/2 exited $status (1 expected: the injected faults)"; }
[ -s "$work/reports/partition-0/latest.json" ] || { cat "$work/audit"; ls -la "$work/reports"/*; fail "audit --partition 0/2 wrote no latest.json under /reports"; }
[ "$(stat -c %u "$work/reports/partition-0/latest.json")" = 10001 ] || fail "the report is not uid 10001's"
say "as uid 10001, the stores from the manifest's concord.yaml and Secret: concord --version, config check, setup, doctor, simulate (40 runs, every fault once), audit --partition 0/2 → /reports (exit 1: findings)"

# The nightly CronJob's script, as each of its 4 indexed pods runs it (sh -c, the manifest's env); the last merges.
.local/venv/bin/python - deploy/kubernetes/concord-audit.yaml "$version" > "$work/cronjob.sh" <<'PY'
import sys, yaml
images = []
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc.get("kind") == "CronJob" and doc["metadata"]["name"] == "concord-audit-nightly":
        c = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert c["command"] == ["/bin/sh", "-c"], c["command"]
        print(c["args"][0])
    if doc and doc.get("kind") == "CronJob":
        images.append(doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"])
# The manifests name the image make image builds: concord at this version.
bad = [i for i in images if i.rsplit("/", 1)[-1] != "concord:" + sys.argv[2]]
if not images or bad:
    sys.exit(f"the CronJobs run {images}, not concord:{sys.argv[2]}")
PY
[ -s "$work/cronjob.sh" ] || fail "no nightly CronJob script in deploy/kubernetes/concord-audit.yaml"
cp "$work/cronjob.sh" "$rootfs/tmp/cronjob.sh" && chmod 0755 "$rootfs/tmp/cronjob.sh"
for i in 0 1 2 3; do
    (cd "$rootfs" && pod JOB_NAME=concord-audit-nightly-1 JOB_COMPLETION_INDEX=$i /bin/sh -c 'cd /var/lib/concord && exec /bin/sh /tmp/cronjob.sh') \
        > "$work/pod-$i" 2>&1 || { cat "$work/pod-$i"; fail "the CronJob's script failed as pod $i"; }
done
merged=$work/reports/concord-audit-nightly-1/merged/latest.json
[ -s "$merged" ] || fail "the last pod merged no report ($merged)"
status=0
entry audit --full --format json --output-dir /reports/whole > "$work/whole" 2>&1 || status=$?
[ "$status" = 1 ] || { cat "$work/whole"; fail "the whole audit exited $status"; }
count() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["findings"]))' "$1"; }
[ "$(count "$merged")" = "$(count "$work/reports/whole/latest.json")" ] && [ "$(count "$merged")" -gt 0 ] \
    || fail "the merged report holds $(count "$merged") findings, one whole audit $(count "$work/reports/whole/latest.json")"
say "the nightly CronJob's script as pods 0–3: 4 partition reports, merged by the last into $(count "$merged") findings = one whole audit's"
say "passed"
