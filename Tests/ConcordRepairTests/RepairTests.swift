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

/// Audit → plan → apply → audit again, on real stores.
@Suite struct RepairTests {
    static var concord: String { TestStores.concord }

    func stores(_ f: AuditFixture) throws -> RepairStores {
        RepairStores(postgres: try PostgresConnection(url: f.postgresURL), redis: try TestStores.redis(f.redisURL), graph: try f.concordGraph())
    }

    /// The report's JSON, as `concord plan` reads it.
    func plan(_ f: AuditFixture, _ report: AuditReport) throws -> RepairPlan {
        try Planner(stores: try stores(f), rules: f.rules).plan(report: report.json(), file: "report")
    }

    /// Every record of a snapshot, by dataset and identity → its canonical text.
    func records(_ dir: URL) throws -> [String: [String: String]] {
        let snap = try Snapshot(directory: dir)
        var out: [String: [String: String]] = [:]
        for d in snap.datasets {
            var seen: [String: Int] = [:]
            try snap.read(d) { r in
                var id: String
                switch d {
                case "graph.edges": id = "\(r["from"]?["id"]?.stringValue ?? "")>\(r["to"]?["id"]?.stringValue ?? "")"
                case "redis.streams": id = "\(r["key"]?.stringValue ?? "")#\(r["entry"]?.stringValue ?? "")"
                case "redis.queue", "redis.processing", "redis.deadletter": id = r["event"]?["id"]?.stringValue ?? r["raw"]?.stringValue ?? r.encoded()
                case "redis.confirmed": id = r["member"]?.stringValue ?? ""
                case "redis.status": id = r["workflowId"]?.stringValue ?? ""
                case "postgres.draft_history": id = "\(r["draft_id"]?.stringValue ?? "")#\(r["version"]?.encoded() ?? "")"
                default: id = r["id"]?.stringValue ?? r.encoded()
                }
                let n = seen[id, default: 0]
                seen[id] = n + 1
                if n > 0 { id += "#copy\(n)" }
                out[d, default: [:]][id] = r.encoded()
            }
        }
        return out
    }

    @Test(arguments: [(GraphTransport.falkordb, 16), (.bolt, 51)] as [(GraphTransport, Int)])
    func everyRepairableFaultIsRepairedAndNothingElseChanges(transport: GraphTransport, db: Int) throws {
        let f = try AuditFixture(db: db, transport: transport)
        let seed = UInt64.random(in: 1...1_000_000)
        let injector = try f.simulate(seed: seed, runs: 80, eventsPerRun: 8, faults: "all=1")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("repair"))
        defer { try? FileManager.default.removeItem(at: tmp) }
        let before = tmp.appendingPathComponent("before"), dry = tmp.appendingPathComponent("dry"), after = tmp.appendingPathComponent("after")

        let audit = try f.audit(snapshot: before)
        #expect(audit.findings.count == injector.truth.count)
        let plan = try plan(f, audit)
        let manual = Set(plan.operations.filter { $0.store == .manual }.map { "\($0.rule) \($0.key)" })

        // The dry run (the CLI's default) changes nothing.
        let planFile = tmp.appendingPathComponent("plan.json")
        try Data(plan.encoded().utf8).write(to: planFile)
        let storeArgs = ["--postgres", f.postgresURL, "--redis", f.redisURL] + f.graphArgs
        let dryRun = try TestStores.run(Self.concord, ["apply", planFile.path] + storeArgs)
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        #expect(String(decoding: dryRun.stdout, as: UTF8.self).contains("manual: \(manual.count) step(s)"))
        _ = try f.audit(recheck: false, snapshot: dry)
        #expect(try records(dry) == records(before))

        let applied = try TestStores.run(Self.concord, ["apply", planFile.path, "--yes", "--operator", "test", "--output-dir", tmp.path] + storeArgs)
        #expect(applied.status == 0, "\(String(decoding: applied.stdout, as: UTF8.self)) \(applied.stderr)")
        // Production's sync drains what the repair requeued.
        try SyncEngine(redis: f.redis, graph: f.graph, postgres: f.postgres).drain()

        let again = try f.audit(snapshot: after)
        let remaining = Set(again.findings.map { "\($0.rule) \($0.key)" })
        #expect(remaining.isSubset(of: manual), "seed \(seed): not repaired: \(remaining.subtracting(manual).sorted())")
        let repairable = Set(plan.operations.filter { $0.store != .manual }.map(\.rule))
        #expect(repairable.count >= 14, "\(repairable.sorted())")
        #expect(!again.findings.contains { repairable.contains($0.rule) && !manual.contains("\($0.rule) \($0.key)") })

        // Nothing outside the plan's records changed: every record that differs belongs to an operation's key or run.
        var touched: Set<String> = []
        for op in plan.operations where op.store != .manual {
            touched.insert(op.key)
            for k in ["id", "run", "parentId", "workflowId"] { if let s = op.params[k]?.stringValue { touched.insert(s) } }
            if let e = op.params["event"] { touched.insert(e["id"]?.stringValue ?? ""); touched.insert(e["metadata"]?["workflowId"]?.stringValue ?? "") }
            if let raw = op.params["raw"]?.stringValue, let id = RepairStores.eventId(raw) { touched.insert(id) }
        }
        let (b, a) = (try records(before), try records(after))
        for dataset in Set(b.keys).union(a.keys) where dataset != "redis.deadletter" {
            let old = b[dataset] ?? [:], new = a[dataset] ?? [:]
            for id in Set(old.keys).union(new.keys) where old[id] != new[id] {
                let base = id.components(separatedBy: "#copy")[0]
                let parts = Set(base.split(whereSeparator: { ">#".contains($0) }).map(String.init) + [base])
                let record = new[id] ?? old[id] ?? ""
                let run = (try? JSON.parse(record)).flatMap { $0["workflow_id"]?.stringValue ?? $0["workflowId"]?.stringValue ?? $0["to"]?["workflow_id"]?.stringValue }
                let queueDrained = (dataset == "redis.queue" || dataset == "redis.processing" || dataset == "redis.confirmed" || dataset == "graph.nodes" || dataset == "graph.edges")
                    && injector.truth.contains { $0.rule == "event.stuck-in-queue" || $0.rule == "event.duplicate-in-queue" ? base.hasPrefix($0.key) || base.contains($0.key) : false }
                #expect(!parts.isDisjoint(with: touched) || run.map(touched.contains) == true || queueDrained,
                        "\(dataset) \(id) changed outside the plan: \(old[id] ?? "(none)") → \(new[id] ?? "(none)")")
            }
        }
        let deadLetters = try f.redis.run("LLEN", RedisKeys.deadletter).int ?? -1
        #expect(deadLetters == Int64(plan.operations.filter { $0.action == "dead-letter" }.count))

        // The journal holds each operation once, with its outcome and operator.
        let journal = try f.postgres.query("SELECT outcome, count(*) FROM concord_repair_journal WHERE plan_id = $1 AND operator = 'test' GROUP BY outcome", [plan.planId])
        let counts = Dictionary(uniqueKeysWithValues: journal.rows.map { ($0.string(0)!, Int($0.int(1)!)) })
        #expect(counts["applied"] == plan.operations.count - manual.count && counts["manual"] == manual.count && counts["skipped"] == nil)

        // Applying again repeats nothing.
        let rerun = try Applier(stores: try stores(f), plan: plan, operator: "test").apply()
        #expect(rerun.allSatisfy { $0.reason == "journaled earlier" })
    }

    /// Apply a plan, then `concord undo` it: for the actions with an inverse (state and content
    /// fixes, confirmations both ways, requeues), all three stores are back to their pre-apply dumps;
    /// a record changed since is skipped, the rest undone.
    @Test(arguments: [(GraphTransport.falkordb, 26), (.bolt, 53)] as [(GraphTransport, Int)])
    func undoRestoresThePreApplyStores(transport: GraphTransport, db: Int) throws {
        let f = try AuditFixture(db: db, transport: transport)
        let seed = UInt64.random(in: 1...1_000_000)
        _ = try f.simulate(seed: seed, runs: 40, eventsPerRun: 6, faults: "run-state-mismatch=2,persisted-not-confirmed=1,redis-status-mismatch=1,"
                           + "published-not-synced=1,graph-published-without-draft=1,confirmed-not-persisted=1,stuck-in-queue=1")
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("undo"))
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let before = tmp.appendingPathComponent("before"), after = tmp.appendingPathComponent("after")
        let plan = try plan(f, try f.audit(snapshot: before))
        #expect(!plan.operations.contains { $0.store == .manual }, "\(plan.operations.filter { $0.store == .manual }.map(\.rule))")
        let planFile = tmp.appendingPathComponent("plan.json"), undoFile = tmp.appendingPathComponent("undo.json")
        try Data(plan.encoded().utf8).write(to: planFile)
        let storeArgs = ["--postgres", f.postgresURL, "--redis", f.redisURL] + f.graphArgs
        let applied = try TestStores.run(Self.concord, ["apply", planFile.path, "--yes", "--operator", "test", "--output-dir", tmp.path] + storeArgs)
        #expect(applied.status == 0, "\(String(decoding: applied.stdout, as: UTF8.self)) \(applied.stderr)")

        // Someone sets one run's state by hand after the repair: that inverse must not overwrite it.
        let touched = try #require(plan.operations.first { $0.action == "set-redis-state" })
        try f.redis.run("HSET", RedisKeys.status(touched.key), "state", "timedOut")
        let undo = try TestStores.run(Self.concord, ["undo", plan.planId, "--output", undoFile.path] + storeArgs)
        #expect(undo.status == 0, "\(undo.stderr)")
        let undoPlan = try RepairPlan(file: undoFile.path)
        #expect(undoPlan.operations.count == plan.operations.count && !undoPlan.operations.contains { $0.store == .manual })
        let undone = try TestStores.run(Self.concord, ["apply", undoFile.path, "--yes", "--operator", "test", "--output-dir", tmp.path] + storeArgs)
        #expect(undone.status == 1)  // one skipped
        let out = String(decoding: undone.stdout, as: UTF8.self)
        #expect(out.contains("\(plan.operations.count - 1) applied, 1 skipped, 0 failed"), "\(out)")
        try f.redis.run("HSET", RedisKeys.status(touched.key), "state", touched.before["state"]?.stringValue ?? "")
        _ = try f.audit(recheck: false, snapshot: after)
        let (b, a) = (try records(before), try records(after))
        for dataset in Set(b.keys).union(a.keys) where dataset != "redis.deadletter" {
            let old = b[dataset] ?? [:], new = a[dataset] ?? [:]
            for id in Set(old.keys).union(new.keys) where old[id] != new[id] {
                Issue.record("seed \(seed): \(dataset) \(id) differs after undo: \(old[id] ?? "(none)") → \(new[id] ?? "(none)")")
            }
        }
    }

    @Test func aRecordChangedSinceThePlanIsSkippedTheRestApplied() throws {
        let f = try AuditFixture(db: 17)
        let seed = UInt64.random(in: 1...1_000_000)
        _ = try f.simulate(seed: seed, runs: 30, eventsPerRun: 6, faults: "run-state-mismatch=2,persisted-not-confirmed=2")
        let plan = try plan(f, try f.audit())
        #expect(plan.operations.count == 4)
        // Someone fixes one run's state by hand (to another value) after the plan was made.
        let changed = try #require(plan.operations.first { $0.action == "set-redis-state" })
        try f.redis.run("HSET", RedisKeys.status(changed.key), "state", "timedOut")
        let results = try Applier(stores: try stores(f), plan: plan, operator: "test").apply()
        let skipped = results.filter { $0.outcome == .skipped }
        #expect(skipped.map(\.operation.id) == [changed.id])
        #expect(skipped.first?.reason?.contains("timedOut") == true)
        #expect(results.filter { $0.outcome == .applied }.count == 3)
        #expect(try f.redis.run("HGET", RedisKeys.status(changed.key), "state").string == "timedOut")  // not forced
    }

    @Test func damagedStaleOrForeignPlansAreRefused() throws {
        let f = try AuditFixture(db: 18)
        _ = try f.simulate(seed: 5, runs: 10, eventsPerRun: 5, faults: "persisted-not-confirmed=1")
        var plan = try plan(f, try f.audit())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("plans"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let storeArgs = ["--postgres", f.postgresURL, "--redis", f.redisURL] + f.graphArgs

        let good = dir.appendingPathComponent("good.json")
        try Data(plan.encoded().utf8).write(to: good)
        var bytes = [UInt8](try Data(contentsOf: good))
        let i = bytes.firstIndex(of: UInt8(ascii: "1"))!  // one digit somewhere in the content
        bytes[i] = UInt8(ascii: "2")
        let tampered = dir.appendingPathComponent("tampered.json")
        try Data(bytes).write(to: tampered)
        let t = try TestStores.run(Self.concord, ["apply", tampered.path, "--yes"] + storeArgs)
        #expect(t.status == 2 && t.stderr.contains("checksum"))

        let foreign = dir.appendingPathComponent("foreign.json")
        try Data(String(decoding: try Data(contentsOf: good), as: UTF8.self).replacingOccurrences(of: "concord.plan/1", with: "concord.plan/9").utf8).write(to: foreign)
        #expect(try TestStores.run(Self.concord, ["apply", foreign.path] + storeArgs).status == 2)

        plan.createdAt = Date().addingTimeInterval(-3 * 86_400)
        let stale = dir.appendingPathComponent("stale.json")
        try Data(plan.encoded().utf8).write(to: stale)
        let s = try TestStores.run(Self.concord, ["apply", stale.path, "--yes"] + storeArgs)
        #expect(s.status == 2 && s.stderr.contains("--max-age"))
        let forced = try TestStores.run(Self.concord, ["apply", stale.path, "--yes", "--force-stale", "--output-dir", dir.path] + storeArgs)
        #expect(forced.status == 0, "\(forced.stderr)")
    }

    /// `concord apply` SIGKILLed at random points in a large plan, then run
    /// again until it completes: every operation applied once, journal consistent.
    @Test(arguments: [(GraphTransport.falkordb, 19), (.bolt, 52)] as [(GraphTransport, Int)])
    func applierKilledAtRandomPointsResumes(transport: GraphTransport, db: Int) throws {
        let f = try AuditFixture(db: db, transport: transport)
        _ = try f.simulate(seed: 77, runs: 150, eventsPerRun: 10)
        // 1,200 unconfirmed events and 60 events missing from the graph.
        var ids: [String] = []
        try f.redis.zrange(RedisKeys.confirmed) { ids += $0.map(\.member) }
        ids.shuffle()
        for id in ids.prefix(1_200) { try f.redis.run("ZREM", RedisKeys.confirmed, id) }
        for id in ids.suffix(60) {
            try f.graph.run("MATCH (n:Node {id: $id}) DETACH DELETE n", parameters: ["id": .string(id)])
            try f.redis.run("ZREM", RedisKeys.confirmed, id)
        }
        let plan = try plan(f, try f.audit())
        #expect(plan.operations.count >= 1_200)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("bigplan") + ".json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(plan.encoded().utf8).write(to: file)
        let args = ["apply", file.path, "--yes", "--batch-size", "20", "--operator", "killer", "--output-dir", FileManager.default.temporaryDirectory.path,
                    "--postgres", f.postgresURL, "--redis", f.redisURL] + f.graphArgs
        let kills = try TestStores.killRepeatedly(Self.concord, args, times: 4, window: 0.2...0.9)
        let last = try TestStores.run(Self.concord, args)
        #expect(last.status == 0, "\(last.stderr)")
        let journal = try f.postgres.query("SELECT count(*), count(DISTINCT operation_id), sum(CASE WHEN outcome = 'applied' THEN 1 ELSE 0 END) FROM concord_repair_journal WHERE plan_id = $1", [plan.planId])
        #expect(journal[0].int(0) == Int64(plan.operations.count) && journal[0].int(1) == Int64(plan.operations.count))
        #expect(journal[0].int(2) == Int64(plan.operations.count))
        #expect(try f.audit(recheck: false).findings.isEmpty)
        #expect(try f.redis.run("ZCARD", RedisKeys.confirmed).int == Int64(ids.count))
        print("applier killed \(kills) times, then completed \(plan.operations.count) operations")
    }
}
