import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordPostgres
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// `--partition I/N` reads about 1/N of each store and the N reports add up
/// to the full one — including records another producer wrote without
/// `run_bucket`, and records that belong to no run.
@Suite struct PartitionTests {
    static func ids(_ r: AuditReport) -> [String] { r.findings.map(\.id) }

    @Test func partitionsReadTheirShareAndUnionToTheFullReport() throws {
        let f = try AuditFixture(db: 27)
        let seed = UInt64.random(in: 1...1_000_000)
        _ = try f.simulate(seed: seed, runs: 90, eventsPerRun: 8, faults: "all=2")
        // Another producer's nodes: no run_bucket, one with no run at all, one whose run has no :WorkflowRun.
        let old = nowMilliseconds() - 3_600_000
        try f.graph.run("""
            CREATE (:Node {id: 'foreign-1', workflow_id: 'foreign-run', type: 'note', content: '{}', metadata: '{}', timestamp: $t, persisted_at: $t}),
                   (:Node {id: 'foreign-2', type: 'note', content: '{}', metadata: '{}', timestamp: $t, persisted_at: $t})
            """, parameters: ["t": .int(old)])
        // Every partition reads the queues whole; a confirmation of a node held by another partition must not be reported.
        let full = try f.audit(recheck: false)
        #expect(full.findings.contains { $0.key == "foreign-1" } && full.findings.contains { $0.key == "foreign-2" })
        func count(_ r: AuditReport, _ store: String, _ dataset: String) -> Int { Int(r.stores[store]?["records"]?[dataset]?.intValue ?? 0) }
        let fullNodes = count(full, "graph", "graph.nodes")
        let fullStreams = count(full, "redis", "redis.streams")
        let noRun = Int(try f.graph.run("MATCH (n:Node) WHERE n.workflow_id IS NULL RETURN count(n)", readOnly: true).records.first?[0].intValue ?? -1)
        #expect(noRun >= 1)
        for n in [2, 3, 4] {
            for recheck in [false, true] {
                var union: [String] = []
                var nodes = 0, entries = 0
                for i in 0..<n {
                    let r = try Auditor.audit(live: try f.reader(), AuditRequest(rules: f.rules, partition: try Partition(index: i, count: n)), recheck: recheck)
                    union += Self.ids(r)
                    let read = count(r, "graph", "graph.nodes")
                    nodes += read
                    entries += count(r, "redis", "redis.streams")
                    let bound = fullNodes * 3 / (2 * n) + 10
                    #expect(read < bound, "partition \(i)/\(n) read \(read) of \(fullNodes) nodes")
                    #expect(r.json()["partitionRead"]?["whole"]?.arrayValue?.contains("redis.confirmed") == true)
                }
                let runless = Set(full.findings.filter { $0.workflowId == nil }.map(\.id))
                let twice = Dictionary(grouping: union, by: { $0 }).filter { $0.value.count > 1 && !runless.contains($0.key) }.keys
                #expect(twice.isEmpty, "reported by two partitions (\(n), recheck \(recheck)): \(full.findings.filter { twice.contains($0.id) }.map { "\($0.rule) \($0.key) \($0.workflowId ?? "-")" })")
                let missing = full.findings.filter { !union.contains($0.id) }.map { "\($0.rule) \($0.key) \($0.workflowId ?? "-")" }
                #expect(Set(union) == Set(Self.ids(full)),
                        "seed \(seed), \(n) partitions, recheck \(recheck): missing \(missing), extra \(Set(union).subtracting(Self.ids(full)).count)")
                // Together the partitions read each record once (a node with no run: by each of them).
                #expect(nodes == fullNodes + (n - 1) * noRun, "\(nodes) vs \(fullNodes)")
                #expect(entries == fullStreams)
            }
        }
    }

    @Test func setupGivesEveryNodeItsBucket() throws {
        let f = try AuditFixture(db: 28)
        _ = try f.simulate(seed: 7, runs: 5, eventsPerRun: 4)
        try f.graph.run("CREATE (:Node {id: 'x1', workflow_id: 'run-x'}), (:WorkflowRun {id: 'run-x'})")
        try f.graph.run("MATCH (n:Node {id: 'x1'}) SET n.run_bucket = 5000")  // stale
        try f.graph.run("CREATE (:Node {id: 'x2', workflow_id: 'run-y'})")
        let fixed = try GraphSchema.backfillBuckets(on: f.graph)
        #expect(fixed["Node"] == 2 && fixed["WorkflowRun"] == 1)
        let r = try f.graph.run("MATCH (n) WHERE n.run_bucket IS NULL OR (n:Node AND n.workflow_id = 'run-x' AND n.run_bucket <> $b) RETURN count(n)",
                                parameters: ["b": .int(Int64(RunBucket.of("run-x")))], readOnly: true)
        #expect(r.records.first?[0].intValue == 0)
        #expect(try GraphSchema.backfillBuckets(on: f.graph) == ["Node": 0, "WorkflowRun": 0])

        // Another producer's graph, bigger than one id range (20,000) and one write (1,000 runs): every node gets its bucket.
        try f.graph.run("UNWIND range(0, 44999) AS i CREATE (:Node {id: 'p' + toString(i), workflow_id: 'prod-' + toString(i / 30)})")
        let many = try GraphSchema.backfillBuckets(on: f.graph)
        #expect(many["Node"] == 45_000, "\(many)")
        let wrong = try f.graph.run("MATCH (n:Node) WHERE n.workflow_id STARTS WITH 'prod-' RETURN n.workflow_id, n.run_bucket", readOnly: true).records
            .filter { Int64(RunBucket.of($0[0].stringValue ?? "")) != $0[1].intValue }
        #expect(wrong.isEmpty, "\(wrong.count) nodes with no or a wrong bucket")
    }

    @Test func bucketIsTheSameInSwiftAndPostgreSQL() throws {
        let pg = try PostgresConnection(url: TestStores.postgresURL)
        for run in ["wf-1", "", "ünïcödé-run ✓", "a'b\"c", String(repeating: "x", count: 300)] {
            let r = try pg.query("SELECT \(RunBucket.sql("$1::text"))", [run])
            #expect(r[0].string(0) == String(RunBucket.of(run)), "\(run)")
        }
    }
}
