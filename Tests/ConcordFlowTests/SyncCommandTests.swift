import ConcordCore
import ConcordFlow
import ConcordModel
import ConcordRedis
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// `concord sync` as a process: Prometheus metrics on loopback, a clean stop on SIGTERM.
@Suite struct SyncCommandTests {
    @Test func servesMetricsAndStopsOnSigterm() throws {
        let f = try FlowFixture(db: 7)
        let evs = SyncTests.events(run: TestStores.unique("wr"), count: 50)
        try EventWriter(redis: f.redis).publish(evs)
        _ = try f.redis.run("RPUSH", RedisKeys.queue, "garbage")
        let port = Int.random(in: 30_000..<32_000)  // below the ephemeral range
        let p = Process()
        p.executableURL = URL(fileURLWithPath: SyncFailureTests.concord)
        p.arguments = ["sync", "--redis", f.redisURL, "--graph", f.graphURL, "--postgres", f.postgresURL,
                       "--metrics-port", String(port), "--log-level", "error"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        var text = ""
        for _ in 0..<100 {
            Thread.sleep(forTimeInterval: 0.1)
            let r = try TestStores.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/metrics"])
            text = String(decoding: r.stdout, as: UTF8.self)
            if text.contains("concord_sync_processed_total 50") && text.contains("concord_sync_queue_length") { break }
        }
        #expect(text.contains("concord_sync_processed_total 50"))
        #expect(text.contains("concord_sync_deadlettered_total 1"))
        #expect(text.contains("concord_sync_lag_ms{quantile=\"0.99\"}"))
        #expect(text.contains("concord_sync_queue_length 0"))
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(10)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(!p.isRunning, "sync did not stop on SIGTERM")
        #expect(p.terminationStatus == 0)
        try Consistency(f: f).expectQueuesSettled(evs)
    }
}
