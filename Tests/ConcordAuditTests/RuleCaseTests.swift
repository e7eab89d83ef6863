import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// Rules tested like code (`concord rules test`, `rules new`, `fixture cut`), as a rule author and a CI job use them.
@Suite struct RuleCaseTests {
    static var concord: String { AuditCommandTests.concord }

    /// A copy of the catalog with a user's own datasets: a Redis hash cache of a PostgreSQL table.
    func userRules() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("rulecases"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let rules = dir.appendingPathComponent("Rules")
        try FileManager.default.copyItem(at: RuleFixtureTests.rulesDir, to: rules)
        let datasets = rules.appendingPathComponent("datasets.yaml")
        var text = try String(contentsOf: datasets, encoding: .utf8)
        text += UserDatasets.prefs
        try Data(text.utf8).write(to: datasets)
        return rules
    }

    @Test func aUsersRuleFromNewToPassingToBrokenWithADiff() throws {
        let rules = try userRules()
        let dir = rules.deletingLastPathComponent()
        // rules new: a rule file and two cases to start from.
        let new = try TestStores.run(Self.concord, ["rules", "new", "prefs.cache-stale", "--kind", "compare", "--dataset", "postgres.prefs",
                                                    "--other", "redis.prefs", "--rules", rules.path])
        #expect(new.status == 0, "\(new.stderr)")
        let tests = rules.appendingPathComponent("tests/prefs.cache-stale")
        for f in ["finds.yaml", "near-miss.yaml"] { #expect(FileManager.default.fileExists(atPath: tests.appendingPathComponent(f).path)) }
        // The starting point passes as written.
        let start = try TestStores.run(Self.concord, ["rules", "test", rules.path, "--rule", "prefs.cache-stale"])
        #expect(start.status == 0, "\(String(decoding: start.stdout, as: UTF8.self))\(start.stderr)")

        // Edited by hand, as its author would: the cache's theme against PostgreSQL's preferences.theme.
        try Data("""
            version: 1
            id: prefs.cache-stale
            severity: warning
            store: redis
            description: The preferences cache holds another theme than PostgreSQL.
            message: "user {key}: the cache says {evidence.right.theme}, PostgreSQL {evidence.left.theme}"
            check:
              kind: compare
              left: { dataset: postgres.prefs, key: user_id, values: { theme: preferences.theme } }
              right: { dataset: redis.prefs, key: userId, values: { theme: theme } }
              fields: [theme]
            repair: { action: set-field, dataset: redis.prefs, fields: [theme], winner: postgres.prefs }

            """.utf8).write(to: rules.appendingPathComponent("prefs.cache-stale.yaml"))
        try Data("""
            version: 1
            rule: prefs.cache-stale
            description: u1 switched to light; the cache still says dark
            records:
              postgres.prefs:
                - { user_id: u1, preferences: { theme: light, fontSize: 14 } }
                - { user_id: u2, preferences: { theme: dark } }
              redis.prefs:
                - { tenant: acme, userId: u1, theme: dark, fontSize: 14 }
                - { tenant: acme, userId: u2, theme: dark }
            expect:
              - { rule: prefs.cache-stale, key: u1 }

            """.utf8).write(to: tests.appendingPathComponent("finds.yaml"))
        try Data("""
            version: 1
            rule: prefs.cache-stale
            description: the same theme on both sides; a user only PostgreSQL has is another rule's
            records:
              postgres.prefs:
                - { user_id: u1, preferences: { theme: light } }
                - { user_id: u3, preferences: { theme: dark } }
              redis.prefs:
                - { tenant: beta, userId: u1, theme: light }
            expect: []

            """.utf8).write(to: tests.appendingPathComponent("near-miss.yaml"))
        let junit = dir.appendingPathComponent("cases.xml")
        let ok = try TestStores.run(Self.concord, ["rules", "test", rules.path, "--rule", "prefs.cache-stale", "--junit", junit.path], directory: dir)
        let okOut = String(decoding: ok.stdout, as: UTF8.self)
        #expect(ok.status == 0 && okOut.contains("2 case(s): 2 passed, 0 failed"), "\(okOut)\(ok.stderr)")
        #expect(try String(contentsOf: junit, encoding: .utf8).contains("failures=\"0\""))

        // Broken (PostgreSQL's side reads the wrong preference): both cases fail with a readable diff, exit 1, and JUnit says so.
        let rule = rules.appendingPathComponent("prefs.cache-stale.yaml")
        try Data(try String(contentsOf: rule, encoding: .utf8).replacingOccurrences(of: "values: { theme: preferences.theme }", with: "values: { theme: preferences.fontSize }").utf8).write(to: rule)
        let broken = try TestStores.run(Self.concord, ["rules", "test", rules.path, "--rule", "prefs.cache-stale", "--junit", junit.path], directory: dir)
        let out = String(decoding: broken.stdout, as: UTF8.self)
        #expect(broken.status == 1, "\(out)\(broken.stderr)")
        #expect(out.contains("FAIL Rules/tests/prefs.cache-stale/finds.yaml"), "\(out)")
        #expect(out.contains("+ found, not expected:  prefs.cache-stale u2"), "\(out)")
        #expect(out.contains("FAIL Rules/tests/prefs.cache-stale/near-miss.yaml") && out.contains("prefs.cache-stale u1"), "\(out)")
        let xml = try String(contentsOf: junit, encoding: .utf8)
        #expect(xml.contains("failures=\"2\"") && xml.contains("<failure"))

        // A broken case: exit 2, file:line:col.
        try Data("version: 1\nrule: prefs.cache-stale\nrecords:\n  redis.prefz: []\n".utf8).write(to: tests.appendingPathComponent("typo.yaml"))
        let typo = try TestStores.run(Self.concord, ["rules", "test", rules.path, "--rule", "prefs.cache-stale"], directory: dir)
        #expect(typo.status == 2 && String(decoding: typo.stdout, as: UTF8.self).contains("Rules/tests/prefs.cache-stale/typo.yaml:4:3: unknown dataset 'redis.prefz'"),
                "\(String(decoding: typo.stdout, as: UTF8.self))")
        try FileManager.default.removeItem(at: tests.appendingPathComponent("typo.yaml"))

        // --update writes what the rules find now as expect:, for review (the rule is still broken: its findings are what is written).
        let update = try TestStores.run(Self.concord, ["rules", "test", rules.path, "--rule", "prefs.cache-stale", "--update"], directory: dir)
        #expect(update.status == 0)
        #expect(try String(contentsOf: tests.appendingPathComponent("finds.yaml"), encoding: .utf8)
            .contains("expect:\n  - { rule: prefs.cache-stale, key: u1 }\n  - { rule: prefs.cache-stale, key: u2 }"))
    }

    /// A snapshot other producers wrote, cut to its run and redacted: the case reproduces its findings.
    @Test func aCaseCutFromASnapshotReproducesItsFindings() throws {
        let rules = try userRules()
        let snapshot = TestStores.repositoryRoot.appendingPathComponent("Tests/Fixtures/foreign/finds").path
        let full = try Auditor.audit(snapshot: try Snapshot(directory: URL(fileURLWithPath: snapshot)), AuditRequest(rules: try RuleSet.load(directory: rules)))
        let out = rules.appendingPathComponent("tests/incident-42.yaml")
        try FileManager.default.createDirectory(at: out.deletingLastPathComponent(), withIntermediateDirectories: true)
        let cut = try TestStores.run(Self.concord, ["fixture", "cut", snapshot, "--runs", "wr_f", "--redact", "--output", out.path, "--rules", rules.path])
        #expect(cut.status == 0, "\(cut.stderr)")
        let text = try String(contentsOf: out, encoding: .utf8)
        #expect(!text.contains("café") && !text.contains("quoted"), "payload text redacted")
        let (c, problems) = RuleCase.load(file: out.path, text: text, rules: try RuleSet.load(directory: rules))
        #expect(problems.isEmpty, "\(problems)")
        #expect(c?.expect == Set(full.findings.filter { $0.workflowId == "wr_f" }.map { "\($0.rule) \($0.key)" }), "the cut case expects what the full snapshot shows for its run")
        let run = try TestStores.run(Self.concord, ["rules", "test", rules.path, "--cases", out.deletingLastPathComponent().path])
        #expect(run.status == 0, "\(String(decoding: run.stdout, as: UTF8.self))")
    }

    /// The catalog's own cases pass, and the CI recipe's shell steps run as a CI job runs them.
    @Test func theCatalogsCasesAndTheCIRecipe() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("rules-ci"))
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("fixtures"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: RuleFixtureTests.fixturesDir.appendingPathComponent("clean"), to: dir.appendingPathComponent("fixtures/clean"))
        let script = TestStores.repositoryRoot.appendingPathComponent("deploy/ci/rules-ci.sh").path
        let r = try TestStores.run("/bin/sh", [script], environment: ["RULES": RuleFixtureTests.rulesDir.path, "FIXTURES": dir.appendingPathComponent("fixtures").path,
                                                                      "REPORTS": dir.appendingPathComponent("reports").path, "CONCORD": Self.concord])
        #expect(r.status == 0, "\(String(decoding: r.stdout, as: UTF8.self))\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("reports/rules-cases.xml").path))
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("reports/clean/latest.junit.xml").path))
        // A fixture with a finding fails the job.
        try FileManager.default.copyItem(at: RuleFixtureTests.fixturesDir.appendingPathComponent("event.cycle/finds"), to: dir.appendingPathComponent("fixtures/cycle"))
        let failing = try TestStores.run("/bin/sh", [script], environment: ["RULES": RuleFixtureTests.rulesDir.path, "FIXTURES": dir.appendingPathComponent("fixtures").path,
                                                                            "REPORTS": dir.appendingPathComponent("reports").path, "CONCORD": Self.concord])
        #expect(failing.status == 1)
    }
}

/// What `make install` lays out, with the debug binary (the release build and the man pages are `make install`'s own).
@Suite struct InstalledLayoutTests {
    @Test func theInstalledCatalogIsFoundAndCompletionsAreWritten() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("prefix"))
        let fm = FileManager.default
        try fm.createDirectory(at: prefix.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try fm.createDirectory(at: prefix.appendingPathComponent("share/concord"), withIntermediateDirectories: true)
        try fm.copyItem(atPath: AuditCommandTests.concord, toPath: prefix.appendingPathComponent("bin/concord").path)
        try fm.copyItem(at: RuleFixtureTests.rulesDir, to: prefix.appendingPathComponent("share/concord/rules"))
        let elsewhere = prefix.appendingPathComponent("work")
        try fm.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        let bin = prefix.appendingPathComponent("bin/concord").path
        // No --rules, no CONCORD_RULES, no ./Rules: the catalog beside the binary.
        let check = try TestStores.run(bin, ["rules", "check"], environment: ["CONCORD_RULES": nil], directory: elsewhere)
        #expect(check.status == 0 && String(decoding: check.stdout, as: UTF8.self).contains(prefix.appendingPathComponent("share/concord/rules").path), "\(check.stderr)")
        let audit = try TestStores.run(bin, ["audit", "--snapshot", RuleFixtureTests.fixturesDir.appendingPathComponent("clean").path, "--format", "json",
                                             "--output-dir", elsewhere.appendingPathComponent("reports").path], environment: ["CONCORD_RULES": nil], directory: elsewhere)
        #expect(audit.status == 0, "\(audit.stderr)")
        let report = try JSON.parse([UInt8](Data(contentsOf: elsewhere.appendingPathComponent("reports/latest.json"))))
        #expect(report["rulesDirectory"]?.stringValue?.hasSuffix("share/concord/rules") == true)
        for shell in ["bash", "zsh", "fish"] {
            let c = try TestStores.run(bin, ["--generate-completion-script", shell])
            #expect(c.status == 0 && String(decoding: c.stdout, as: UTF8.self).contains("publish"), "\(shell)")
        }
    }
}
