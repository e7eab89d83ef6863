import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordRepair
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// Data written the way other producers write it — JSON with spaces and
/// newlines, other key orders, `\u` escapes, floats written as `1.0`/`1e3`,
/// extra fields, big payloads, timestamps of the wrong type — straight into
/// the stores, not through Concord's write paths.
@Suite struct ForeignProducerTests {
    func stores(_ f: AuditFixture) throws -> RepairStores {
        RepairStores(postgres: try PostgresConnection(url: f.postgresURL), redis: try TestStores.redis(f.redisURL), graph: try f.concordGraph())
    }

    @Test func foreignJSONIsAuditedAndRepairedByteForByte() throws {
        let f = try AuditFixture(db: 20)
        let base = nowMilliseconds() - 3_600_000
        let runs = try ForeignProducer.produce(f, runs: ["fr_1", "fr_2", "fr_3", "fr_4"], base: base)
        let clean = try f.audit()
        #expect(clean.findings.isEmpty, "\(clean.findings.map { "\($0.rule) \($0.key): \($0.message)" })")

        // Faults, written the foreign way.
        let isoText = #"{ "id" : "fr_iso", "timestamp" : "2026-11-30T01:00:00Z", "type" : "message", "parentId" : "fr_1_e4", "payload" : {}, "metadata" : { "workflowId" : "fr_1", "userId" : "u", "source" : "s", "version" : "1" } }"#
        try f.redis.run("XADD", RedisKeys.events("fr_1"), "*", "event", isoText)
        let notJSON = "{\"id\": \"fr_trunc\", \"timestamp\": 17"
        let truncEntry = try #require(f.redis.run("XADD", RedisKeys.events("fr_2"), "*", "event", notJSON).string)
        let floatText = "{\"metadata\": {\"workflowId\": \"fr_3\", \"userId\": \"u\", \"source\": \"s\", \"version\": \"1\"}, \"id\": \"fr_float\", \"type\": \"message\", \"parentId\": \"fr_3_e4\", \"payload\": null, \"timestamp\": \(Double(nowMilliseconds()))}"
        let arrayText = "[ 1, 2, \"three\" ]"
        try f.redis.run("RPUSH", RedisKeys.queue, floatText)
        try f.redis.run("RPUSH", RedisKeys.queue, isoText.replacingOccurrences(of: "fr_iso", with: "fr_iso_q"))
        try f.redis.run("RPUSH", RedisKeys.queue, arrayText)
        // Stuck in processing: valid events, written with spaces, older than grace.
        var stuck: [String] = []
        for i in 0..<2 {
            let t = ForeignProducer.text(id: "fr_4_late\(i)", run: "fr_4", parent: i == 0 ? "fr_4_e4" : "fr_4_late0", ts: "\(base + 1000 + Int64(i))", type: "message", style: 0)
            try f.redis.run("XADD", RedisKeys.events("fr_4"), "*", "event", t)
            try f.redis.run("RPUSH", RedisKeys.processing, t)
            stuck.append(t)
        }
        // The graph's copy of a foreign event differs; another one is lost (and was confirmed).
        try f.graph.run("MATCH (n:Node {id: 'fr_1_e2'}) SET n.content = '{\"text\": \"edited\"}'")
        try f.graph.run("MATCH (n:Node {id: 'fr_2_e4'}) DETACH DELETE n")

        let audit = try f.audit()
        let found = LiveAuditTests.keys(audit.findings)
        let expected: Set<String> = [
            "event.malformed fr_iso", "event.malformed \(RedisKeys.events("fr_2"))#\(truncEntry)",
            "event.malformed fr_float", "event.malformed fr_iso_q", "event.malformed \(RedisKeys.queue)#2",
            "event.stuck-in-queue fr_4_late0", "event.stuck-in-queue fr_4_late1",
            "event.payload-mismatch fr_1_e2",
            "event.missing-in-graph fr_2_e4", "event.confirmed-not-persisted fr_2_e4",
        ]
        #expect(found == expected, "missed: \(expected.subtracting(found).sorted()), extra: \(found.subtracting(expected).sorted())")
        // The evidence carries the stored bytes, not a re-encoding.
        let raws = Set(audit.findings.filter { $0.rule == "event.malformed" }.compactMap { $0.evidence["raw"]?.stringValue })
        #expect(raws == [isoText, notJSON, floatText, isoText.replacingOccurrences(of: "fr_iso", with: "fr_iso_q"), arrayText])

        // The same data from a snapshot: the same findings, the same bytes.
        let snapDir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("foreign"))
        defer { try? FileManager.default.removeItem(at: snapDir) }
        _ = try Auditor.audit(live: try f.reader(), AuditRequest(rules: f.rules), recheck: false,
                              snapshot: try SnapshotWriter(directory: snapDir, datasets: AuditRequest(rules: f.rules).datasets))
        let fromSnapshot = try Auditor.audit(snapshot: try Snapshot(directory: snapDir), AuditRequest(rules: f.rules))
        #expect(LiveAuditTests.keys(fromSnapshot.findings) == expected)
        #expect(Set(fromSnapshot.findings.filter { $0.rule == "event.malformed" }.compactMap { $0.evidence["raw"]?.stringValue }) == raws)
        // Every entry's stored text comes back from the snapshot as `raw`, byte for byte — written verbatim
        // (JSON on one line), or escaped beside the canonical value (line breaks, not JSON).
        var entries = 0, same = 0, verbatim = 0
        let file = try String(contentsOf: snapDir.appendingPathComponent("redis.streams.ndjson"), encoding: .utf8)
        verbatim = file.split(separator: "\n").filter { $0.contains("\"\(SnapshotLine.verbatimKey)\"") }.count
        try Snapshot(directory: snapDir).read("redis.streams") { r in
            entries += 1
            guard let key = r["key"]?.stringValue, let entry = r["entry"]?.stringValue else { return }
            let stored = try RedisConnection.streamEntries(f.redis.run("XRANGE", key, entry, entry)).first?.field("event")
            if let stored, Array((r["raw"]?.stringValue ?? "").utf8) == stored { same += 1 }
        }
        #expect(entries == 24 && same == 24, "\(same) of \(entries) entries came back byte for byte")
        #expect(verbatim == 18, "\(verbatim) lines verbatim (the other 6 hold line breaks or are not JSON)")

        // Plan → apply: every dead-letter and requeue moves the entry it names.
        let plan = try Planner(stores: try stores(f), rules: f.rules).plan(report: audit.json(), file: "report")
        let results = try Applier(stores: try stores(f), plan: plan, operator: "test").apply()
        let moving = results.filter { $0.operation.action == "dead-letter" || $0.operation.action == "requeue" }
        #expect(moving.count == 7)
        for r in moving { #expect(r.outcome == .applied && r.reason == nil, "\(r.operation.action) \(r.operation.key): \(r.outcome) \(r.reason ?? "")") }
        #expect(!results.contains { $0.outcome == .skipped || $0.outcome == .failed }, "\(results.filter { $0.outcome != .applied }.map { "\($0.operation.action) \($0.reason ?? "")" })")
        let letters = try ForeignProducer.list(f.redis, RedisKeys.deadletter).compactMap { try? JSON.parse($0) }
        #expect(Set(letters.compactMap { $0["raw"]?.stringValue }) == raws)
        #expect(try ForeignProducer.list(f.redis, RedisKeys.processing).isEmpty)
        #expect(Set(try ForeignProducer.list(f.redis, RedisKeys.queue)) == Set(stuck))

        _ = try SyncEngine(redis: f.redis, graph: f.graph, postgres: f.postgres).drain()
        let again = try f.audit()
        #expect(again.findings.isEmpty, "\(again.findings.map { "\($0.rule) \($0.key): \($0.message)" })")
        #expect(try f.graph.run("MATCH (n:Node {id: 'fr_4_late1'})<-[:PARENT_OF]-(p:Node {id: 'fr_4_late0'}) RETURN count(n)").records.first?[0].intValue == 1)
        _ = runs
    }

    /// "It is not there any more" is skipped with the reason, never applied;
    /// an entry that is there but not byte for byte what the audit read is skipped too.
    @Test func anEntryThatLeftIsSkippedNotApplied() throws {
        let f = try AuditFixture(db: 21)
        let base = nowMilliseconds() - 3_600_000
        _ = try ForeignProducer.produce(f, runs: ["fs_1"], base: base)
        let queued = #"{ "id" : "fs_bad1", "timestamp" : "yesterday" }"#, queued2 = #"{"id": "fs_bad2", "timestamp": "today"}"#
        try f.redis.run("RPUSH", RedisKeys.queue, queued)
        try f.redis.run("RPUSH", RedisKeys.queue, queued2)
        let bad = #"{ "id": "fs_bad3", "timestamp": "now" }"#
        let entry = try #require(f.redis.run("XADD", RedisKeys.events("fs_1"), "*", "event", bad).string)
        let plan = try Planner(stores: try stores(f), rules: f.rules).plan(report: try f.audit().json(), file: "report")
        #expect(plan.operations.filter { $0.action == "dead-letter" }.count == 3)
        // Meanwhile: someone removes one queue entry and the stream entry, and rewrites the other entry canonically.
        try f.redis.run("LREM", RedisKeys.queue, 0, queued)
        try f.redis.run("LREM", RedisKeys.queue, 0, queued2)
        try f.redis.run("RPUSH", RedisKeys.queue, #"{"id":"fs_bad2","timestamp":"today"}"#)
        try f.redis.run("XDEL", RedisKeys.events("fs_1"), entry)
        let results = try Applier(stores: try stores(f), plan: plan, operator: "test").apply().filter { $0.operation.action == "dead-letter" }
        #expect(results.count == 3 && results.allSatisfy { $0.outcome == .skipped }, "\(results.map { "\($0.operation.key) \($0.outcome) \($0.reason ?? "")" })")
        #expect(results.allSatisfy { $0.reason?.contains("no longer") == true })
        #expect(try f.redis.run("LLEN", RedisKeys.deadletter).int == 0)
        #expect(try f.redis.run("LLEN", RedisKeys.queue).int == 1)  // the rewritten entry, untouched
        let journal = try f.postgres.query("SELECT count(*) FROM concord_repair_journal WHERE plan_id = $1 AND outcome = 'skipped'", [plan.planId])
        #expect(journal[0].int(0) == 3)
    }

    /// A rule whose findings the recheck cannot find again keeps them, marked, instead of counting them healed.
    @Test func findingsThatCannotBeRecheckedStayInTheReport() throws {
        let f = try AuditFixture(db: 22)
        try f.postgres.execute("""
            INSERT INTO draft_content (id, workflow_run_id, content_type, content, status, metadata)
            VALUES ('d1', 'run_x', 'comment', 'hi', 'draft', '{"userId": "u"}')
            """)
        try f.postgres.execute("""
            INSERT INTO draft_content_history (draft_id, version, status, content, changed_by) VALUES
            ('d1', 1, 'draft', 'hi', 'bot'), ('d1', 2, 'draft', 'hi!', 'bot'), ('d1', 3, 'draft', 'hi!!', 'alice')
            """)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("rules"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.copyItem(at: TestStores.repositoryRoot.appendingPathComponent("Rules/datasets.yaml"), to: dir.appendingPathComponent("datasets.yaml"))
        for (id, key) in [("x.by-bot-composite", "\"draft_id + '#v' + string(version)\""), ("x.by-bot", "draft_id")] {
            try Data("""
                version: 1
                id: \(id)
                severity: warning
                store: postgres
                description: history rows written by a bot
                check:
                  kind: filter
                  in:
                    - { dataset: postgres.draft_history, where: "changed_by == 'bot'", key: \(key) }
                repair: { action: manual }

                """.utf8).write(to: dir.appendingPathComponent("\(id).yaml"))
        }
        let rules = try RuleSet.load(directory: dir)
        #expect(rules.warnings.count == 1)
        let report = try Auditor.audit(live: try f.reader(), AuditRequest(rules: try rules.selecting(["x.by-bot-composite"])), recheck: true)
        #expect(Set(report.findings.map(\.key)) == ["d1#v1", "d1#v2"])
        #expect(report.findings.allSatisfy { $0.recheckUnavailable?.contains("lookup.id") == true })
        #expect(report.findings.allSatisfy { $0.json["recheck"]?["status"]?.stringValue == "unavailable" })
        #expect(report.recheck["unavailable"]?.intValue == 2 && report.recheck["healed"]?.intValue == 0)
        // The recheckable twin is re-read and confirmed.
        let twin = try Auditor.audit(live: try f.reader(), AuditRequest(rules: try rules.selecting(["x.by-bot"])), recheck: true)
        #expect(twin.findings.map(\.key) == ["d1"] && twin.findings[0].recheckUnavailable == nil)
        #expect(twin.recheck["unavailable"]?.intValue == 0 && twin.recheck["candidates"]?.intValue == 1)
    }

    /// Drafts written a few microseconds apart (another writer's batch): the
    /// newest is the newest to the microsecond, as PostgreSQL and the planner
    /// order them, not a tie broken by id.
    @Test func draftsAreOrderedToTheMicrosecond() throws {
        let f = try AuditFixture(db: 24)
        try f.postgres.execute("""
            INSERT INTO draft_content (id, workflow_run_id, content_type, content, status, metadata, created_at, updated_at) VALUES
            ('d_b', 'run_us', 'comment', 'old', 'discarded', '{}', '2026-11-29 05:42:26.123100+00', '2026-11-29 05:42:26.123100+00'),
            ('d_a', 'run_us', 'comment', 'new', 'draft', '{}', '2026-11-29 05:42:26.123900+00', '2026-11-29 05:42:26.123900+00')
            """)
        try f.redis.run("HSET", RedisKeys.status("run_us"), "state", "running", "contentStatus", "draft", "draftId", "d_a", "updatedAt", "1")
        let rules = try f.rules.selecting(["draft.status-mismatch-redis"])
        let report = try Auditor.audit(live: try f.reader(), AuditRequest(rules: rules), recheck: true)
        #expect(report.findings.isEmpty, "\(report.findings.map(\.message))")
        // The other way round, it is a finding, and the plan writes the newest draft.
        try f.redis.run("HSET", RedisKeys.status("run_us"), "contentStatus", "discarded", "draftId", "d_b")
        let mismatch = try Auditor.audit(live: try f.reader(), AuditRequest(rules: rules), recheck: true)
        #expect(mismatch.findings.map(\.key) == ["d_a"])
        let plan = try Planner(stores: try stores(f), rules: rules).plan(report: mismatch.json(), file: "report")
        #expect(plan.operations.map { $0.params["draftId"]?.stringValue } == ["d_a"])
    }
}
