import ConcordCore
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// `concord audit`, `rules check` and `rules list` as scripts see them: exit codes and files.
@Suite struct AuditCommandTests {
    static var concord: String { TestStores.repositoryRoot.appendingPathComponent(".build/debug/concord").path }
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
        #expect(lines.count == 20 && lines.contains { $0.hasPrefix("event.cycle ") && $0.contains("error") && $0.contains("cycle") })

        let bad = try tempDir()
        defer { try? FileManager.default.removeItem(at: bad) }
        try FileManager.default.copyItem(at: RuleFixtureTests.rulesDir.appendingPathComponent("datasets.yaml"), to: bad.appendingPathComponent("datasets.yaml"))
        try Data("version: 1\nid: x\nseverity: fatal\nstore: graph\ndescription: d\ncheck: { kind: cycle, edges: { dataset: graph.edges, from: from.id, to: to.id } }\nrepair: { action: manual }\n".utf8)
            .write(to: bad.appendingPathComponent("x.yaml"))
        let failed = try TestStores.run(Self.concord, ["rules", "check", bad.path])
        #expect(failed.status == 2)
        #expect(String(decoding: failed.stdout, as: UTF8.self).contains("x.yaml:3:11: unknown severity 'fatal'"))
    }
}
