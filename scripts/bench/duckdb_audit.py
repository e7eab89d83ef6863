#!/usr/bin/env python3
"""The catalog's 20 rules as SQL over a Concord snapshot, in DuckDB: the
peer `concord-bench realworld` times `concord audit --snapshot` against.
Written as a DuckDB user would write it for speed (issue 26):

- every file's sha256 checked first (hashlib, OpenSSL underneath), two files
  at a time, as Concord checks them before reading;
- one parse of each NDJSON file into narrow typed tables: an event's envelope
  is read as a STRUCT of JSON members straight from the line (no event text
  kept and parsed again), nothing the rules do not read is loaded (no `raw`, no
  node `metadata`);
- every member's type and value extracted once into columns, not re-parsed by
  macros in each rule;
- payloads compared in stages: the text as read, then both minified by DuckDB's
  JSON writer (one parse of the node's content), and only the pairs still
  different compared as values — orjson parses each side and writes it back
  with sorted keys (C speed; integers and reals kept apart, as Concord
  compares them) — sound for any payload shape;
- anti-joins as NOT EXISTS;
- cycles found by pointer doubling over the parent links (log2 of the deepest
  chain rounds of one join each), then a walk around each cycle found; the few
  events with more than one parent are walked from on their own.

Known weaknesses, kept: DuckDB's JSON reader keeps the first of duplicate keys
in an object where Concord (jansson) keeps the last; a non-object event line
reads as an object with no members (both are `event.malformed`, keyed alike).

    duckdb_audit.py SNAPSHOT_DIR --now MS --grace MS

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
from concurrent.futures import ThreadPoolExecutor

import duckdb
import orjson

ENVELOPE = "STRUCT(id JSON, \"timestamp\" JSON, type JSON, parentId JSON, payload JSON, metadata JSON)"
DATASETS = {
    "redis.streams": f"key VARCHAR, entry VARCHAR, seq BIGINT, workflowId VARCHAR, event {ENVELOPE}",
    "redis.queue": f"key VARCHAR, \"index\" BIGINT, event {ENVELOPE}",
    "redis.processing": f"key VARCHAR, \"index\" BIGINT, event {ENVELOPE}",
    "redis.confirmed": "member VARCHAR",
    "redis.status": "workflowId VARCHAR, state VARCHAR, contentStatus VARCHAR, draftId VARCHAR, updatedAt VARCHAR",
    "graph.nodes": "id VARCHAR, workflow_id VARCHAR, type VARCHAR, content VARCHAR, \"timestamp\" JSON, placeholder BOOLEAN",
    "graph.runs": "id VARCHAR, state VARCHAR, contentStatus VARCHAR, publishedAt JSON",
    "graph.edges": "\"from\" STRUCT(id JSON, label JSON, workflow_id JSON, placeholder JSON, persisted_at JSON), \"to\" STRUCT(id JSON, workflow_id JSON)",
    "postgres.drafts": "id VARCHAR, workflow_run_id VARCHAR, status VARCHAR, created_at DOUBLE, updated_at DOUBLE",
    "postgres.draft_history": "draft_id VARCHAR, version JSON, status VARCHAR",
}

TABLE = {d: d.replace(".", "_") for d in DATASETS}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def columns(cols):
    """A read_json columns map from 'name TYPE, …' (types may hold commas inside parentheses)."""
    out, depth, cur = [], 0, ""
    for ch in cols + ",":
        if ch == "," and depth == 0:
            name, typ = cur.strip().split(" ", 1)
            out.append(f"'{name.strip(chr(34))}': '{typ}'")
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    return "{" + ", ".join(out) + "}"


def load(con, snap):
    manifest = json.load(open(os.path.join(snap, "manifest.json")))
    t0 = time.time()
    entries = sorted(manifest["datasets"].values(), key=lambda e: -os.path.getsize(os.path.join(snap, e["file"])))
    with ThreadPoolExecutor(2) as pool:  # hashlib releases the GIL: two files at a time, largest first
        for entry, digest in zip(entries, pool.map(lambda e: sha256(os.path.join(snap, e["file"])), entries)):
            if digest != entry["sha256"]:
                raise SystemExit(f"{entry['file']}: sha256 mismatch")
    t1 = time.time()
    for name, cols in DATASETS.items():
        path = os.path.join(snap, name + ".ndjson")
        if os.path.exists(path) and os.path.getsize(path) > 0:
            con.execute(f"CREATE OR REPLACE TABLE {TABLE[name]} AS SELECT * FROM read_json('{path}', format='newline_delimited', columns={columns(cols)}, "
                        "ignore_errors=true, maximum_object_size=1073741824)")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {TABLE[name]} ({cols})")
    t2 = time.time()
    return t1 - t0, t2 - t1


# Every event's envelope, each member's type and value extracted once.
EVENTS = """
CREATE OR REPLACE TABLE evx AS
SELECT ds, run, loc, seq, event IS NULL AS nojson,
       coalesce(json_type(e.id) = 'VARCHAR' AND json_extract_string(e.id, '$') <> '', false) AS id_ok,
       CASE WHEN json_type(e.id) = 'VARCHAR' THEN json_extract_string(e.id, '$') END AS id,
       coalesce(json_type(e.timestamp) IN ('BIGINT', 'UBIGINT'), false) AS ts_int,
       CASE WHEN json_type(e.timestamp) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(json_extract(e.timestamp, '$') AS DOUBLE) END AS ts,
       CASE WHEN json_type(e.type) = 'VARCHAR' THEN json_extract_string(e.type, '$') END AS type,
       CASE WHEN json_type(e.parentId) = 'VARCHAR' THEN json_extract_string(e.parentId, '$') END AS parent,
       e.payload AS payload, e.payload IS NOT NULL AS has_payload, json_type(e.metadata) = 'OBJECT' AS meta_ok,
       m[1] AS wf, m[2] AS uid, m[3] AS src, m[4] AS ver
FROM (
  SELECT *, event AS e,
         CASE WHEN json_type(event.metadata) = 'OBJECT' THEN
           [CASE WHEN json_type(x) = 'VARCHAR' THEN json_extract_string(x, '$') END
            FOR x IN json_extract(event.metadata, ['$.workflowId', '$.userId', '$.source', '$.version'])] END AS m
  FROM (
    SELECT 'redis.streams' AS ds, workflowId AS run, key || '#' || entry AS loc, seq, event FROM redis_streams
    UNION ALL SELECT 'redis.queue', NULL, key || '#' || CAST("index" AS VARCHAR), "index", event FROM redis_queue
    UNION ALL SELECT 'redis.processing', NULL, key || '#' || CAST("index" AS VARCHAR), "index", event FROM redis_processing));
CREATE OR REPLACE TABLE edge AS
SELECT CASE WHEN json_type("from".id) = 'VARCHAR' THEN json_extract_string("from".id, '$') END AS from_id,
       json_extract_string("from".label, '$') AS from_label,
       CASE WHEN json_type("from".workflow_id) = 'VARCHAR' THEN json_extract_string("from".workflow_id, '$') END AS from_run,
       coalesce(json_extract_string("from".placeholder, '$') = 'true', false) AS from_placeholder,
       CASE WHEN json_type("from".persisted_at) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(json_extract("from".persisted_at, '$') AS DOUBLE) END AS from_pa,
       CASE WHEN json_type("to".id) = 'VARCHAR' THEN json_extract_string("to".id, '$') END AS to_id,
       CASE WHEN json_type("to".workflow_id) = 'VARCHAR' THEN json_extract_string("to".workflow_id, '$') END AS to_run
FROM graph_edges;
CREATE OR REPLACE TABLE node AS
SELECT id, workflow_id, type, content, placeholder IS DISTINCT FROM true AS is_real,
       CASE WHEN json_type("timestamp") IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(json_extract("timestamp", '$') AS DOUBLE) END AS ts
FROM graph_nodes;
CREATE OR REPLACE VIEW stream AS SELECT run, seq, id, ts, ts_int, type, parent, payload, wf FROM evx WHERE ds = 'redis.streams' AND id IS NOT NULL;
CREATE OR REPLACE VIEW queued AS SELECT id, wf AS run, ts FROM evx WHERE ds <> 'redis.streams';
CREATE OR REPLACE VIEW real_node AS SELECT * FROM node WHERE is_real AND id IS NOT NULL;
"""

# Payloads: the pairs whose text differs even minified, left for a comparison as values.
PAYLOADS = """
CREATE OR REPLACE TEMP TABLE payload_residue AS
SELECT s.id, CAST(s.payload AS VARCHAR) AS a, n.content AS b FROM stream s JOIN real_node n ON n.id = s.id
WHERE CAST(s.payload AS VARCHAR) IS DISTINCT FROM n.content
  AND (s.payload IS NULL OR n.content IS NULL OR NOT coalesce(CAST(json(TRY_CAST(n.content AS JSON)) AS VARCHAR) = CAST(s.payload AS VARCHAR), false))
"""

RULES = r"""
WITH
draft AS (SELECT * FROM postgres_drafts),
findings AS (
  -- event.malformed
  SELECT 'event.malformed' AS rule, CASE WHEN id_ok THEN id ELSE loc END AS key FROM evx
  WHERE nojson OR NOT id_ok OR NOT ts_int OR coalesce(type, '') = '' OR coalesce(parent, '') = ''
     OR NOT has_payload OR NOT coalesce(meta_ok, false)
     OR coalesce(wf, '') = '' OR coalesce(uid, '') = '' OR coalesce(src, '') = '' OR coalesce(ver, '') = ''
     OR ts < 0 OR parent = id OR length(id) > 200
  UNION ALL
  -- event.missing-in-graph
  SELECT 'event.missing-in-graph', s.id FROM stream s
  WHERE $now - s.ts > $grace
    AND NOT EXISTS (SELECT 1 FROM real_node n WHERE n.id = s.id) AND NOT EXISTS (SELECT 1 FROM queued q WHERE q.id = s.id)
  UNION ALL
  -- event.confirmed-not-persisted
  SELECT 'event.confirmed-not-persisted', c.member FROM redis_confirmed c WHERE NOT EXISTS (SELECT 1 FROM real_node n WHERE n.id = c.member)
  UNION ALL
  -- event.persisted-not-confirmed
  SELECT 'event.persisted-not-confirmed', n.id FROM real_node n
  WHERE $now - n.ts > $grace
    AND NOT EXISTS (SELECT 1 FROM redis_confirmed c WHERE c.member = n.id) AND NOT EXISTS (SELECT 1 FROM queued q WHERE q.id = n.id)
    AND EXISTS (SELECT 1 FROM stream s WHERE s.id = n.id)
  UNION ALL
  -- event.duplicate-node
  SELECT 'event.duplicate-node', id FROM node WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1
  UNION ALL
  -- event.duplicate-in-queue
  SELECT 'event.duplicate-in-queue', id FROM queued WHERE id IS NOT NULL GROUP BY id HAVING count(*) > 1
  UNION ALL
  -- event.stuck-in-queue
  SELECT 'event.stuck-in-queue', id FROM queued WHERE id IS NOT NULL AND $now - ts > $grace
  UNION ALL
  -- event.orphan
  SELECT 'event.orphan', n.id FROM real_node n
  WHERE NOT EXISTS (SELECT 1 FROM edge e WHERE e.to_id = n.id AND NOT coalesce(e.from_placeholder AND $now - e.from_pa > $grace, false))
  UNION ALL
  -- event.cross-workflow-edge
  SELECT 'event.cross-workflow-edge', to_id FROM edge
  WHERE to_id IS NOT NULL AND ((from_label = 'Node' AND from_run IS NOT NULL AND to_run IS NOT NULL AND from_run <> to_run)
     OR (from_label = 'WorkflowRun' AND to_run IS NOT NULL AND from_id <> to_run))
  UNION ALL
  -- event.wrong-parent: the stream's parentId against the graph's parent; a node with parents that differ
  SELECT 'event.wrong-parent', s.id FROM stream s JOIN edge e ON e.to_id = s.id
  WHERE s.parent IS DISTINCT FROM e.from_id
  UNION ALL
  SELECT 'event.wrong-parent', to_id FROM edge WHERE to_id IS NOT NULL GROUP BY to_id HAVING count(DISTINCT coalesce(from_id, '')) > 1
  UNION ALL
  -- event.out-of-order: along the edges, and within a run's stream
  SELECT 'event.out-of-order', e.to_id FROM edge e
    JOIN (SELECT id, any_value(ts) AS ts FROM real_node GROUP BY id) p ON p.id = e.from_id
    JOIN (SELECT id, any_value(ts) AS ts FROM real_node GROUP BY id) c ON c.id = e.to_id
  WHERE c.ts < p.ts
  UNION ALL
  SELECT 'event.out-of-order', id FROM (
    SELECT id, ts AS t, max(ts) OVER (PARTITION BY run ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
    FROM stream WHERE ts_int AND run IS NOT NULL)
  WHERE t < before
  UNION ALL
  -- event.payload-mismatch: type, run, timestamp; payloads that differ as values (decided in Python: payload_differs)
  SELECT 'event.payload-mismatch', s.id FROM stream s JOIN real_node n ON n.id = s.id
  WHERE s.type IS DISTINCT FROM n.type OR s.wf IS DISTINCT FROM n.workflow_id OR s.ts IS DISTINCT FROM n.ts
  UNION ALL
  SELECT 'event.payload-mismatch', id FROM payload_differs
  UNION ALL
  -- run.missing
  SELECT 'run.missing', run FROM (
    SELECT workflow_id AS run FROM node WHERE workflow_id IS NOT NULL
    UNION SELECT workflow_run_id FROM draft WHERE workflow_run_id IS NOT NULL
    UNION SELECT run FROM stream WHERE run IS NOT NULL AND $now - ts > $grace
    UNION SELECT workflowId FROM redis_status WHERE workflowId IS NOT NULL AND $now - TRY_CAST(updatedAt AS DOUBLE) > $grace) x
  WHERE NOT EXISTS (SELECT 1 FROM graph_runs r WHERE r.id = x.run)
  UNION ALL
  -- run.state-mismatch
  SELECT 'run.state-mismatch', s.workflowId FROM redis_status s JOIN graph_runs r ON r.id = s.workflowId
  WHERE s.state IS NOT NULL AND s.state IS DISTINCT FROM r.state AND NOT EXISTS (SELECT 1 FROM queued q WHERE q.run = s.workflowId)
  UNION ALL
  -- draft.graph-published-without-draft
  SELECT 'draft.graph-published-without-draft', r.id FROM graph_runs r
  WHERE r.contentStatus = 'published' AND NOT EXISTS (SELECT 1 FROM draft d WHERE d.status = 'published' AND d.workflow_run_id = r.id)
  UNION ALL
  -- draft.orphan-run
  SELECT 'draft.orphan-run', d.id FROM draft d WHERE d.workflow_run_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM graph_runs r WHERE r.id = d.workflow_run_id)
  UNION ALL
  -- draft.published-not-synced
  SELECT 'draft.published-not-synced', d.id FROM draft d JOIN graph_runs r ON r.id = d.workflow_run_id
  WHERE d.status = 'published' AND $now - d.updated_at > $grace
    AND (r.contentStatus IS DISTINCT FROM 'published' OR r.publishedAt IS NULL OR json_type(r.publishedAt) = 'NULL')
  UNION ALL
  -- draft.status-mismatch-redis: the run's newest draft against its Redis status
  SELECT 'draft.status-mismatch-redis', d.id FROM (
    SELECT * FROM draft WHERE workflow_run_id IS NOT NULL QUALIFY row_number() OVER (PARTITION BY workflow_run_id ORDER BY created_at DESC, id DESC) = 1) d
    JOIN redis_status s ON s.workflowId = d.workflow_run_id
  WHERE d.status IS DISTINCT FROM s.contentStatus OR d.id IS DISTINCT FROM s.draftId
  UNION ALL
  -- draft.history-gap: versions not 1..n, the newest version's status, a draft with no history
  SELECT 'draft.history-gap', draft_id FROM hist WHERE draft_id IS NOT NULL GROUP BY draft_id
  HAVING list_sort(list(coalesce(v, -9223372036854775808))) <> range(1, count(*) + 1)
  UNION ALL
  SELECT 'draft.history-gap', d.id FROM draft d JOIN (
    SELECT * FROM hist WHERE draft_id IS NOT NULL QUALIFY row_number() OVER (PARTITION BY draft_id ORDER BY vd DESC) = 1) h ON h.draft_id = d.id
  WHERE d.status IS DISTINCT FROM h.status
  UNION ALL
  SELECT 'draft.history-gap', d.id FROM draft d WHERE d.id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM hist h WHERE h.draft_id = d.id)
  UNION ALL
  -- event.cycle: the smallest id of each cycle along the parent edges
  SELECT 'event.cycle', key FROM cyc
)
SELECT DISTINCT rule, key FROM findings WHERE key IS NOT NULL ORDER BY rule, key
"""

HISTORY = """
CREATE OR REPLACE TABLE hist AS
SELECT draft_id, status, CASE WHEN json_type(version) IN ('BIGINT', 'UBIGINT') THEN CAST(json_extract(version, '$') AS BIGINT) END AS v,
       CASE WHEN json_type(version) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN CAST(json_extract(version, '$') AS DOUBLE) END AS vd
FROM postgres_draft_history
"""


def cycles(con):
    """Members of PARENT_OF cycles, named by their smallest id. Pointer doubling over each event's
    (smallest) parent: after k rounds anc holds the 2^k-th ancestor; rounds stop once no chain is
    that long (the count of nodes with such an ancestor stops falling), so a surviving ancestor lies
    on a cycle; each is walked around once. Events with several parents are walked from on their own."""
    con.execute("""CREATE OR REPLACE TEMP TABLE e AS SELECT DISTINCT from_id AS f, to_id AS t FROM edge WHERE from_id IS NOT NULL AND to_id IS NOT NULL""")
    con.execute("CREATE OR REPLACE TEMP TABLE anc AS SELECT t AS x, min(f) AS a FROM e GROUP BY t")
    con.execute("CREATE OR REPLACE TEMP TABLE par AS SELECT * FROM anc")
    alive = con.execute("SELECT count(*) FROM anc").fetchone()[0]
    extra = 2
    while alive and extra:
        con.execute("CREATE OR REPLACE TEMP TABLE anc AS SELECT p.x, q.a FROM anc p JOIN anc q ON q.x = p.a")
        now = con.execute("SELECT count(*) FROM anc").fetchone()[0]
        if now == alive:
            extra -= 1  # two more rounds: long tails into a cycle reach it
        alive = now
    starts = [r[0] for r in con.execute("SELECT DISTINCT a FROM anc UNION SELECT t FROM e GROUP BY t HAVING count(*) > 1").fetchall()]
    con.execute("CREATE OR REPLACE TEMP TABLE cyc (key VARCHAR)")
    if not starts:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE starts AS SELECT unnest(?) AS s", [starts])
    con.execute("""
    INSERT INTO cyc
    WITH RECURSIVE walk(start, cur, path) AS (
      SELECT s, s, [s] FROM starts
      UNION ALL
      SELECT w.start, e.f, list_append(w.path, e.f) FROM walk w JOIN e ON e.t = w.cur
      WHERE (w.cur <> w.start OR len(w.path) = 1) AND NOT list_contains(w.path[2:], e.f) AND len(w.path) < 10000
    )
    SELECT DISTINCT list_min(path[2:]) FROM walk WHERE cur = start AND len(path) > 1
    """)


def payload_differs(con):
    """The residue's pairs compared as values — key order aside, integers and reals apart, the last of
    duplicate keys kept, as Concord compares them — each side parsed by orjson and written back with
    sorted keys (both in C)."""
    def canon(t):
        try:
            return orjson.dumps(orjson.loads(t), option=orjson.OPT_SORT_KEYS) if t is not None else None
        except orjson.JSONDecodeError:
            return ("text", t)

    differs = [i for i, a, b in con.execute("SELECT id, a, b FROM payload_residue").fetchall() if canon(a) != canon(b)]
    con.execute("CREATE OR REPLACE TEMP TABLE payload_differs AS SELECT unnest(?::VARCHAR[]) AS id", [differs])
    return con.execute("SELECT count(*) FROM payload_residue").fetchone()[0]


def null_payloads(con, snap):
    """A payload member that is JSON null reads as NULL, like a missing one; only for the (rare) events read
    so is the file read again with the event as JSON, to tell the two apart."""
    for ds, table in (("redis.streams", "redis_streams"), ("redis.queue", "redis_queue"), ("redis.processing", "redis_processing")):
        if not con.execute("SELECT count(*) FROM evx WHERE ds = ? AND NOT nojson AND payload IS NULL", [ds]).fetchone()[0]:
            continue
        loc = "key || '#' || entry" if ds == "redis.streams" else "key || '#' || CAST(\"index\" AS VARCHAR)"
        cols = "{'key': 'VARCHAR', 'entry': 'VARCHAR', 'event': 'JSON'}" if ds == "redis.streams" else "{'key': 'VARCHAR', 'index': 'BIGINT', 'event': 'JSON'}"
        con.execute(f"""
            UPDATE evx SET has_payload = true FROM (
              SELECT {loc} AS loc FROM read_json('{os.path.join(snap, ds + ".ndjson")}', format='newline_delimited', columns={cols},
                                              maximum_object_size=1073741824)
              WHERE json_type(event) = 'OBJECT' AND json_exists(event, '$.payload')) p
            WHERE evx.ds = '{ds}' AND evx.loc = p.loc AND evx.payload IS NULL""")


def audit(snap, now, grace):
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    # The stores run beside it: what does not fit in 12 GB spills to disk.
    con.execute("SET memory_limit = '12GB'")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET temp_directory = '{os.path.join(os.environ.get('TMPDIR', '/tmp'), 'duckdb-audit-' + str(os.getpid()))}'")
    verify, load_s = load(con, snap)
    t0 = time.time()
    con.execute(EVENTS)
    null_payloads(con, snap)
    con.execute(HISTORY)
    con.execute(PAYLOADS)
    residue = payload_differs(con)
    cycles(con)
    sql = RULES.replace("$now", str(int(now))).replace("$grace", str(int(grace)))
    rows = con.execute(sql).fetchall()
    rules_s = time.time() - t0
    return {"verify": verify, "load": load_s, "rules": rules_s, "payloadResidue": residue, "findings": [[r, k] for r, k in rows]}


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
