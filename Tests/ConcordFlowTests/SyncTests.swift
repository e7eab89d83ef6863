import ConcordSimulator
import ConcordCore
@testable import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

@Suite struct SyncTests {
    static func events(run: String, count: Int, base: Int64 = 1_764_393_600_000) -> [Event] {
        let w = Workload.generate(seed: UInt64(abs(run.hashValue) % 100_000), runs: 1, eventsPerRun: count, baseTime: base)
        // Rename the run so every test has its own ids.
        return w.runs[0].events.map { e in
            var e = e
            e.id = run + "_" + e.id
            e.parentId = e.parentId == e.metadata.workflowId ? run : run + "_" + e.parentId
            e.metadata.workflowId = run
            return e
        }
    }

    @Test func childrenBeforeParentsDuplicatesAndMalformedEntries() throws {
        let f = try FlowFixture(db: 1)
        let run = TestStores.unique("wr")
        let evs = Self.events(run: run, count: 60)
        let writer = EventWriter(redis: f.redis)
        // Produced in reverse: every child reaches the queue before its parent.
        try writer.publish(evs.reversed())
        // Duplicates in the queue, and entries that are not events.
        for e in evs.prefix(5) { _ = try f.redis.run("RPUSH", RedisKeys.queue, e.encoded) }
        let malformed = ["not json at all", "{}", #"{"id":"x","timestamp":"soon"}"#, "[1,2,3]"]
        for m in malformed { _ = try f.redis.run("RPUSH", RedisKeys.queue, m) }
        _ = try f.redis.run("RPUSH", RedisKeys.queue, [0xFF, 0xFE, 0x00] as [UInt8])

        let engine = f.engine(batchSize: 7)  // parents and children land in different batches
        let n = try engine.drain()
        #expect(n == 60 + 5 + 5)
        #expect(engine.metrics.counter("processed") == 65)
        #expect(engine.metrics.counter("deadlettered") == 5)
        #expect(engine.metrics.counter("placeholders") > 0)
        try Consistency(f: f).expectEventsPersisted(evs)
        try Consistency(f: f).expectQueuesSettled(evs)
        // Dead letters keep the raw entry and say what was wrong.
        var dead: [JSON] = []
        try f.redis.lrange(RedisKeys.deadletter) { dead += $0.compactMap { try? JSON.parse($0.string ?? "") } }
        #expect(dead.count == 5)
        let raws = Set(dead.compactMap { $0["raw"]?.stringValue })
        #expect(raws.isSuperset(of: Set(malformed)))
        #expect(dead.allSatisfy { ($0["error"]?.stringValue ?? "").contains("invalid") || ($0["error"]?.stringValue ?? "").contains("malformed") })
        #expect(dead.allSatisfy { $0["at"]?.intValue != nil })
        // The run's state follows its last event.
        let state = try f.graph.run("MATCH (r:WorkflowRun {id: $id}) RETURN r.state", parameters: ["id": .string(run)]).records
        #expect(state.first?[0].stringValue == evs.last!.newRunState?.rawValue)
    }

    @Test func recoversWhatACrashLeftInProcessing() throws {
        let f = try FlowFixture(db: 2)
        let evs = Self.events(run: TestStores.unique("wr"), count: 40)
        try EventWriter(redis: f.redis).publish(evs)
        // A sync that died after taking 25 entries and writing some of them to the graph.
        for _ in 0..<25 { _ = try f.redis.run("LMOVE", RedisKeys.queue, RedisKeys.processing, "LEFT", "RIGHT") }
        let dying = f.engine()
        let halfWritten = Array(evs.prefix(10))
        try dying.write(halfWritten, persistedAt: 1)
        #expect(try f.length(RedisKeys.processing) == 25)

        let engine = f.engine()
        #expect(try engine.drain() == 40)
        #expect(engine.metrics.counter("recovered") == 25)
        try Consistency(f: f).expectEventsPersisted(evs)
        try Consistency(f: f).expectQueuesSettled(evs)
    }

    @Test func syncIsIdempotentWhenTheSameEventsComeAgain() throws {
        let f = try FlowFixture(db: 3)
        let evs = Self.events(run: TestStores.unique("wr"), count: 30)
        try EventWriter(redis: f.redis).publish(evs)
        try f.engine().drain()
        for e in evs { _ = try f.redis.run("RPUSH", RedisKeys.queue, e.encoded) }
        try f.engine().drain()
        try Consistency(f: f).expectEventsPersisted(evs)
        try Consistency(f: f).expectQueuesSettled(evs)
    }
}
