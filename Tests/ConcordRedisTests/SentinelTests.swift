import ConcordCore
import ConcordRedis
import ConcordTestSupport
import Foundation
import Testing

/// Sentinel: the primary found through the sentinels, and found again after it is killed.
@Suite(.serialized) struct SentinelTests {
    @Test func followsTheFailover() throws {
        let t = try SentinelTopology()
        let r = try RedisConnection(url: t.url, failoverTimeout: 30)
        let first = r.server
        _ = try r.run("SET", "k", "before")
        _ = try r.run("WAIT", 1, 2000)
        let topology = try r.topology()
        #expect(topology.role == "master" && topology.replicas.count == 1 && topology.sentinels.count == 3 && topology.sentinels.allSatisfy(\.reached),
                "\(topology)")

        // concord doctor shows the topology: the three sentinels and whom they name, the primary, its replica and lag.
        let concord = TestStores.concord
        let doctor = try TestStores.run(concord, ["doctor", "--redis", t.url])
        let said = String(decoding: doctor.stdout, as: UTF8.self)
        #expect(said.contains("sentinels") && said.components(separatedBy: "names 127.0.0.1:").count == 4, "\(said)")
        #expect(said.contains("(primary)") && said.contains("lag ") && said.contains("bytes"), "\(said)")

        let (seconds, old) = try t.killPrimary()
        // The first call after the kill fails on the lost connection; the next finds the new primary.
        var failures = 0
        while true {
            do { _ = try r.run("SET", "k", "after"); break } catch let e as ConcordError where e.code == .connection {
                failures += 1
                #expect(failures < 5, "\(e)")
                if failures >= 5 { return }
            }
        }
        #expect(r.server != first)
        #expect(try r.run("GET", "k").string == "after")
        print("failover: the sentinels named a new primary \(String(format: "%.1f", seconds)) s after SIGKILL")

        // The old primary comes back empty, is made a replica; a connection to it directly refuses writes.
        try t.rejoin(old)
        let direct = try RedisConnection(url: old.url())
        let refused = Self.failure { _ = try direct.run("SET", "k", "on a replica") }
        #expect(refused?.serverCode == "READONLY")
        #expect(try r.run("GET", "k").string == "after")

        // A failover the operator asks for demotes the primary r is connected to without killing it:
        // r's next write meets a closed connection or READONLY — a connection error either way — and the one after finds the new primary.
        let before = r.server
        _ = t.cli(t.sentinels[0], ["SENTINEL", "FAILOVER", t.master])
        let deadline = Date().addingTimeInterval(30)
        var wrote = false
        while Date() < deadline, !wrote {
            do {
                _ = try r.run("SET", "k", "after-switch")
                wrote = r.server != before
                if !wrote { Thread.sleep(forTimeInterval: 0.1) }
            } catch let e as ConcordError {
                #expect(e.code == .connection, "\(e)")
            }
        }
        #expect(wrote && r.server == first, "still on \(r.server)")
        #expect(try r.run("GET", "k").string == "after-switch")
    }

    @Test func clearErrorsForAWrongMasterNameAndDeadSentinels() throws {
        let t = try SentinelTopology()
        let wrong = Self.failure { _ = try RedisConnection(url: t.url.replacingOccurrences(of: "/concord/", with: "/nosuch/"), failoverTimeout: 1) }
        #expect(wrong?.code == .connection)
        #expect(wrong?.message.contains("monitors no master named 'nosuch'") == true, "\(String(describing: wrong))")
        let dead = Self.failure { _ = try RedisConnection(url: "redis+sentinel://127.0.0.1:1,127.0.0.1:2/concord", connectTimeout: 0.5, failoverTimeout: 1) }
        #expect(dead?.code == .connection)
        #expect(dead?.message.contains("sentinel 127.0.0.1:1") == true && dead?.message.contains("sentinel 127.0.0.1:2") == true, "\(String(describing: dead))")
        let noMaster = Self.failure { _ = try RedisAddress(parsing: "redis+sentinel://127.0.0.1:1") }
        #expect(noMaster?.code == .usage)
        let a = try RedisAddress(parsing: "rediss+sentinel://app:pw@h1:26379,[::1]:26380,h3/mymaster/4?sentinel_password=spw")
        #expect(a.tls && a.database == 4 && a.user == "app" && a.password == "pw" && a.sentinelPassword == "spw")
        #expect(a.description == "rediss+sentinel://app:***@h1:26379,[::1]:26380,h3:26379/mymaster/4")
        #expect(Redaction.mask("rediss+sentinel://app:pw@h1,h2/m?sentinel_password=spw").contains("spw") == false)
    }

    static func failure(_ body: () throws -> Void) -> ConcordError? {
        do { try body(); return nil } catch let e as ConcordError { return e } catch { return ConcordError(.server, "\(error)") }
    }
}
