import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordPostgres
import ConcordRedis
import ConcordRepair
import ConcordSimulator
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// `--incremental` against a full audit at the same moment, step after step
/// of a workload: new runs, sync, faults of every kind in old and new runs,
/// deletions, hand edits of other producers, repairs, time passing.
@Suite struct IncrementalAuditTests {
    static func keys(_ r: AuditReport) -> [String] {
        r.findings.map { "\($0.rule) \($0.key) \($0.workflowId ?? "-")" }.sorted()
    }

    /// One step's change to the stores.
    typealias Step = (_ f: AuditFixture, _ rng: inout SeededRandom, _ step: Int) throws -> String

    static let kinds = FaultSpec.Kind.allCases.map(\.rawValue)

    /// Three seeds over FalkorDB's RESP, one through the Bolt gateways (`neo4j+s://`, where the
    /// signatures use Neo4j's `COUNT {}` for a node's degree).
    @Test(arguments: [(11, 29, .falkordb), (23, 30, .falkordb), (37, 31, .falkordb), (41, 57, .bolt)] as [(UInt64, Int, GraphTransport)])
    func incrementalEqualsFullAtEveryStep(salt: UInt64, db: Int, transport: GraphTransport) throws {
        let f = try AuditFixture(db: db, transport: transport)
        let seed = UInt64.random(in: 1...1_000_000) &* 1000 &+ salt
        var rng = SeededRandom(seed: seed)
        let stateFile = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("state") + ".json")
        defer { try? FileManager.default.removeItem(at: stateFile) }
        let store = AuditStateStore.file(stateFile)
        var now = nowMilliseconds()
        var workloads: [Workload] = [try f.simulate(seed: seed, runs: 40, eventsPerRun: 6)]
        _ = try Auditor.audit(live: try f.reader(), AuditRequest(rules: f.rules, nowMs: now), recheck: false, mode: .full, state: store)
        // Two nightly jobs, each incremental over its own partition, with a state each.
        let parts = try (0..<2).map { try Partition(index: $0, count: 2) }
        let partStores = parts.map { AuditStateStore.file(stateFile.deletingPathExtension().appendingPathExtension("p\($0.index).json")) }
        defer { for case .file(let u) in partStores { try? FileManager.default.removeItem(at: u) } }
        for (p, s) in zip(parts, partStores) {
            _ = try Auditor.audit(live: try f.reader(), AuditRequest(rules: f.rules, nowMs: now, partition: p), recheck: false, mode: .full, state: s)
        }

        var incrementalSteps = 0, reaudited = 0, total = 0, settling = 0
        // Through the Bolt gateways (Python, ~4× slower) one round of the three kinds of step.
        let steps = transport == .bolt ? 3 : 9
        for step in 1...steps {
            // Time passes: sometimes less than grace (runs still settling), sometimes much more.
            now += [30_000, 400_000, 900_000, 3_600_000][Int.random(in: 0..<4, using: &rng)]
            var did: [String] = []
            let w = workloads.count
            switch step % 3 {
            case 1:
                // New runs through the real write paths and the sync, faults in a few of them and in old runs.
                let fresh = try f.simulate(seed: seed &+ UInt64(step), runs: 25, eventsPerRun: 5)
                workloads.append(fresh)
                did.append("25 new runs")
                did.append(try Self.inject(f, into: fresh, seed: seed &+ UInt64(step) &* 7, count: 5, rng: &rng))
                did.append(try Self.inject(f, into: workloads[Int.random(in: 0..<w, using: &rng)], seed: seed &+ UInt64(step) &* 13, count: 3, rng: &rng))
                // Young runs whose queue entries are lost: nothing is wrong yet, but will be once grace has passed
                // (the runs do not change again; only their settling brings them back).
                let young = Workload.generate(seed: seed &+ 500 &+ UInt64(step), runs: 3, eventsPerRun: 4, baseTime: now - 20_000)
                try Simulator(postgres: f.postgres, redis: f.redis, graph: f.graph).produce(young)
                try f.redis.run("DEL", "persistence:queue")
                did.append("3 young runs, queue lost")
            case 2:
                // Other producers edit and delete old records by hand.
                did.append(try Self.handEdits(f, workloads[0], step: step, rng: &rng))
                did.append(try Self.inject(f, into: workloads[Int.random(in: 0..<w, using: &rng)], seed: seed &+ UInt64(step) &* 17, count: 3, rng: &rng))
            default:
                // Repairs of what the last audit found, then the sync.
                let report = try Auditor.audit(live: try f.reader(), AuditRequest(rules: f.rules, nowMs: now), recheck: false)
                let plan = try Planner(stores: try Self.stores(f), rules: f.rules).plan(report: report.json(), file: "report")
                let results = try Applier(stores: try Self.stores(f), plan: plan, operator: "test").apply()
                did.append("repair: \(results.count) operations")
                try SyncEngine(redis: f.redis, graph: f.graph, postgres: f.postgres).drain()
            }
            let inc = try Auditor.audit(live: try f.reader(), AuditRequest(rules: f.rules, nowMs: now), recheck: false, mode: .incremental, state: store)
            let full = try Auditor.audit(live: try f.reader(), AuditRequest(rules: f.rules, nowMs: now), recheck: false)
            let (a, b) = (Self.keys(inc), Self.keys(full))
            #expect(a == b, """
                seed \(seed) step \(step) (\(did.joined(separator: "; "))), \(inc.extra["mode"]?.stringValue ?? "?"): \
                missed \(Set(b).subtracting(a).sorted()), extra \(Set(a).subtracting(b).sorted()); \(inc.extra["incremental"]?.encoded() ?? "")
                """)
            var union: [String] = []
            for (p, s) in zip(parts, partStores) {
                let r = try Auditor.audit(live: try f.reader(), AuditRequest(rules: f.rules, nowMs: now, partition: p), recheck: false, mode: .incremental, state: s)
                union += Self.keys(r)
            }
            // Findings of a run: exactly once across the partitions; of no run: by each partition that met it.
            #expect(Set(union) == Set(b) && union.filter { !$0.hasSuffix(" -") }.count == b.filter { !$0.hasSuffix(" -") }.count, "seed \(seed) step \(step), 2 partitions: missed \(Set(b).subtracting(union).sorted()), extra \(Set(union).subtracting(b).sorted())")
            if inc.extra["mode"]?.stringValue == "incremental" {
                incrementalSteps += 1
                reaudited += Int(inc.extra["incremental"]?["reaudited"]?.intValue ?? 0)
                total += Int(inc.extra["incremental"]?["runs"]?.intValue ?? 0)
                settling += Int(inc.extra["incremental"]?["byReason"]?["settling"]?.intValue ?? 0)
            }
        }
        // Most steps were truly incremental, and they did not read every run.
        #expect(incrementalSteps >= steps / 2 + 1, "seed \(seed): only \(incrementalSteps) incremental steps")
        #expect(reaudited < total, "seed \(seed): \(reaudited) of \(total) runs read again")
        if steps == 9 { #expect(settling > 0, "seed \(seed): no run was read again for time alone") }
    }

    static func stores(_ f: AuditFixture) throws -> RepairStores {
        RepairStores(postgres: try PostgresConnection(url: f.postgresURL), redis: try TestStores.redis(f.redisURL), graph: try f.concordGraph())
    }

    /// `count` faults of kinds picked at random; a kind that finds no suitable run is skipped.
    static func inject(_ f: AuditFixture, into w: Workload, seed: UInt64, count: Int, rng: inout SeededRandom) throws -> String {
        var injector = FaultInjector(postgres: f.postgres, redis: f.redis, graph: f.graph, seed: seed)
        var done: [String] = []
        for _ in 0..<count {
            let kind = kinds[Int.random(in: 0..<kinds.count, using: &rng)]
            do {
                try injector.inject(try FaultSpec(parsing: "\(kind)=1"), into: w)
                done.append(kind)
            } catch is ConcordError {
                continue  // no run left that suits it, or this run already has it (whatever it wrote stays: both audits see it)
            }
        }
        return "faults " + done.joined(separator: ",")
    }

    /// Edits made by hand or by another producer: a node deleted with its
    /// edges, a stream entry deleted, a history row deleted, a status field
    /// and a node's content rewritten in place, a node written without
    /// run_bucket, a draft's status changed.
    static func handEdits(_ f: AuditFixture, _ w: Workload, step: Int, rng: inout SeededRandom) throws -> String {
        let runs = w.runs.shuffled(using: &rng)
        let r = runs.prefix(6).map { $0 }
        try f.graph.run("MATCH (n:Node {id: $id}) DETACH DELETE n", parameters: ["id": .string(r[0].events[1].id)])
        var firstEntry: String?
        try f.redis.xrange("workflow:\(r[1].id):events", batch: 1) { e in if firstEntry == nil { firstEntry = e.first?.id } }
        if let firstEntry { try f.redis.run("XDEL", "workflow:\(r[1].id):events", firstEntry) }
        try f.redis.run("HSET", "workflow:\(r[2].id):status", "state", "error", "owner", "another-service")
        // Another producer's event in an old run's stream: spaces, reversed keys, escapes, an extra field, never queued.
        let foreign = """
            { "metadata" : { "userId" : "u_x", "workflowId" : "\(r[1].id)", "trace": [1, 2.0, "\\u00e9t\\u00e9"] },
              "payload" : { "text" : "caf\\u00e9 \\ud83d\\ude80", "n": 1e3 }, "parentId" : "\(r[1].events.last!.id)",
              "type" : "note", "timestamp" : \(r[1].events.last!.timestamp + 5), "id" : "foreign-ev-\(step)-\(r[1].id)" }
            """
        try f.redis.run("XADD", "workflow:\(r[1].id):events", "*", "event", foreign, "producer", "elsewhere")
        try f.graph.run("MATCH (n:Node {id: $id}) SET n.content = $c", parameters: ["id": .string(r[3].events.last!.id), "c": .string(#"{"edited": "by hand, elsewhere"}"#)])
        try f.graph.run("CREATE (:Node {id: $id, workflow_id: $wf, type: 'note', content: '{}', metadata: '{}', timestamp: 1, persisted_at: 1})",
                        parameters: ["id": .string("foreign-\(step)-\(r[4].id)"), "wf": .string(r[4].id)])
        _ = try f.postgres.execute("DELETE FROM draft_content_history WHERE draft_id IN (SELECT id FROM draft_content WHERE workflow_run_id = $1) AND version = 1", [r[5].id])
        _ = try f.postgres.execute("UPDATE draft_content SET status = 'discarded' WHERE workflow_run_id = $1", [r[4].id])
        return "hand edits (and a foreign event) in \(r.map(\.id).joined(separator: ","))"
    }
}
