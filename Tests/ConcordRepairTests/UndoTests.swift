import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordStoreFixtures
@testable import ConcordRepair
import Foundation
import Testing

/// Undo of every kind of operation, from the journal alone: the journal
/// keeps each written record's whole before- and after-image, so applying a
/// plan and then its undo leaves all three stores as they were.
@Suite struct UndoTests {
    let repair = RepairTests()

    @Test func everyActionIsUndoneToThePreApplyDumps() throws {
        let f = try AuditFixture(db: 40)
        let seed = UInt64.random(in: 1...1_000_000)
        _ = try f.simulate(seed: seed, runs: 40, eventsPerRun: 6, faults: "missing-node=2,duplicate-node=2,wrong-parent=1,payload-mismatch=1,missing-run=1,"
                           + "duplicate-in-queue=1,malformed-entry=1,run-state-mismatch=1,persisted-not-confirmed=1,confirmed-not-persisted=1,"
                           + "published-not-synced=1,redis-status-mismatch=1")
        let plan = try repair.plan(f, try f.audit())
        let actions = Set(plan.operations.map(\.action))
        for a in ["replay-event", "merge-nodes", "relink-parent", "rewrite-node", "create-run", "dedupe-queue", "dead-letter"] {
            #expect(actions.contains(a), "seed \(seed): the plan has no \(a): \(actions.sorted())")
        }
        let before = try StoreDump(f)
        let results = try Applier(stores: try repair.stores(f), plan: plan, operator: "test").apply()
        #expect(!results.contains { $0.outcome == .failed || $0.outcome == .skipped }, "seed \(seed): \(results.filter { $0.outcome != .applied && $0.outcome != .manual }.map { "\($0.operation.action): \($0.reason ?? "")" })")
        #expect(try StoreDump(f) != before)

        let stores = try repair.stores(f)
        let undo = try RepairPlan.undo(planId: plan.planId, journal: stores.postgres, rulesDigest: f.rules.digest)
        #expect(!undo.operations.contains { $0.store == .manual }, "seed \(seed): \(undo.operations.filter { $0.store == .manual }.map { $0.params["reason"]?.stringValue ?? "" })")
        let undone = try Applier(stores: stores, plan: undo, operator: "test").apply()
        #expect(undone.allSatisfy { $0.outcome == .applied }, "seed \(seed): \(undone.filter { $0.outcome != .applied }.map { "\($0.operation.action) \($0.operation.key): \($0.reason ?? "")" })")
        let after = try StoreDump(f)
        let (gone, new) = before.difference(after)
        #expect(gone.isEmpty && new.isEmpty, "seed \(seed): lost \(gone.joined(separator: "\n")) — gained \(new.joined(separator: "\n"))")
    }

    @Test func anUndoLeavesARecordChangedSinceAlone() throws {
        let f = try AuditFixture(db: 41)
        let seed = UInt64.random(in: 1...1_000_000)
        _ = try f.simulate(seed: seed, runs: 20, eventsPerRun: 5, faults: "payload-mismatch=1,duplicate-node=1")
        let plan = try repair.plan(f, try f.audit())
        let stores = try repair.stores(f)
        _ = try Applier(stores: stores, plan: plan, operator: "test").apply()
        // Someone edits the rewritten node after the repair: its undo is skipped with the reason, the merge is undone.
        let rewrite = try #require(plan.operations.first { $0.action == "rewrite-node" })
        try f.graph.run("MATCH (n:Node {id: $id}) SET n.content = 'edited by hand'", parameters: ["id": .string(rewrite.key)])
        let undo = try RepairPlan.undo(planId: plan.planId, journal: stores.postgres, rulesDigest: f.rules.digest)
        let results = try Applier(stores: stores, plan: undo, operator: "test").apply()
        let skipped = results.filter { $0.outcome == .skipped }
        #expect(skipped.map(\.operation.key) == [rewrite.key], "\(results.map { "\($0.operation.action) \($0.outcome) \($0.reason ?? "")" })")
        #expect(skipped.first?.reason?.contains("changed since") == true)
        #expect(try f.graph.run("MATCH (n:Node {id: $id}) RETURN n.content", parameters: ["id": .string(rewrite.key)]).records.first?[0].stringValue == "edited by hand")
        let merge = try #require(plan.operations.first { $0.action == "merge-nodes" })
        #expect(try f.graph.run("MATCH (n:Node {id: $id}) RETURN count(n)", parameters: ["id": .string(merge.key)]).records.first?[0].intValue == merge.before["copies"]?.intValue)
    }

    /// A put-record interrupted between its statements (properties written, edges not yet) is finished by the
    /// re-run, not skipped as "changed"; a node someone else changed is skipped.
    @Test func anInterruptedPutIsFinishedAndAForeignChangeSkipped() throws {
        let f = try AuditFixture(db: 49)
        _ = try f.simulate(seed: 12, runs: 2, eventsPerRun: 3)
        let stores = try repair.stores(f)
        let id = try #require(try f.graph.run("MATCH (p:Node)-[:PARENT_OF]->(n:Node)-[:PARENT_OF]->(c:Node) RETURN n.id LIMIT 1").records.first?[0].stringValue)
        let before = try #require(try RecordAddress.readAll([.node(id)], stores)[0])
        // The put wants the content changed; the plan saw the node as it is.
        var copy = try #require(before.arrayValue?.first?.objectValue)
        var props = try #require(copy["properties"]?.objectValue)
        props["content"] = "{\"restored\":true}"
        copy["properties"] = .object(props)
        let want = JSON.array([.object(copy)])
        let op = PutRecordOperation.make(.node(id), record: want, seen: before, findingId: "test", rule: "test")
        // Interrupted: the properties are written and the edges gone (the statement that re-adds them never ran).
        try f.graph.run("MATCH (n:Node {id: $id}) SET n.content = '{\"restored\":true}'", parameters: ["id": .string(id)])
        try f.graph.run("MATCH (n:Node {id: $id})-[r]-() DELETE r", parameters: ["id": .string(id)])
        let plan = RepairPlan(planId: "plan-interrupted", sourceAuditId: "test", createdAt: Date(), rulesDigest: "", operations: [op])
        let results = try Applier(stores: stores, plan: plan, operator: "test").apply()
        #expect(results.map(\.outcome) == [.applied], "\(results.map { $0.reason ?? "" })")
        #expect(RecordAddress.identical(try RecordAddress.readAll([.node(id)], stores)[0], want))
        // Another writer's content: the next put is skipped, the content kept.
        try f.graph.run("MATCH (n:Node {id: $id}) SET n.content = 'someone else'", parameters: ["id": .string(id)])
        let back = PutRecordOperation.make(.node(id), record: before, seen: want, findingId: "test2", rule: "test")
        let skipped = try Applier(stores: stores, plan: RepairPlan(planId: "plan-foreign", sourceAuditId: "test", createdAt: Date(), rulesDigest: "", operations: [back]), operator: "test").apply()
        #expect(skipped.map(\.outcome) == [.skipped] && skipped.first?.reason?.contains("changed since") == true, "\(skipped.map { $0.reason ?? "" })")
        #expect(try f.graph.run("MATCH (n:Node {id: $id}) RETURN n.content", parameters: ["id": .string(id)]).records.first?[0].stringValue == "someone else")
    }
}
