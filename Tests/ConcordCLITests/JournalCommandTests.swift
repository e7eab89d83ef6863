import ConcordCore
import ConcordJSON
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// `concord journal`: the audit log of plans written, applied and undone, as an operator reads it.
@Suite struct JournalCommandTests {
    static var concord: String { TestStores.concord }

    @Test func planApplyAndUndoAreLoggedWithWhoWhereAndHow() throws {
        let f = try AuditFixture(db: 65)
        _ = try f.simulate(seed: 515, runs: 30, eventsPerRun: 5, faults: "missing-node=1,stuck-in-queue=1,redis-status-mismatch=1")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("journal"))
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { withExtendedLifetime(f) { try? FileManager.default.removeItem(at: out) } }
        // The password is not checked by the test server; it must never be written to the log.
        let pgWithSecret = f.postgresURL.replacingOccurrences(of: "postgres@", with: "postgres:hunter2@")
        let stores = ["--postgres", pgWithSecret, "--redis", f.redisURL] + f.graphArgs
        let report = out.appendingPathComponent("audit.json").path
        #expect(try TestStores.run(Self.concord, ["audit", "--output-dir", out.path, "--format", "json", "--json-output", report, "--fail-on", "never"] + stores).status == 0)
        let planFile = out.appendingPathComponent("plan.json").path
        let planned = try TestStores.run(Self.concord, ["plan", "--report", report, "--output", planFile] + stores)
        #expect(planned.status == 0, "\(planned.stderr)")
        let planId = try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: planFile))))["planId"]?.stringValue ?? ""
        let applied = try TestStores.run(Self.concord, ["apply", planFile, "--yes", "--operator", "alice", "--output-dir", out.path] + stores)
        #expect(applied.status == 0, "\(applied.stderr)")
        let undone = try TestStores.run(Self.concord, ["undo", planId, "--output", out.appendingPathComponent("undo.json").path] + stores)
        #expect(undone.status == 0, "\(undone.stderr)")

        let listed = try TestStores.run(Self.concord, ["journal", "--format", "json", "--plan", planId] + stores)
        #expect(listed.status == 0, "\(listed.stderr)")
        let j = try JSON.parse([UInt8](listed.stdout))
        let entries = j["entries"]?.arrayValue ?? []
        #expect(entries.map { $0["command"]?.stringValue ?? "" } == ["plan", "apply", "undo"])
        #expect(entries[1]["operator"]?.stringValue == "alice")
        #expect((entries[1]["counts"]?["applied"]?.intValue ?? 0) > 0)
        #expect(entries.allSatisfy { !($0["host"]?.stringValue ?? "").isEmpty && $0["planDigest"]?.stringValue?.count == 64 })
        #expect(entries[2]["source"]?.stringValue == planId)
        let lines = entries.compactMap { $0["commandLine"]?.stringValue }
        #expect(lines.allSatisfy { !$0.contains("hunter2") && $0.contains("postgres:***@") }, "\(lines)")
        #expect((j["operations"]?.arrayValue ?? []).contains { $0["outcome"]?.stringValue == "applied" })

        let text = try TestStores.run(Self.concord, ["journal", "--since", "1h"] + stores)
        #expect(text.status == 0 && String(decoding: text.stdout, as: UTF8.self).contains(planId))
        let none = try TestStores.run(Self.concord, ["journal", "--since", "2999-01-01T00:00:00Z"] + stores)
        #expect(String(decoding: none.stdout, as: UTF8.self).hasPrefix("no entries"))
        #expect(try TestStores.run(Self.concord, ["journal", "--since", "last tuesday"] + stores).status == 2)
    }
}
