import ConcordSimulator
@testable import ConcordFlow
import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

@Suite struct FaultInjectionTests {
    @Test func specParsing() throws {
        let s = try FaultSpec(parsing: "missing-node=3, cycle=1,payload-mismatch=10%")
        #expect(s.amounts.count == 3)
        #expect(s.amounts[2].1.resolve(runs: 55) == 6)
        #expect(try FaultSpec(parsing: "all=2").amounts.count == FaultSpec.Kind.allCases.count)
        #expect(throws: ConcordError.self) { try FaultSpec(parsing: "no-such-fault=1") }
        #expect(throws: ConcordError.self) { try FaultSpec(parsing: "cycle=lots") }
    }

    /// Every kind is injected into a synced simulation, each recorded in the
    /// truth, and each did to the stores what its truth says.
    @Test func everyKindLeavesTheFaultItRecords() throws {
        let f = try FlowFixture(db: 8)
        let seed = UInt64.random(in: 1...1_000_000)
        let workload = Workload.generate(seed: seed, runs: 80, eventsPerRun: 8, baseTime: nowMilliseconds() - 3_600_000)
        try Simulator(postgres: f.postgres, redis: f.redis, graph: f.graph).produce(workload)
        try f.engine().drain()
        var injector = FaultInjector(postgres: f.postgres, redis: f.redis, graph: f.graph, seed: seed)
        try injector.inject(try FaultSpec(parsing: "all=1"), into: workload)
        let truth = injector.truth
        #expect(Set(truth.map(\.fault)) == Set(FaultSpec.Kind.allCases.map(\.rawValue)))
        func key(_ fault: String, _ rule: String) -> String { truth.first { $0.fault == fault && $0.rule == rule }!.key }
        func nodes(_ id: String) throws -> Int64 {
            try f.graph.run("MATCH (n:Node {id: $id}) RETURN count(n)", parameters: ["id": .string(id)]).records[0][0].intValue ?? -1
        }
        func confirmed(_ id: String) throws -> Bool { try f.redis.run("ZSCORE", RedisKeys.confirmed, id) != .null }

        let missing = key("missing-node", "event.missing-in-graph")
        #expect(try nodes(missing) == 0 && !confirmed(missing))
        #expect(try nodes(key("duplicate-node", "event.duplicate-node")) == 2)
        let cnp = key("confirmed-not-persisted", "event.confirmed-not-persisted")
        #expect(try nodes(cnp) == 0 && confirmed(cnp))
        #expect(try !confirmed(key("persisted-not-confirmed", "event.persisted-not-confirmed")))

        var queued: [String] = []
        try f.redis.lrange(RedisKeys.queue) { queued += $0.compactMap { try? Event.parse($0.bytes ?? []).id } }
        #expect(queued.filter { $0 == key("duplicate-in-queue", "event.duplicate-in-queue") }.count == 2)
        var processing: [String] = []
        try f.redis.lrange(RedisKeys.processing) { processing += $0.compactMap { try? Event.parse($0.bytes ?? []).id } }
        #expect(processing == [key("stuck-in-queue", "event.stuck-in-queue")])

        let malformed = key("malformed-entry", "event.malformed").split(separator: "#").map(String.init)
        let entry = try f.redis.run("XRANGE", malformed[0], malformed[1], malformed[1])
        #expect(entry.array?.count == 1)

        let tampered = try f.graph.run("MATCH (n:Node {id: $id}) RETURN n.content",
                                       parameters: ["id": .string(key("payload-mismatch", "event.payload-mismatch"))]).records
        #expect(tampered.first?[0] == .string(#"{"tampered":true}"#))

        let cross = key("cross-workflow-edge", "event.cross-workflow-edge")
        let crossRuns = try f.graph.run("MATCH (p:Node)-[:PARENT_OF]->(n:Node {id: $id}) RETURN p.workflow_id, n.workflow_id",
                                        parameters: ["id": .string(cross)]).records
        #expect(crossRuns.count == 1 && crossRuns[0][0] != crossRuns[0][1])

        let cycleRun = truth.first { $0.fault == "cycle" }!.workflowId
        let cyc = try f.graph.run("MATCH (n:Node {workflow_id: $run})-[:PARENT_OF*1..5]->(n) RETURN count(n)",
                                  parameters: ["run": .string(cycleRun)]).records[0][0].intValue ?? 0
        #expect(cyc > 0)

        let gap = try f.postgres.query("SELECT min(version) FROM draft_content_history WHERE draft_id = $1",
                                       [key("history-gap", "draft.history-gap")])[0].int(0)
        #expect(gap == 2)

        let gone = key("missing-run", "run.missing")
        #expect(try f.graph.run("MATCH (r:WorkflowRun {id: $id}) RETURN count(r)", parameters: ["id": .string(gone)]).records[0][0] == 0)
        let ghost = key("draft-missing-run", "run.missing")
        #expect(try f.postgres.query("SELECT count(*) FROM draft_content WHERE workflow_run_id = $1", [ghost])[0].int(0) == 1)

        let mismatched = key("run-state-mismatch", "run.state-mismatch")
        let graphState = try f.graph.run("MATCH (r:WorkflowRun {id: $id}) RETURN r.state", parameters: ["id": .string(mismatched)]).records[0][0]
        #expect(try f.redis.hgetall(RedisKeys.status(mismatched))["state"] == "running" && graphState == "completed")

        let unsynced = truth.first { $0.fault == "published-not-synced" }!.workflowId
        #expect(try f.graph.run("MATCH (r:WorkflowRun {id: $id}) RETURN r.contentStatus", parameters: ["id": .string(unsynced)]).records[0][0] == "none")
        let fake = key("graph-published-without-draft", "draft.graph-published-without-draft")
        #expect(try f.graph.run("MATCH (r:WorkflowRun {id: $id}) RETURN r.contentStatus", parameters: ["id": .string(fake)]).records[0][0] == "published")

        // The truth file names every finding with its rule and key.
        let json = injector.truthJSON(seed: seed)
        #expect(json["format"] == "concord.truth/1")
        #expect(json["findings"]?.arrayValue?.count == truth.count)
    }
}
