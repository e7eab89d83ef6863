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

@Suite struct SimulationTests {
    @Test func sameSeedSameWorkload() {
        let a = Workload.generate(seed: 42, runs: 20, eventsPerRun: 12, baseTime: 1_000)
        let b = Workload.generate(seed: 42, runs: 20, eventsPerRun: 12, baseTime: 1_000)
        let c = Workload.generate(seed: 43, runs: 20, eventsPerRun: 12, baseTime: 1_000)
        #expect(a.runs.flatMap(\.events) == b.runs.flatMap(\.events))
        #expect(a.runs.flatMap(\.events) != c.runs.flatMap(\.events))
        let sizes = a.runs.flatMap(\.events).map { $0.payload.encoded().utf8.count }
        #expect(sizes.min()! >= 60 && sizes.max()! <= 25_000)
        // Trees as well as chains, and every parent precedes its child.
        let events = a.runs.flatMap(\.events)
        #expect(events.contains { e in e.parentId != e.workflowId && !e.id.hasSuffix("_\(Int(e.parentId.split(separator: "_").last!)! + 1)") })
        for run in a.runs {
            var seen: Set<String> = [run.id]
            for e in run.events { #expect(seen.contains(e.parentId)); seen.insert(e.id) }
        }
    }

    /// A clean simulation with sync leaves the stores consistent by the data model's definitions.
    @Test func cleanSimulationIsConsistent() throws {
        let f = try FlowFixture(db: 4)
        let seed = UInt64.random(in: 1...1_000_000)
        let workload = Workload.generate(seed: seed, runs: 40, eventsPerRun: 15, baseTime: nowMilliseconds() - 3_600_000)
        let sim = Simulator(postgres: f.postgres, redis: f.redis, graph: f.graph)
        let counts = try sim.produce(workload)
        #expect(counts.runs == 40 && counts.events == 600)
        let engine = f.engine()
        #expect(try engine.drain() == 600)
        let events = workload.runs.flatMap(\.events)
        let check = Consistency(f: f)
        try check.expectEventsPersisted(events)
        try check.expectQueuesSettled(events)

        // Streams hold every event in production order.
        for run in workload.runs.prefix(10) {
            var ids: [String] = []
            try f.redis.xrange(RedisKeys.events(run.id)) { ids += $0.compactMap { try? Event.parse($0.field("event") ?? []).id } }
            #expect(ids == run.events.map(\.id))
        }

        // Runs: graph state equals Redis state; content status follows the newest draft.
        let graphRuns = try f.graph.run("MATCH (r:WorkflowRun) RETURN r.id, r.state, r.contentStatus, r.publishedAt").records
        #expect(graphRuns.count == 40)
        for r in graphRuns {
            let id = r[0].stringValue!
            let status = try f.redis.hgetall(RedisKeys.status(id))
            #expect(status["state"] == r[1].stringValue, "run \(id) state")
            let plan = workload.runs.first { $0.id == id }!.drafts.first
            let expectedStatus: String
            switch plan?.outcome {
            case nil: expectedStatus = "none"
            case .published?: expectedStatus = "published"
            case .discarded?: expectedStatus = "discarded"
            case .pending?: expectedStatus = "draft"
            }
            #expect(status["contentStatus"] == expectedStatus, "run \(id) Redis contentStatus")
            #expect(status["draftId"] == plan?.draft.id, "run \(id) Redis draftId")
            if plan?.outcome == .published {
                #expect(r[2] == "published" && r[3].intValue != nil, "run \(id) graph publication")
            } else {
                #expect(r[2] == "none" && r[3].isNull, "run \(id) graph content status")
            }
        }

        // Draft history: versions contiguous from 1, the newest matches the draft.
        let ids = workload.runs.flatMap { $0.drafts.map(\.draft.id) }
        let gaps = try f.postgres.query("""
            SELECT d.id FROM draft_content d
            JOIN LATERAL (SELECT count(*) AS n, max(version) AS top, min(version) AS low FROM draft_content_history h WHERE h.draft_id = d.id) h ON true
            JOIN draft_content_history newest ON newest.draft_id = d.id AND newest.version = h.top
            WHERE d.id = ANY($1::text[]) AND (h.n <> h.top OR h.low <> 1 OR newest.status <> d.status OR newest.content <> d.content)
            """, ["{" + ids.joined(separator: ",") + "}"])
        #expect(gaps.rowCount == 0)
        let versions = try f.postgres.query("SELECT count(*) FROM draft_content_history WHERE draft_id = ANY($1::text[])",
                                            ["{" + ids.joined(separator: ",") + "}"])[0].int(0)
        let expected = workload.runs.flatMap(\.drafts).reduce(0) { $0 + 1 + $1.revisions.count + ($1.outcome == .pending ? 0 : 1) }
        #expect(versions == Int64(expected))
    }
}
