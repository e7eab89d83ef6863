"""A Bolt 5.x server that runs every query on FalkorDB over RESP: the Neo4j
stand-in for the tests (no Neo4j server can be installed here). Written on the
official Neo4j Python driver's PackStream codec (through bolt_peer's framing).

  bolt_gateway.py --falkordb HOST:PORT --graph NAME [--tls CERT KEY] [--port N]
                  [--route ADDRESS...] [--role router|writer|reader|all] [--cluster FILE]

Listens on 127.0.0.1 (a free port, printed as the first line of stdout) and
serves connections until killed. Answers like Neo4j where a client can tell:
  HELLO / LOGON / LOGOFF      any credentials; server "Neo4j/5.26.0", connection ids bolt-N
  RUN / PULL / DISCARD        GRAPH.QUERY (GRAPH.RO_QUERY in read mode) with the parameters as a
                              CYPHER prefix; results streamed n at a time (has_more), nodes and
                              relationships as Bolt structures, FalkorDB's statistics as Neo4j's
  BEGIN / COMMIT / ROLLBACK   a transaction is a session-level marker: each statement executes when
                              it runs (FalkorDB has no multi-statement transactions), so ROLLBACK
                              cannot take writes back — it answers FAILURE when the transaction wrote
                              (Neo.TransientError... would hide it), SUCCESS when it only read
  bookmarks                   COMMIT and auto-commit writes answer a bookmark "FB:<n>"
  ROUTE                       with --route: the routing table naming those addresses (the first
                              --role writer ones as WRITE, all as READ and ROUTE), ttl 300
  a FalkorDB error            FAILURE with a Neo4j-shaped code, then IGNORED until RESET
  a write in read mode        FAILURE Neo.ClientError.Statement.AccessMode
  Neo4j-only syntax           COUNT { (n)<-[:T]-() } (a node's degree) becomes indegree(n, 'T')
  --role reader/router        writes answer FAILURE Neo.ClientError.Cluster.NotALeader
  --cluster FILE              the cluster as JSON {"writer": ADDRESS, "members": [ADDRESS...], "ttl": S},
                              read at every ROUTE and write: this gateway is the writer while the file
                              names its address, a reader otherwise (so a test can move the writer);
                              "transientCommits": N fails the next N committing writes with
                              Neo.TransientError.Transaction.DeadlockDetected
"""
import json
import os
import re
import argparse
import itertools
import math
import socket
import ssl
import sys
import threading
import time

from bolt_peer import Conn
from neo4j._codec.packstream._python._common import Structure

CONNECTION_IDS = itertools.count(1)
# Where the time goes, for the benchmarks: seconds waiting on FalkorDB, seconds handling messages in all.
# `CALL gateway.stats()` answers [falkordb, handling, statements].
STATS = {"falkordb": 0.0, "handling": 0.0, "statements": 0}
STATS_LOCK = threading.Lock()
BOOKMARKS = itertools.count(1)
STAT_NAMES = {
    "nodes created": "nodes-created", "nodes deleted": "nodes-deleted",
    "relationships created": "relationships-created", "relationships deleted": "relationships-deleted",
    "properties set": "properties-set", "properties removed": "properties-set",
    "labels added": "labels-added", "labels removed": "labels-removed",
    "indices created": "indexes-added", "indices deleted": "indexes-removed",
    "constraints created": "constraints-added", "constraints deleted": "constraints-removed",
}


class FalkorError(Exception):
    pass


class Resp:
    """A RESP2 client for one FalkorDB connection."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port))
        self.file = self.sock.makefile("rb")

    def command(self, *args):
        start = time.perf_counter()
        try:
            return self._command(*args)
        finally:
            with STATS_LOCK:
                STATS["falkordb"] += time.perf_counter() - start

    def _command(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a.encode("utf-8") if isinstance(a, str) else a
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))
        return self.reply()

    def reply(self):
        line = self.file.readline()
        if not line:
            raise FalkorError("FalkorDB closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return FalkorError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)[:-2]
            return data.decode("utf-8", "surrogateescape")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise FalkorError(f"unexpected RESP {line!r}")


def literal(v):
    """A parameter as a Cypher literal for FalkorDB's CYPHER prefix."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise FalkorError("FalkorDB parameters cannot hold NaN or infinity")
        return repr(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(literal(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join("`%s`:%s" % (k, literal(x)) for k, x in v.items()) + "}"
    raise FalkorError(f"a {type(v).__name__} cannot be a FalkorDB parameter")


class Graph:
    """One FalkorDB graph, its schema names cached, queries decoded to Python/Bolt values."""

    def __init__(self, host, port, name):
        self.resp = Resp(host, port)
        self.name = name
        self.cache = {"db.labels()": [], "db.relationshipTypes()": [], "db.propertyKeys()": []}

    def schema(self, procedure, i):
        names = self.cache[procedure]
        if i >= len(names):
            r = self.resp.command("GRAPH.RO_QUERY", self.name, f"CALL {procedure}", "--compact")
            names = [] if isinstance(r, FalkorError) else [row[0][1] for row in r[1]]
            self.cache[procedure] = names
        return names[i] if i < len(names) else f"unknown{i}"

    def props(self, triples):
        return {self.schema("db.propertyKeys()", k): self.value(t, v) for k, t, v in triples}

    def node(self, v):
        nid, labels, triples = v
        return Structure(b"N", nid, [self.schema("db.labels()", l) for l in labels], self.props(triples), str(nid))

    def value(self, t, v):
        if t == 1:
            return None
        if t == 2:
            return v
        if t == 3:
            return v
        if t == 4:
            return v == "true"
        if t == 5:
            return float(v)
        if t == 6:
            return [self.value(*p) for p in v]
        if t == 7:
            rid, rtype, src, dst, triples = v
            return Structure(b"R", rid, src, dst, self.schema("db.relationshipTypes()", rtype), self.props(triples),
                             str(rid), str(src), str(dst))
        if t == 8:
            return self.node(v)
        if t == 10:
            return {v[i]: self.value(*v[i + 1]) for i in range(0, len(v), 2)}
        if t == 12:
            return [float(x) for x in v]
        raise FalkorError(f"the gateway does not translate FalkorDB value type {t}")

    # Neo4j's COUNT { pattern } subqueries that Concord writes for a node's degree, in FalkorDB's terms.
    DEGREE = re.compile(r"COUNT \{ \((\w+)\)(<-|-)\[:`?(\w+)`?\](->|-)\(\) \}")

    @staticmethod
    def falkor_dialect(text):
        def degree(m):
            v, left, rtype, _ = m.groups()
            return f"{'indegree' if left == '<-' else 'outdegree'}({v}, '{rtype}')"
        return Graph.DEGREE.sub(degree, text)

    def query(self, text, params, read_only):
        text = self.falkor_dialect(text)
        prefix = ("CYPHER " + " ".join(f"{k}={literal(v)}" for k, v in params.items()) + " ") if params else ""
        r = self.resp.command("GRAPH.RO_QUERY" if read_only else "GRAPH.QUERY", self.name, prefix + text, "--compact")
        if isinstance(r, FalkorError) and read_only and "empty key" in str(r):
            # No graph yet: create it empty, then the read-only query (which still refuses a write).
            self.resp.command("GRAPH.QUERY", self.name, "RETURN 0", "--compact")
            r = self.resp.command("GRAPH.RO_QUERY", self.name, prefix + text, "--compact")
        if isinstance(r, FalkorError):
            raise r
        stats_lines = r[-1]
        if isinstance(stats_lines, FalkorError):
            raise stats_lines
        fields, rows = [], []
        if len(r) == 3:
            fields = [h[1] if isinstance(h, list) else h for h in r[0]]
            for row in r[1]:
                if isinstance(row, FalkorError):
                    raise row
                rows.append([self.value(*p) for p in row])
        stats = {}
        for line in stats_lines:
            name, _, value = line.partition(":")
            key = STAT_NAMES.get(name.strip().lower())
            if key:
                stats[key] = stats.get(key, 0) + int(float(value.split()[0]))
        return fields, rows, stats


def failure_code(message):
    m = message.lower()
    if "unknown function" in m or "syntax" in m or "invalid input" in m:
        return "Neo.ClientError.Statement.SyntaxError"
    if "unique constraint" in m or "constraint violation" in m:
        return "Neo.ClientError.Schema.ConstraintValidationFailed"
    if "not defined" in m or "type mismatch" in m or "expected" in m:
        return "Neo.ClientError.Statement.SemanticError"
    return "Neo.DatabaseError.Statement.ExecutionFailed"


def serve(sock, args):
    conn = Conn(sock)
    hs = conn.recv_exact(20)
    if hs is None or hs[:4] != b"\x60\x60\xb0\x17":
        return
    agreed = None
    for i in range(4):
        p = hs[4 + 4 * i: 8 + 4 * i]
        major, minor, rng = p[3], p[2], p[1]
        if major == 5:
            best = min(minor, 7)
            if best >= minor - rng:
                agreed = (5, best)
                break
    if agreed is None:
        sock.sendall(b"\x00\x00\x00\x00")
        return
    sock.sendall(bytes([0, 0, agreed[1], agreed[0]]))
    host, port = args.falkordb.rsplit(":", 1)
    graph = Graph(host, int(port), args.graph)
    failed = False
    result = None  # (fields, rows, stats, wrote) of the last RUN
    tx = None  # {"wrote": bool, "read_only": bool} inside BEGIN ... COMMIT/ROLLBACK
    while True:
        msg = conn.read_message()
        if msg is None:
            return
        name, fields = msg
        if name == "GOODBYE":
            return
        started = time.perf_counter()
        try:
            failed, result, tx = handle(conn, graph, args, name, fields, failed, result, tx)
        finally:
            with STATS_LOCK:
                STATS["handling"] += time.perf_counter() - started


def handle(conn, graph, args, name, fields, failed, result, tx):
    """One client message; returns the session's (failed, result, tx) after it."""
    if name == "RESET":
        failed, result, tx = False, None, None
        conn.send("SUCCESS", [{}])
        return failed, result, tx
    if failed:
        conn.send("IGNORED", [])
        return failed, result, tx
    try:
        if name == "HELLO":
            conn.send("SUCCESS", [{"server": "Neo4j/5.26.0", "connection_id": f"bolt-{next(CONNECTION_IDS)}", "hints": {}}])
        elif name in ("LOGON", "LOGOFF", "TELEMETRY"):
            conn.send("SUCCESS", [{}])
        elif name == "ROUTE":
            addresses = args.route or [f"127.0.0.1:{args.port}"]
            writers, ttl = addresses[:1], 300
            if args.cluster:
                cluster = json.load(open(args.cluster))
                addresses, writers, ttl = cluster["members"], [cluster["writer"]], cluster.get("ttl", 300)
            table = {"ttl": ttl, "db": args.graph, "servers": [
                {"addresses": writers, "role": "WRITE"},
                {"addresses": addresses, "role": "READ"},
                {"addresses": addresses, "role": "ROUTE"},
            ]}
            conn.send("SUCCESS", [{"rt": table}])
        elif name == "BEGIN":
            extra = fields[0] if fields else {}
            tx = {"wrote": False, "read_only": extra.get("mode") == "r"}
            conn.send("SUCCESS", [{}])
        elif name in ("COMMIT", "ROLLBACK"):
            if tx is None:
                raise FalkorError(f"{name} outside a transaction")
            wrote, tx = tx["wrote"], None
            if name == "COMMIT" and wrote and args.cluster:
                # The cluster file may ask for transient failures of the next N commits (a deadlock, a leader switch).
                cluster = json.load(open(args.cluster))
                if cluster.get("transientCommits", 0) > 0:
                    cluster["transientCommits"] -= 1
                    with open(args.cluster + ".tmp", "w") as f:
                        json.dump(cluster, f)
                    os.replace(args.cluster + ".tmp", args.cluster)
                    raise FalkorError("Transient:the transaction was chosen as a deadlock victim")
            if name == "ROLLBACK" and wrote:
                code = "Neo.DatabaseError.Transaction.TransactionRollbackFailed"
                conn.send("FAILURE", [{"code": code, "neo4j_code": code,
                                       "message": "the gateway cannot roll back writes already executed on FalkorDB"}])
                failed = True
            else:
                conn.send("SUCCESS", [{"bookmark": f"FB:{next(BOOKMARKS)}"} if name == "COMMIT" and wrote else {}])
        elif name == "RUN" and fields[0].strip() == "CALL gateway.stats()":
            with STATS_LOCK:
                row = [STATS["falkordb"], STATS["handling"], STATS["statements"]]
            result = (["falkordb", "handling", "statements"], [row], {}, False)
            conn.send("SUCCESS", [{"fields": result[0], "t_first": 0}])
        elif name == "RUN":
            with STATS_LOCK:
                STATS["statements"] += 1
            text, params = fields[0], fields[1] or {}
            extra = fields[2] if len(fields) > 2 else {}
            read_only = tx["read_only"] if tx is not None else extra.get("mode") == "r"
            role = args.role
            if args.cluster:
                role = "writer" if json.load(open(args.cluster))["writer"] == f"127.0.0.1:{args.port}" else "reader"
            follower = role in ("reader", "router")
            try:
                # A follower runs everything read-only: a write is refused before it happens, as on Neo4j.
                cols, rows, stats = graph.query(text, params, read_only or follower)
            except FalkorError as e:
                message = str(e)
                if "read-only" in message.lower() or "ro_query" in message.lower():
                    if follower and not read_only:
                        raise FalkorError("NotALeader:this server is not the cluster's writer")
                    raise FalkorError("AccessMode:" + message)
                raise
            wrote = any(stats.values())
            if tx is not None and wrote:
                tx["wrote"] = True
            result = (cols, rows, stats, wrote)
            conn.send("SUCCESS", [{"fields": cols, "t_first": 0}])
        elif name in ("PULL", "DISCARD"):
            if result is None:
                raise FalkorError(f"{name} without a RUN")
            n = (fields[0] if fields else {}).get("n", -1)
            cols, rows, stats, wrote = result
            take = len(rows) if n < 0 or name == "DISCARD" else min(n, len(rows))
            if name == "PULL":
                for row in rows[:take]:
                    conn.send("RECORD", [row])
            rest = rows[take:] if name == "PULL" else []
            if rest:
                result = (cols, rest, stats, wrote)
                conn.send("SUCCESS", [{"has_more": True}])
            else:
                meta = {"type": "rw" if wrote else "r", "t_last": 0, "db": args.graph}
                if stats:
                    meta["stats"] = stats
                if wrote and tx is None:
                    meta["bookmark"] = f"FB:{next(BOOKMARKS)}"
                result = None
                conn.send("SUCCESS", [meta])
        else:
            raise FalkorError(f"the gateway does not serve {name}")
    except FalkorError as e:
        message = str(e)
        if message.startswith("Transient:"):
            code, message = "Neo.TransientError.Transaction.DeadlockDetected", message[len("Transient:"):]
        elif message.startswith("NotALeader:"):
            code, message = "Neo.ClientError.Cluster.NotALeader", message[len("NotALeader:"):]
        elif message.startswith("AccessMode:"):
            code, message = "Neo.ClientError.Statement.AccessMode", message[len("AccessMode:"):]
        else:
            code = failure_code(message)
        conn.send("FAILURE", [{"code": code, "neo4j_code": code, "message": message}])
        failed, result = True, None
    return failed, result, tx


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--falkordb", required=True)
    parser.add_argument("--graph", required=True)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--route", nargs="*", default=[])
    parser.add_argument("--role", default="all", choices=["all", "writer", "reader", "router"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cluster")
    args = parser.parse_args()
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", args.port))
    srv.listen(64)
    args.port = srv.getsockname()[1]
    print(args.port, flush=True)
    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls[0], args.tls[1])

    def handle(sock):
        try:
            if context is not None:
                sock = context.wrap_socket(sock, server_side=True)
            serve(sock, args)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    while True:
        sock, _ = srv.accept()
        threading.Thread(target=handle, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
