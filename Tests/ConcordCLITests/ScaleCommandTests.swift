import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordLive
import ConcordPostgres
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// `--incremental`, `--full`, `--state`, `--partition` and `concord report
/// merge` as a scheduler runs them; the deploy/ files checked by the tools
/// that read them, and their commands run against real stores.
@Suite struct ScaleCommandTests {
    static var concord: String { TestStores.concord }
    static var root: URL { TestStores.repositoryRoot }

    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("scale"))
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    static func report(_ path: URL) throws -> JSON { try JSON.parse([UInt8](try Data(contentsOf: path))) }
    static func ids(_ r: JSON) -> Set<String> { Set((r["findings"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }) }

    /// Stores of a test's own with a simulation and every fault kind in them, a directory for reports, the stores' flags.
    func faultyStores(db: Int, seed: UInt64, runs: Int) throws -> (AuditFixture, URL, [String]) {
        let f = try AuditFixture(db: db)
        _ = try f.simulate(seed: seed, runs: runs, eventsPerRun: 5, faults: "all=1")
        return (f, try tempDir(), ["--postgres", f.postgresURL, "--redis", f.redisURL] + f.graphArgs)
    }

    @Test func incrementalAndStateFromTheCommandLine() throws {
        let (f, out, stores) = try faultyStores(db: 68, seed: 4242, runs: 40)
        defer { withExtendedLifetime(f) { try? FileManager.default.removeItem(at: out) } }
        let base = ["audit", "--output-dir", out.path, "--format", "json", "--fail-on", "never"] + stores
        let state = out.appendingPathComponent("state.json").path
        let now = String(nowMilliseconds())

        // A file state: the first incremental audit has none and is full, says why; the next is incremental; same findings.
        let first = try TestStores.run(Self.concord, base + ["--incremental", "--state", state, "--now", now, "--json-output", out.path + "/1.json"])
        #expect(first.status == 0, "\(first.stderr)")
        let said = String(decoding: first.stdout, as: UTF8.self)
        #expect(said.contains("full audit (no audit state"), "\(said)")
        let r1 = try Self.report(out.appendingPathComponent("1.json"))
        #expect(r1["mode"]?.stringValue == "full")
        let second = try TestStores.run(Self.concord, base + ["--incremental", "--state", state, "--now", now, "--json-output", out.path + "/2.json"])
        #expect(second.status == 0, "\(second.stderr)")
        let r2 = try Self.report(out.appendingPathComponent("2.json"))
        #expect(r2["mode"]?.stringValue == "incremental", "\(r2["incremental"]?.encoded() ?? "")")
        #expect(Self.ids(r1) == Self.ids(r2) && !Self.ids(r1).isEmpty)
        #expect((r2["incremental"]?["reaudited"]?.intValue ?? -1) < (r2["incremental"]?["runs"]?.intValue ?? 0))

        // The default state is the concord_audit_state table of the audited PostgreSQL, one row per scope.
        for _ in 0..<2 {
            let r = try TestStores.run(Self.concord, base + ["--incremental", "--partition", "1/2", "--now", now])
            #expect(r.status == 0, "\(r.stderr)")
        }
        let rows = try f.postgres.query("SELECT scope FROM concord_audit_state ORDER BY scope")
        #expect(rows.rows.map { $0.string(0) } == ["1/2"])

        // Rules changed since the state: full again, and the report says why.
        let one = try TestStores.run(Self.concord, base + ["--incremental", "--state", state, "--rule", "event.duplicate-node", "--json-output", out.path + "/3.json"])
        #expect(one.status == 0, "\(one.stderr)")
        #expect(try Self.report(out.appendingPathComponent("3.json"))["incremental"]?["fullBecause"]?.stringValue?.contains("rules changed") == true)

        // Usage: exclusive modes, a snapshot with a state, a state file that is not one.
        #expect(try TestStores.run(Self.concord, base + ["--incremental", "--full"]).status == 2)
        #expect(try TestStores.run(Self.concord, ["audit", "--snapshot", out.path, "--incremental"]).status == 2)
        let garbage = out.appendingPathComponent("garbage.json")
        try Data("{\"format\": \"something else\"}".utf8).write(to: garbage)
        let bad = try TestStores.run(Self.concord, base + ["--incremental", "--state", garbage.path])
        #expect(bad.status == 2 && bad.stderr.contains("not a Concord audit state"), "\(bad.stderr)")
    }

    @Test func partitionReportsMergeToTheFullReport() throws {
        let (f, out, stores) = try faultyStores(db: 67, seed: 777, runs: 50)
        defer { withExtendedLifetime(f) { try? FileManager.default.removeItem(at: out) } }  // the fixture's deinit empties the stores
        let now = String(nowMilliseconds())
        let base = ["audit", "--output-dir", out.path, "--format", "json", "--fail-on", "never", "--now", now, "--no-recheck"] + stores
        #expect(try TestStores.run(Self.concord, base + ["--json-output", out.path + "/full.json"]).status == 0)
        var parts: [String] = []
        for i in 0..<4 {
            let p = out.path + "/part-\(i).json"
            let r = try TestStores.run(Self.concord, base + ["--partition", "\(i)/4", "--json-output", p])
            #expect(r.status == 0, "\(r.stderr)")
            parts.append(p)
        }
        let merged = out.appendingPathComponent("merged.json")
        let m = try TestStores.run(Self.concord, ["report", "merge"] + parts + ["--output-dir", out.path + "/merged", "--format", "json,md,html,junit,prom",
                                                                               "--json-output", merged.path])
        #expect(m.status == 1, "\(m.stderr)")  // the merged findings fail --fail-on error
        let full = try Self.report(out.appendingPathComponent("full.json")), joined = try Self.report(merged)
        #expect(Self.ids(full) == Self.ids(joined))
        #expect(joined["findings"]?.arrayValue?.count == full["findings"]?.arrayValue?.count)
        #expect(joined["summary"]?["byRule"] == full["summary"]?["byRule"])
        #expect(joined["stores"]?["graph"]?["records"]?["graph.nodes"] == full["stores"]?["graph"]?["records"]?["graph.nodes"])
        for ext in ["json", "md", "html", "junit.xml", "prom"] {
            #expect(FileManager.default.fileExists(atPath: out.path + "/merged/latest.\(ext)"), "latest.\(ext)")
        }

        // A partition missing or given twice is refused (exit 2), unless the merge is asked to be partial.
        let missing = try TestStores.run(Self.concord, ["report", "merge"] + parts.dropLast() + ["--output-dir", out.path + "/m2"])
        #expect(missing.status == 2 && missing.stderr.contains("3/4 missing"), "\(missing.stderr)")
        let twice = try TestStores.run(Self.concord, ["report", "merge"] + parts + [parts[0], "--output-dir", out.path + "/m3"])
        #expect(twice.status == 2 && twice.stderr.contains("given twice"), "\(twice.stderr)")
        let partial = try TestStores.run(Self.concord, ["report", "merge"] + parts.dropLast() + ["--allow-partial", "--fail-on", "never", "--output-dir", out.path + "/m4"])
        #expect(partial.status == 0, "\(partial.stderr)")
        let garbage = out.appendingPathComponent("not-a-report.json")
        try Data("[1, 2".utf8).write(to: garbage)
        #expect(try TestStores.run(Self.concord, ["report", "merge", garbage.path, "--output-dir", out.path + "/m5"]).status == 2)
    }

    /// The systemd units as systemd reads them (with the built binary in place of /usr/local/bin/concord).
    @Test func systemdUnitsVerify() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let src = Self.root.appendingPathComponent("deploy/systemd")
        var units: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: src.path).sorted() where name.hasSuffix(".service") || name.hasSuffix(".timer") {
            var text = try String(contentsOf: src.appendingPathComponent(name), encoding: .utf8)
            text = text.replacingOccurrences(of: "/usr/local/bin/concord", with: Self.concord)
            try Data(text.utf8).write(to: dir.appendingPathComponent(name))
            units.append(dir.appendingPathComponent(name).path)
        }
        #expect(units.count == 4)
        let r = try TestStores.run("/usr/bin/systemd-analyze", ["verify"] + units)
        #expect(r.status == 0 && r.stderr.isEmpty && r.stdout.isEmpty, "\(String(decoding: r.stdout, as: UTF8.self))\(r.stderr)")
    }

    /// The Kubernetes manifests against the API's schema (kubernetes-validate, strict), and the
    /// audit script of each Job run for real: 4 partitions, then the merge by the last one.
    @Test func kubernetesManifestsValidateAndTheirScriptRuns() throws {
        let manifest = Self.root.appendingPathComponent("deploy/kubernetes/concord-audit.yaml")
        let python = ProcessInfo.processInfo.environment["CONCORD_VENV_PYTHON"] ?? Self.root.appendingPathComponent(".local/venv/bin/python").path
        let v = try TestStores.run(python, ["-m", "kubernetes_validate", "--strict", "-k", "1.30.0", manifest.path])
        #expect(v.status == 0, "\(String(decoding: v.stdout, as: UTF8.self))\(v.stderr)")

        // Each CronJob's script, with the stores of a test of its own and the built concord on PATH.
        let f = try AuditFixture(db: 66)
        _ = try f.simulate(seed: 66, runs: 30, eventsPerRun: 4, faults: "stuck-in-queue=1,missing-node=1")
        let text = try String(contentsOf: manifest, encoding: .utf8)
        let scripts = text.components(separatedBy: "args:\n                - |\n").dropFirst().map { block in
            block.split(separator: "\n", omittingEmptySubsequences: false).prefix { $0.hasPrefix("                  ") }
                .map { String($0.dropFirst(18)) }.joined(separator: "\n")
        }
        #expect(scripts.count == 2)
        let reports = try tempDir()
        defer { try? FileManager.default.removeItem(at: reports) }
        for (n, script) in scripts.enumerated() {
            let body = script.replacingOccurrences(of: "/reports/", with: reports.path + "/")
            for index in 0..<4 {
                let r = try TestStores.run("/bin/sh", ["-c", body], environment: [
                    "PATH": Self.concord.replacingOccurrences(of: "/concord", with: "") + ":/usr/bin:/bin",
                    "JOB_NAME": "job\(n)", "JOB_COMPLETION_INDEX": String(index),
                    "CONCORD_POSTGRES_URL": f.postgresURL, "CONCORD_REDIS_URL": f.redisURL, "CONCORD_GRAPH_URL": f.graphURL,
                    "CONCORD_RULES": Self.root.appendingPathComponent("Rules").path,
                ])
                #expect(r.status == 0, "script \(n), index \(index): \(r.stderr)")
            }
            let merged = reports.appendingPathComponent("job\(n)/merged/latest.json")
            let m = try Self.report(merged)
            #expect(m["merged"]?["reports"]?.arrayValue?.count == 4)
            #expect((m["findings"]?.arrayValue?.count ?? 0) >= 2)
        }
    }
}
