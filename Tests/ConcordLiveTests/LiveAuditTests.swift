import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordSimulator
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

@Suite struct LiveAuditTests {
    static func keys(_ findings: [Finding]) -> Set<String> { Set(findings.map { "\($0.rule) \($0.key)" }) }

    @Test func cleanSimulationHasNoFindings() throws {
        let f = try AuditFixture(db: 10)
        _ = try f.simulate(seed: UInt64.random(in: 1...1_000_000), runs: 60, eventsPerRun: 10)
        let report = try f.audit(recheck: false)
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        #expect(report.stores["graph"]?["records"]?["graph.nodes"]?.intValue == 600)
        #expect(report.stores["postgres"]?["watermark"]?["lsn"]?.stringValue != nil)
    }

    /// Every fault kind injected: the audit finds exactly the ground truth,
    /// live and from a snapshot of the same data.
    @Test(arguments: [(GraphTransport.falkordb, 11), (.bolt, 50)] as [(GraphTransport, Int)])
    func findsExactlyTheInjectedFaultsLiveAndFromItsSnapshot(transport: GraphTransport, db: Int) throws {
        let f = try AuditFixture(db: db, transport: transport)
        let seed = UInt64.random(in: 1...1_000_000)
        let injector = try f.simulate(seed: seed, runs: 80, eventsPerRun: 8, faults: "all=1")
        let truth = Set(injector.truth.map { "\($0.rule) \($0.key)" })

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("snap"))
        defer { try? FileManager.default.removeItem(at: dir) }
        let live = try f.audit(snapshot: dir)
        let found = Self.keys(live.findings)
        #expect(found == truth, "seed \(seed): missed \(truth.subtracting(found).sorted()), extra \(found.subtracting(truth).sorted())")
        #expect(live.recheck["healed"]?.intValue == 0)

        let stored = try Auditor.audit(snapshot: try Snapshot(directory: dir), AuditRequest(rules: f.rules))
        #expect(Self.keys(stored.findings) == truth)
        #expect(stored.findings.map(\.id) == live.findings.map(\.id))
    }

    /// A finding that heals between the read and the recheck is dropped.
    @Test func recheckDropsWhatHealed() throws {
        let f = try AuditFixture(db: 12)
        let w = try f.simulate(seed: 7, runs: 10, eventsPerRun: 6)
        let e = w.runs[3].events[2]
        try f.redis.run("ZREM", RedisKeys.confirmed, e.id)
        let without = try f.audit(recheck: false)
        #expect(Self.keys(without.findings) == ["event.persisted-not-confirmed \(e.id)"])
        // Heal it the moment the audit's reads are done, before the recheck: a reader that heals after reading.
        final class HealingSink: RecordSink, @unchecked Sendable {
            let engine: AuditEngine
            let heal: () -> Void
            var healed = false
            init(_ engine: AuditEngine, _ heal: @escaping () -> Void) { self.engine = engine; self.heal = heal }
            func append(_ record: JSON, to dataset: String) throws { try engine.append(record, to: dataset) }
            func finished(_ dataset: String, records: Int) throws {
                try engine.finished(dataset, records: records)
                if dataset == "redis.confirmed", !healed { healed = true; heal() }
            }
        }
        // First: the candidate is found by a full read…
        let ctx = EvalContext(now: nowMilliseconds(), grace: 300_000)
        let engine = AuditEngine(rules: f.rules, context: ctx)
        let healer = try TestStores.redis(f.redisURL)
        let request = AuditRequest(rules: f.rules)
        _ = try f.reader().read(request.datasets, into: HealingSink(engine) { _ = try? healer.run("ZADD", RedisKeys.confirmed, nowMilliseconds(), e.id) })
        #expect(Self.keys(engine.evaluate().findings) == ["event.persisted-not-confirmed \(e.id)"])
        // …and the live audit with recheck, now that it healed, reports nothing.
        let with = try f.audit(recheck: true)
        #expect(with.findings.isEmpty)
    }

    /// Production keeps writing while the audit reads: with grace and the
    /// recheck, an audit under traffic reports nothing.
    @Test func auditUnderLiveTrafficHasNoFalsePositives() throws {
        let f = try AuditFixture(db: 13)
        _ = try f.simulate(seed: 11, runs: 40, eventsPerRun: 10)
        let stop = Locked(false)
        let producerDone = DispatchSemaphore(value: 0), syncDone = DispatchSemaphore(value: 0)
        let errors = Locked<[Error]>([])
        let (pg, redisURL, graphURL, pgURL) = (f.postgres, f.redisURL, f.graphURL, f.postgresURL)
        _ = pg
        Thread.detachNewThread {
            defer { producerDone.signal() }
            do {
                let sim = Simulator(postgres: try PostgresConnection(url: pgURL), redis: try TestStores.redis(redisURL), graph: try FalkorDBStore(url: graphURL))
                var round: UInt64 = 0
                while !stop.value {
                    round += 1
                    try sim.produce(Workload.generate(seed: 1_000 + round, runs: 2, eventsPerRun: 12, baseTime: nowMilliseconds()))
                }
            } catch { errors.withLock { $0.append(error) } }
        }
        Thread.detachNewThread {
            defer { syncDone.signal() }
            do {
                let engine = SyncEngine(redis: try TestStores.redis(redisURL), graph: try FalkorDBStore(url: graphURL), postgres: try PostgresConnection(url: pgURL))
                engine.shouldStop = { stop.value }
                try engine.run(publicationInterval: 0.2)
            } catch { errors.withLock { $0.append(error) } }
        }
        Thread.sleep(forTimeInterval: 0.5)
        for _ in 0..<3 {
            let report = try f.audit()
            #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        }
        stop.withLock { $0 = true }
        producerDone.wait()
        syncDone.wait()
        try SyncEngine(redis: f.redis, graph: f.graph, postgres: f.postgres).drain()
        #expect(errors.value.isEmpty, "\(errors.value)")
        let produced = try f.redis.run("ZCARD", RedisKeys.confirmed).int ?? 0
        #expect(produced > 450, "traffic ran: \(produced) events confirmed")
        // Once traffic stops and the sync has drained, a full audit without the recheck is clean too.
        let after = try f.audit(recheck: false)
        #expect(after.findings.isEmpty, "\(after.findings.map(\.message))")
    }
}
