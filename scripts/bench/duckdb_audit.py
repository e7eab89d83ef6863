#!/usr/bin/env python3
"""The catalog's 20 rules as SQL over a Concord snapshot, in DuckDB: the
comparison `concord-bench realworld` times `concord audit --snapshot` against
(issue 16). Each dataset's NDJSON is loaded with read_json, the rules run as
SQL, and the sha256 of every file is checked through OpenSSL (hashlib) first,
as Concord checks them before reporting.

    duckdb_audit.py SNAPSHOT_DIR --now MS --grace MS [--json OUT]

Prints one JSON object: timings and the findings as [rule, key] pairs.
`--check-fixtures DIR` runs it on every rule fixture under DIR (Tests/Fixtures/rules)
and compares its findings for the fixture's rule with the fixture's expected.json.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import duckdb

DATASETS = {
    "redis.streams": "key VARCHAR, entry VARCHAR, seq BIGINT, workflowId VARCHAR, event JSON, raw VARCHAR",
    "redis.queue": "key VARCHAR, \"index\" BIGINT, event JSON, raw VARCHAR",
    "redis.processing": "key VARCHAR, \"index\" BIGINT, event JSON, raw VARCHAR",
    "redis.confirmed": "key VARCHAR, member VARCHAR, score DOUBLE",
    "redis.status": "key VARCHAR, workflowId VARCHAR, state VARCHAR, contentStatus VARCHAR, draftId VARCHAR, updatedAt VARCHAR",
    "graph.nodes": "id VARCHAR, workflow_id VARCHAR, type VARCHAR, content VARCHAR, metadata VARCHAR, timestamp JSON, persisted_at JSON, placeholder BOOLEAN",
    "graph.runs": "id VARCHAR, state VARCHAR, stateAt JSON, contentStatus VARCHAR, publishedAt JSON, createdAt JSON",
    "graph.edges": "\"from\" JSON, \"to\" JSON, type VARCHAR",
    "postgres.drafts": "id VARCHAR, workflow_run_id VARCHAR, content_type VARCHAR, status VARCHAR, created_at DOUBLE, updated_at DOUBLE",
    "postgres.draft_history": "draft_id VARCHAR, version JSON, status VARCHAR",
}

TABLE = {d: d.replace(".", "_") for d in DATASETS}


def load(con, snap):
    manifest = json.load(open(os.path.join(snap, "manifest.json")))
    t0 = time.time()
    for name, entry in sorted(manifest["datasets"].items()):
        h = hashlib.sha256()
        with open(os.path.join(snap, entry["file"]), "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
        if h.hexdigest() != entry["sha256"]:
            raise SystemExit(f"{entry['file']}: sha256 mismatch")
    t1 = time.time()
    for name, cols in DATASETS.items():
        path = os.path.join(snap, name + ".ndjson")
        columns = "{" + ", ".join(f"'{c.split()[0].strip(chr(34))}': '{c.split()[1]}'" for c in cols.split(", ")) + "}"
        if os.path.exists(path) and os.path.getsize(path) > 0:
            con.execute(f"CREATE OR REPLACE TABLE {TABLE[name]} AS SELECT * FROM read_json('{path}', format='newline_delimited', columns={columns}, maximum_object_size=1073741824)")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {TABLE[name]} ({cols})")
    t2 = time.time()
    return t1 - t0, t2 - t1


# Helpers as SQL macros: a JSON member's type and text; a number; ages in ms.
MACROS = """
CREATE OR REPLACE MACRO vstr(j) AS CASE WHEN json_type(j) = 'VARCHAR' THEN json_extract_string(j, '$') END;
CREATE OR REPLACE MACRO vnum(j) AS CASE WHEN json_type(j) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(json_extract(j, '$') AS DOUBLE) END;
CREATE OR REPLACE MACRO vint(j) AS coalesce(json_type(j) IN ('BIGINT', 'UBIGINT'), false);
CREATE OR REPLACE MACRO vnonempty(j) AS coalesce(json_type(j) = 'VARCHAR' AND json_extract_string(j, '$') <> '', false);
"""

# Every event's envelope fields, each document parsed once (json_extract with a list of paths).
EVENTS = """
CREATE OR REPLACE TABLE evx AS
SELECT ds, run, loc, seq, event IS NULL AS nojson, json_type(event) AS etype,
       x[1] AS id, x[2] AS ts, x[3] AS type, x[4] AS parent, x[5] AS payload, x[6] AS metadata,
       x[7] AS wf, x[8] AS uid, x[9] AS src, x[10] AS ver
FROM (
  SELECT ds, run, loc, seq, event,
         json_extract(event, ['$.id', '$.timestamp', '$.type', '$.parentId', '$.payload', '$.metadata',
                              '$.metadata.workflowId', '$.metadata.userId', '$.metadata.source', '$.metadata.version']) AS x
  FROM (
    SELECT 'redis.streams' AS ds, workflowId AS run, key || '#' || entry AS loc, seq, event FROM redis_streams
    UNION ALL SELECT 'redis.queue', NULL, key || '#' || CAST("index" AS VARCHAR), "index", event FROM redis_queue
    UNION ALL SELECT 'redis.processing', NULL, key || '#' || CAST("index" AS VARCHAR), "index", event FROM redis_processing));
CREATE OR REPLACE TABLE edge AS
SELECT vstr(f[1]) AS from_id, vstr(f[2]) AS from_label, vstr(f[3]) AS from_run, coalesce(f[4] = 'true', false) AS from_placeholder, vnum(f[5]) AS from_pa,
       vstr(t[1]) AS to_id, vstr(t[2]) AS to_run
FROM (SELECT json_extract("from", ['$.id', '$.label', '$.workflow_id', '$.placeholder', '$.persisted_at']) AS f,
             json_extract("to", ['$.id', '$.workflow_id']) AS t FROM graph_edges);
"""

RULES = r"""
WITH
stream AS (SELECT run, seq, vstr(id) AS id, ts, type, parent, payload, wf FROM evx WHERE ds = 'redis.streams'),
queued AS (SELECT vstr(id) AS id, vstr(wf) AS run, ts FROM evx WHERE ds <> 'redis.streams'),
node AS (SELECT *, CAST(json_extract(timestamp, '$') AS DOUBLE) AS ts, CAST(json_extract(persisted_at, '$') AS DOUBLE) AS pa FROM graph_nodes),
real_node AS (SELECT * FROM node WHERE placeholder IS DISTINCT FROM true),
draft AS (SELECT * FROM postgres_drafts),
findings AS (
  -- event.malformed
  SELECT 'event.malformed' AS rule, CASE WHEN vnonempty(id) THEN vstr(id) ELSE loc END AS key FROM evx
  WHERE nojson OR etype <> 'OBJECT'
     OR NOT vnonempty(id) OR NOT vint(ts) OR NOT vnonempty(type) OR NOT vnonempty(parent)
     OR payload IS NULL OR coalesce(json_type(metadata), '') <> 'OBJECT'
     OR NOT vnonempty(wf) OR NOT vnonempty(uid) OR NOT vnonempty(src) OR NOT vnonempty(ver)
     OR vnum(ts) < 0 OR vstr(parent) = vstr(id) OR length(vstr(id)) > 200
  UNION ALL
  -- event.missing-in-graph
  SELECT 'event.missing-in-graph', s.id FROM stream s
  WHERE s.id IS NOT NULL AND $now - vnum(s.ts) > $grace
    AND s.id NOT IN (SELECT id FROM real_node WHERE id IS NOT NULL) AND s.id NOT IN (SELECT id FROM queued WHERE id IS NOT NULL)
  UNION ALL
  -- event.confirmed-not-persisted
  SELECT 'event.confirmed-not-persisted', member FROM redis_confirmed WHERE member NOT IN (SELECT id FROM real_node WHERE id IS NOT NULL)
  UNION ALL
  -- event.persisted-not-confirmed
  SELECT 'event.persisted-not-confirmed', n.id FROM real_node n
  WHERE n.id IS NOT NULL AND $now - n.ts > $grace
    AND n.id NOT IN (SELECT member FROM redis_confirmed WHERE member IS NOT NULL) AND n.id NOT IN (SELECT id FROM queued WHERE id IS NOT NULL)
    AND n.id IN (SELECT id FROM stream)
  UNION ALL
  -- event.duplicate-node
  SELECT 'event.duplicate-node', id FROM node WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1
  UNION ALL
  -- event.duplicate-in-queue
  SELECT 'event.duplicate-in-queue', id FROM queued WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1
  UNION ALL
  -- event.stuck-in-queue
  SELECT 'event.stuck-in-queue', id FROM queued WHERE id IS NOT NULL AND $now - vnum(ts) > $grace
  UNION ALL
  -- event.orphan
  SELECT 'event.orphan', n.id FROM real_node n
  WHERE n.id IS NOT NULL AND n.id NOT IN (
    SELECT to_id FROM edge WHERE to_id IS NOT NULL AND NOT coalesce(from_placeholder AND $now - from_pa > $grace, false))
  UNION ALL
  -- event.cross-workflow-edge
  SELECT 'event.cross-workflow-edge', to_id FROM edge
  WHERE to_id IS NOT NULL AND ((from_label = 'Node' AND from_run IS NOT NULL AND to_run IS NOT NULL AND from_run <> to_run)
     OR (from_label = 'WorkflowRun' AND to_run IS NOT NULL AND from_id <> to_run))
  UNION ALL
  -- event.wrong-parent: the stream's parentId against the graph's parent; a node with parents that differ
  SELECT 'event.wrong-parent', s.id FROM stream s JOIN edge e ON e.to_id = s.id
  WHERE s.id IS NOT NULL AND vstr(s.parent) IS DISTINCT FROM e.from_id
  UNION ALL
  SELECT 'event.wrong-parent', to_id FROM edge WHERE to_id IS NOT NULL GROUP BY to_id HAVING count(DISTINCT coalesce(from_id, '')) > 1
  UNION ALL
  -- event.out-of-order: along the edges, and within a run's stream
  SELECT 'event.out-of-order', e.to_id FROM edge e
    JOIN (SELECT id, any_value(ts) AS ts FROM real_node WHERE id IS NOT NULL GROUP BY id) p ON p.id = e.from_id
    JOIN (SELECT id, any_value(ts) AS ts FROM real_node WHERE id IS NOT NULL GROUP BY id) c ON c.id = e.to_id
  WHERE c.ts < p.ts
  UNION ALL
  SELECT 'event.out-of-order', id FROM (
    SELECT id, vnum(ts) AS t,
           max(vnum(ts)) OVER (PARTITION BY run ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
    FROM stream WHERE id IS NOT NULL AND vint(ts) AND run IS NOT NULL)
  WHERE t < before
  UNION ALL
  -- event.payload-mismatch: type, run, timestamp, and the payload compared as JSON (key order aside)
  SELECT 'event.payload-mismatch', s.id FROM stream s JOIN real_node n ON n.id = s.id
  WHERE s.id IS NOT NULL AND (
       vstr(s.type) IS DISTINCT FROM n.type
    OR vstr(s.wf) IS DISTINCT FROM n.workflow_id
    OR vnum(s.ts) IS DISTINCT FROM n.ts
    OR from_json(s.payload, $payload_structure) IS DISTINCT FROM from_json(n.content, $payload_structure))
  UNION ALL
  -- run.missing
  SELECT 'run.missing', run FROM (
    SELECT workflow_id AS run FROM node WHERE workflow_id IS NOT NULL
    UNION SELECT workflow_run_id FROM draft WHERE workflow_run_id IS NOT NULL
    UNION SELECT run FROM stream WHERE run IS NOT NULL AND $now - vnum(ts) > $grace
    UNION SELECT workflowId FROM redis_status WHERE workflowId IS NOT NULL AND $now - TRY_CAST(updatedAt AS DOUBLE) > $grace)
  WHERE run NOT IN (SELECT id FROM graph_runs WHERE id IS NOT NULL)
  UNION ALL
  -- run.state-mismatch
  SELECT 'run.state-mismatch', s.workflowId FROM redis_status s JOIN graph_runs r ON r.id = s.workflowId
  WHERE s.state IS NOT NULL AND s.state IS DISTINCT FROM r.state AND s.workflowId NOT IN (SELECT run FROM queued WHERE run IS NOT NULL)
  UNION ALL
  -- draft.graph-published-without-draft
  SELECT 'draft.graph-published-without-draft', id FROM graph_runs
  WHERE contentStatus = 'published' AND id NOT IN (SELECT workflow_run_id FROM draft WHERE status = 'published' AND workflow_run_id IS NOT NULL)
  UNION ALL
  -- draft.orphan-run
  SELECT 'draft.orphan-run', id FROM draft WHERE workflow_run_id IS NOT NULL AND workflow_run_id NOT IN (SELECT id FROM graph_runs WHERE id IS NOT NULL)
  UNION ALL
  -- draft.published-not-synced
  SELECT 'draft.published-not-synced', d.id FROM draft d JOIN graph_runs r ON r.id = d.workflow_run_id
  WHERE d.status = 'published' AND $now - d.updated_at > $grace AND (r.contentStatus IS DISTINCT FROM 'published' OR r.publishedAt IS NULL OR r.publishedAt = 'null')
  UNION ALL
  -- draft.status-mismatch-redis: the run's newest draft against its Redis status
  SELECT 'draft.status-mismatch-redis', d.id FROM (
    SELECT * FROM draft WHERE workflow_run_id IS NOT NULL QUALIFY row_number() OVER (PARTITION BY workflow_run_id ORDER BY created_at DESC, id DESC) = 1) d
    JOIN redis_status s ON s.workflowId = d.workflow_run_id
  WHERE d.status IS DISTINCT FROM s.contentStatus OR d.id IS DISTINCT FROM s.draftId
  UNION ALL
  -- draft.history-gap: versions not 1..n, the newest version's status, a draft with no history
  SELECT 'draft.history-gap', draft_id FROM postgres_draft_history WHERE draft_id IS NOT NULL GROUP BY draft_id
  HAVING list_sort(list(CASE WHEN vint(version) THEN CAST(json_extract(version, '$') AS BIGINT) ELSE -9223372036854775808 END))
         <> range(1, count(*) + 1)
  UNION ALL
  SELECT 'draft.history-gap', d.id FROM draft d JOIN (
    SELECT * FROM postgres_draft_history WHERE draft_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY draft_id ORDER BY CAST(json_extract(version, '$') AS DOUBLE) DESC) = 1) h ON h.draft_id = d.id
  WHERE d.status IS DISTINCT FROM h.status
  UNION ALL
  SELECT 'draft.history-gap', id FROM draft WHERE id IS NOT NULL AND id NOT IN (SELECT draft_id FROM postgres_draft_history WHERE draft_id IS NOT NULL)
  UNION ALL
  -- event.cycle: the smallest id of each cycle along the parent edges
  SELECT 'event.cycle', min(start) FROM cyc GROUP BY ring
)
SELECT DISTINCT rule, key FROM findings WHERE key IS NOT NULL ORDER BY rule, key
"""

# Nodes on a cycle: walk each edge's parents until the walk returns; a cycle is named by its members.
CYCLES = r"""
CREATE OR REPLACE TEMP TABLE cyc AS
WITH RECURSIVE e AS (SELECT DISTINCT from_id AS f, to_id AS t FROM edge WHERE from_id IS NOT NULL AND to_id IS NOT NULL),
walk(start, cur, path, depth) AS (
  SELECT t, f, [t], 1 FROM e
  UNION ALL
  SELECT w.start, e.f, list_append(w.path, w.cur), w.depth + 1 FROM walk w JOIN e ON e.t = w.cur
  WHERE w.cur <> w.start AND w.depth < 10000 AND NOT list_contains(w.path, w.cur)
)
SELECT start, list_sort(path)::VARCHAR AS ring FROM walk WHERE cur = start
"""


def audit(snap, now, grace):
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    # The stores run beside it: what does not fit in 12 GB spills to disk.
    con.execute("SET memory_limit = '12GB'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = '{os.path.join(os.environ.get('TMPDIR', '/tmp'), 'duckdb-audit-' + str(os.getpid()))}'")
    verify, load_s = load(con, snap)
    t0 = time.time()
    con.execute(MACROS)
    con.execute(EVENTS)
    # The payloads' shape, for comparing them as structs (key order aside): from a sample, as
    # json_group_structure over a million payloads runs out of memory. A key no sampled payload
    # has would be left out of the comparison (this data's payloads share one shape).
    structure = con.execute("SELECT json_group_structure(payload) FROM (SELECT payload FROM evx WHERE ds = 'redis.streams' LIMIT 20000)").fetchone()[0] or '"JSON"'
    con.execute(CYCLES)
    sql = RULES.replace("$now", str(int(now))).replace("$grace", str(int(grace))).replace("$payload_structure", "'" + structure.replace("'", "''") + "'")
    rows = con.execute(sql).fetchall()
    rules_s = time.time() - t0
    return {"verify": verify, "load": load_s, "rules": rules_s, "findings": [[r, k] for r, k in rows]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("snapshot", nargs="?")
    ap.add_argument("--now", type=float)
    ap.add_argument("--grace", type=float, default=300_000)
    ap.add_argument("--check-fixtures")
    a = ap.parse_args()
    if a.check_fixtures:
        bad = 0
        for rule in sorted(os.listdir(a.check_fixtures)):
            for case in sorted(os.listdir(os.path.join(a.check_fixtures, rule))):
                d = os.path.join(a.check_fixtures, rule, case)
                exp_path = os.path.join(d, "expected.json")
                if not os.path.exists(exp_path):
                    continue
                expected = json.load(open(exp_path))
                manifest = json.load(open(os.path.join(d, "manifest.json")))
                now = manifest.get("evaluatedAt")
                got = {(r, k) for r, k in audit(d, now, a.grace)["findings"]}
                want = {(f["rule"], f["key"]) for f in expected["findings"]}
                status = "ok" if got == want else "DIFFERS"
                if got != want:
                    bad += 1
                    got, want = sorted(got - want), sorted(want - got)
                else:
                    got = want = len(got)
                print(f"{status:8} {rule}/{case}: " + (f"{got} findings, as expected" if status == "ok" else f"only duckdb {got}, only expected {want}"))
        sys.exit(1 if bad else 0)
    out = audit(a.snapshot, a.now, a.grace)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
