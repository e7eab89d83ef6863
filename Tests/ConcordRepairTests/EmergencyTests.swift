import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordRepair
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// The emergency procedures on real stores: restore a run from a snapshot,
/// rebuild Redis after it lost everything, rebuild the graph for a run it
/// lost, each as a plan applied by `concord apply` — and each surviving a
/// SIGKILL in the middle.
@Suite struct EmergencyTests {
    static var concord: String { RepairTests.concord }

    func storeArgs(_ f: AuditFixture) -> [String] { ["--postgres", f.postgresURL, "--redis", f.redisURL] + f.graphArgs }

    func tempDir(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique(name))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Runs `arguments` and expects exit status `status`.
    @discardableResult
    func concord(_ arguments: [String], status: Int32 = 0, _ comment: String = "") throws -> String {
        let r = try TestStores.run(Self.concord, arguments)
        let out = String(decoding: r.stdout, as: UTF8.self)
        #expect(r.status == status, "\(comment) concord \(arguments.prefix(2).joined(separator: " ")): \(out) \(r.stderr)")
        return out + r.stderr
    }

    /// Everything of `run` in the three stores goes.
    func deleteRun(_ f: AuditFixture, _ run: String) throws {
        let ids = try f.graph.run("MATCH (n:Node {workflow_id: $r}) RETURN n.id", parameters: ["r": .string(run)]).records.compactMap { $0[0].stringValue }
        try f.graph.run("MATCH (n:Node {workflow_id: $r}) DETACH DELETE n", parameters: ["r": .string(run)])
        try f.graph.run("MATCH (n:WorkflowRun {id: $r}) DETACH DELETE n", parameters: ["r": .string(run)])
        try f.redis.run("DEL", RedisKeys.events(run), RedisKeys.status(run))
        for id in ids { try f.redis.run("ZREM", RedisKeys.confirmed, id) }
        _ = try f.postgres.execute("DELETE FROM draft_content_history WHERE draft_id IN (SELECT id FROM draft_content WHERE workflow_run_id = $1)", [run])
        _ = try f.postgres.execute("DELETE FROM draft_content WHERE workflow_run_id = $1", [run])
    }

    /// A run of the fixture with drafts and history (so every store has something of it).
    func runWithDrafts(_ f: AuditFixture) throws -> String {
        try #require(try f.postgres.query("""
            SELECT d.workflow_run_id FROM draft_content d JOIN draft_content_history h ON h.draft_id = d.id ORDER BY 1 LIMIT 1
            """)[0].string(0))
    }

    @Test func aRunDeletedEverywhereIsRestoredFromItsSnapshot() throws {
        let f = try AuditFixture(db: 42)
        _ = try f.simulate(seed: 4711, runs: 20, eventsPerRun: 6)
        let dir = try tempDir("restore")
        defer { try? FileManager.default.removeItem(at: dir) }
        let snap = dir.appendingPathComponent("snap")
        let run = try runWithDrafts(f)
        // Another producer's entry in the run's stream: spaces, CRLF, reversed keys, escapes, numbers as 1.0 and 1e3, a surrogate pair.
        let last = try #require(try f.graph.run("MATCH (n:Node {workflow_id: $r}) RETURN n.id ORDER BY n.timestamp DESC LIMIT 1", parameters: ["r": .string(run)]).records.first?[0].stringValue)
        let foreignId = "ext-\(run)"
        let foreign = "{\r\n  \"metadata\" : {\"version\":\"2\",\"source\":\"ext\",\"userId\":\"u_\\u00e9\",\"workflowId\":\"\(run)\", \"x\": [1.0, 1e3]},"
            + " \"payload\" : {\"text\": \"caf\\u00e9 \\ud83d\\ude00 <\\/b>\"}, \"parentId\":\"\(last)\", \"type\":\"message\", \"timestamp\": \(nowMilliseconds() - 1000), \"id\":\"\(foreignId)\"}"
        try f.redis.run("XADD", RedisKeys.events(run), "*", "event", foreign)
        try f.redis.run("RPUSH", RedisKeys.queue, foreign)
        let sync = SyncEngine(redis: f.redis, graph: f.graph, postgres: f.postgres)
        try sync.drain()
        // A property no dataset declares, on a node of another run: a restore of that run keeps it.
        let keeper = try #require(try f.graph.run("MATCH (n:Node) WHERE n.workflow_id <> $r RETURN n.id, n.workflow_id LIMIT 1", parameters: ["r": .string(run)]).records.first)
        let (keeperId, keeperRun) = (keeper[0].stringValue ?? "", keeper[1].stringValue ?? "")
        try f.graph.run("MATCH (n:Node {id: $id}) SET n.extra = 'keep me'", parameters: ["id": .string(keeperId)])
        #expect(try f.audit(snapshot: snap).findings.isEmpty)
        let original = try StoreDump(f)
        try deleteRun(f, run)
        try f.graph.run("MATCH (n:Node {id: $id}) SET n.content = 'edited after the snapshot'", parameters: ["id": .string(keeperId)])
        // Another run changes after the snapshot: a restore of `run` leaves it alone.
        let other = try #require(try f.graph.run("MATCH (r:WorkflowRun) WHERE r.id <> $r RETURN r.id LIMIT 1", parameters: ["r": .string(run)]).records.first?[0].stringValue)
        try f.redis.run("HSET", RedisKeys.status(other), "note", "changed later")
        let planFile = dir.appendingPathComponent("restore.json")
        // Only Redis first: its keys come back, the graph and PostgreSQL stay as they are.
        let redisOnly = try concord(["restore", snap.path, "--runs", run, "--store", "redis", "--output", planFile.path] + storeArgs(f))
        #expect(redisOnly.contains("restore 1 run(s)"), "\(redisOnly)")
        #expect(Set(try RepairPlan(file: planFile.path).operations.map(\.store.rawValue)) == ["redis"])
        try concord(["apply", planFile.path, "--yes", "--operator", "test", "--output-dir", dir.path] + storeArgs(f))
        #expect(try f.redis.run("EXISTS", RedisKeys.events(run), RedisKeys.status(run)).int == 2)
        #expect(try f.graph.run("MATCH (n:Node {workflow_id: $r}) RETURN count(n)", parameters: ["r": .string(run)]).records.first?[0].intValue == 0)
        #expect(try f.postgres.query("SELECT count(*) FROM draft_content WHERE workflow_run_id = $1", [run])[0].int(0) == 0)
        let out = try concord(["restore", snap.path, "--runs", run, keeperRun, "--output", planFile.path] + storeArgs(f))
        #expect(out.contains("restore 2 run(s)"), "\(out)")
        let plan = try RepairPlan(file: planFile.path)
        #expect(Set(plan.operations.map(\.action)) == ["put-record"] && Set(plan.operations.map(\.store.rawValue)) == ["graph", "postgres"])  // Redis is back already
        try concord(["apply", planFile.path, "--yes", "--operator", "test", "--output-dir", dir.path] + storeArgs(f))
        try f.redis.run("HDEL", RedisKeys.status(other), "note")
        let (gone, new) = original.difference(try StoreDump(f))
        #expect(gone.isEmpty && new.isEmpty, "lost \(gone) gained \(new)")
        // Nothing left to restore: a second plan is empty.
        #expect(try f.redis.run("XRANGE", RedisKeys.events(run), "-", "+").array?.contains { ($0.array?[1].array ?? []).contains { $0.string == foreign } } == true)
        let again = try concord(["restore", snap.path, "--runs", run, keeperRun, "--output", planFile.path] + storeArgs(f))
        #expect(again.contains(": 0 write(s)"), "\(again)")

        // A snapshot with one byte changed is refused before any plan is written.
        let file = snap.appendingPathComponent("graph.nodes.ndjson")
        var bytes = [UInt8](try Data(contentsOf: file))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: file)
        try? FileManager.default.removeItem(at: planFile)
        let refused = try concord(["restore", snap.path, "--runs", run, "--output", planFile.path] + storeArgs(f), status: 2)
        #expect(refused.contains("fails its checksum") && !FileManager.default.fileExists(atPath: planFile.path), "\(refused)")
    }

    /// The catalog's rules directory copied, every dataset renamed (in datasets.yaml and in the rules); `edit`
    /// changes datasets.yaml further.
    func renamedCatalog(_ dir: URL, _ edit: (String) -> String = { $0 }) throws -> URL {
        let rules = dir.appendingPathComponent("rules")
        try FileManager.default.copyItem(at: TestStores.repositoryRoot.appendingPathComponent("Rules"), to: rules)
        let names = ["redis.streams": "events.per-run", "redis.status": "ui.run-status", "redis.confirmed": "sync.confirmed",
                     "graph.nodes": "durable.events", "graph.runs": "durable.runs", "graph.edges": "durable.parent-links",
                     "postgres.drafts": "content.drafts", "postgres.draft_history": "content.history"]
        for file in try FileManager.default.contentsOfDirectory(atPath: rules.path) where file.hasSuffix(".yaml") {
            let url = rules.appendingPathComponent(file)
            var text = try String(contentsOf: url, encoding: .utf8)
            // Longest first: postgres.drafts is a prefix of nothing, but keep the order safe for any rename.
            for (old, new) in names.sorted(by: { $0.key.count > $1.key.count }) {
                text = text.replacingOccurrences(of: old + ":", with: new + ":").replacingOccurrences(of: old + " ", with: new + " ")
                    .replacingOccurrences(of: old + ",", with: new + ",").replacingOccurrences(of: old + "\n", with: new + "\n")
                    .replacingOccurrences(of: old + "]", with: new + "]").replacingOccurrences(of: old + "}", with: new + "}")
            }
            if file == "datasets.yaml" { text = edit(text) }
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
        return rules
    }

    /// Restore reads and writes datasets by the role the catalog gives them, not by their names: a catalog
    /// that renames every dataset restores a deleted run the same; one that gives no dataset a role restore
    /// needs is refused (exit 2), naming the role, before anything is planned.
    @Test func restoreFindsItsDatasetsByRole() throws {
        let f = try AuditFixture(db: 75)
        _ = try f.simulate(seed: 4712, runs: 8, eventsPerRun: 5)
        let dir = try tempDir("roles")
        defer { try? FileManager.default.removeItem(at: dir) }
        let rules = try renamedCatalog(dir)
        #expect(try concord(["rules", "check", rules.path]).contains("no problems"))
        let snap = dir.appendingPathComponent("snap")
        try concord(["snapshot", "--output-dir", snap.path, "--rules", rules.path] + storeArgs(f))
        #expect(FileManager.default.fileExists(atPath: snap.appendingPathComponent("durable.events.ndjson").path))
        let original = try StoreDump(f)
        let run = try runWithDrafts(f)
        try deleteRun(f, run)
        let planFile = dir.appendingPathComponent("restore.json")
        let out = try concord(["restore", snap.path, "--runs", run, "--rules", rules.path, "--output", planFile.path] + storeArgs(f))
        #expect(out.contains("restore 1 run(s)"), "\(out)")
        let plan = try RepairPlan(file: planFile.path)
        #expect(Set(plan.operations.map(\.store.rawValue)) == ["graph", "redis", "postgres"])
        try concord(["apply", planFile.path, "--yes", "--operator", "test", "--output-dir", dir.path, "--rules", rules.path] + storeArgs(f))
        let (gone, new) = original.difference(try StoreDump(f))
        #expect(gone.isEmpty && new.isEmpty, "lost \(gone) gained \(new)")

        // The graph's events lose their role: a restore of the graph cannot know which dataset they are.
        let lackingDir = dir.appendingPathComponent("lacking")
        try FileManager.default.createDirectory(at: lackingDir, withIntermediateDirectories: true)
        let lacking = try renamedCatalog(lackingDir) { $0.replacingOccurrences(of: "    role: graph-events\n", with: "") }
        try? FileManager.default.removeItem(at: planFile)
        let refused = try concord(["restore", snap.path, "--runs", run, "--rules", lacking.path, "--output", planFile.path] + storeArgs(f), status: 2)
        #expect(refused.contains("restore of graph needs the dataset of role 'graph-events'") && refused.contains("role: graph-events"), "\(refused)")
        #expect(!FileManager.default.fileExists(atPath: planFile.path))
        // Redis alone needs none of the graph's roles.
        try concord(["restore", snap.path, "--runs", run, "--store", "redis", "--rules", lacking.path, "--output", planFile.path] + storeArgs(f))
    }

    @Test func redisFlushedIsRebuiltFromTheGraphAndPostgres() throws {
        let f = try AuditFixture(db: 43)
        _ = try f.simulate(seed: 99, runs: 30, eventsPerRun: 6)
        // Some runs still running (their streams are rebuilt), the rest finished.
        let running = try f.graph.run("MATCH (r:WorkflowRun) WITH r ORDER BY r.id LIMIT 5 SET r.state = 'running' RETURN r.id").records.compactMap { $0[0].stringValue }
        for run in running { try f.redis.run("HSET", RedisKeys.status(run), "state", "running") }
        #expect(try f.audit(recheck: false).findings.isEmpty)
        let keptStreams = Set(running.map(RedisKeys.events))
        // Traffic in flight when Redis loses its data: events produced (stream, queue) but not yet synced.
        let lastOfRun = try #require(try f.graph.run("MATCH (n:Node {workflow_id: $r}) RETURN n.id ORDER BY n.timestamp DESC LIMIT 1", parameters: ["r": .string(running[0])]).records.first?[0].stringValue)
        var parent = lastOfRun
        for i in 0..<3 {
            let ev = "{\"id\":\"inflight-\(i)\",\"timestamp\":\(nowMilliseconds()),\"type\":\"message\",\"parentId\":\"\(parent)\",\"payload\":{},\"metadata\":{\"workflowId\":\"\(running[0])\",\"userId\":\"u\",\"source\":\"agent\",\"version\":\"1\"}}"
            try f.redis.run("XADD", RedisKeys.events(running[0]), "*", "event", ev)
            try f.redis.run("RPUSH", RedisKeys.queue, ev)
            parent = "inflight-\(i)"
        }
        _ = try f.redis.run("FLUSHDB")
        let dir = try tempDir("rebuild")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = try concord(["rebuild", "redis", "--yes", "--operator", "test", "--output-dir", dir.path] + storeArgs(f))
        #expect(out.contains("0 skipped, 0 failed"), "\(out)")
        // Clean: the events in flight are lost with Redis (the graph never knew them) and nothing names them.
        let report = try f.audit(recheck: false)
        #expect(report.findings.isEmpty, "\(report.findings.map { "\($0.rule) \($0.key)" })")
        var streams: [String] = []
        try f.redis.scan(match: "workflow:*:events") { streams += $0 }
        #expect(Set(streams) == keptStreams)
        // Rebuilding again finds everything there.
        let again = try concord(["rebuild", "redis", "--output", dir.appendingPathComponent("again.json").path] + storeArgs(f))
        #expect(again.contains(": 0 record(s) to write"), "\(again)")
    }

    @Test func aRunTheGraphLostIsRebuiltFromItsStreamOrASnapshot() throws {
        let f = try AuditFixture(db: 44)
        _ = try f.simulate(seed: 2024, runs: 12, eventsPerRun: 6)
        let dir = try tempDir("rebuild-graph")
        defer { try? FileManager.default.removeItem(at: dir) }
        let snap = dir.appendingPathComponent("snap")
        #expect(try f.audit(snapshot: snap).findings.isEmpty)
        let runs = try f.graph.run("MATCH (r:WorkflowRun) RETURN r.id ORDER BY r.id LIMIT 2").records.compactMap { $0[0].stringValue }
        for run in runs {
            try f.graph.run("MATCH (n:Node {workflow_id: $r}) DETACH DELETE n", parameters: ["r": .string(run)])
            try f.graph.run("MATCH (n:WorkflowRun {id: $r}) DETACH DELETE n", parameters: ["r": .string(run)])
        }
        // The second run's stream is gone too: only the snapshot still has its events.
        try f.redis.run("DEL", RedisKeys.events(runs[1]))
        let out = try concord(["rebuild", "graph", "--runs"] + runs + ["--from", snap.path, "--yes", "--operator", "test", "--output-dir", dir.path] + storeArgs(f))
        #expect(out.contains("0 skipped, 0 failed"), "\(out)")
        let report = try f.audit(recheck: false)
        #expect(report.findings.isEmpty, "\(report.findings.map { "\($0.rule) \($0.key)" })")
        for run in runs {
            #expect(try f.graph.run("MATCH (n:Node {workflow_id: $r}) RETURN count(n)", parameters: ["r": .string(run)]).records.first?[0].intValue == 6)
        }
    }

    /// `concord apply PLAN --yes` killed (SIGKILL) at random moments, then run to the end: every operation journaled once, applied.
    func applyThroughKills(_ f: AuditFixture, _ planFile: URL, _ dir: URL) throws -> Int {
        let plan = try RepairPlan(file: planFile.path)
        let args = ["apply", planFile.path, "--yes", "--batch-size", "20", "--operator", "killer", "--output-dir", dir.path] + storeArgs(f)
        let kills = try TestStores.killRepeatedly(Self.concord, args, times: 3, window: 0.1...0.6)
        let last = try TestStores.run(Self.concord, args)
        if last.status != 0 {
            let report = try? JSON.parse([UInt8](Data(contentsOf: dir.appendingPathComponent("apply-\(plan.planId).json"))))
            let bad = (report?["results"]?.arrayValue ?? report?["operations"]?.arrayValue ?? []).filter { $0["outcome"]?.stringValue != "applied" }
            Issue.record("after \(kills) kill(s): \(String(decoding: last.stdout, as: UTF8.self)) \(last.stderr) — \(bad.map { $0.encoded() }.joined(separator: "\n"))")
        }
        let journal = try f.postgres.query("""
            SELECT count(*), count(DISTINCT operation_id), sum(CASE WHEN outcome = 'applied' THEN 1 ELSE 0 END) FROM concord_repair_journal WHERE plan_id = $1
            """, [plan.planId])
        #expect(journal[0].int(0) == Int64(plan.operations.count) && journal[0].int(1) == Int64(plan.operations.count), "\(plan.planId)")
        #expect(journal[0].int(2) == Int64(plan.operations.count), "\(plan.planId)")
        return kills
    }

    @Test func rebuildRestoreAndUndoSurviveSIGKILL() throws {
        let f = try AuditFixture(db: 45)
        _ = try f.simulate(seed: 31337, runs: 120, eventsPerRun: 8)
        let dir = try tempDir("kill")
        defer { try? FileManager.default.removeItem(at: dir) }

        // Redis lost everything: the rebuild (statuses and ~1,000 confirmations), killed while it applies.
        _ = try f.redis.run("FLUSHDB")
        let rebuild = dir.appendingPathComponent("rebuild.json")
        try concord(["rebuild", "redis", "--output", rebuild.path] + storeArgs(f))
        let k1 = try applyThroughKills(f, rebuild, dir)
        #expect(try f.audit(recheck: false).findings.isEmpty)

        // 40 runs deleted everywhere, restored from a snapshot, killed while it applies.
        let snap = dir.appendingPathComponent("snap")
        _ = try f.audit(snapshot: snap)
        let whole = try StoreDump(f)
        let runs = try f.graph.run("MATCH (r:WorkflowRun) RETURN r.id ORDER BY r.id LIMIT 40").records.compactMap { $0[0].stringValue }
        for run in runs { try deleteRun(f, run) }
        let deleted = try StoreDump(f)
        let restore = dir.appendingPathComponent("restore.json")
        try concord(["restore", snap.path, "--runs"] + runs + ["--output", restore.path] + storeArgs(f))
        let k2 = try applyThroughKills(f, restore, dir)
        var (gone, new) = whole.difference(try StoreDump(f))
        #expect(gone.isEmpty && new.isEmpty, "after the restore: lost \(gone.prefix(3)) gained \(new.prefix(3))")

        // The restore undone, killed while it applies: back to the stores without those runs.
        let restorePlan = try RepairPlan(file: restore.path)
        let undo = dir.appendingPathComponent("undo.json")
        try concord(["undo", restorePlan.planId, "--output", undo.path] + storeArgs(f))
        let k3 = try applyThroughKills(f, undo, dir)
        (gone, new) = deleted.difference(try StoreDump(f))
        #expect(gone.isEmpty && new.isEmpty, "after the undo: lost \(gone.prefix(3)) gained \(new.prefix(3))")
        print("rebuild, restore, undo applied through \(k1), \(k2), \(k3) SIGKILL(s)")
    }
}
