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

/// The sync under failure: killed with SIGKILL mid-batch, and a graph server
/// that goes away for a few seconds. Nothing may be lost or duplicated.
@Suite(.serialized) struct SyncFailureTests {
    static var concord: String { TestStores.concord }

    /// Once with the graph over RESP, once through Bolt gateways as Neo4j (`neo4j+s://`, routed).
    @Test(arguments: [(false, 5), (true, 54)] as [(Bool, Int)])
    func sigkillAtRandomPointsWhileEventsFlow(overBolt: Bool, db: Int) throws {
        let f = try FlowFixture(db: db, overBolt: overBolt)
        let workload = Workload.generate(seed: UInt64.random(in: 1...1_000_000), runs: 40, eventsPerRun: 100,
                                         baseTime: nowMilliseconds() - 60_000)
        let events = workload.runs.flatMap(\.events)
        let redisURL = f.redisURL, graphArgs = f.graphArgs, pgURL = f.postgresURL

        // A producer publishes all 4,000 events in small slices while the sync is killed again and again.
        let produced = DispatchSemaphore(value: 0)
        let runs = workload.runs
        Thread.detachNewThread {
            defer { produced.signal() }
            guard let redis = try? TestStores.redis(redisURL) else { return }
            let writer = EventWriter(redis: redis)
            // Interleave runs: slice k of every run, then slice k+1.
            for k in stride(from: 0, to: 100, by: 10) {
                for run in runs { try? writer.publish(Array(run.events[k..<(k + 10)])) }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        var kills = 0
        var producerDone = false
        while kills < 12 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Self.concord)
            p.arguments = ["sync", "--redis", redisURL, "--postgres", pgURL, "--batch-size", "37", "--log-level", "error"] + graphArgs
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            Thread.sleep(forTimeInterval: Double.random(in: 0.05...0.4))
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            #expect(p.terminationReason == .uncaughtSignal)
            kills += 1
            if !producerDone && produced.wait(timeout: .now()) == .success { producerDone = true }
        }
        if !producerDone { produced.wait() }
        // A last run drains what is left, recovering what the killed ones had in hand.
        let last = try TestStores.run(Self.concord, ["sync", "--once", "--redis", redisURL, "--postgres", pgURL] + graphArgs)
        #expect(last.status == 0, "\(last.stderr)")
        let check = Consistency(f: f)
        try check.expectEventsPersisted(events)
        try check.expectQueuesSettled(events)
        #expect(try f.length(RedisKeys.deadletter) == 0)
    }

    @Test func graphUnavailableForAFewSeconds() throws {
        let f = try FlowFixture(db: 6)
        let server = try PrivateFalkorDB()
        let graph = try FalkorDBStore(url: "falkordb://127.0.0.1:\(server.port)/outage")
        _ = try GraphSchema.ensure(on: graph)
        let evs = SyncTests.events(run: TestStores.unique("wr"), count: 300)
        try EventWriter(redis: f.redis).publish(evs)

        server.stop()
        let engine = SyncEngine(redis: f.redis, graph: graph, postgres: f.postgres, batchSize: 50)
        engine.maxBackoff = 0.5
        let drain = BackgroundDrain(engine)
        Thread.sleep(forTimeInterval: 3)
        #expect(!drain.wait(0), "the sync gave up while the graph was down")
        #expect(try f.length(RedisKeys.queue) + f.length(RedisKeys.processing) == 300, "entries lost while the graph was down")
        try server.start()
        #expect(drain.wait(60))
        #expect(try drain.get() == 300)
        #expect(engine.metrics.counter("retried") > 0)
        let count = try graph.run("MATCH (n:Node) RETURN count(n), count(n.placeholder)").records[0]
        #expect(count[0] == 300 && count[1] == 0)
        #expect(try f.length(RedisKeys.queue) == 0 && f.length(RedisKeys.processing) == 0)
    }

    /// Drains on a thread of its own, so the test can break a store meanwhile.
    final class BackgroundDrain: @unchecked Sendable {
        // @unchecked: `result` is written once before `finished` is signalled and read after waiting on it.
        private let finished = DispatchSemaphore(value: 0)
        private var result: Result<Int, Error> = .success(0)

        init(_ engine: SyncEngine) {
            Thread.detachNewThread {
                self.result = Result { try engine.drain() }
                self.finished.signal()
            }
        }

        /// Whether the drain finished within `seconds`.
        func wait(_ seconds: Double) -> Bool { finished.wait(timeout: .now() + seconds) == .success }

        /// The drain's count (call after `wait` returned true).
        func get() throws -> Int { try result.get() }
    }

    @Test func redisKilledAndRestartedMidDrain() throws {
        // A Redis of the test's own with an fsync-always AOF, so it can be killed and come back with its data, as a production
        // Redis would; ready when it answers PING (listening is not enough: it answers LOADING while it replays the AOF).
        let redis = try PrivateRedis(extra: ["--appendonly", "yes", "--appendfsync", "always"], ready: { port in
            (try? RedisConnection(url: "redis://127.0.0.1:\(port)", connectTimeout: 0.2).run("PING")) != nil
        })
        let f = try FlowFixture(redisURL: redis.url())
        let workload = Workload.generate(seed: UInt64.random(in: 1...1_000_000), runs: 20, eventsPerRun: 100,
                                         baseTime: nowMilliseconds() - 60_000)
        let events = workload.runs.flatMap(\.events)
        try EventWriter(redis: f.redis).publish(events)

        let engine = SyncEngine(redis: try TestStores.redis(f.redisURL, connectTimeout: 0.5), graph: f.graph, batchSize: 10)
        engine.maxBackoff = 0.3
        let drain = BackgroundDrain(engine)
        Thread.sleep(forTimeInterval: 0.3)
        redis.kill()
        Thread.sleep(forTimeInterval: 2)
        try redis.start()
        #expect(drain.wait(120))
        _ = try drain.get()
        #expect(engine.metrics.counter("retried") > 0)
        // The fixture's own connection saw the restart too: its next call reconnects.
        _ = try? f.redis.run("PING")
        let check = Consistency(f: f)
        try check.expectEventsPersisted(events)
        try check.expectQueuesSettled(events)
    }
}
