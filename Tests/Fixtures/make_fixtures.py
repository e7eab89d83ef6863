#!/usr/bin/env python3
"""Builds the rule fixtures in Tests/Fixtures/rules/: for every rule of the
catalog a snapshot that must produce exactly its findings (`finds/`) and a
near miss that must produce none (`near-miss/`), plus `clean/`. Each is a
snapshot directory in the documented format (manifest.json with a sha256 per
file, one NDJSON file per dataset) and an `expected.json` listing every
finding (rule, key) the full rule set must report on it.

Run it again after changing the fixtures: python3 Tests/Fixtures/make_fixtures.py
"""
import copy, hashlib, json, os, shutil
from datetime import datetime, timezone

NOW = 1_764_000_000_000          # every fixture is evaluated as of this time (manifest evaluatedAt)
OLD = NOW - 3_600_000            # an hour before: older than the default 5-minute grace
YOUNG = NOW - 30_000             # 30 s before: in flight
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules")
DATASETS = ["github.publications", "graph.edges", "graph.nodes", "graph.runs", "postgres.draft_history", "postgres.drafts", "postgres.publications",
            "redis.confirmed", "redis.deadletter", "redis.processing", "redis.queue", "redis.status", "redis.streams"]


def event(eid, run, parent, ts, etype="message", payload=None):
    return {"id": eid, "timestamp": ts, "type": etype, "parentId": parent,
            "payload": payload if payload is not None else {"text": "event " + eid},
            "metadata": {"workflowId": run, "userId": "u_1", "source": "agent", "version": "1"}}


class World:
    def __init__(self):
        self.d = {name: [] for name in DATASETS}
        self.entry = 0

    # -- building blocks --------------------------------------------------
    def stream(self, run, ev=None, raw=None):
        self.entry += 1
        seq = sum(1 for r in self.d["redis.streams"] if r["workflowId"] == run)
        rec = {"key": f"workflow:{run}:events", "workflowId": run, "entry": f"{NOW - 10_000_000 + self.entry}-0", "seq": seq}
        if raw is not None:
            rec["event"] = None
            rec["raw"] = raw
        else:
            rec["event"] = ev
        self.d["redis.streams"].append(rec)
        return rec

    def node(self, ev, persisted=None):
        n = {"id": ev["id"], "workflow_id": ev["metadata"]["workflowId"], "type": ev["type"],
             "content": json.dumps(ev["payload"], separators=(",", ":")), "metadata": json.dumps(ev["metadata"], separators=(",", ":")),
             "timestamp": ev["timestamp"], "persisted_at": persisted or ev["timestamp"] + 50}
        self.d["graph.nodes"].append(n)
        return n

    def edge(self, frm, frm_label, to, frm_run=None, to_run=None, frm_placeholder=None, frm_persisted=None):
        f = {"label": [frm_label], "id": frm}
        if frm_run: f["workflow_id"] = frm_run
        if frm_placeholder: f["placeholder"] = True
        if frm_persisted: f["persisted_at"] = frm_persisted
        t = {"label": ["Node"], "id": to}
        if to_run: t["workflow_id"] = to_run
        # labels come as a list from labels(); the rules read from.label as that list's first element
        f["label"] = frm_label
        t["label"] = "Node"
        self.d["graph.edges"].append({"type": "PARENT_OF", "from": f, "to": t})

    def confirm(self, eid, at):
        self.d["redis.confirmed"].append({"key": "persistence:confirmed", "member": eid, "score": at})

    def add(self, ev, stream=True, graph=True, confirmed=True):
        """An event as producer + sync leave it: in its stream, a node with its parent edge, confirmed."""
        run = ev["metadata"]["workflowId"]
        if stream: self.stream(run, ev)
        if graph:
            self.node(ev)
            parent_is_run = ev["parentId"] == run
            parent_run = run if parent_is_run else next((n["workflow_id"] for n in self.d["graph.nodes"] if n["id"] == ev["parentId"]), None)
            self.edge(ev["parentId"], "WorkflowRun" if parent_is_run else "Node", ev["id"], frm_run=None if parent_is_run else parent_run, to_run=run)
        if confirmed: self.confirm(ev["id"], ev["timestamp"] + 60)
        return ev

    def run(self, rid, state, content="none", published=None, created=OLD):
        r = {"id": rid, "state": state, "stateAt": created, "contentStatus": content, "createdAt": created}
        if published: r["publishedAt"] = published
        self.d["graph.runs"].append(r)
        return r

    def status(self, rid, state, content="none", draft=None, updated=OLD):
        s = {"key": f"workflow:{rid}:status", "workflowId": rid, "contentStatus": content, "updatedAt": str(updated)}
        if state is not None: s["state"] = state
        if draft: s["draftId"] = draft
        self.d["redis.status"].append(s)
        return s

    def draft(self, did, run, status, created, updated, versions):
        self.d["postgres.drafts"].append({"id": did, "workflow_run_id": run, "content_type": "comment", "content": "text of " + did,
                                          "status": status, "metadata": {"githubIssueId": 1, "githubRepo": "acme/widgets", "userId": "u_1", "timestamp": created},
                                          "created_at": created, "updated_at": updated})
        for i, st in enumerate(versions, 1):
            self.d["postgres.draft_history"].append({"draft_id": did, "version": i, "status": st, "content": "text of " + did,
                                                     "changed_by": "u_1", "changed_at": created + i})

    def publication(self, did, run, state="published", github_id=5001, requested=OLD + 8_000, published=OLD + 9_000, attempts=1, on_github=True,
                    created=OLD + 8_500, content=None, number=1):
        """The publication of draft `did` to acme/widgets#number as PostgreSQL records it, and (on_github) the comment GitHub holds."""
        target = f"acme/widgets#{number}"
        url = f"https://github.com/acme/widgets/issues/{number}#issuecomment-{github_id}"
        self.d["postgres.publications"].append({
            "draft_id": did, "workflow_run_id": run, "target": target, "state": state, "attempts": attempts, "last_error": None,
            "github_id": github_id if state == "published" else None, "github_url": url if state == "published" else None,
            "requested_at": requested, "published_at": published if state == "published" else None,
            "synced_at": published + 500 if state == "published" else None, "updated_at": (published if state == "published" else requested) + 500})
        if on_github:
            self.github(did, run, github_id, created, content if content is not None else "text of " + did, number)

    def github(self, did, run, github_id, created, content, number=1):
        self.d["github.publications"].append({
            "kind": "comment", "id": github_id, "number": number, "repo": "acme/widgets", "target": f"acme/widgets#{number}", "draft_id": did,
            "workflow_id": run, "content": content, "url": f"https://github.com/acme/widgets/issues/{number}#issuecomment-{github_id}",
            "author": "concord-bot", "created_at": created})

    def find(self, dataset, **match):
        return [r for r in self.d[dataset] if all(r.get(k) == v for k, v in match.items())]

    def remove(self, dataset, pred):
        self.d[dataset] = [r for r in self.d[dataset] if not pred(r)]

    # -- writing ------------------------------------------------------------
    def write(self, path, expected, note):
        if os.path.exists(path): shutil.rmtree(path)
        os.makedirs(path)
        datasets = {}
        for name in DATASETS:
            data = "".join(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for r in self.d[name]).encode()
            with open(os.path.join(path, name + ".ndjson"), "wb") as f: f.write(data)
            datasets[name] = {"file": name + ".ndjson", "records": len(self.d[name]), "sha256": hashlib.sha256(data).hexdigest()}
        created = datetime.fromtimestamp(NOW / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        stores = {s: {"readAt": created, "watermark": {"fixture": True}} for s in ("postgres", "redis", "graph")}
        manifest = {"format": "concord.snapshot/1", "createdAt": created, "evaluatedAt": NOW, "stores": stores, "datasets": datasets, "note": note}
        with open(os.path.join(path, "manifest.json"), "w") as f: f.write(json.dumps(manifest, sort_keys=True, separators=(",", ":")) + "\n")
        with open(os.path.join(path, "expected.json"), "w") as f:
            json.dump({"note": note, "findings": [{"rule": r, "key": k} for r, k in sorted(expected)]}, f, indent=2, sort_keys=True)
            f.write("\n")


def base():
    """Two consistent runs: wr_a completed with a published draft, wr_b running with none."""
    w = World()
    w.run("wr_a", "completed", "published", published=OLD + 9_000)
    w.status("wr_a", "completed", "published", "d1")
    w.add(event("e1", "wr_a", "wr_a", OLD, "workflowStarted"))
    w.add(event("e2", "wr_a", "e1", OLD + 1_000, "toolCall", {"tool": "search", "args": {"q": "naïve ☃", "n": 3}}))
    w.add(event("e3", "wr_a", "e2", OLD + 2_000, "workflowCompleted"))
    w.draft("d1", "wr_a", "published", OLD + 5_000, OLD + 9_000, ["draft", "published"])
    w.publication("d1", "wr_a")
    w.run("wr_b", "running")
    w.status("wr_b", "running")
    w.add(event("f1", "wr_b", "wr_b", OLD + 100, "workflowStarted"))
    w.add(event("f2", "wr_b", "f1", OLD + 1_100, "reasoning", None))
    return w


def drop_event_from_graph(w, eid):
    w.remove("graph.nodes", lambda n: n["id"] == eid)
    w.remove("graph.edges", lambda e: e["to"]["id"] == eid)
    w.remove("redis.confirmed", lambda c: c["member"] == eid)


FIXTURES = {}


def fixture(rule, kind, note):
    def register(fn):
        FIXTURES[(rule, kind)] = (fn, note)
        return fn
    return register


# -- event.missing-in-graph -------------------------------------------------
@fixture("event.missing-in-graph", "finds", "e3 is in its stream, an hour old, not queued, and no :Node holds it")
def _(w):
    drop_event_from_graph(w, "e3"); return {("event.missing-in-graph", "e3")}

@fixture("event.missing-in-graph", "near-miss", "g1 is in its stream and not in the graph, but only 30 s old: in flight")
def _(w):
    w.add(event("g1", "wr_b", "f2", YOUNG), graph=False, confirmed=False); return set()

# -- event.confirmed-not-persisted --------------------------------------------
@fixture("event.confirmed-not-persisted", "finds", "ghost1 is confirmed, but no :Node holds it")
def _(w):
    w.confirm("ghost1", OLD); return {("event.confirmed-not-persisted", "ghost1")}

@fixture("event.confirmed-not-persisted", "near-miss", "e3 was trimmed from its stream; the graph still holds it, so its confirmation is right")
def _(w):
    w.remove("redis.streams", lambda r: r["event"] and r["event"]["id"] == "e3"); return set()

# -- event.persisted-not-confirmed ---------------------------------------------
@fixture("event.persisted-not-confirmed", "finds", "e2 is in the graph and its stream, and was never confirmed")
def _(w):
    w.remove("redis.confirmed", lambda c: c["member"] == "e2"); return {("event.persisted-not-confirmed", "e2")}

@fixture("event.persisted-not-confirmed", "near-miss", "e2 was never confirmed, but its stream has trimmed it: nothing left to compare")
def _(w):
    w.remove("redis.confirmed", lambda c: c["member"] == "e2")
    w.remove("redis.streams", lambda r: r["event"] and r["event"]["id"] == "e2"); return set()

# -- event.duplicate-node -------------------------------------------------------
@fixture("event.duplicate-node", "finds", "two :Node copies of e2, both under e1")
def _(w):
    w.d["graph.nodes"].append(copy.deepcopy(w.find("graph.nodes", id="e2")[0]))
    w.edge("e1", "Node", "e2", frm_run="wr_a", to_run="wr_a"); return {("event.duplicate-node", "e2")}

@fixture("event.duplicate-node", "near-miss", "E2 and e2 differ only in case: two events, not a duplicate")
def _(w):
    w.add(event("E2", "wr_a", "e1", OLD + 3_000, "toolCall")); return set()

# -- event.duplicate-in-queue -----------------------------------------------------
@fixture("event.duplicate-in-queue", "finds", "g1 is queued twice (young, so not stuck)")
def _(w):
    g = event("g1", "wr_b", "f2", YOUNG); w.stream("wr_b", g)
    for i in range(2): w.d["redis.queue"].append({"key": "persistence:queue", "index": i, "event": g})
    return {("event.duplicate-in-queue", "g1")}

@fixture("event.duplicate-in-queue", "near-miss", "g1 queued and g2 in processing: two different events")
def _(w):
    g1, g2 = event("g1", "wr_b", "f2", YOUNG), event("g2", "wr_b", "g1", YOUNG + 10)
    w.stream("wr_b", g1); w.stream("wr_b", g2)
    w.d["redis.queue"].append({"key": "persistence:queue", "index": 0, "event": g1})
    w.d["redis.processing"].append({"key": "persistence:processing", "index": 0, "event": g2}); return set()

# -- event.payload-mismatch ---------------------------------------------------------
@fixture("event.payload-mismatch", "finds", "e2's :Node content differs from its stream's payload")
def _(w):
    w.find("graph.nodes", id="e2")[0]["content"] = '{"tool":"search","args":{"q":"naive","n":3}}'; return {("event.payload-mismatch", "e2")}

@fixture("event.payload-mismatch", "near-miss", "e2's :Node content is the same JSON with other spacing and key order")
def _(w):
    w.find("graph.nodes", id="e2")[0]["content"] = '{ "args" : { "n" : 3, "q" : "naïve ☃" }, "tool" : "search" }'; return set()

# -- event.orphan -------------------------------------------------------------------
def late_parent(w, persisted):
    f3 = event("f3", "wr_b", "f_late", YOUNG)
    w.stream("wr_b", f3); w.node(f3); w.confirm("f3", YOUNG + 60)
    w.d["graph.nodes"].append({"id": "f_late", "workflow_id": "wr_b", "placeholder": True, "persisted_at": persisted})
    w.edge("f_late", "Node", "f3", frm_run="wr_b", to_run="wr_b", frm_placeholder=True, frm_persisted=persisted)

@fixture("event.orphan", "finds", "f3's only parent is a placeholder written an hour ago that never got filled")
def _(w):
    late_parent(w, OLD); return {("event.orphan", "f3")}

@fixture("event.orphan", "near-miss", "f3's parent is a placeholder written 30 s ago: the parent is on its way")
def _(w):
    late_parent(w, YOUNG); return set()

# -- event.wrong-parent -----------------------------------------------------------------
@fixture("event.wrong-parent", "finds", "e3 (parentId e2) hangs under e1 in the graph")
def _(w):
    w.remove("graph.edges", lambda e: e["to"]["id"] == "e3")
    w.edge("e1", "Node", "e3", frm_run="wr_a", to_run="wr_a"); return {("event.wrong-parent", "e3")}

@fixture("event.wrong-parent", "near-miss", "two PARENT_OF edges from e2 to e3: the same parent twice, not two parents")
def _(w):
    w.edge("e2", "Node", "e3", frm_run="wr_a", to_run="wr_a"); return set()

# -- event.cross-workflow-edge ---------------------------------------------------------------
@fixture("event.cross-workflow-edge", "finds", "x1 of run wr_a has f2 of run wr_b as its parent")
def _(w):
    w.add(event("x1", "wr_a", "f2", OLD + 3_000)); return {("event.cross-workflow-edge", "x1")}

@fixture("event.cross-workflow-edge", "near-miss", "x1's parent is a placeholder whose run is not known yet")
def _(w):
    x = event("x1", "wr_a", "p_unknown", YOUNG)
    w.stream("wr_a", x); w.node(x); w.confirm("x1", YOUNG + 60)
    w.d["graph.nodes"].append({"id": "p_unknown", "placeholder": True, "persisted_at": YOUNG})
    w.edge("p_unknown", "Node", "x1", to_run="wr_a", frm_placeholder=True, frm_persisted=YOUNG); return set()

# -- event.out-of-order ------------------------------------------------------------------------
@fixture("event.out-of-order", "finds", "e3 is stamped before its parent e2 (and after it in the stream)")
def _(w):
    for r in w.find("graph.nodes", id="e3"): r["timestamp"] = OLD + 500
    for r in w.d["redis.streams"]:
        if r["event"] and r["event"]["id"] == "e3": r["event"]["timestamp"] = OLD + 500
    return {("event.out-of-order", "e3")}

@fixture("event.out-of-order", "near-miss", "e3 carries the same millisecond as its parent e2")
def _(w):
    for r in w.find("graph.nodes", id="e3"): r["timestamp"] = OLD + 1_000
    for r in w.d["redis.streams"]:
        if r["event"] and r["event"]["id"] == "e3": r["event"]["timestamp"] = OLD + 1_000
    return set()

# -- event.cycle -------------------------------------------------------------------------------------
@fixture("event.cycle", "finds", "an edge e3 → e1 closes a cycle; e1 then also has two parents, one younger than it")
def _(w):
    w.edge("e3", "Node", "e1", frm_run="wr_a", to_run="wr_a")
    return {("event.cycle", "e1"), ("event.wrong-parent", "e1"), ("event.out-of-order", "e1")}

@fixture("event.cycle", "near-miss", "a chain of 400 events, deep but acyclic")
def _(w):
    parent = "f2"
    for i in range(400):
        eid = f"c{i:03d}"; w.add(event(eid, "wr_b", parent, OLD + 2_000 + i)); parent = eid
    return set()

# -- event.stuck-in-queue ---------------------------------------------------------------------------------
@fixture("event.stuck-in-queue", "finds", "k1 has waited in persistence:processing for an hour")
def _(w):
    k = event("k1", "wr_b", "f2", OLD + 2_000); w.stream("wr_b", k)
    w.d["redis.processing"].append({"key": "persistence:processing", "index": 0, "event": k}); return {("event.stuck-in-queue", "k1")}

@fixture("event.stuck-in-queue", "near-miss", "k1 has waited in persistence:queue for 30 s")
def _(w):
    k = event("k1", "wr_b", "f2", YOUNG); w.stream("wr_b", k)
    w.d["redis.queue"].append({"key": "persistence:queue", "index": 0, "event": k}); return set()

# -- event.malformed ------------------------------------------------------------------------------------------
@fixture("event.malformed", "finds", "a truncated stream entry (keyed by its stream id) and a queued event without a timestamp (keyed by its id)")
def _(w):
    rec = w.stream("wr_b", raw='{"id": "trunc')
    bad = event("m1", "wr_b", "f2", OLD); del bad["timestamp"]
    w.d["redis.queue"].append({"key": "persistence:queue", "index": 0, "event": bad})
    return {("event.malformed", f"workflow:wr_b:events#{rec['entry']}"), ("event.malformed", "m1")}

@fixture("event.malformed", "near-miss", "a valid event with extra fields, a null payload and unicode (young, in flight)")
def _(w):
    g = event("g1", "wr_b", "f2", YOUNG, "message", None); g["payload"] = None; g["extra"] = {"ü": [1, 2.5, None]}
    w.stream("wr_b", g); w.d["redis.queue"].append({"key": "persistence:queue", "index": 0, "event": g}); return set()

# -- run.missing --------------------------------------------------------------------------------------------------
@fixture("run.missing", "finds", "the graph lost run wr_b; its first event f1 is orphaned with it")
def _(w):
    w.remove("graph.runs", lambda r: r["id"] == "wr_b")
    w.remove("graph.edges", lambda e: e["from"]["id"] == "wr_b")
    return {("run.missing", "wr_b"), ("event.orphan", "f1")}

@fixture("run.missing", "near-miss", "run wr_new has a Redis status from 30 s ago and no :WorkflowRun yet")
def _(w):
    w.status("wr_new", "running", updated=YOUNG); return set()

# -- run.state-mismatch ------------------------------------------------------------------------------------------------
@fixture("run.state-mismatch", "finds", "Redis says wr_b completed; the graph says running")
def _(w):
    w.find("redis.status", workflowId="wr_b")[0]["state"] = "completed"; return {("run.state-mismatch", "wr_b")}

@fixture("run.state-mismatch", "near-miss", "Redis says wr_b completed, the graph still says running: its completion event is still queued for the sync")
def _(w):
    w.find("redis.status", workflowId="wr_b")[0]["state"] = "completed"
    done = event("f9", "wr_b", "f2", YOUNG, "workflowCompleted"); w.stream("wr_b", done)
    w.d["redis.queue"].append({"key": "persistence:queue", "index": 0, "event": done}); return set()

# -- draft.published-not-synced -----------------------------------------------------------------------------------------
@fixture("draft.published-not-synced", "finds", "d1 was published an hour ago; the graph's run still says draft")
def _(w):
    w.find("graph.runs", id="wr_a")[0]["contentStatus"] = "draft"; return {("draft.published-not-synced", "d1")}

@fixture("draft.published-not-synced", "near-miss", "d1 was published 30 s ago; the publication sync has not run yet")
def _(w):
    w.find("postgres.drafts", id="d1")[0]["updated_at"] = YOUNG
    r = w.find("graph.runs", id="wr_a")[0]; r["contentStatus"] = "draft"; del r["publishedAt"]; return set()

# -- draft.graph-published-without-draft ------------------------------------------------------------------------------------
@fixture("draft.graph-published-without-draft", "finds", "the graph says wr_b is published; wr_b has no draft at all")
def _(w):
    r = w.find("graph.runs", id="wr_b")[0]; r["contentStatus"] = "published"; r["publishedAt"] = OLD; return {("draft.graph-published-without-draft", "wr_b")}

@fixture("draft.graph-published-without-draft", "near-miss", "wr_a's newest draft d2 is discarded, but the older d1 is published")
def _(w):
    w.draft("d2", "wr_a", "discarded", OLD + 10_000, OLD + 11_000, ["draft", "discarded"])
    s = w.find("redis.status", workflowId="wr_a")[0]; s["contentStatus"] = "discarded"; s["draftId"] = "d2"; return set()

# -- draft.status-mismatch-redis -----------------------------------------------------------------------------------------------
@fixture("draft.status-mismatch-redis", "finds", "Redis shows wr_a's content as draft; its newest draft d1 is published")
def _(w):
    w.find("redis.status", workflowId="wr_a")[0]["contentStatus"] = "draft"; return {("draft.status-mismatch-redis", "d1")}

@fixture("draft.status-mismatch-redis", "near-miss", "d0 and d1 were created in the same millisecond; the greater id, d1, is the newest")
def _(w):
    w.draft("d0", "wr_a", "discarded", OLD + 5_000, OLD + 6_000, ["draft", "discarded"]); return set()

# -- draft.history-gap ------------------------------------------------------------------------------------------------------------
@fixture("draft.history-gap", "finds", "d1's history lost version 1")
def _(w):
    w.remove("postgres.draft_history", lambda h: h["draft_id"] == "d1" and h["version"] == 1); return {("draft.history-gap", "d1")}

@fixture("draft.history-gap", "near-miss", "d1 went draft → draft → published: three contiguous versions")
def _(w):
    w.remove("postgres.draft_history", lambda h: h["draft_id"] == "d1")
    for i, st in enumerate(["draft", "draft", "published"], 1):
        w.d["postgres.draft_history"].append({"draft_id": "d1", "version": i, "status": st, "content": "v", "changed_by": "u_1", "changed_at": OLD + i})
    return set()

# -- draft.orphan-run ---------------------------------------------------------------------------------------------------------------
@fixture("draft.orphan-run", "finds", "draft dX belongs to wr_ghost, which the graph does not have (so the run is missing too)")
def _(w):
    w.draft("dX", "wr_ghost", "draft", OLD, OLD, ["draft"]); return {("draft.orphan-run", "dX"), ("run.missing", "wr_ghost")}

@fixture("draft.orphan-run", "near-miss", "draft dY belongs to wr_b, which exists; Redis shows it")
def _(w):
    w.draft("dY", "wr_b", "draft", OLD + 3_000, OLD + 3_000, ["draft"])
    s = w.find("redis.status", workflowId="wr_b")[0]; s["contentStatus"] = "draft"; s["draftId"] = "dY"; return set()


# -- foreign producers ---------------------------------------------------------------------------------------------------------
# Events written the way other producers write them: the record keeps the producer's exact text as `raw`
# (what a live read keeps), the parsed value as `event`.
FOREIGN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "foreign")


def foreign_text(ev, style):
    """One event as text in one of four producers' styles (none of them Concord's canonical form)."""
    if style == 0:   # keys reversed, spaces, \u escapes for everything non-ASCII, an extra field
        d = dict(reversed(list(ev.items()))); d["trace"] = {"span": [1, 2, 3]}
        return json.dumps(d, ensure_ascii=True, separators=(", ", " : "))
    if style == 1:   # pretty-printed with tabs and CRLF
        return json.dumps(ev, indent="\t", ensure_ascii=False).replace("\n", "\r\n")
    if style == 2:   # compact, escaped slashes, floats written as 1.0 and 1e3
        t = json.dumps(ev, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")
        return t.replace('"n":1,', '"n":1.0,').replace('"limit":1000', '"limit":1e3')
    return json.dumps(ev, ensure_ascii=False)   # Python's default: ", " and ": "


# -- github.published-not-on-github ---------------------------------------------------------------------------------------------
@fixture("github.published-not-on-github", "finds", "d1 is recorded as published to acme/widgets#1, whose comments no longer carry its marker")
def _(w):
    w.d["github.publications"] = []; return {("github.published-not-on-github", "d1")}

@fixture("github.published-not-on-github", "near-miss", "d1's comment was deleted and published again: one copy, under another id")
def _(w):
    w.d["github.publications"][0]["id"] = 5002; return set()

# -- github.unrecorded-publication ------------------------------------------------------------------------------------------------
def unrecorded(w, created):
    """wr_b's draft d2 was approved; its publisher died after GitHub's 201, before PostgreSQL's commit."""
    w.draft("d2", "wr_b", "draft", OLD + 3_000, OLD + 3_000, ["draft"])
    w.find("redis.status", workflowId="wr_b")[0].update({"contentStatus": "draft", "draftId": "d2"})
    w.find("graph.runs", id="wr_b")[0]["contentStatus"] = "draft"
    w.publication("d2", "wr_b", state="pending", github_id=6001, created=created, number=2)

@fixture("github.unrecorded-publication", "finds", "d2 is on acme/widgets#2 for an hour; PostgreSQL still says pending")
def _(w):
    unrecorded(w, OLD + 4_000); return {("github.unrecorded-publication", "d2")}

@fixture("github.unrecorded-publication", "near-miss", "d2 reached GitHub 30 s ago: its publisher is committing it")
def _(w):
    unrecorded(w, YOUNG); return set()

# -- github.duplicate-publication -------------------------------------------------------------------------------------------------
@fixture("github.duplicate-publication", "finds", "d1 is on acme/widgets#1 twice: a retry that did not look first")
def _(w):
    w.github("d1", "wr_a", 5002, OLD + 9_100, "text of d1"); return {("github.duplicate-publication", "d1")}

@fixture("github.duplicate-publication", "near-miss", "acme/widgets#1 holds d1 and d3 (another draft of the run, also published): one copy each")
def _(w):
    w.draft("d3", "wr_a", "published", OLD + 4_000, OLD + 4_500, ["draft", "published"])
    w.publication("d3", "wr_a", github_id=5003, requested=OLD + 4_100, published=OLD + 4_500, created=OLD + 4_400); return set()

# -- github.content-mismatch -------------------------------------------------------------------------------------------------------
@fixture("github.content-mismatch", "finds", "d1's comment was edited on GitHub")
def _(w):
    w.d["github.publications"][0]["content"] = "text of d1 (edited on GitHub)"; return {("github.content-mismatch", "d1")}

@fixture("github.content-mismatch", "near-miss", "d1's content has quotes, a backslash and non-ASCII text; GitHub holds it byte for byte")
def _(w):
    text = 'naïve ☃ "quoted" back\\slash\nsecond line'
    w.find("postgres.drafts", id="d1")[0]["content"] = text
    w.d["github.publications"][0]["content"] = text; return set()


def foreign_base():
    """wr_f: five events of four producers' styles, in the stream and the graph, confirmed."""
    w = World()
    w.run("wr_f", "completed")
    w.status("wr_f", "completed")
    parent = "wr_f"
    for i, etype in enumerate(["workflowStarted", "toolCall", "llmResponse", "toolCallResult", "workflowCompleted"]):
        ev = event(f"x{i}", "wr_f", parent, OLD + i * 1_000, etype,
                   {"text": "café ☃ \"quoted\" back\\slash", "n": 1, "limit": 1000, "url": "https://example.com/a", "nested": {"b": 2, "a": [1.5, None]}})
        w.add(ev)
        w.find("redis.streams", workflowId="wr_f")[-1]["raw"] = foreign_text(ev, i)
        parent = ev["id"]
    return w


def foreign_finds(w):
    """A malformed entry in each place, and one node whose content really differs."""
    iso = event("xi", "wr_f", "x4", OLD); iso["timestamp"] = "2025-11-24T15:00:00Z"
    rec = w.stream("wr_f", iso); rec["raw"] = foreign_text(iso, 0)
    trunc = w.stream("wr_f", raw='{ "id" : "x_trunc", "timestamp" : 17')
    flt = event("xq", "wr_f", "x4", YOUNG); flt["timestamp"] = float(YOUNG)
    w.d["redis.queue"].append({"key": "persistence:queue", "index": 0, "event": flt, "raw": foreign_text(flt, 1)})
    w.d["redis.queue"].append({"key": "persistence:queue", "index": 1, "event": [1, 2, "three"], "raw": '[ 1, 2, "three" ]'})
    w.find("graph.nodes", id="x2")[0]["content"] = '{"text": "edited"}'
    return {("event.malformed", "xi"), ("event.malformed", f"workflow:wr_f:events#{trunc['entry']}"), ("event.malformed", "xq"),
            ("event.malformed", "persistence:queue#1"), ("event.payload-mismatch", "x2")}


def foreign_near_miss(w):
    """The graph's copies hold the payloads in another form (key order, escapes, 1 vs 1.0): the same content."""
    for n in w.d["graph.nodes"]:
        n["content"] = json.dumps(dict(reversed(list(json.loads(n["content"]).items()))), ensure_ascii=True).replace('"n": 1,', '"n": 1.0,')
    young = event("xy", "wr_f", "x4", YOUNG, "message", {"n": 1e3})
    w.stream("wr_f", young)["raw"] = foreign_text(young, 2)
    w.d["redis.queue"].append({"key": "persistence:queue", "index": 0, "event": young, "raw": foreign_text(young, 0)})
    return set()


def main():
    if os.path.exists(FOREIGN): shutil.rmtree(FOREIGN)
    foreign_base().write(os.path.join(FOREIGN, "clean"), set(), "five events written by four other producers, consistent")
    for kind, fn, note in [("finds", foreign_finds, "malformed entries in the stream (ISO timestamp, truncated) and the queue (float timestamp, an array); a node whose content differs"),
                           ("near-miss", foreign_near_miss, "the same content written in other forms; a young event in flight")]:
        w = foreign_base()
        w.write(os.path.join(FOREIGN, kind), fn(w), note)
    if os.path.exists(ROOT): shutil.rmtree(ROOT)
    base().write(os.path.join(ROOT, "clean"), set(), "two consistent runs")
    for (rule, kind), (fn, note) in sorted(FIXTURES.items()):
        w = base()
        expected = fn(w)
        w.write(os.path.join(ROOT, rule, kind), expected, note)
    print(f"wrote {len(FIXTURES) + 1} fixtures under {ROOT} and 3 under {FOREIGN}")


if __name__ == "__main__":
    main()
