"""The official Neo4j Python driver runs one scenario against a Bolt server.

  bolt_client.py SCENARIO URL [USER PASSWORD]

Prints one JSON object with what it saw; exits 0 when the scenario behaved as
expected. With BOLT_CA=FILE in the environment, the connection is encrypted and
the server's certificate verified against that CA. Scenarios: handshake, read-mode, bolt44, discard, auth-failure, stream, failure-reset,
commit, rollback, falkordb.
"""
import json
import os
import sys

import neo4j
from neo4j.exceptions import AuthError, Neo4jError


def main():
    scenario, url = sys.argv[1], sys.argv[2]
    auth = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else None
    out = {}
    tls = {}
    if os.environ.get("BOLT_CA"):
        tls = {"encrypted": True, "trusted_certificates": neo4j.TrustCustomCAs(os.environ["BOLT_CA"])}
    with neo4j.GraphDatabase.driver(url, auth=auth, max_connection_pool_size=1, **tls) as driver:
        if scenario == "auth-failure":
            try:
                with driver.session() as s:
                    s.run("RETURN 1").consume()
                out["error"] = "none"
            except AuthError as e:
                out["error"] = e.code
        elif scenario == "gateway":
            # The queries the gateway is validated with: their results in a plain form (see GatewayTests).
            def plain(v):
                if isinstance(v, neo4j.graph.Node):
                    return {"labels": sorted(v.labels), "properties": {k: plain(x) for k, x in dict(v).items()}}
                if isinstance(v, neo4j.graph.Relationship):
                    return {"type": v.type, "properties": {k: plain(x) for k, x in dict(v).items()}}
                if isinstance(v, list):
                    return [plain(x) for x in v]
                if isinstance(v, dict):
                    return {k: plain(x) for k, x in v.items()}
                return v
            queries = json.loads(os.environ["GATEWAY_QUERIES"])
            out["results"] = []
            with driver.session(fetch_size=1000) as s:
                for q in queries:
                    try:
                        result = s.run(q["query"], q.get("parameters", {}))
                        rows = [[plain(x) for x in r.values()] for r in result]
                        counters = result.consume().counters
                        out["results"].append({"rows": rows, "nodes_created": counters.nodes_created,
                                               "properties_set": counters.properties_set})
                    except Neo4jError as e:
                        out["results"].append({"error": e.code})
            with driver.session(default_access_mode=neo4j.READ_ACCESS) as s:
                out["read"] = s.run("MATCH (n:GW) RETURN count(n) AS c").single()["c"]
            with driver.session() as s:
                tx = s.begin_transaction()
                tx.run("CREATE (:GWTX {v: 1})").consume()
                tx.commit()
                out["bookmark"] = bool(list(s.last_bookmarks().raw_values))
        elif scenario == "bookmarks":
            with driver.session(fetch_size=1000) as s:
                tx = s.begin_transaction()
                tx.run("CREATE (:T {v: $v})", v=1).consume()
                tx.commit()
            with driver.session(fetch_size=1000, default_access_mode=neo4j.READ_ACCESS, bookmarks=s.last_bookmarks()) as r:
                out["rows"] = [rec.values() for rec in r.run("MATCH (n:T) RETURN count(n) AS c")]
        elif scenario == "read-mode":
            with driver.session(fetch_size=1000, default_access_mode=neo4j.READ_ACCESS) as s:
                out["rows"] = [r.values() for r in s.run("RETURN 1 AS x")]
        else:
            with driver.session(fetch_size=1000) as s:
                if scenario in ("handshake", "bolt44"):
                    out["rows"] = [r.values() for r in s.run("RETURN 1 AS x")]
                elif scenario == "stream":
                    out["rows"] = sum(1 for _ in s.run("UNWIND range(1, 10000) AS i RETURN i"))
                elif scenario == "discard":
                    result = s.run("UNWIND range(1, 10000) AS i RETURN i")
                    out["first"] = next(iter(result)).value()
                    result.consume()
                    out["rows"] = [r.values() for r in s.run("RETURN 1 AS x")]
                elif scenario == "failure-reset":
                    try:
                        s.run("RETURN nosuchfunction(1)").consume()
                    except Neo4jError as e:
                        out["error"] = e.code
                    out["rows"] = [r.values() for r in s.run("RETURN 2 AS y")]
                elif scenario in ("commit", "rollback"):
                    tx = s.begin_transaction()
                    tx.run("CREATE (n:T {v: $v})", v=1).consume()
                    tx.commit() if scenario == "commit" else tx.rollback()
                    out["done"] = scenario
                elif scenario == "falkordb":
                    rows = [dict(r["n"]) for r in s.run("MATCH (n:BoltCheck) RETURN n ORDER BY n.i")]
                    out["count"] = len(rows)
                    out["rows"] = rows
                    summary = s.run("UNWIND $rows AS row MERGE (n:BoltMerge {i: row.i}) SET n.s = row.s",
                                    rows=[{"i": i, "s": f"s{i}"} for i in range(100)]).consume()
                    out["merged"] = summary.counters.nodes_created
    print(json.dumps(out))


if __name__ == "__main__":
    main()
