import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRepair
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// Neo4j as production runs it, through the Bolt gateways: the router named
/// in the URL dies during an audit, the writer is replaced during an apply —
/// and the results are the same as over FalkorDB's own protocol.
@Suite struct BoltClusterTests {
    let repair = RepairTests()

    @Test func anAuditSurvivesItsRouterDying() throws {
        let f = try AuditFixture(db: 55, transport: .bolt)
        let cluster = try #require(f.cluster)
        let seed = UInt64.random(in: 1...1_000_000)
        let injector = try f.simulate(seed: seed, runs: 40, eventsPerRun: 6, faults: "all=1")
        let truth = Set(injector.truth.map { "\($0.rule) \($0.key)" })
        let reader = try f.reader()
        // The member the URL names (a router, and a reader) dies while the audit reads.
        let router = cluster.members[cluster.members.count - 1]
        let killer = Thread {
            Thread.sleep(forTimeInterval: Double.random(in: 0...0.3))
            router.stop()
        }
        killer.start()
        let report = try Auditor.audit(live: reader, AuditRequest(rules: f.rules, graceMs: 300_000), recheck: true)
        while !killer.isFinished { usleep(1000) }
        #expect(findingKeys(report.findings) == truth, "seed \(seed)")
    }

    @Test func anApplySurvivesItsWriterBeingReplaced() throws {
        let f = try AuditFixture(db: 56, transport: .bolt)
        let cluster = try #require(f.cluster)
        let seed = UInt64.random(in: 1...1_000_000)
        _ = try f.simulate(seed: seed, runs: 40, eventsPerRun: 6, faults: "missing-node=4,duplicate-node=3,wrong-parent=2,payload-mismatch=2,missing-run=2,run-state-mismatch=2")
        let plan = try repair.plan(f, try f.audit())
        let graphOps = plan.operations.filter { $0.store == .graph }.count
        #expect(graphOps >= 10)
        let applier = Applier(stores: try repair.stores(f), plan: plan, operator: "test")
        applier.batchSize = 2
        var moved = 0
        applier.afterBatch = { batch in
            // The writer changes twice while graph batches are still to come.
            if batch == 1 || batch == 3 { moved += 1; try? cluster.setWriter(moved % 2 == 1 ? 1 : 0) }
        }
        // And the first two committing batches meet a transient error (a deadlock victim): retried, not lost.
        try cluster.setWriter(0, transientCommits: 2)
        let results = try applier.apply()
        #expect(moved == 2)
        #expect((try? JSON.parse([UInt8](Data(contentsOf: cluster.file))))?["transientCommits"]?.intValue == 0, "the transient failures were not met")
        #expect(!results.contains { $0.outcome == .failed || $0.outcome == .skipped }, "seed \(seed): \(results.filter { $0.outcome == .failed || $0.outcome == .skipped }.map { "\($0.operation.action): \($0.reason ?? "")" })")
        let manual = Set(plan.operations.filter { $0.store == .manual }.map { "\($0.rule) \($0.key)" })
        let remaining = findingKeys(try f.audit().findings)
        #expect(remaining.isSubset(of: manual), "seed \(seed): \(remaining.subtracting(manual).sorted())")
    }
}
