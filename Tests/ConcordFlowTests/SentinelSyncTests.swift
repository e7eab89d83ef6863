import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis
import ConcordSimulator
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// The sync's reliable queue across Sentinel failovers: the primary SIGKILLed twice while `concord sync`
/// drains 20,000 events and a producer writes 1,000 events/s. Every event any Redis still holds ends in
/// the graph exactly once and confirmed; what asynchronous replication lost is counted, and the audit
/// then finds, the plan repairs, what it left inconsistent.
@Suite(.serialized) struct SentinelSyncTests {
    static var concord: String { TestStores.concord }

    /// Retries `body` across a failover (connection errors) for up to `seconds`.
    static func retrying<T>(_ seconds: Double = 60, _ body: () throws -> T) throws -> T {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            do { return try body() } catch let e as ConcordError where e.code == .connection && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
    }

    @Test func syncLosesAndDoublesNothingAcrossTwoFailovers() throws {
        // Over TLS in make test's TLS pass (the sentinels and both nodes on TLS ports, certificates of the local CA).
        let t = try SentinelTopology(tls: TestStores.redisOverTLS ? TestCertificates.local : nil)
        let f = try FlowFixture(redisURL: t.url, ownSchema: true)
        let base = nowMilliseconds() - 600_000
        let backlog = Workload.generate(seed: UInt64.random(in: 1...1_000_000), runs: 200, eventsPerRun: 100, baseTime: base)
        let live = Workload.generate(seed: UInt64.random(in: 1...1_000_000), runs: 400, eventsPerRun: 100, baseTime: base)
        // Runs started as the workflow system starts them (graph node, status, first event); the rest of their events follow.
        let writer = EventWriter(redis: f.redis)
        let runs = RunWriter(graph: f.graph, events: writer)
        try runs.start(backlog.runs.map { $0.events[0] })
        for run in backlog.runs { try writer.publish(Array(run.events.dropFirst())) }
        try runs.start(live.runs.map { $0.events[0] })
        let startedLive = Set(live.runs.map { $0.events[0].id })
        #expect(try f.length(RedisKeys.queue) == 20_000 + 400)

        // The producer: 50 events every 50 ms, slices of every run in turn, on its own connection behind the sentinels.
        // A batch whose MULTI/EXECs failed mid-way is not repeated (its outcome is unknown); acknowledged ones are counted.
        let acknowledged = Locked<Set<String>>([])
        let stop = Locked(false)
        let producerDone = DispatchSemaphore(value: 0)
        let url = t.url
        let liveRuns = live.runs
        Thread.detachNewThread {
            defer { producerDone.signal() }
            guard let redis = try? TestStores.redis(url) else { return }
            let w = EventWriter(redis: redis)
            var slices: [[Event]] = []
            for k in stride(from: 0, to: 100, by: 10) { for run in liveRuns { slices.append(Array(run.events[max(k, 1)..<(k + 10)])) } }
            var i = 0
            while i < slices.count, !stop.value {
                let batch = Array(slices[i..<min(i + 5, slices.count)].joined())
                i += 5
                if (try? w.publish(batch)) != nil { acknowledged.withLock { $0.formUnion(batch.map(\.id)) } }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }

        let log = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("sync") + ".log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: log) }
        let sync = Process()
        sync.executableURL = URL(fileURLWithPath: Self.concord)
        sync.arguments = ["sync", "--redis", t.url, "--postgres", f.postgresURL, "--graph", f.graphURL, "--batch-size", "200", "--log-level", "info"]
        sync.standardOutput = FileHandle.nullDevice
        sync.standardError = try FileHandle(forWritingTo: log)
        try sync.run()
        defer { if sync.isRunning { sync.terminate(); sync.waitUntilExit() } }

        // First failover while the backlog drains, then — the old primary back as a replica — the second.
        Thread.sleep(forTimeInterval: 1.5)
        let left = try f.length(RedisKeys.queue)
        #expect(left > 0, "the backlog drained before the first kill: make it larger")
        let (first, old) = try t.killPrimary()
        // From the kill to the sync confirming on the new primary again.
        let confirmedAtSwitch = try Self.retrying { try f.redis.run("ZCARD", RedisKeys.confirmed).int ?? 0 }
        let switched = Date()
        while try Self.retrying(60, { try f.redis.run("ZCARD", RedisKeys.confirmed).int ?? 0 }) == confirmedAtSwitch, Date().timeIntervalSince(switched) < 60 {
            Thread.sleep(forTimeInterval: 0.02)
        }
        let writingAgain = first + Date().timeIntervalSince(switched)
        try t.rejoin(old)
        // The second with the replica stalled for 0.7 s first: what the primary acknowledged then is lost.
        let (second, secondOld) = try t.killPrimary(replicaBehind: 0.7)
        print("failovers: new primary named \(String(format: "%.1f", first)) s and \(String(format: "%.1f", second)) s after SIGKILL; "
              + "the sync confirming again \(String(format: "%.1f", writingAgain)) s after the first; \(left) events were queued at the first")

        stop.withLock { $0 = true }
        producerDone.wait()
        // The sync goes on by itself on the new primary until the queue is empty.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            let pending = try Self.retrying { try f.length(RedisKeys.queue) + f.length(RedisKeys.processing) }
            if pending == 0 { break }
            Thread.sleep(forTimeInterval: 0.25)
        }
        let settled = try Self.retrying { try f.length(RedisKeys.queue) + f.length(RedisKeys.processing) } == 0
        #expect(settled, "the sync did not drain the queue: \(String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self).suffix(3000))")
        #expect(sync.isRunning, "the sync stopped: \(String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self).suffix(2000))")
        sync.terminate()
        sync.waitUntilExit()

        // What Redis holds now: every run's stream on the surviving primary.
        var held: [String: Event] = [:]
        for run in backlog.runs + live.runs {
            _ = try Self.retrying {
                try f.redis.xrange(RedisKeys.events(run.id)) { entries in
                    for e in entries { if let raw = e.field("event"), let ev = try? Event.parse(raw) { held[ev.id] = ev } }
                }
            }
        }
        var nodes: [String: Int] = [:]
        try f.graph.streamKeyset("MATCH (n:Node) WHERE id(n) > $after AND n.placeholder IS NULL RETURN id(n) AS k, n.id ORDER BY k LIMIT $limit",
                                 start: -1, pageSize: 5000, key: { $0[0] }) { r in nodes[r[1].stringValue ?? "", default: 0] += 1 }
        var confirmed = Set<String>()
        try f.redis.zrange(RedisKeys.confirmed) { confirmed.formUnion($0.map(\.member)) }

        let missing = held.keys.filter { nodes[$0] == nil }
        let doubled = nodes.filter { $0.value > 1 }
        let unconfirmed = held.keys.filter { !confirmed.contains($0) && nodes[$0] != nil }
        #expect(held.count >= 20_000, "the backlog itself was lost: \(held.count)")
        #expect(missing.count == 0, "\(missing.count) events Redis holds are not in the graph: \(Array(missing.prefix(5)))")
        #expect(doubled.count == 0, "\(doubled.count) events twice in the graph")
        #expect(try f.length(RedisKeys.queue) == 0 && f.length(RedisKeys.processing) == 0)
        let ackedLost = acknowledged.value.union(startedLive).filter { held[$0] == nil }
        let lostEverywhere = ackedLost.filter { nodes[$0] == nil }
        print("held \(held.count) events; graph \(nodes.count); acknowledged by Redis then lost in the failover: \(ackedLost.count) "
              + "(\(ackedLost.count - lostEverywhere.count) already in the graph, \(lostEverywhere.count) nowhere); "
              + "in the graph but unconfirmed (a confirm lost with the old primary): \(unconfirmed.count)")
        #expect(ackedLost.count > 0, "the stalled replica lost nothing: asynchronous replication's loss was not exercised")
        // An event in the graph whose parent event is not: its parent was lost (or, in a batch the producer saw fail, never written).
        let all = (backlog.runs + live.runs).flatMap(\.events)
        let expectedOrphans = Set(all.filter { nodes[$0.id] != nil && !$0.parentIsRun && nodes[$0.parentId] == nil }.map(\.id))

        // What replication lost leaves inconsistencies the audit finds and the plan repairs: audit, plan, apply, audit again.
        let out = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("sentinel-audit"))
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        let stores = ["--redis", t.url, "--postgres", f.postgresURL, "--graph", f.graphURL]
        let audit = try TestStores.run(Self.concord, ["audit", "--fail-on", "never", "--grace", "0s", "--json-output", out.path + "/a.json"] + stores)
        #expect(audit.status == 0, "\(audit.stderr)")
        guard audit.status == 0 else { return }
        let report = try JSON.parse([UInt8](try Data(contentsOf: out.appendingPathComponent("a.json"))))
        let findings = report["findings"]?.arrayValue ?? []
        let found = Set(findings.compactMap { $0["rule"]?.stringValue })
        print("the audit after the failovers: \(findings.count) findings (\(found.sorted().joined(separator: ", ")))")
        // Only what a lost write explains: a confirm lost (persisted, not confirmed), a run status lost (state mismatch),
        // an event the graph has whose parent's write was lost with the primary.
        let explained: Set<String> = ["event.persisted-not-confirmed", "run.state-mismatch", "event.orphan", "event.missing-in-graph"]
        #expect(found.isSubset(of: explained), "\(found.subtracting(explained))")
        let orphans = Set(findings.filter { $0["rule"]?.stringValue == "event.orphan" }.compactMap { $0["key"]?.stringValue })
        let orphansAgree = orphans == expectedOrphans
        #expect(orphansAgree, "orphans found \(orphans.count), expected \(expectedOrphans.count)")
        if unconfirmed.count > 0 { #expect(found.contains("event.persisted-not-confirmed")) }
        if !findings.isEmpty {
            let plan = try TestStores.run(Self.concord, ["plan", "--report", out.path + "/a.json", "--output", out.path + "/p.json"] + stores)
            #expect(plan.status == 0 || plan.status == 1, "\(plan.stderr)")
            let apply = try TestStores.run(Self.concord, ["apply", out.path + "/p.json", "--yes"] + stores)
            #expect(apply.status == 0 || apply.status == 1, "\(apply.stderr)")
            let again = try TestStores.run(Self.concord, ["audit", "--fail-on", "never", "--grace", "0s", "--json-output", out.path + "/b.json"] + stores)
            let after = try JSON.parse([UInt8](try Data(contentsOf: out.appendingPathComponent("b.json"))))["findings"]?.arrayValue ?? []
            let automatic = after.filter { ["event.persisted-not-confirmed", "run.state-mismatch"].contains($0["rule"]?.stringValue ?? "") }
            print("after plan and apply: \(after.count) findings")
            #expect(again.status == 0 && automatic.isEmpty, "\(automatic.count) repairable findings left after the repair")
        }

        // An audit started as the primary dies: it completes on the new primary, or says clearly that it could not.
        try t.rejoin(secondOld)
        let during = Process()
        during.executableURL = URL(fileURLWithPath: Self.concord)
        during.arguments = ["audit", "--fail-on", "never", "--grace", "0s", "--json-output", out.path + "/during.json"] + stores
        let duringErr = Pipe()
        during.standardOutput = FileHandle.nullDevice
        during.standardError = duringErr
        try during.run()
        Thread.sleep(forTimeInterval: 0.3)
        try t.killPrimary()
        let duringText = String(decoding: duringErr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        during.waitUntilExit()
        let clear = during.terminationStatus == 0
            || (during.terminationStatus == 3 && duringText.split(separator: "\n").count == 1 && duringText.contains("[redis]"))
        #expect(clear, "an audit during the failover: exit \(during.terminationStatus): \(duringText)")
        print("an audit started 0.3 s before the primary was killed: exit \(during.terminationStatus)\(duringText.isEmpty ? "" : ": " + duringText)")
    }
}
