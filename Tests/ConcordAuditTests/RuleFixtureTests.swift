import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// The catalog in `Rules/` against the fixtures in `Tests/Fixtures/rules/`:
/// for every rule, a snapshot that must give exactly its findings, and a near
/// miss that must give none (built by `Tests/Fixtures/make_fixtures.py`).
@Suite struct RuleFixtureTests {
    static let rulesDir = TestStores.repositoryRoot.appendingPathComponent("Rules")
    static let fixturesDir = TestStores.repositoryRoot.appendingPathComponent("Tests/Fixtures/rules")

    static var fixtures: [String] {
        let fm = FileManager.default
        var out = ["clean"]
        for rule in ((try? fm.contentsOfDirectory(atPath: fixturesDir.path)) ?? []).sorted() where rule != "clean" {
            for kind in ["finds", "near-miss"] { out.append("\(rule)/\(kind)") }
        }
        return out
    }

    static func expected(_ dir: URL) throws -> Set<String> {
        let json = try JSON.parse([UInt8](try Data(contentsOf: dir.appendingPathComponent("expected.json"))))
        return Set((json["findings"]?.arrayValue ?? []).map { "\($0["rule"]!.stringValue!) \($0["key"]!.stringValue!)" })
    }

    @Test func everyCatalogRuleHasBothFixtures() throws {
        let rules = try RuleSet.load(directory: Self.rulesDir)
        #expect(rules.rules.count == 24)
        for rule in rules.rules {
            for kind in ["finds", "near-miss"] {
                let dir = Self.fixturesDir.appendingPathComponent("\(rule.id)/\(kind)")
                #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("manifest.json").path), "no \(kind) fixture for \(rule.id)")
            }
            let finds = try Self.expected(Self.fixturesDir.appendingPathComponent("\(rule.id)/finds"))
            #expect(finds.contains { $0.hasPrefix(rule.id + " ") }, "the finds fixture of \(rule.id) expects none of its findings")
        }
    }

    @Test(arguments: fixtures)
    func fixtureGivesExactlyItsFindings(_ name: String) throws {
        let dir = Self.fixturesDir.appendingPathComponent(name)
        let rules = try RuleSet.load(directory: Self.rulesDir)
        let report = try Auditor.audit(snapshot: try Snapshot(directory: dir), AuditRequest(rules: rules))
        let found = Set(report.findings.map { "\($0.rule) \($0.key)" })
        let expected = try Self.expected(dir)
        #expect(found == expected, "missed: \(expected.subtracting(found).sorted()), extra: \(found.subtracting(expected).sorted())")
        if name.hasSuffix("near-miss") || name == "clean" { #expect(report.findings.isEmpty) }
        // The same snapshot, the same findings and ids: audits are reproducible.
        let again = try Auditor.audit(snapshot: try Snapshot(directory: dir), AuditRequest(rules: rules))
        #expect(again.findings.map(\.id) == report.findings.map(\.id))
    }

    /// Events written by other producers (`Tests/Fixtures/foreign/`): exactly the expected
    /// findings, and a malformed entry's evidence is the producer's text, byte for byte.
    @Test(arguments: ["clean", "finds", "near-miss"])
    func foreignProducersGiveExactlyTheirFindings(_ name: String) throws {
        let dir = TestStores.repositoryRoot.appendingPathComponent("Tests/Fixtures/foreign/\(name)")
        let rules = try RuleSet.load(directory: Self.rulesDir)
        let snapshot = try Snapshot(directory: dir)
        let report = try Auditor.audit(snapshot: snapshot, AuditRequest(rules: rules))
        let found = Set(report.findings.map { "\($0.rule) \($0.key)" })
        let expected = try Self.expected(dir)
        #expect(found == expected, "missed: \(expected.subtracting(found).sorted()), extra: \(found.subtracting(expected).sorted())")
        var stored: Set<String> = []
        for d in ["redis.streams", "redis.queue"] {
            // The malformed ones: not an object, or a timestamp that is not an integer.
            try snapshot.read(d) { r in
                guard let raw = r["raw"]?.stringValue else { return }
                if case .int? = r["event"]?["timestamp"] { return }
                stored.insert(raw)
            }
        }
        let evidence = Set(report.findings.filter { $0.rule == "event.malformed" }.compactMap { $0.evidence["raw"]?.stringValue })
        #expect(evidence == stored, "evidence \(evidence.sorted()) vs stored \(stored.sorted())")
    }

    @Test func partitionsUnionToTheFullReport() throws {
        let rules = try RuleSet.load(directory: Self.rulesDir)
        for name in ["event.cycle/finds", "run.missing/finds", "draft.orphan-run/finds", "event.malformed/finds"] {
            let snap = try Snapshot(directory: Self.fixturesDir.appendingPathComponent(name))
            let fullFindings = try Auditor.audit(snapshot: snap, AuditRequest(rules: rules)).findings
            let full = Set(fullFindings.map(\.id))
            for n in [1, 2, 3, 7] {
                var union: [String] = []
                for i in 0..<n {
                    union += try Auditor.audit(snapshot: snap, AuditRequest(rules: rules, partition: try Partition(index: i, count: n))).findings.map(\.id)
                }
                // A finding of a run is in exactly one partition; one of no run in every partition.
                let perRun = fullFindings.filter { $0.workflowId != nil }.map(\.id)
                #expect(Set(union) == full, "\(name) in \(n) partitions")
                #expect(perRun.allSatisfy { id in union.filter { $0 == id }.count == 1 }, "\(name) in \(n) partitions")
                #expect(fullFindings.filter { $0.workflowId == nil }.allSatisfy { f in union.filter { $0 == f.id }.count == n })
            }
        }
        #expect(throws: ConcordError.self) { try Partition(parsing: "3/3") }
        #expect(throws: ConcordError.self) { try Partition(parsing: "x") }
    }

    @Test func baselineFindingsAreKnownAndDoNotFail() throws {
        let rules = try RuleSet.load(directory: Self.rulesDir)
        let snap = try Snapshot(directory: Self.fixturesDir.appendingPathComponent("event.cycle/finds"))
        let first = try Auditor.audit(snapshot: snap, AuditRequest(rules: rules))
        #expect(first.fails(at: .error))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("baseline") + ".json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(Baseline.json(Array(first.findings.prefix(2))).encoded().utf8).write(to: file)
        let second = try Auditor.audit(snapshot: snap, AuditRequest(rules: rules, baseline: try Baseline(file: file.path)))
        #expect(second.known.count == 2 && second.newFindings.count == first.findings.count - 2)
        try Data(Baseline.json(first.findings).encoded().utf8).write(to: file)
        let third = try Auditor.audit(snapshot: snap, AuditRequest(rules: rules, baseline: try Baseline(file: file.path)))
        #expect(!third.fails(at: .info) && third.findings.count == first.findings.count)
        #expect(third.json()["summary"]?["known"]?.intValue == Int64(first.findings.count))
    }

    @Test func aTamperedSnapshotIsRefused() throws {
        let src = Self.fixturesDir.appendingPathComponent("clean")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("tampered"))
        try FileManager.default.copyItem(at: src, to: dir)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("graph.nodes.ndjson")
        var bytes = [UInt8](try Data(contentsOf: file))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: file)
        #expect { try Snapshot(directory: dir) } throws: { ($0 as? ConcordError)?.message.contains("graph.nodes.ndjson") == true }
    }
}
