#!/usr/bin/env bash
# make demo: start the local services, build concord, create the schema,
# simulate a few thousand workflow runs through the write paths and the sync,
# inject faults of every kind, audit the stores, plan the repair, show the dry
# run, apply it, and audit again; print where the reports are.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/services.sh start
echo "== building concord (release)"
swift build -c release --product concord 2>&1 | tail -n 1
bin=.build/release/concord
echo
echo "== resetting the demo's stores (the local services of make services)"
redis-cli -h 127.0.0.1 -p 56379 -n 0 FLUSHDB >/dev/null
redis-cli -h 127.0.0.1 -p 56380 GRAPH.DELETE concord >/dev/null 2>&1 || true
"$bin" setup >/dev/null
psql -q -h 127.0.0.1 -p 55432 -U postgres concord -c "TRUNCATE draft_content_history, draft_content, user_preferences, github_publication" >/dev/null
psql -q -h 127.0.0.1 -p 55432 -U postgres concord -c "SET client_min_messages = warning; DROP TABLE IF EXISTS concord_github_cache" >/dev/null
scripts/services.sh stop-github
echo
echo "== concord setup"
"$bin" setup
echo
echo "== concord simulate: 3000 runs of 10 events, synced, then faults of every kind (2 each)"
"$bin" simulate --runs 3000 --events-per-run 10 --seed "$(date +%s)" --faults all=2 --truth Reports/demo-truth.json
echo
echo "== concord publish: approved drafts to a local GitHub (the tests' stand-in of GitHub's REST API)"
port=$(scripts/services.sh start-github)
export CONCORD_GITHUB_URL="http://127.0.0.1:$port" CONCORD_GITHUB_TOKEN
CONCORD_GITHUB_TOKEN=$(cat .local/github.token)
# Drafts still waiting for a person, of runs the injected faults leave alone (publishing one would change what they broke).
drafts=$(python3 - <<'PY'
import json, subprocess
truth = json.load(open("Reports/demo-truth.json"))["findings"]
touched = {f.get("workflowId") for f in truth} | {f["key"] for f in truth}
rows = subprocess.run(["psql", "-qAt", "-h", "127.0.0.1", "-p", "55432", "-U", "postgres", "concord", "-c",
                       "SELECT id, workflow_run_id FROM draft_content WHERE status = 'draft' ORDER BY id"], capture_output=True, text=True).stdout
ids = [i for i, run in (l.split("|") for l in rows.split()) if run not in touched and i not in touched]
print(" ".join(ids[:40]))
PY
)
"$bin" publish approve $drafts --by demo-reviewer | tail -n 2
"$bin" publish run --once --github-pace 0.05
"$bin" publish list --limit 3
echo
echo "== concord doctor"
"$bin" doctor || true
echo
echo "== concord audit (live, grace 5m, recheck on)"
status=0
"$bin" audit --format json,md,html,junit,prom --json-output Reports/demo-audit.json || status=$?
echo "(exit $status: 1 means findings at or above --fail-on error)"
python3 - <<'PY'
import json
truth = {(f["rule"], f["key"]) for f in json.load(open("Reports/demo-truth.json"))["findings"]}
found = {(f["rule"], f["key"]) for f in json.load(open("Reports/demo-audit.json"))["findings"]}
print(f"injected faults expect {len(truth)} findings; the audit reported {len(found)}: "
      f"{len(truth & found)} expected, {len(found - truth)} unexpected, {len(truth - found)} missed")
PY
echo
echo "== concord plan: the findings as repair operations"
"$bin" plan --report Reports/demo-audit.json --output Reports/demo-plan.json
echo
echo "== concord apply (dry run: what would change, per store)"
"$bin" apply Reports/demo-plan.json | sed -n '1,40p'
echo "   (the full dry run: $bin apply Reports/demo-plan.json)"
"$bin" apply Reports/demo-plan.json | sed -n '/^undo:/,/^$/p'   # which operations could not be undone, said before the apply
echo
echo "== concord apply --yes"
"$bin" apply Reports/demo-plan.json --yes --operator demo || true
echo
echo "== concord sync --once: the live sync drains what the repair requeued"
"$bin" sync --once | tail -n 1
echo
echo "== concord audit again, with the plan's manual steps as the baseline (handed to a person)"
python3 - <<'PY'
import json
plan = json.load(open("Reports/demo-plan.json"))
manual = [{"rule": o["rule"], "key": o["key"]} for o in plan["operations"] if o["store"] == "manual"]
json.dump({"format": "concord.baseline/1", "findings": manual}, open("Reports/demo-manual-baseline.json", "w"), indent=2)
PY
status=0
"$bin" audit --format json,md,html --json-output Reports/demo-reaudit.json --baseline Reports/demo-manual-baseline.json || status=$?
python3 - <<'PY'
import json
r = json.load(open("Reports/demo-reaudit.json"))
print(f"{r['summary']['findings']} finding(s) left, {r['summary']['known']} of them the plan's manual steps, {r['summary']['new']} new")
PY
echo "(exit $status: 0 means nothing but the known manual steps is left)"
echo
echo "== concord serve: the runs' live event streams and the admin console, in the background"
scripts/services.sh stop-serve
mkdir -p .local
[ -s .local/serve.token ] || python3 -c 'import secrets; print(secrets.token_hex(24))' > .local/serve.token
chmod 600 .local/serve.token
listen=${CONCORD_SERVE_LISTEN:-127.0.0.1:8080}
CONCORD_SERVE_TOKEN=$(cat .local/serve.token) nohup "$bin" serve --listen "$listen" --reports Reports > .local/serve.log 2>&1 < /dev/null &
echo $! > .local/serve.pid
url="http://$listen"
for _ in $(seq 1 50); do curl -fs "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
if curl -fs "$url/healthz" >/dev/null 2>&1; then
    # (head closes the pipe early: redis-cli's SIGPIPE is not a failure here)
    run=$( { redis-cli -h 127.0.0.1 -p 56379 -n 0 --scan --pattern 'workflow:*:events' 2>/dev/null || true; } | sed -n '1s/^workflow:\(.*\):events$/\1/p')
    echo "concord serve is up at $url/"
    echo "  the admin console:  $url/console/  (log in with your name and the token in .local/serve.token)"
    echo "  a run's events:     curl -N $url/runs/$run/events     (history, then live; Ctrl-C to stop)"
    echo "  the run:            curl $url/runs/$run"
    echo "  metrics:            curl $url/metrics"
else
    echo "concord serve did not come up on $listen (set CONCORD_SERVE_LISTEN=127.0.0.1:PORT if the port is taken); its log:"
    tail -n 5 .local/serve.log
fi
echo
echo "Open the HTML report: file://$PWD/Reports/latest.html"
echo "The local GitHub ($CONCORD_GITHUB_URL) holds what was published: curl -s $CONCORD_GITHUB_URL/_admin/state | head -c 600"
echo "The services, the local GitHub and concord serve keep running; stop them with: make services-stop"
