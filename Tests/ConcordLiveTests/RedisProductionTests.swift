import ConcordCore
import ConcordJSON
import ConcordPostgres
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// Redis as production runs it, command by command: every command over TLS gives what it gives in plaintext
/// (the same database reached through both of the test Redis's ports), and each command as the ACL user
/// docs/operations.md says it needs — a user short of one permission told which.
@Suite struct RedisProductionTests {
    static var concord: String { TestStores.concord }

    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("redisprod"))
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    static func findings(_ path: String) throws -> [String] {
        let r = try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        return (r["findings"]?.arrayValue ?? []).compactMap { f in f["rule"]?.stringValue.map { "\($0) \(f["key"]?.stringValue ?? "")" } }.sorted()
    }

    @Test func everyCommandOverTLSGivesWhatPlaintextGives() throws {
        let db = 71
        let f = try AuditFixture(db: db)
        let out = try tempDir()
        defer { withExtendedLifetime(f) { try? FileManager.default.removeItem(at: out) } }
        let plain = ["--redis", "redis://127.0.0.1:56379/\(db)", "--postgres", f.postgresURL] + f.graphArgs
        let tls = ["--redis", "rediss://localhost:\(TestStores.redisTLSPort)/\(db)", "--redis-ca", TestStores.localCA, "--postgres", f.postgresURL] + f.graphArgs
        func concord(_ args: [String], _ stores: [String], expect: Set<Int32> = [0]) throws -> String {
            let r = try TestStores.run(Self.concord, args + stores)
            #expect(expect.contains(r.status), "concord \(args.joined(separator: " ")): exit \(r.status): \(r.stderr.suffix(1500))")
            return String(decoding: r.stdout, as: UTF8.self) + r.stderr
        }
        // Produced, synced and faulted over TLS.
        _ = try concord(["simulate", "--seed", "7177", "--runs", "30", "--events-per-run", "6", "--faults", "all=1"], tls)
        let doctor = try concord(["doctor"], tls)
        #expect(doctor.contains("encrypted, TLSv1.3, certificate verified against \(TestStores.localCA)"), "\(doctor)")
        _ = try concord(["maintain", "queue", "stats"], tls)

        let audit = ["audit", "--fail-on", "never", "--grace", "0s"]
        _ = try concord(audit + ["--json-output", out.path + "/plain.json"], plain)
        _ = try concord(audit + ["--json-output", out.path + "/tls.json"], tls)
        let found = try Self.findings(out.path + "/plain.json")
        let overTLS = try Self.findings(out.path + "/tls.json")
        #expect(!found.isEmpty && found == overTLS)

        _ = try concord(["snapshot", "--output-dir", out.path + "/snap"], tls)
        _ = try concord(audit + ["--snapshot", out.path + "/snap", "--json-output", out.path + "/snap.json"], [])
        let fromSnapshot = try Self.findings(out.path + "/snap.json")
        #expect(fromSnapshot == found)

        _ = try concord(["plan", "--report", out.path + "/tls.json", "--output", out.path + "/plan.json"], tls, expect: [0, 1])
        _ = try concord(["apply", out.path + "/plan.json", "--yes"], tls, expect: [0, 1])
        _ = try concord(audit + ["--json-output", out.path + "/after-tls.json"], tls)
        _ = try concord(audit + ["--json-output", out.path + "/after-plain.json"], plain)
        let after = try Self.findings(out.path + "/after-tls.json")
        let afterPlain = try Self.findings(out.path + "/after-plain.json")
        #expect(after.count < found.count && after == afterPlain)

        // Plans that read Redis over TLS: a point-in-time restore and a rebuild of Redis, written for review.
        _ = try concord(["restore", out.path + "/snap", "--output-dir", out.path + "/restore"], tls, expect: [0, 1])
        _ = try concord(["rebuild", "redis", "--output-dir", out.path + "/rebuild"], tls, expect: [0, 1])
        // The refusals as a command meets them: exit 3 and the one line that says what to do.
        for (redis, extra, says) in [
            ("rediss://127.0.0.1:\(TestStores.redisTLSPort)/\(db)", [String](), "--redis-ca"),
            ("rediss://127.0.0.1:56379/\(db)", ["--redis-ca", TestStores.localCA, "--connect-timeout", "1"], "plaintext port"),
            ("redis://127.0.0.1:\(TestStores.redisTLSPort)/\(db)", [], "is it a TLS port"),
        ] {
            let r = try TestStores.run(Self.concord, ["audit", "--redis", redis, "--postgres", f.postgresURL] + extra + f.graphArgs,
                                       environment: ["CONCORD_REDIS_CA": nil])
            #expect(r.status == 3 && r.stderr.contains(says) && r.stderr.split(separator: "\n").count == 1, "\(redis): \(r.status) \(r.stderr)")
        }
        // New events over TLS, left queued, drained by the sync over TLS.
        _ = try concord(["simulate", "--seed", "7178", "--runs", "5", "--events-per-run", "4", "--no-sync"], tls)
        _ = try concord(["sync", "--once"], tls)
        #expect(try f.redis.run("LLEN", "persistence:queue").int == 0)
    }

    /// Each command as an ACL user with the permissions docs/operations.md gives it.
    @Test func eachCommandAsItsACLUser() throws {
        let server = try PrivateRedis(extra: [
            "--user", "default", "off",
            // The audit's user: reads only (docs/operations.md "Redis ACL users").
            "--user", "concord-audit", "on", ">audit-pw", "~*", "resetchannels", "-@all", "+@read", "+@connection", "+@transaction", "+role", "+info", "+time",
            // The writers' user: sync, simulate, apply, undo, maintain, serve.
            "--user", "concord-write", "on", ">write-pw", "~*", "&*", "-@all", "+@read", "+@write", "+@connection", "+@transaction",
            "+@pubsub", "+role", "+info", "+time",
            // A writer short of one permission.
            "--user", "no-publish", "on", ">np-pw", "~*", "&*", "-@all", "+@read", "+@write", "+@connection", "+@transaction", "+role", "+info", "+time",
        ])
        let schema = TestStores.unique("acl").lowercased()
        let admin = try PostgresConnection(url: TestStores.postgresURL)
        try admin.execute("CREATE SCHEMA \(schema)")
        defer { _ = try? admin.execute("DROP SCHEMA \(schema) CASCADE") }
        let pg = ["--postgres", TestStores.postgresURL + "?options=-csearch_path%3D\(schema)", "--graph", TestStores.falkorURL + "/" + TestStores.unique("acl")]
        func url(_ user: String, _ pw: String) -> [String] { ["--redis", "redis://\(user):\(pw)@127.0.0.1:\(server.port)/0"] + pg }
        let writer = url("concord-write", "write-pw"), auditor = url("concord-audit", "audit-pw")
        let out = try tempDir()
        defer { try? FileManager.default.removeItem(at: out) }

        var r = try TestStores.run(Self.concord, ["setup"] + writer)
        #expect(r.status == 0, "\(r.stderr)")
        r = try TestStores.run(Self.concord, ["simulate", "--seed", "99", "--runs", "40", "--events-per-run", "5", "--faults", "all=1"] + writer)
        #expect(r.status == 0, "\(r.stderr)")
        r = try TestStores.run(Self.concord, ["audit", "--grace", "0s", "--json-output", out.path + "/a.json"] + auditor)
        #expect(r.status == 1, "the read-only user's audit: \(r.stderr)")
        let doctor = try TestStores.run(Self.concord, ["doctor"] + auditor)
        let said = String(decoding: doctor.stdout, as: UTF8.self)
        #expect(said.contains("concord-audit may not write") && doctor.status == 0, "\(said)\(doctor.stderr)")
        #expect(!said.contains("audit-pw") && !doctor.stderr.contains("audit-pw"))
        r = try TestStores.run(Self.concord, ["plan", "--report", out.path + "/a.json", "--output", out.path + "/p.json"] + auditor)
        #expect(r.status == 0 || r.status == 1, "\(r.stderr)")
        r = try TestStores.run(Self.concord, ["apply", out.path + "/p.json", "--yes"] + writer)
        #expect(r.status == 0 || r.status == 1, "\(r.stderr)")
        r = try TestStores.run(Self.concord, ["sync", "--once"] + writer)
        #expect(r.status == 0, "\(r.stderr)")

        // The audit's user cannot sync: exit 3, the command refused named, no password shown.
        r = try TestStores.run(Self.concord, ["simulate", "--seed", "101", "--runs", "2", "--no-sync"] + writer)
        #expect(r.status == 0, "\(r.stderr)")
        let queued = try TestStores.redis("redis://concord-write:write-pw@127.0.0.1:\(server.port)/0").run("LLEN", "persistence:queue").int ?? 0
        #expect(queued > 0)
        r = try TestStores.run(Self.concord, ["sync", "--once"] + auditor)
        #expect(r.status == 3, "\(String(decoding: r.stdout, as: UTF8.self))")
        #expect(r.stderr.contains("user 'concord-audit' may not run") && r.stderr.contains("NOPERM") && !r.stderr.contains("audit-pw"), "\(r.stderr)")
        // A writer without +@pubsub cannot produce events (each publish is one MULTI with PUBLISH).
        r = try TestStores.run(Self.concord, ["simulate", "--seed", "100", "--runs", "2", "--no-sync"] + url("no-publish", "np-pw"))
        #expect(r.status == 3)
        #expect(r.stderr.contains("user 'no-publish' may not run PUBLISH"), "\(r.stderr)")
        // A wrong password: exit 3, WRONGPASS, the user named, the password not.
        r = try TestStores.run(Self.concord, ["audit"] + url("concord-audit", "not-the-pw"))
        #expect(r.status == 3 && r.stderr.contains("WRONGPASS") && r.stderr.contains("concord-audit") && !r.stderr.contains("not-the-pw"), "\(r.stderr)")
    }

    /// `--redis-read replica`: the datasets read from the replica (the report says so, with its lag), the recheck
    /// on the primary; the same findings as reading the primary. Without a replica: the primary, and why.
    @Test func auditReadsAReplicaWhenAsked() throws {
        let primary = try PrivateRedis()
        let replica = try PrivateRedis(extra: ["--replicaof", "127.0.0.1", String(primary.port)])
        let f = try AuditFixture(db: 0, redisURL: primary.url())
        _ = try f.simulate(seed: 4711, runs: 40, eventsPerRun: 5, faults: "all=1")
        _ = try f.redis.run("WAIT", 1, 5000)
        let out = try tempDir()
        defer { withExtendedLifetime((f, replica)) { try? FileManager.default.removeItem(at: out) } }
        let stores = ["--redis", primary.url(), "--postgres", f.postgresURL] + f.graphArgs
        let audit = ["audit", "--fail-on", "never", "--grace", "0s"]
        var r = try TestStores.run(Self.concord, audit + ["--json-output", out.path + "/primary.json"] + stores)
        #expect(r.status == 0, "\(r.stderr)")
        r = try TestStores.run(Self.concord, audit + ["--redis-read", "replica", "--json-output", out.path + "/replica.json"] + stores)
        #expect(r.status == 0, "\(r.stderr)")
        let report = try JSON.parse([UInt8](try Data(contentsOf: out.appendingPathComponent("replica.json"))))
        let readFrom = report["stores"]?["redis"]?["readFrom"]
        #expect(readFrom?["role"]?.stringValue == "replica" && readFrom?["server"]?.stringValue == "127.0.0.1:\(replica.port)", "\(readFrom?.encoded() ?? "none")")
        #expect(readFrom?["lagBytes"]?.intValue != nil && readFrom?["primary"]?.stringValue == "127.0.0.1:\(primary.port)")
        let onPrimary = try Self.findings(out.path + "/primary.json"), onReplica = try Self.findings(out.path + "/replica.json")
        #expect(!onPrimary.isEmpty && onPrimary == onReplica)

        // The replica gone: the primary is read, and the report and stderr say why.
        replica.kill()
        r = try TestStores.run(Self.concord, audit + ["--redis-read", "replica", "--json-output", out.path + "/gone.json"] + stores)
        #expect(r.status == 0 && r.stderr.contains("no replica to read from"), "\(r.stderr)")
        let gone = try JSON.parse([UInt8](try Data(contentsOf: out.appendingPathComponent("gone.json"))))["stores"]?["redis"]?["readFrom"]
        #expect(gone?["role"]?.stringValue == "primary" && gone?["replicaUnavailable"]?.stringValue != nil, "\(gone?.encoded() ?? "none")")
    }
}
