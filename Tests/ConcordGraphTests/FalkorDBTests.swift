import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// The graph store against the real FalkorDB from `make services`, each test on a graph of its own.
@Suite struct FalkorDBTests {
    func fresh() throws -> FalkorDBStore {
        let name = TestStores.unique("g")
        return try FalkorDBStore(url: TestStores.falkorURL + "/" + name)
    }

    func drop(_ g: FalkorDBStore) { _ = try? g.command(["GRAPH.DELETE", g.graph]) }

    /// The data model's write: MERGE each event on id, link it to its parent (a run or an event).
    static let writeEvents = """
        UNWIND $rows AS row
        MERGE (n:Node {id: row.id})
        SET n.workflow_id = row.workflowId, n.type = row.type, n.content = row.content,
            n.metadata = row.metadata, n.timestamp = row.timestamp, n.persisted_at = row.persistedAt
        WITH n, row
        OPTIONAL MATCH (r:WorkflowRun {id: row.parentId})
        OPTIONAL MATCH (p:Node {id: row.parentId})
        FOREACH (_ IN CASE WHEN r IS NULL THEN [] ELSE [1] END | MERGE (r)-[:PARENT_OF]->(n))
        FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END | MERGE (p)-[:PARENT_OF]->(n))
        """

    static func chain(run: String, count: Int) -> [GraphValue] {
        (0..<count).map { i in
            .map(["id": .string("\(run)-e\(i)"), "workflowId": .string(run), "type": "toolCall",
                  "content": .string(JSON.object(["i": .int(Int64(i)), "text": "é😀\"q\""]).encoded()),
                  "metadata": .string(#"{"workflowId":"\#(run)"}"#),
                  "timestamp": .int(1_764_393_600_000 + Int64(i)), "persistedAt": .int(1_764_393_700_000),
                  "parentId": .string(i == 0 ? run : "\(run)-e\(i - 1)")])
        }
    }

    @Test func dataModelNodesAndEdges() throws {
        let g = try fresh()
        defer { drop(g) }
        try g.run("CREATE (:WorkflowRun {id: $id, state: 'running', contentStatus: 'none', createdAt: $t})",
                  parameters: ["id": "wr_1", "t": 1_764_393_600_000])
        let s = try g.writeBatches(Self.writeEvents, rows: Self.chain(run: "wr_1", count: 250), batchSize: 100)
        #expect(s["nodes-created"] == 250)
        #expect(s["relationships-created"] == 250)
        let path = try g.run("""
            MATCH (r:WorkflowRun {id: 'wr_1'})-[:PARENT_OF*]->(n:Node) RETURN n.id, n.timestamp, n.content ORDER BY n.timestamp
            """, readOnly: true)
        #expect(path.records.count == 250)
        #expect(path.records.first?[0] == "wr_1-e0")
        #expect(path.records.last?[1] == .int(1_764_393_600_249))
        let content = try JSON.parse(path.records[3][2].stringValue ?? "")
        #expect(content == ["i": 3, "text": "é😀\"q\""])
        // Nodes, relationships and paths come back as typed values.
        let typed = try g.run("MATCH p = (r:WorkflowRun)-[e:PARENT_OF]->(n:Node) RETURN r, e, n, p", readOnly: true)
        guard case .node(let run) = typed.records[0][0], case .relationship(let edge) = typed.records[0][1],
            case .node(let first) = typed.records[0][2], case .path(let p) = typed.records[0][3]
        else { Issue.record("untyped values: \(typed.records)"); return }
        #expect(run.labels == ["WorkflowRun"] && run.properties["state"] == "running")
        #expect(edge.type == "PARENT_OF" && edge.startId == run.id && edge.endId == first.id)
        #expect(p.nodes.count == 2 && p.relationships.count == 1)
    }

    @Test func mergeIsIdempotent() throws {
        let g = try fresh()
        defer { drop(g) }
        try g.run("CREATE (:WorkflowRun {id: 'wr_2'})")
        let rows = Self.chain(run: "wr_2", count: 100)
        let first = try g.writeBatches(Self.writeEvents, rows: rows, batchSize: 30)
        let again = try g.writeBatches(Self.writeEvents, rows: rows, batchSize: 30)
        #expect(first["nodes-created"] == 100)
        #expect(again["nodes-created"] == 0)
        #expect(again["relationships-created"] == 0)
        let counts = try g.run("MATCH (n:Node) WITH count(n) AS nodes MATCH ()-[e:PARENT_OF]->() RETURN nodes, count(e)")
        #expect(counts.records[0].values == [.int(100), .int(100)])
    }

    @Test func uniquenessConstraintRejectsDuplicatesAndSetupReportsBlockers() throws {
        let g = try fresh()
        defer { drop(g) }
        try g.run("CREATE (:Node {id: 'a'}), (:WorkflowRun {id: 'r'})")
        let outcomes = try GraphSchema.ensure(on: g)
        #expect(outcomes.allSatisfy { !$0.isBlocked }, "\(outcomes)")
        #expect(outcomes.filter { $0.status == .created }.count == 3)
        #expect(try GraphSchema.ensure(on: g).allSatisfy { $0.status == .existed })
        do {
            try g.run("CREATE (:Node {id: 'a'})")
            Issue.record("a duplicate Node.id was accepted")
        } catch let e as ConcordError {
            #expect(e.message.contains("unique constraint violation"))
        }

        // A store that already holds duplicates: setup says what blocks it and leaves the data alone.
        let h = try fresh()
        defer { drop(h) }
        try h.run("CREATE (:Node {id: 'dup'}), (:Node {id: 'dup'}), (:Node {id: 'ok'})")
        let blocked = try GraphSchema.ensure(on: h)
        let node = blocked.first { $0.label == "Node" && $0.kind == "unique" }
        #expect(node?.isBlocked == true)
        #expect(node?.description.contains("1 Node.id value(s) occur more than once") == true)
        #expect(try h.run("MATCH (n:Node {id: 'dup'}) RETURN count(n)").records[0][0] == 2)
        // Once the duplicates are merged, setting up again completes.
        try h.run("MATCH (n:Node {id: 'dup'}) WITH n LIMIT 1 DELETE n")
        let after = try GraphSchema.ensure(on: h)
        #expect(after.first { $0.label == "Node" && $0.kind == "unique" }?.status == .created)
    }

    @Test func parameterEscaping() throws {
        let g = try fresh()
        defer { drop(g) }
        let nasty: [String] = [
            "plain", "it's", "say \"hi\"", "back\\slash", "trailing\\", "\\\"", "new\nline\ttab\rcr",
            "é中文😀 e\u{301}", "$dollar {brace} `tick`", "\"}) MATCH (n) DETACH DELETE n //", "CYPHER x=1",
            String(repeating: "ü", count: 10_000),
        ]
        for s in nasty {
            let r = try g.run("RETURN $p AS p", parameters: ["p": .string(s)], readOnly: true)
            #expect(r.records.first?[0] == .string(s), "value \(s.prefix(40).debugDescription) did not survive")
        }
        let doc: GraphValue = ["key with space": "v", "list": [1, 2.5, nil, true, "x\"y", [[["deep"]]]], "n": ["deep": "é"]]
        let r = try g.run("RETURN $m AS m, $l AS l", parameters: ["m": doc, "l": .list([.int(Int64.max), .int(Int64.min), .double(0.1)])], readOnly: true)
        #expect(r.records[0][0] == doc)
        #expect(r.records[0][1] == .list([.int(Int64.max), .int(Int64.min), .double(0.1)]))
        // Stored as a property and read back.
        try g.run("CREATE (:Esc {v: $v})", parameters: ["v": .string(nasty[9])])
        #expect(try g.run("MATCH (e:Esc) RETURN e.v").records[0][0] == .string(nasty[9]))
        #expect(try g.run("MATCH (n) RETURN count(n)").records[0][0] == 1)
        #expect(throws: ConcordError.self) { try g.run("RETURN $p", parameters: ["p": .double(.nan)]) }
        #expect(throws: ConcordError.self) { try g.run("RETURN 1", parameters: ["bad name": 1]) }
        #expect(throws: ConcordError.self) { try g.run("RETURN $m", parameters: ["m": ["k`tick": 1]]) }
    }

    @Test func queryErrorsSurfaceClearly() throws {
        let g = try fresh()
        defer { drop(g) }
        do {
            try g.run("MATCH (n RETURN n")
            Issue.record("syntax error not reported")
        } catch let e as ConcordError {
            #expect(e.code == .server && e.store == "graph")
            #expect(e.query == "MATCH (n RETURN n")
        }
        do {
            try g.run("RETURN toInteger($x) / 0", parameters: ["x": "a"])
        } catch let e as ConcordError {
            #expect(e.store == "graph")
        }
        #expect(throws: ConcordError.self) { try g.run("CREATE (:X)", readOnly: true) }
        #expect(try g.run("RETURN 1").records[0][0] == 1)
    }

    @Test func writeTransactionHoldsOneStatement() throws {
        let g = try fresh()
        defer { drop(g) }
        try g.transaction(readOnly: false) { tx in
            try tx.run("UNWIND range(1, 10) AS i CREATE (:T {i: i})", parameters: [:])
            #expect(throws: ConcordError.self) { try tx.run("CREATE (:T {i: 11})", parameters: [:]) }
        }
        #expect(try g.run("MATCH (t:T) RETURN count(t)").records[0][0] == 10)
        let total = try g.transaction(readOnly: true) { tx in
            try tx.run("MATCH (t:T) RETURN count(t)", parameters: [:]).records[0][0].intValue! +
                tx.run("MATCH (t:T) RETURN max(t.i)", parameters: [:]).records[0][0].intValue!
        }
        #expect(total == 20)
    }

    @Test func streamsAMillionNodesPageByPage() throws {
        let g = try fresh()
        defer { drop(g) }
        try g.run("UNWIND range(1, 1000000) AS i CREATE (:Big {i: i, s: 'node-' + toString(i)})")
        var count = 0
        var sum: Int64 = 0
        var maxPage = 0
        var inPage = 0
        let read = try g.streamKeyset(
            "MATCH (n:Big) WHERE id(n) > $after RETURN id(n) AS k, n.i AS i, n.s AS s ORDER BY k LIMIT $limit",
            start: -1, pageSize: 20_000, key: { $0[0] }
        ) { r in
            count += 1
            sum += r[1].intValue ?? 0
            inPage += 1
            if inPage == 20_000 { maxPage = max(maxPage, inPage); inPage = 0 }
            if r[2].stringValue != "node-\(r[1].intValue ?? -1)" { Issue.record("bad row \(r)") }
        }
        #expect(read == 1_000_000 && count == 1_000_000)
        #expect(sum == 1_000_000 * 1_000_001 / 2)
        #expect(maxPage <= 20_000)
    }
}
