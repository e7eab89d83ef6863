import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// The Bolt gateway is held to FalkorDB first: the official Neo4j driver runs
/// queries through it and must get what FalkorDB answers over RESP (read by
/// Concord's own RESP client), before any Concord test relies on it.
@Suite(.serialized) struct GatewayTests {
    /// A value as both sides can print it: nodes and relationships by labels/type and properties.
    static func plain(_ v: GraphValue) -> JSON {
        switch v {
        case .node(let n): return ["labels": .array(n.labels.sorted().map(JSON.string)), "properties": .object(n.properties.mapValues(plain))]
        case .relationship(let r): return ["type": .string(r.type), "properties": .object(r.properties.mapValues(plain))]
        case .list(let l): return .array(l.map(plain))
        case .map(let m): return .object(m.mapValues(plain))
        default: return v.json
        }
    }

    static let reads: [(String, [String: GraphValue])] = [
        ("MATCH (n:GW) RETURN n ORDER BY n.i", [:]),
        ("MATCH (n:GW) WHERE n.i <= 5 RETURN n.i, n.s, n.f, n.b, n.l, n.missing ORDER BY n.i", [:]),
        ("MATCH (a:GW)-[r:NEXT]->(b:GW) RETURN a.i, r, b.i ORDER BY a.i LIMIT 50", [:]),
        ("RETURN $s AS s, $m AS m, $l AS l, $n AS n", ["s": .string("q\"uo\\te\n\ttab é 😀"), "m": .map(["a": .list([.int(1), .double(2.5), .null])]),
                                                          "l": .list([.bool(true), .string("x")]), "n": .null]),
        ("MATCH (n:GW) RETURN count(n) AS c, sum(n.i) AS s, collect(n.i)[0..3] AS first", [:]),
        ("RETURN {k: 1, nested: {x: [1, 2]}} AS m, [1, 'a', null, 1.5] AS l", [:]),
    ]

    @Test func officialDriverGetsWhatFalkorDBAnswers() throws {
        let graphName = TestStores.unique("gateway")
        let resp = try FalkorDBStore(url: TestStores.falkorURL + "/" + graphName)
        defer { _ = try? resp.command(["GRAPH.DELETE", graphName]) }
        try resp.run("""
            UNWIND range(1, 2500) AS i
            CREATE (:GW {i: i, s: 'név-' + toString(i) + ' "q" \\\\', f: i / 4.0, b: i % 2 = 0, l: [i, 'x', 1.5]})
            """)
        try resp.run("MATCH (a:GW), (b:GW) WHERE b.i = a.i + 1 AND a.i <= 100 CREATE (a)-[:NEXT {w: a.i * 2, t: 'w'}]->(b)")
        var expected: [JSON] = []
        for (q, p) in Self.reads {
            expected.append(.array(try resp.run(q, parameters: p, readOnly: true).records.map { r in .array(r.values.map(Self.plain)) }))
        }
        let gateway = try BoltGateway(graph: graphName)
        defer { gateway.stop() }

        // The official driver through the gateway.
        func paramJSON(_ p: [String: GraphValue]) -> JSON { .object(p.mapValues(\.json)) }
        let queries = JSON.array(Self.reads.map { ["query": .string($0.0), "parameters": paramJSON($0.1)] }
            + [["query": "RETURN nosuchfunction(1)"], ["query": "UNWIND range(1, 10) AS i CREATE (:GWNew {i: i})"]])
        let run = try TestStores.run(TestStores.python, [BoltConversationTests.client, "gateway", "bolt://127.0.0.1:\(gateway.port)", "neo4j", "any"],
                                     environment: ["GATEWAY_QUERIES": queries.encoded()])
        #expect(run.status == 0, "\(run.stderr)")
        let official = try JSON.parse(String(decoding: run.stdout, as: UTF8.self))
        let results = official["results"]?.arrayValue ?? []
        for (i, e) in expected.enumerated() {
            #expect(results[safe: i]?["rows"] == e, "query \(i) \(Self.reads[i].0): driver \(results[safe: i]?.encoded().prefix(300) ?? "-") vs RESP \(e.encoded().prefix(300))")
        }
        #expect(results[safe: Self.reads.count]?["error"]?.stringValue == "Neo.ClientError.Statement.SyntaxError")
        #expect(results[safe: Self.reads.count + 1]?["nodes_created"] == 10)
        #expect(official["read"] == 2500 && official["bookmark"] == true)

        // Concord's Bolt client through the gateway: the same answers.
        let bolt = try BoltStore(url: "bolt://neo4j:any@127.0.0.1:\(gateway.port)", ioTimeout: 30)
        defer { bolt.close() }
        for (i, (q, p)) in Self.reads.enumerated() {
            let rows = JSON.array(try bolt.run(q, parameters: p, readOnly: true).records.map { r in .array(r.values.map(Self.plain)) })
            #expect(rows == expected[i], "query \(i) over Bolt")
        }
        #expect(throws: ConcordError.self) { try bolt.run("RETURN nosuchfunction(1)") }
        #expect(try bolt.run("MATCH (n:GWNew) RETURN count(n)").records.first?[0].intValue == 10)
    }
}

extension Array {
    subscript(safe i: Int) -> Element? { indices.contains(i) ? self[i] : nil }
}
