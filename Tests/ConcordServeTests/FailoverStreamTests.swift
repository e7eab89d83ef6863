import ConcordCore
import ConcordFlow
import ConcordJSON
import ConcordModel
import ConcordRedis
import ConcordTestSupport
import Foundation
import Testing

/// `concord serve` behind Sentinel: its SSE clients keep receiving a run's events across a failover —
/// in order, none twice, and every event the new primary holds.
@Suite(.serialized) struct FailoverStreamTests {
    @Test func sseClientsGoOnAcrossAFailover() throws {
        let t = try SentinelTopology(tls: TestStores.redisOverTLS ? TestCertificates.local : nil)
        let f = try ServeFixture(redisURL: t.url)
        try f.start()
        let run = TestStores.unique("fo")
        let all = ServeFixture.events(run: run, count: 3_000)
        let url = "\(f.base)/runs/\(run)/events"
        let end = ServeFixture.events(run: run, count: 1, from: 3_000)[0]

        // Two clients: one from the start, one joining mid-way; each reads until the closing event.
        let results = Locked<[Int: JSON]>([:])
        let group = DispatchGroup()
        for k in 0..<2 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                Thread.sleep(forTimeInterval: 1.0 * Double(k))
                if let r = try? f.sseClient(["collect", url, "--until", end.id, "--timeout", "90"]) { results.withLock { $0[k] = r } }
            }
        }
        // The producer: 500 events/s; a batch that fails in the failover is not repeated (its outcome is unknown).
        let sentinelURL = t.url
        let producer = Thread.detachNewThreadWithGroup {
            guard let redis = try? TestStores.redis(sentinelURL) else { return }
            let writer = EventWriter(redis: redis)
            var i = 0
            while i < all.count {
                let batch = Array(all[i..<min(i + 5, all.count)])
                i += batch.count
                _ = try? writer.publish(batch)
                Thread.sleep(forTimeInterval: 0.01)
            }
            // The closing event, retried until the new primary takes it.
            while (try? writer.publish([end])) == nil { Thread.sleep(forTimeInterval: 0.2) }
        }
        Thread.sleep(forTimeInterval: 2.5)
        let (seconds, _) = try t.killPrimary()
        producer.wait()
        group.wait()

        // What the surviving primary holds, in stream order.
        var held: [String] = []
        _ = try TestStores.redis(t.url).xrange(RedisKeys.events(run)) { entries in
            for e in entries { if let raw = e.field("event"), let ev = try? Event.parse(raw) { held.append(ev.id) } }
        }
        #expect(held.last == end.id)
        #expect(results.value.count == 2)
        for (k, r) in results.value.sorted(by: { $0.key < $1.key }) {
            let ids = (r["events"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
            #expect(r["ended"]?.stringValue == "until", "client \(k) ended by \(r["ended"]?.stringValue ?? "?")")
            #expect(Set(ids).count == ids.count, "client \(k) got \(ids.count - Set(ids).count) events twice")
            let missing = held.filter { !Set(ids).contains($0) }
            #expect(missing.count == 0, "client \(k) missed \(missing.count) events the new primary holds")
            let sseIds = (r["events"]?.arrayValue ?? []).compactMap { $0["sse_id"]?.stringValue }
            let increasing = zip(sseIds, sseIds.dropFirst()).allSatisfy { a, b in
                a.split(separator: "-").map { Int($0)! }.lexicographicallyPrecedes(b.split(separator: "-").map { Int($0)! })
            }
            #expect(increasing, "client \(k): SSE ids not increasing")
        }
        print("serve across a failover (\(String(format: "%.1f", seconds)) s to a new primary): \(held.count) events held, clients got \(results.value.values.map { $0["events"]?.arrayValue?.count ?? 0 })")
    }
}

extension Thread {
    /// Runs `body` on a new thread; `wait()` on the result returns when it has finished.
    static func detachNewThreadWithGroup(_ body: @escaping @Sendable () -> Void) -> DispatchGroup {
        let g = DispatchGroup()
        g.enter()
        Thread.detachNewThread { body(); g.leave() }
        return g
    }
}
