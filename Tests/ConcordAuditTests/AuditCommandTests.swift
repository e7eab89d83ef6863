import ConcordCore
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// `concord audit`, `rules check` and `rules list` as scripts see them: exit codes and files.
@Suite struct AuditCommandTests {
    static var concord: String { TestStores.concord }
    static func fixture(_ name: String) -> String { RuleFixtureTests.fixturesDir.appendingPathComponent(name).path }

    func tempDir() throws -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("cli"))
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }

    @Test func exitCodesAndReports() throws {
        let out = try tempDir()
        defer { try? FileManager.default.removeItem(at: out) }
        let rules = RuleFixtureTests.rulesDir.path
        let base = ["audit", "--rules", rules, "--output-dir", out.path]

        let clean = try TestStores.run(Self.concord, base + ["--snapshot", Self.fixture("clean")])
        #expect(clean.status == 0, "\(clean.stderr)")

        let json = out.appendingPathComponent("exact/report.json")
        let dirty = try TestStores.run(Self.concord, base + ["--snapshot", Self.fixture("event.cycle/finds"), "--json-output", json.path,
                                                              "--format", "json,md,html,junit,prom"])
        #expect(dirty.status == 1)
        let report = try JSON.parse([UInt8](try Data(contentsOf: json)))
        #expect(report["findings"]?.arrayValue?.count == 3)
        for ext in ["json", "md", "html", "junit.xml", "prom"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent("latest.\(ext)").path), "latest.\(ext)")
        }

        // A report directory that cannot be made is not "findings": exit 2, the path and the system's reason.
        let file = out.appendingPathComponent("a-file")
        try Data("x".utf8).write(to: file)
        let unwritable = try TestStores.run(Self.concord, ["audit", "--rules", rules, "--output-dir", file.appendingPathComponent("reports").path,
                                                           "--snapshot", Self.fixture("event.cycle/finds")])
        #expect(unwritable.status == 2, "\(unwritable.stderr)")
        #expect(unwritable.stderr.contains(file.path) && unwritable.stderr.contains("is a file, not a directory"), "\(unwritable.stderr)")

        // Warnings only: fail on error passes, fail on warning fails.
        let warnings = Self.fixture("event.stuck-in-queue/finds")
        #expect(try TestStores.run(Self.concord, base + ["--snapshot", warnings]).status == 0)
        #expect(try TestStores.run(Self.concord, base + ["--snapshot", warnings, "--fail-on", "warning"]).status == 1)
        #expect(try TestStores.run(Self.concord, base + ["--snapshot", Self.fixture("event.cycle/finds"), "--fail-on", "never"]).status == 0)

        // A baseline written from the findings makes the same audit pass.
        let baseline = out.appendingPathComponent("baseline.json").path
        #expect(try TestStores.run(Self.concord, base + ["--snapshot", Self.fixture("event.cycle/finds"), "--write-baseline", baseline]).status == 1)
        #expect(try TestStores.run(Self.concord, base + ["--snapshot", Self.fixture("event.cycle/finds"), "--baseline", baseline]).status == 0)

        // --rule runs a subset.
        let subset = try TestStores.run(Self.concord, base + ["--snapshot", Self.fixture("event.cycle/finds"), "--rule", "event.duplicate-node"])
        #expect(subset.status == 0)
        #expect(try TestStores.run(Self.concord, base + ["--snapshot", Self.fixture("clean"), "--rule", "no.such-rule"]).status == 2)

        // Usage and input errors exit 2, an unreachable store 3.
        #expect(try TestStores.run(Self.concord, base + ["--snapshot", "/nonexistent"]).status == 2)
        #expect(try TestStores.run(Self.concord, base + ["--snapshot", Self.fixture("clean"), "--grace", "soon"]).status == 2)
        #expect(try TestStores.run(Self.concord, ["audit", "--rules", "/nonexistent", "--snapshot", Self.fixture("clean")]).status == 2)
        let down = try TestStores.run(Self.concord, base + ["--redis", "redis://127.0.0.1:1/0", "--connect-timeout", "1"])
        #expect(down.status == 3, "\(down.stderr)")
    }

    @Test func rulesCheckAndList() throws {
        let ok = try TestStores.run(Self.concord, ["rules", "check", RuleFixtureTests.rulesDir.path])
        #expect(ok.status == 0)
        let list = try TestStores.run(Self.concord, ["rules", "list", "--rules", RuleFixtureTests.rulesDir.path])
        let lines = String(decoding: list.stdout, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 24 && lines.contains { $0.hasPrefix("event.cycle ") && $0.contains("error") && $0.contains("cycle") })

        let bad = try tempDir()
        defer { try? FileManager.default.removeItem(at: bad) }
        try FileManager.default.copyItem(at: RuleFixtureTests.rulesDir.appendingPathComponent("datasets.yaml"), to: bad.appendingPathComponent("datasets.yaml"))
        try Data("version: 1\nid: x\nseverity: fatal\nstore: graph\ndescription: d\ncheck: { kind: cycle, edges: { dataset: graph.edges, from: from.id, to: to.id } }\nrepair: { action: manual }\n".utf8)
            .write(to: bad.appendingPathComponent("x.yaml"))
        let failed = try TestStores.run(Self.concord, ["rules", "check", bad.path])
        #expect(failed.status == 2)
        #expect(String(decoding: failed.stdout, as: UTF8.self).contains("x.yaml:3:11: unknown severity 'fatal'"))
    }

    /// A scheduled job started in another directory finds the rules through CONCORD_RULES;
    /// a rules directory that is not there names the flag and the variable.
    @Test func rulesAreFoundTheSameWayEverywhere() throws {
        let elsewhere = try tempDir()
        defer { try? FileManager.default.removeItem(at: elsewhere) }
        let env: [String: String?] = ["CONCORD_RULES": RuleFixtureTests.rulesDir.path]
        let list = try TestStores.run(Self.concord, ["rules", "list"], environment: env, directory: elsewhere)
        #expect(list.status == 0 && String(decoding: list.stdout, as: UTF8.self).split(separator: "\n").count == 24, "\(list.stderr)")
        #expect(try TestStores.run(Self.concord, ["rules", "check"], environment: env, directory: elsewhere).status == 0)
        let audit = try TestStores.run(Self.concord, ["audit", "--snapshot", Self.fixture("event.cycle/finds"), "--output-dir", elsewhere.path, "--format", "json"],
                                       environment: env, directory: elsewhere)
        #expect(audit.status == 1, "\(audit.stderr)")  // the fixture's findings, found with the rules from the variable
        // Nowhere to be found: the message says where it looked and what sets it.
        let none = try TestStores.run(Self.concord, ["rules", "list"], environment: ["CONCORD_RULES": nil], directory: elsewhere)
        #expect(none.status == 2 && none.stderr.contains("--rules") && none.stderr.contains("CONCORD_RULES"), "\(none.stderr)")
        let wrongVar = try TestStores.run(Self.concord, ["audit", "--snapshot", Self.fixture("clean")], environment: ["CONCORD_RULES": "/nonexistent/rules"], directory: elsewhere)
        #expect(wrongVar.status == 2 && wrongVar.stderr.contains("/nonexistent/rules") && wrongVar.stderr.contains("from CONCORD_RULES"), "\(wrongVar.stderr)")
        // The flag wins over the variable.
        let flag = try TestStores.run(Self.concord, ["rules", "list", "--rules", RuleFixtureTests.rulesDir.path], environment: ["CONCORD_RULES": "/nonexistent"])
        #expect(flag.status == 0)
    }

    /// A rule whose findings cannot be rechecked loads (a warning at its position), it does not fail the check.
    @Test func anUnrecheckableRuleIsAWarning() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: RuleFixtureTests.rulesDir.appendingPathComponent("datasets.yaml"), to: dir.appendingPathComponent("datasets.yaml"))
        try Data("version: 1\nid: x\nseverity: info\nstore: postgres\ndescription: d\ncheck:\n  kind: filter\n  in:\n    - { dataset: postgres.draft_history, key: \"draft_id + '#' + string(version)\" }\nrepair: { action: manual }\n".utf8)
            .write(to: dir.appendingPathComponent("x.yaml"))
        let r = try TestStores.run(Self.concord, ["rules", "check", dir.path])
        let out = String(decoding: r.stdout, as: UTF8.self)
        #expect(r.status == 0 && out.contains("x.yaml:9:7: warning: this rule's findings cannot be rechecked") && out.contains("1 warning(s)"), "\(out)")
    }
}
