import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordJSON
import ConcordModel
import ConcordRepair
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// The maintenance commands that change data, on real stores: what each
/// prints, what `--yes` changes, that nothing else changed (dumps of all
/// three stores), and that `concord undo` takes it back.
@Suite struct MaintenanceTests {
    let e = EmergencyTests()

    /// The dump without the lines about `keys` (what the command is meant to change).
    func dump(_ f: AuditFixture, without keys: Set<String> = []) throws -> StoreDump { try StoreDump(f, skipping: keys) }

    @Test func deadLettersAreRequeuedPurgedAndUndone() throws {
        let f = try AuditFixture(db: 46)
        _ = try f.simulate(seed: 8, runs: 3, eventsPerRun: 4)
        let dir = try e.tempDir("deadletter")
        defer { try? FileManager.default.removeItem(at: dir) }
        let old = nowMilliseconds() - 40 * 86_400_000
        let run = try #require(try f.graph.run("MATCH (r:WorkflowRun) RETURN r.id LIMIT 1").records.first?[0].stringValue)
        let parent = try #require(try f.graph.run("MATCH (n:Node {workflow_id: $r}) RETURN n.id ORDER BY n.timestamp DESC LIMIT 1", parameters: ["r": .string(run)]).records.first?[0].stringValue)
        // 0: an event another producer wrote (spaces, reversed keys, escapes), dead-lettered while the graph was down: it parses.
        let good = "{ \"metadata\" : {\"workflowId\":\"\(run)\",\"userId\":\"u_\\u00e9\",\"source\":\"ext\",\"version\":\"1\"}, \"payload\" : {\"t\":\"a\\/b\"},"
            + " \"parentId\" : \"\(parent)\", \"type\" : \"note\", \"timestamp\" : \(nowMilliseconds() - 5000), \"id\" : \"dl-good\" }"
        let letter0 = JSON.object(["raw": .string(good), "error": "graph unavailable", "at": .int(old)]).encoded()
        // 1: truncated JSON, 40 days old; 2: text another writer left (no time: never purged by age).
        let letter1 = JSON.object(["raw": "{\"id\": \"trunc", "error": "not JSON", "at": .int(old)]).encoded()
        try f.redis.run("RPUSH", RedisKeys.deadletter, letter0, letter1, "plain text")
        let args = e.storeArgs(f)
        let before = try dump(f)

        // Entry 1 still does not parse: the whole request is refused, nothing changes.
        let refused = try e.concord(["maintain", "deadletter", "requeue", "0", "1", "--yes"] + args, status: 2)
        #expect(refused.contains("entry 1: it is still not JSON") && refused.contains("--force"), "\(refused)")
        #expect(try dump(f) == before)
        // A dry run prints and changes nothing.
        let dry = try e.concord(["maintain", "deadletter", "requeue", "0"] + args)
        #expect(dry.contains("1 dead letter(s) back to persistence:queue (dry run") && dry.contains("move-entry"), "\(dry)")
        #expect(try dump(f) == before)
        // --yes: the letter leaves, the entry is queued byte for byte; nothing else changed.
        let untouched = try dump(f, without: [RedisKeys.queue, RedisKeys.deadletter])
        let done = try e.concord(["maintain", "deadletter", "requeue", "0", "--yes", "--operator", "test", "--output-dir", dir.path] + args)
        #expect(done.contains("1 applied, 0 skipped, 0 failed"), "\(done)")
        #expect(try f.redis.run("LRANGE", RedisKeys.queue, "0", "-1").array?.compactMap(\.string) == [good])
        #expect(try f.redis.run("LRANGE", RedisKeys.deadletter, "0", "-1").array?.compactMap(\.string) == [letter1, "plain text"])
        #expect(try dump(f, without: [RedisKeys.queue, RedisKeys.deadletter]) == untouched)
        let requeuePlan = try #require(try f.postgres.query("SELECT plan_id FROM concord_audit_log WHERE command = 'maintain deadletter requeue' ORDER BY at DESC LIMIT 1")[0].string(0))

        // Undo it: the entry leaves the queue, the letter returns.
        let undoFile = dir.appendingPathComponent("undo.json")
        try e.concord(["undo", requeuePlan, "--output", undoFile.path] + args)
        try e.concord(["apply", undoFile.path, "--yes", "--operator", "test", "--output-dir", dir.path] + args)
        #expect(try f.redis.run("LLEN", RedisKeys.queue).int == 0)
        #expect(Set(try f.redis.run("LRANGE", RedisKeys.deadletter, "0", "-1").array?.compactMap(\.string) ?? []) == [letter0, letter1, "plain text"])

        // Purge what is older than 30 days, archived first: the two old letters go, the text without a time stays.
        let archive = dir.appendingPathComponent("archive")
        let purged = try e.concord(["maintain", "deadletter", "purge", "--older-than", "30d", "--archive", archive.path, "--yes", "--operator", "test", "--output-dir", dir.path] + args)
        #expect(purged.contains("archived 2 letter(s)") && purged.contains("2 applied"), "\(purged)")
        #expect(try f.redis.run("LRANGE", RedisKeys.deadletter, "0", "-1").array?.compactMap(\.string) == ["plain text"])
        let archived = try #require(try FileManager.default.contentsOfDirectory(at: archive, includingPropertiesForKeys: nil).first)
        let snap = try Snapshot(directory: archived)
        var raws: [String] = []
        try snap.read("redis.deadletter") { raws.append($0["raw"]?.stringValue ?? "") }
        #expect(Set(raws) == [letter0, letter1])
        // The sync takes the requeued entry once it is queued again (the producer was fine all along).
        try f.redis.run("RPUSH", RedisKeys.queue, good)
        try SyncEngine(redis: f.redis, graph: f.graph, postgres: f.postgres).drain()
        #expect(try f.graph.run("MATCH (n:Node {id: 'dl-good'}) RETURN count(n)").records.first?[0].intValue == 1)
    }

    @Test func confirmationsOfEventsNoStreamHoldsArePruned() throws {
        let f = try AuditFixture(db: 47)
        _ = try f.simulate(seed: 9, runs: 5, eventsPerRun: 4)
        let runs = try f.graph.run("MATCH (r:WorkflowRun) RETURN r.id ORDER BY r.id").records.compactMap { $0[0].stringValue }
        // One run's stream was trimmed away; the graph keeps its events.
        try f.redis.run("DEL", RedisKeys.events(runs[0]))
        let trimmed = Set(try f.graph.run("MATCH (n:Node {workflow_id: $r}) RETURN n.id", parameters: ["r": .string(runs[0])]).records.compactMap { $0[0].stringValue })
        #expect(try f.audit(recheck: false).findings.isEmpty)
        let dir = try e.tempDir("prune")
        defer { try? FileManager.default.removeItem(at: dir) }
        let before = try dump(f, without: [RedisKeys.confirmed])
        Thread.sleep(forTimeInterval: 0.01)
        let out = try e.concord(["maintain", "confirmed", "prune", "--older-than", "1ms", "--yes", "--operator", "test", "--output-dir", dir.path] + e.storeArgs(f))
        #expect(out.contains("\(trimmed.count) confirmation(s)") && out.contains("\(trimmed.count) applied"), "\(out)")
        var left = Set<String>()
        _ = try f.redis.zrange(RedisKeys.confirmed) { left.formUnion($0.map(\.member)) }
        #expect(left.isDisjoint(with: trimmed) && left.count == 5 * 4 - trimmed.count)
        #expect(try dump(f, without: [RedisKeys.confirmed]) == before)
        #expect(try f.audit(recheck: false).findings.isEmpty)
    }

    @Test func finishedRunsAreArchivedTrimmedAndRestored() throws {
        let f = try AuditFixture(db: 48)
        _ = try f.simulate(seed: 10, runs: 6, eventsPerRun: 4)
        let runs = try f.graph.run("MATCH (r:WorkflowRun) RETURN r.id ORDER BY r.id").records.compactMap { $0[0].stringValue }
        // One run is still running: it stays.
        try f.redis.run("HSET", RedisKeys.status(runs[0]), "state", "running")
        try f.graph.run("MATCH (r:WorkflowRun {id: $r}) SET r.state = 'running'", parameters: ["r": .string(runs[0])])
        let dir = try e.tempDir("archive")
        defer { try? FileManager.default.removeItem(at: dir) }
        let before = try dump(f)
        let args = e.storeArgs(f)
        let dry = try e.concord(["maintain", "archive", "--older-than", "0s", "--archive", dir.path] + args)
        #expect(dry.contains("\(runs.count - 1) run(s) to trim") && dry.contains("not archived: \(runs[0])") == false, "\(dry)")
        #expect(try dump(f) == before && (try FileManager.default.contentsOfDirectory(atPath: dir.path)).isEmpty)
        let out = try e.concord(["maintain", "archive", "--older-than", "0s", "--archive", dir.path, "--yes", "--operator", "test", "--output-dir", dir.appendingPathComponent("reports").path] + args)
        #expect(out.contains("archived \(runs.count - 1) run(s)") && out.contains("0 skipped, 0 failed"), "\(out)")
        var streams: [String] = []
        try f.redis.scan(match: "workflow:*:events") { streams += $0 }
        #expect(streams == [RedisKeys.events(runs[0])])
        let archive = try #require(try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil).first { $0.lastPathComponent.hasPrefix("runs-") })
        let report = try f.audit(recheck: false)
        #expect(report.findings.isEmpty, "\(report.findings.map { "\($0.rule) \($0.key)" })")

        // One run back from the archive: its stream and status as they were.
        try e.concord(["maintain", "restore-run", runs[1], "--from", archive.path, "--yes", "--operator", "test", "--output-dir", dir.appendingPathComponent("reports").path] + args)
        let others = Set(runs.dropFirst(2).flatMap { [RedisKeys.events($0), RedisKeys.status($0)] })
        let restored = try dump(f, without: others)
        let expected = before.lines.filter { line in !others.contains { line.hasPrefix("redis \($0) ") } }
        #expect(restored.lines == expected, "\(restored.difference(StoreDump(lines: expected)))")
    }
}
