import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordGraph
import ConcordTestSupport
import Foundation
import Testing

/// `concord audit --notify`: a real Alertmanager gets an alert per rule when injected faults are found and
/// their resolution after the repair; a JSON webhook and Slack's format reach a local receiver; a failed audit
/// raises its own alert; a receiver that cannot be reached never changes the exit code.
@Suite struct NotifyTests {
    static var concord: String { TestStores.concord }

    /// A real Alertmanager and the local receiver (`receiverArguments`: e.g. `--fail 1`), or nil (recorded) when Debian's
    /// Alertmanager is not installed.
    static func receivers(_ receiverArguments: [String] = []) throws -> (am: PrivateAlertmanager, receiver: Process, port: Int)? {
        guard FileManager.default.isExecutableFile(atPath: PrivateAlertmanager.executable) else {
            Issue.record("prometheus-alertmanager is not installed (make test installs it)")
            return nil
        }
        let am = try PrivateAlertmanager()
        let script = TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordCLITests/Python/receiver.py").path
        let (rx, rxPort, _) = try TestStores.startServer(script, receiverArguments)
        return (am, rx, rxPort)
    }

    @Test func alertsFireOnFindingsAndResolveAfterTheRepair() throws {
        guard let (am, rx, rxPort) = try Self.receivers(["--fail", "1"]) else { return }  // the first POST answers 503: retried
        defer { rx.terminate() }
        // Stores of the test's own: a Redis db, a graph, a PostgreSQL schema.
        let db = 123
        let redisURL = TestStores.redisURL(db: db)
        let redis = try TestStores.redis(redisURL)
        _ = try redis.run("FLUSHDB")
        let graphURL = TestStores.falkorURL + "/" + TestStores.unique("notify")
        let schema = TestStores.unique("notify").lowercased()
        try PostgresConnection(url: TestStores.postgresURL).execute("CREATE SCHEMA \(schema)")
        let postgresURL = TestStores.postgresURL + "?options=-csearch_path%3D\(schema)"
        defer {
            _ = try? redis.run("FLUSHDB")
            if let g = try? FalkorDBStore(url: graphURL) { _ = try? g.command(["GRAPH.DELETE", g.graph]) }
            if let admin = try? PostgresConnection(url: TestStores.postgresURL) { _ = try? admin.execute("DROP SCHEMA \(schema) CASCADE") }
        }
        let stores = ["--redis", redisURL, "--graph", graphURL, "--postgres", postgresURL]
        #expect(try TestStores.run(Self.concord, ["setup"] + stores).status == 0)
        let sim = try TestStores.run(Self.concord, ["simulate", "--runs", "30", "--events-per-run", "5", "--seed", "17", "--faults", "all=1"] + stores)
        #expect(sim.status == 0, "\(sim.stderr)")
        let reports = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("notify-reports")).path
        let notify = ["--notify", "alertmanager+" + am.url, "--notify", "http://127.0.0.1:\(rxPort)/hook", "--notify", "slack+http://127.0.0.1:\(rxPort)/slack"]
        let audit = ["audit", "--format", "json", "--output-dir", reports, "--grace", "0s"] + stores + notify

        // 1. Findings: an alert per rule with error findings, in Alertmanager; the webhook and Slack told.
        let first = try TestStores.run(Self.concord, audit)
        #expect(first.status == 1, "\(first.stderr)")
        #expect(first.stderr.contains("notifications: 3 delivered, 0 failed"), "\(first.stderr)")
        let report = try JSON.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: reports + "/latest.json"))))
        let errorRules = Set((report["findings"]?.arrayValue ?? []).filter { $0["severity"]?.stringValue == "error" }.compactMap { $0["rule"]?.stringValue })
        #expect(errorRules.count >= 8)
        var firing = Set(try am.activeAlerts().filter { $0["alertname"] == "ConcordFindings" && $0["_state"] == "active" }.compactMap { $0["rule"] })
        #expect(firing == errorRules, "Alertmanager: \(firing.sorted()) vs the report's error rules \(errorRules.sorted())")
        var received = try Self.received(rxPort)
        let hook = try #require(received.first { $0["path"]?.stringValue == "/hook" }?["body"])
        #expect(hook["format"]?.stringValue == "concord.notification/1" && hook["event"]?.stringValue == "audit")
        #expect(hook["summary"]?["new"]?.intValue == Int64((report["findings"]?.arrayValue ?? []).filter { $0["severity"]?.stringValue == "error" }.count))
        let slack = try #require(received.first { $0["path"]?.stringValue == "/slack" }?["body"]?["text"]?.stringValue)
        #expect(slack.contains("new finding(s)"))

        // 2. Repaired (and synced): the repaired rules' alerts resolve; what was left for a person still fires; the webhook says what cleared.
        let plan = reports + "/plan.json"
        #expect(try TestStores.run(Self.concord, ["plan", "--report", reports + "/latest.json", "--output", plan] + stores).status == 0)
        _ = try TestStores.run(Self.concord, ["apply", plan, "--yes", "--output-dir", reports] + stores)
        _ = try TestStores.run(Self.concord, ["sync", "--once"] + stores)
        let second = try TestStores.run(Self.concord, audit)
        let after = try JSON.parse([UInt8](Data(contentsOf: URL(fileURLWithPath: reports + "/latest.json"))))
        let stillError = Set((after["findings"]?.arrayValue ?? []).filter { $0["severity"]?.stringValue == "error" }.compactMap { $0["rule"]?.stringValue })
        #expect(stillError.count < errorRules.count, "the repair cleared some rules")
        firing = Set(try am.activeAlerts().filter { $0["alertname"] == "ConcordFindings" && $0["_state"] == "active" }.compactMap { $0["rule"] })
        #expect(firing == stillError, "after the repair Alertmanager fires \(firing.sorted()); the audit finds \(stillError.sorted()) (exit \(second.status))")
        received = try Self.received(rxPort)
        let cleared = received.filter { $0["path"]?.stringValue == "/hook" }.last?["body"]?["summary"]?["cleared"]?.intValue ?? 0
        #expect(cleared > 0)

        // 3. An audit that fails (Redis unreachable) raises ConcordCommandFailed; the next good audit resolves it.
        let broken = try TestStores.run(Self.concord, ["audit", "--format", "json", "--output-dir", reports, "--connect-timeout", "1",
                                                       "--redis", "redis://127.0.0.1:1/0", "--graph", graphURL, "--postgres", postgresURL] + notify)
        #expect(broken.status == 3)
        #expect(try am.activeAlerts().contains { $0["alertname"] == "ConcordCommandFailed" && $0["command"] == "audit" && $0["_state"] == "active" })
        _ = try TestStores.run(Self.concord, audit)
        #expect(try !am.activeAlerts().contains { $0["alertname"] == "ConcordCommandFailed" && $0["_state"] == "active" })

        // 4. A receiver that cannot be reached: logged, counted, the exit code the audit's own.
        let unreachable = try TestStores.run(Self.concord, ["audit", "--format", "json", "--output-dir", reports + "/fresh", "--grace", "0s",
                                                            "--notify", "http://127.0.0.1:1/hook"] + stores)
        #expect(unreachable.status == second.status, "findings: 1, as without the notification")
        #expect(unreachable.stderr.contains("notification to webhook http://127.0.0.1:1/hook failed after 3 attempt(s)"), "\(unreachable.stderr)")
    }

    /// The commands a scheduler runs besides the audit: a failure raises ConcordCommandFailed for that command (and a
    /// webhook's `failure` event), its next good run resolves it; `notify` comes from the flag or the configuration file.
    @Test func scheduledCommandsRaiseTheirFailureAndResolveIt() throws {
        guard let (am, rx, rxPort) = try Self.receivers() else { return }
        defer { rx.terminate() }
        let redisURL = TestStores.redisURL(db: 74)
        let graphURL = TestStores.falkorURL + "/" + TestStores.unique("notify")
        let schema = TestStores.unique("notify").lowercased()
        try PostgresConnection(url: TestStores.postgresURL).execute("CREATE SCHEMA \(schema)")
        let postgresURL = TestStores.postgresURL + "?options=-csearch_path%3D\(schema)"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("notify"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer {
            _ = try? TestStores.redis(redisURL).run("FLUSHDB")
            if let g = try? FalkorDBStore(url: graphURL) { _ = try? g.command(["GRAPH.DELETE", g.graph]) }
            if let admin = try? PostgresConnection(url: TestStores.postgresURL) { _ = try? admin.execute("DROP SCHEMA \(schema) CASCADE") }
            try? FileManager.default.removeItem(at: dir)
        }
        let stores = ["--redis", redisURL, "--graph", graphURL, "--postgres", postgresURL]
        let down = ["--redis", "redis://127.0.0.1:1/0", "--connect-timeout", "1"]
        let notify = ["--notify", "alertmanager+\(am.url)", "--notify", "http://127.0.0.1:\(rxPort)/hook"]
        #expect(try TestStores.run(Self.concord, ["setup"] + stores).status == 0)
        let failing = { (command: String) in
            try am.activeAlerts().contains { $0["alertname"] == "ConcordCommandFailed" && $0["command"] == command && $0["_state"] == "active" }
        }

        // sync --once with Redis down: exit 3, the alert and the webhook's failure event; the next good run resolves the alert.
        let broken = try TestStores.run(Self.concord, ["sync", "--once"] + stores + down + notify)
        #expect(broken.status == 3, "\(broken.stderr)")
        #expect(broken.stderr.contains("notifications: 2 delivered, 0 failed"), "\(broken.stderr)")
        #expect(try failing("sync"))
        let events = try Self.received(rxPort).compactMap { $0["body"] }.filter { $0["event"]?.stringValue == "failure" }
        #expect(events.contains { $0["command"]?.stringValue == "sync" && $0["error"]?.stringValue?.contains("[redis]") == true }, "\(events)")
        let good = try TestStores.run(Self.concord, ["sync", "--once"] + stores + notify)
        #expect(good.status == 0, "\(good.stderr)")
        #expect(try !failing("sync"))

        // A chore with notify only in the configuration file: its failure names the whole command.
        let config = dir.appendingPathComponent("concord.yaml")
        try "notify: [\"alertmanager+\(am.url)\"]\n".write(to: config, atomically: true, encoding: .utf8)
        let chore = ["maintain", "deadletter", "purge", "--older-than", "30d", "--config", config.path]
        #expect(try TestStores.run(Self.concord, chore + stores + down).status == 3)
        #expect(try failing("maintain deadletter purge"))
        let fixed = try TestStores.run(Self.concord, chore + stores)
        #expect(fixed.status == 0, "\(fixed.stderr)")
        #expect(try !failing("maintain deadletter purge"))
        // A command without --notify (rules list) sends nothing even with the file's notify: it is never scheduled to fail.
        let quiet = try TestStores.run(Self.concord, ["rules", "list", "--config", config.path])
        #expect(quiet.status == 0 && !quiet.stderr.contains("notifications"), "\(quiet.stderr)")
    }

    static func received(_ port: Int) throws -> [JSON] {
        let r = try TestStores.run("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/_received"])
        return try JSON.parse([UInt8](r.stdout)).arrayValue ?? []
    }
}
