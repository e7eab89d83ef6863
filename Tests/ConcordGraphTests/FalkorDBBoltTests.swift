import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// The Bolt client against a real third-party Bolt server: FalkorDB's Bolt
/// listener, with the official Python driver on the same data in the same run.
///
/// Left out on purpose, because of known FalkorDB Bolt bugs: temporal values
/// in results (they crash the server) and explicit transactions (BEGIN/COMMIT
/// misbehave). Those paths are covered by the scripted-peer conversations.
/// FalkorDB's Bolt listener serves only the graph named `falkordb` and accepts
/// only the `none` auth scheme (a URL without credentials). The test starts a
/// FalkorDB server of its own with Bolt on: once Bolt connections have come
/// and gone, FalkorDB can stop reading new connections (seen here), so the
/// shared server runs without Bolt and this one lives for one test.
@Suite(.serialized) struct FalkorDBBoltTests {
    @Test func happyPathMatchesTheOfficialDriver() throws {
        let server = try PrivateFalkorDB(bolt: true)
        defer { server.stop() }
        let boltURL = "bolt://127.0.0.1:\(server.boltPort!)"
        let resp = try FalkorDBStore(url: server.url + "/falkordb")
        try resp.run("""
            UNWIND range(1, 10000) AS i
            CREATE (:BoltCheck {i: i, s: 'név-' + toString(i), f: i / 4.0, b: i % 2 = 0, l: [i, i + 1]})
            """)

        let bolt = try BoltStore(url: boltURL, ioTimeout: 60)
        defer { bolt.close() }
        #expect(bolt.protocolVersion.hasPrefix("5."))
        var rows: [JSON] = []
        try bolt.stream("MATCH (n:BoltCheck) RETURN n ORDER BY n.i", fetchSize: 1000) { r in
            guard case .node(let n) = r[0] else { Issue.record("not a node: \(r)"); return }
            #expect(n.labels == ["BoltCheck"])
            rows.append(.object(n.properties.mapValues(\.json)))
        }
        #expect(rows.count == 10_000)
        // A read-only query: FalkorDB's listener never answers mode "r" (it says it is Neo4j, but names its
        // connections by UUID), so the client leaves the mode out for it instead of hanging.
        #expect(try bolt.run("MATCH (n:BoltCheck) RETURN count(n)", readOnly: true).records.first?[0].intValue == 10_000)
        let merge = "UNWIND $rows AS row MERGE (n:BoltMerge {i: row.i}) SET n.s = row.s"
        let mergeRows: [GraphValue] = (0..<100).map { .map(["i": .int(Int64($0)), "s": .string("s\($0)")]) }
        let created = try bolt.run(merge, parameters: ["rows": .list(mergeRows)]).summary["nodes-created"]
        #expect(created == 100)
        let mergedBySwift = try resp.run("MATCH (n:BoltMerge) RETURN n.i, n.s ORDER BY n.i").records.map(\.values)
        _ = try resp.run("MATCH (n:BoltMerge) DELETE n")

        // The official driver reads the same nodes and runs the same MERGE.
        let script = TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordGraphTests/Python/bolt_client.py").path
        let run = try TestStores.run(TestStores.python, [script, "falkordb", boltURL])
        #expect(run.status == 0, "\(run.stderr)")
        let official = try JSON.parse(String(decoding: run.stdout, as: UTF8.self))
        #expect(official["count"] == 10_000)
        #expect(official["merged"] == 100)
        let theirs = official["rows"]?.arrayValue ?? []
        #expect(theirs.count == rows.count)
        var differing = 0
        for (a, b) in zip(rows, theirs) where a != b { differing += 1; if differing < 3 { Issue.record("\(a) != \(b)") } }
        #expect(differing == 0)
        let mergedByDriver = try resp.run("MATCH (n:BoltMerge) RETURN n.i, n.s ORDER BY n.i").records.map(\.values)
        #expect(mergedByDriver == mergedBySwift)
        #expect(mergedBySwift.count == 100)
    }
}
