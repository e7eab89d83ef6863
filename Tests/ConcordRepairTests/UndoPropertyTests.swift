import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
@testable import ConcordRepair
import ConcordSimulator
import ConcordStoreFixtures
import ConcordTestSupport
import Foundation
import Testing

/// Apply → undo → apply the undo, on data written the way other producers
/// write it (ForeignProducerTests' four styles, drafts by SQL, statuses with
/// fields missing), with faults of every kind — several on one record — and a
/// random part of the plan applied: every record of the three stores is back
/// as it was, lists in their order. Seeds are in the test names.
@Suite(.serialized) struct UndoPropertyTests {
    let repair = RepairTests()

    /// The simulator's SplitMix64 with the picks these tests make: the seed says everything a run did.
    struct Random {
        var g: SeededRandom
        init(state: UInt64) { g = SeededRandom(seed: state) }
        mutating func int(_ n: Int) -> Int { Int(g.next() % UInt64(n)) }
        mutating func chance(_ p: Double) -> Bool { Double(g.next() % 10_000) / 10_000 < p }
        mutating func pick<T>(_ a: [T]) -> T { a[int(a.count)] }
        mutating func shuffled<T>(_ a: [T]) -> [T] {
            var a = a
            for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, int(i + 1)) }
            return a
        }
    }

    /// Runs of six events each written as producers write them, synced; drafts and statuses as other services write them.
    static func produce(_ f: AuditFixture, seed: UInt64, runs n: Int) throws -> (runs: [String], events: [String: [(id: String, text: String)]]) {
        let base = nowMilliseconds() - 3_600_000
        let runs = (0..<n).map { "pp\(seed)_\($0)" }
        var events: [String: [(id: String, text: String)]] = [:]
        for (r, run) in runs.enumerated() {
            var parent = run
            for i in 0..<6 {
                let id = "\(run)_e\(i)"
                let t = ForeignProducer.text(id: id, run: run, parent: parent, ts: "\(base + Int64(r * 100 + i))",
                                                  type: ForeignProducer.types[i % 5], style: r + i + Int(seed % 4))
                try f.redis.run("XADD", RedisKeys.events(run), "*", "event", t)
                try f.redis.run("RPUSH", RedisKeys.queue, t)
                events[run, default: []].append((id, t))
                parent = id
            }
            // Another service's status: sometimes without contentStatus/draftId.
            if r % 2 == 0 {
                try f.redis.run("HSET", RedisKeys.status(run), "state", "completed", "updatedAt", "\(base)")
            } else {
                try f.redis.run("HSET", RedisKeys.status(run), "state", "completed", "contentStatus", "none", "updatedAt", "\(base)")
            }
        }
        _ = try SyncEngine(redis: f.redis, graph: f.graph, postgres: f.postgres).drain()
        // Drafts written by SQL, two minutes apart, some published.
        for (r, run) in runs.enumerated() where r % 3 == 0 {
            for d in 0..<2 {
                let status = d == 1 && r % 2 == 0 ? "published" : "draft"
                _ = try f.postgres.execute("""
                    INSERT INTO draft_content (id, workflow_run_id, content_type, content, status, metadata, created_at, updated_at)
                    VALUES ($1, $2, 'comment', $3, $4, $5::jsonb, now() - interval '2 hours' + $6 * interval '2 minutes', now() - interval '1 hour')
                    """, ["\(run)_d\(d)", run, "Draft \(d) of \(run):\n\n* caf\u{e9} \u{1F600}", status, #"{"repo": "o/r", "issue": 7}"#, "\(d)"])
                _ = try f.postgres.execute("""
                    INSERT INTO draft_content_history (draft_id, version, status, content, changed_by, changed_at)
                    VALUES ($1, 1, 'draft', $2, 'reviewer@example.com', now() - interval '2 hours')
                    """, ["\(run)_d\(d)", "first text"])
            }
            let newest = "\(run)_d1", status = r % 2 == 0 ? "published" : "draft"
            try f.redis.run("HSET", RedisKeys.status(run), "contentStatus", status, "draftId", newest)
            if status == "published" {
                try f.graph.run("MATCH (r:WorkflowRun {id: $id}) SET r.contentStatus = 'published', r.publishedAt = 1", parameters: ["id": .string(run)])
            }
        }
        return (runs, events)
    }

    /// Faults of every kind the catalog repairs, written straight into the stores, several on one record:
    /// the queue gets copies, stuck entries and garbage interleaved; a node is copied, rewritten and relinked;
    /// a run loses its node and gets other states and content statuses.
    static func injure(_ f: AuditFixture, _ rng: inout Random, runs: [String], events: [String: [(id: String, text: String)]]) throws {
        let all = runs.flatMap { events[$0]! }
        // The queue and processing: copies of an event (queued or processing), stuck entries, garbage — interleaved.
        var pushes: [(String, String)] = []
        for _ in 0..<3 {
            let e = rng.pick(all)
            for _ in 0..<(1 + rng.int(2)) { pushes.append((RedisKeys.queue, e.text)) }
            if rng.chance(0.5) { pushes.append((RedisKeys.processing, e.text)) }
        }
        for _ in 0..<2 {
            // Stuck in processing, missing from the graph (a sync that died mid-batch).
            let e = rng.pick(all)
            try f.graph.run("MATCH (n:Node {id: $id}) DETACH DELETE n", parameters: ["id": .string(e.id)])
            pushes.append((RedisKeys.processing, e.text))
            if rng.chance(0.5) { pushes.append((RedisKeys.queue, e.text)) }
        }
        for i in 0..<(1 + rng.int(3)) { pushes.append((rng.chance(0.7) ? RedisKeys.queue : RedisKeys.processing, rng.pick(["{\"id\": \"trunc\(i)", "[1, 2]", "not json \(i)", "{}"]))) }
        for (key, text) in rng.shuffled(pushes) { try f.redis.run("RPUSH", key, text) }
        // Garbage in a stream.
        for run in [rng.pick(runs), rng.pick(runs)] { try f.redis.run("XADD", RedisKeys.events(run), "*", "event", "{\"id\": \"half") }
        // Nodes: copied, rewritten, relinked — any of them on one node. (Graphs in the wild lack the unique constraint.)
        _ = try f.graph.dropUnique(label: "Node", property: "id")
        for _ in 0..<4 {
            let run = rng.pick(runs)
            let i = 1 + rng.int(5)
            let id = events[run]![i].id
            if rng.chance(0.6) {
                try f.graph.run("""
                    MATCH (p)-[:PARENT_OF]->(n:Node {id: $id}) WITH p, n LIMIT 1 CREATE (p)-[:PARENT_OF]->(c:Node) SET c = properties(n)
                    """, parameters: ["id": .string(id)])
            }
            if rng.chance(0.6) { try f.graph.run("MATCH (n:Node {id: $id}) SET n.content = '{\"text\": \"edited by someone\"}'", parameters: ["id": .string(id)]) }
            if rng.chance(0.6) {
                let other = events[run]![rng.int(i)].id
                try f.graph.run("MATCH (p)-[r:PARENT_OF]->(n:Node {id: $id}) DELETE r", parameters: ["id": .string(id)])
                try f.graph.run("MATCH (p:Node {id: $p}), (n:Node {id: $id}) CREATE (p)-[:PARENT_OF]->(n)", parameters: ["p": .string(other == id ? run : other), "id": .string(id)])
            }
        }
        // Lost nodes (their confirmations stay), lost confirmations.
        for _ in 0..<2 {
            let e = rng.pick(all)
            if rng.chance(0.5) { try f.graph.run("MATCH (n:Node {id: $id}) DETACH DELETE n", parameters: ["id": .string(e.id)]) }
            if rng.chance(0.5) { try f.redis.run("ZREM", RedisKeys.confirmed, e.id) }
        }
        // Runs: the node lost, another state in Redis, the content status apart — any of them on one run.
        for _ in 0..<3 {
            let run = rng.pick(runs)
            if rng.chance(0.4) { try f.graph.run("MATCH (r:WorkflowRun {id: $id}) DETACH DELETE r", parameters: ["id": .string(run)]) }
            if rng.chance(0.6) { try f.redis.run("HSET", RedisKeys.status(run), "state", rng.pick(["running", "failed"])) }
            if rng.chance(0.6) { try f.redis.run("HSET", RedisKeys.status(run), "contentStatus", "discarded", "draftId", "\(run)_d0") }
            if rng.chance(0.5) { try f.graph.run("MATCH (r:WorkflowRun {id: $id}) REMOVE r.contentStatus, r.publishedAt", parameters: ["id": .string(run)]) }
        }
    }

    /// The records an applied (journaled) operation wrote: what "one record" means for the pairs below.
    static func records(_ op: RepairOperation) -> Set<String> {
        var out = Set<String>()
        for image in op.images.arrayValue ?? [] {
            if let a = image["address"] {
                out.insert([a["redisKey"], a["member"], a["label"], a["value"], a["table"]].compactMap { $0?.stringValue }.joined(separator: " "))
            }
            for e in image["edits"]?.arrayValue ?? [] { if let k = e["key"]?.stringValue { out.insert(k) } }
        }
        switch op.action {
        case "confirm-event", "remove-confirmation": out.insert(RedisKeys.confirmed)
        case "set-redis-state", "set-redis-content": out.insert(RedisKeys.status(op.key))
        case "set-run-content": out.insert("WorkflowRun \(op.key)")
        default: break
        }
        return out
    }

    /// Pairs of actions that wrote one record, in one plan (sorted names joined by " + ").
    static func pairs(_ applied: [RepairOperation]) -> Set<String> {
        var byRecord: [String: Set<String>] = [:]
        for op in applied { for r in records(op) { byRecord[r, default: []].insert(op.action) } }
        var out = Set<String>()
        for actions in byRecord.values {
            let a = actions.sorted()
            for i in a.indices { for j in a.indices where j > i { out.insert("\(a[i]) + \(a[j])") } }
        }
        return out
    }

    /// The pairs of actions that can meet on one record — the queue lists; an event node; a run node; a status
    /// hash — every one of which the seeds below must hit. Others cannot meet: `set-run-published` plans only for a
    /// run node the graph holds (so never beside `create-run`), a confirmation is one member written by one action.
    static let requiredPairs: Set<String> = [
        "dead-letter + dedupe-queue", "dead-letter + requeue", "dedupe-queue + requeue",
        "merge-nodes + relink-parent", "merge-nodes + rewrite-node", "relink-parent + rewrite-node", "relink-parent + replay-event",
        "create-run + replay-event", "create-run + relink-parent", "set-redis-content + set-redis-state",
    ]

    /// A fixture of seed `seed`: producer-shaped data, injured, audited and planned; the generator as the faults left it.
    static func faulty(seed: UInt64, db: Int) throws -> (f: AuditFixture, plan: RepairPlan, rng: Random) {
        let f = try AuditFixture(db: db)
        var rng = Random(state: seed)
        let (runs, events) = try produce(f, seed: seed, runs: 10)
        try injure(f, &rng, runs: runs, events: events)
        return (f, try RepairTests().plan(f, try f.audit()), rng)
    }

    /// One seed: produce, injure, plan, apply a random part, undo from the journal, apply the undo: the dumps agree.
    static func roundTrip(seed: UInt64, db: Int) throws -> Set<String> {
        let (f, full, generator) = try faulty(seed: seed, db: db)
        var rng = generator
        let repair = RepairTests()
        // A random part of the plan (each operation kept with probability 0.85).
        let kept = full.operations.filter { _ in rng.chance(0.85) }
        let plan = RepairPlan(planId: "prop-\(seed)", sourceAuditId: full.sourceAuditId, createdAt: Date(), rulesDigest: full.rulesDigest, operations: kept)
        let before = try StoreDump(f)
        let stores = try repair.stores(f)
        let results = try Applier(stores: stores, plan: plan, operator: "test").apply()
        let failed = results.filter { $0.outcome == .failed }
        #expect(failed.isEmpty, "seed \(seed): \(failed.map { "\($0.operation.action) \($0.operation.key): \($0.reason ?? "")" })")
        let applied = results.filter { $0.outcome == .applied && $0.reason == nil }.map(\.operation)
        let undo = try RepairPlan.undo(planId: plan.planId, journal: stores.postgres, rulesDigest: f.rules.digest)
        let manual = undo.operations.filter { $0.store == .manual }
        #expect(manual.isEmpty, "seed \(seed): \(manual.map { $0.params["reason"]?.stringValue ?? "" })")
        let undone = try Applier(stores: try repair.stores(f), plan: undo, operator: "test").apply()
        let notApplied = undone.filter { $0.outcome != .applied }
        #expect(notApplied.isEmpty, "seed \(seed): \(notApplied.map { "\($0.operation.action) \($0.operation.key): \($0.outcome) \($0.reason ?? "")" })")
        let (gone, new) = before.difference(try StoreDump(f))
        #expect(gone.isEmpty && new.isEmpty, "seed \(seed): lost \(gone.joined(separator: "\n")) — gained \(new.joined(separator: "\n"))")
        return pairs(applied)
    }

    static let seeds: [UInt64] = [11, 29, 47, 83, 131, 197, 263, 331, 409, 487]

    @Test(arguments: zip(seeds, 100..<110))
    func applyUndoApplyRestoresEveryRecord(seed: UInt64, db: Int) throws {
        let pairs = try Self.roundTrip(seed: seed, db: db)
        Self.coverage.withLock { $0.formUnion(pairs); $0.insert("seed \(seed)") }
    }

    static let coverage = Locked<Set<String>>([])

    /// Runs after the seeds (the suite is serialized): together they hit every pair of actions that can meet on one record.
    @Test func theSeedsHitEveryPairOfActionsOnOneRecord() throws {
        var seen = Self.coverage.withLock { $0 }
        if seen.filter({ $0.hasPrefix("seed ") }).count < Self.seeds.count {
            // Run on its own (a filter chose this test alone): the seeds' pairs, without their assertions.
            for (seed, db) in zip(Self.seeds, 100..<110) { seen.formUnion(try Self.roundTrip(seed: seed, db: db)) }
        }
        let missing = Self.requiredPairs.subtracting(seen)
        #expect(missing.isEmpty, "no seed made \(missing.sorted()); seen: \(seen.filter { !$0.hasPrefix("seed ") }.sorted())")
    }

    /// A fixture with producer-shaped data and faults (seed `seed`), its whole plan applied: the dump before it, the plan.
    static func applied(seed: UInt64, db: Int) throws -> (f: AuditFixture, before: StoreDump, plan: RepairPlan) {
        let (f, plan, _) = try faulty(seed: seed, db: db)
        let repair = RepairTests()
        let before = try StoreDump(f)
        let results = try Applier(stores: try repair.stores(f), plan: plan, operator: "test").apply()
        #expect(!results.contains { $0.outcome == .failed }, "seed \(seed)")
        return (f, before, plan)
    }

    /// A producer pushes to the queue and appends to streams while the undo runs: every entry it wrote is still
    /// there, the queue is otherwise exactly as before the plan (in order), a stream it wrote that the plan had
    /// changed is named as skipped, and everything else is restored.
    @Test func aProducerWritingDuringTheUndoKeepsItsWritesSeed61() throws {
        let (f, before, plan) = try Self.applied(seed: 61, db: 110)
        let stores = try RepairTests().stores(f)
        let undo = try RepairPlan.undo(planId: plan.planId, journal: stores.postgres, rulesDigest: f.rules.digest)
        // The streams the undo puts back whole (a dead-lettered entry's stream), and one it does not touch.
        let putStreams = Set(undo.operations.filter { $0.action == "put-record" && $0.key.hasSuffix(":events") }.map(\.key))
        try #require(!putStreams.isEmpty, "the plan dead-lettered no stream entry")
        let quiet = RedisKeys.events("pp61_9")
        let written = Locked<[(key: String, text: String)]>([])
        let producer = try TestStores.redis(f.redisURL)
        @Sendable func write(_ i: Int) throws {
            let key = i % 3 == 0 ? RedisKeys.queue : (i % 3 == 1 ? putStreams.sorted()[i % putStreams.count] : quiet)
            let text = ForeignProducer.text(id: "live_\(i)", run: "pp61_9", parent: "pp61_9_e5", ts: "\(nowMilliseconds())", type: "message", style: i)
            if key == RedisKeys.queue { try producer.run("RPUSH", key, text) } else { try producer.run("XADD", key, "*", "event", text) }
            written.withLock { $0.append((key, text)) }
        }
        // Before the undo starts, then all through it.
        for i in 0..<6 { try write(i) }
        let stop = Locked(false)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            var i = 6
            while !stop.withLock({ $0 }) {
                try? write(i)
                i += 1
                Thread.sleep(forTimeInterval: 0.002)
            }
            done.signal()
        }
        let results = try Applier(stores: try RepairTests().stores(f), plan: undo, operator: "test").apply()
        stop.withLock { $0 = true }
        done.wait()
        let ours = written.withLock { $0 }
        #expect(ours.count > 10, "the producer wrote \(ours.count) entries")

        let skipped = results.filter { $0.outcome != .applied }
        #expect(Set(skipped.map(\.operation.key)) == putStreams, "\(skipped.map { "\($0.operation.action) \($0.operation.key): \($0.reason ?? "")" })")
        #expect(skipped.allSatisfy { $0.outcome == .skipped && $0.reason?.contains("changed since") == true })
        // The queue: the producer's entries, in the order pushed, and otherwise the queue from before the plan, in order.
        let queue = try ForeignProducer.list(f.redis, RedisKeys.queue)
        let pushed = ours.filter { $0.key == RedisKeys.queue }.map(\.text)
        #expect(queue.filter { pushed.contains($0) } == pushed)
        let beforeQueue = before.lines.first { $0.hasPrefix("redis \(RedisKeys.queue) list ") }.map { String($0.dropFirst("redis \(RedisKeys.queue) list ".count)) }
        let rest = JSON.array(queue.filter { !pushed.contains($0) }.map(JSON.string)).encoded()
        #expect(rest == (beforeQueue ?? "[]"), "the queue, less the producer's entries, is not the queue from before the plan")
        // Every stream entry the producer wrote is there.
        for key in Set(ours.map(\.key)) where key != RedisKeys.queue {
            let entries = try RedisConnection.streamEntries(try f.redis.run("XRANGE", key, "-", "+")).map { String(decoding: $0.field("event") ?? [], as: UTF8.self) }
            #expect(ours.filter { $0.key == key }.allSatisfy { entries.contains($0.text) }, "\(key) lost a producer's entry")
        }
        // Everything else is as before the plan.
        let touched = Set([RedisKeys.queue, quiet]).union(putStreams)
        let (gone, new) = before.difference(try StoreDump(f, skipping: touched))
        let beforeRest = before.lines.filter { line in !touched.contains { line.hasPrefix("redis \($0) ") } }
        #expect(gone.filter { beforeRest.contains($0) }.isEmpty && new.isEmpty, "lost \(gone.filter { beforeRest.contains($0) }) — gained \(new)")
    }

    /// `concord apply UNDO --yes` killed (SIGKILL) at random moments, then run to the end: the same end state.
    @Test func theUndoKilledAndRunAgainEndsTheSameSeed73() throws {
        let (f, before, plan) = try Self.applied(seed: 73, db: 111)
        let e = EmergencyTests()
        let dir = try e.tempDir("undo-kill")
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("undo.json")
        try e.concord(["undo", plan.planId, "--output", file.path] + e.storeArgs(f))
        let undo = try RepairPlan(file: file.path)
        #expect(undo.ordered && undo.operations.count > 20, "\(undo.operations.count) operations")
        let args = ["apply", file.path, "--yes", "--batch-size", "1", "--operator", "killer", "--output-dir", dir.path] + e.storeArgs(f)
        let kills = try TestStores.killRepeatedly(EmergencyTests.concord, args, times: 4, window: 0.05...0.5)
        let journaled = try f.postgres.query("SELECT count(*) FROM concord_repair_journal WHERE plan_id = $1", [undo.planId])[0].int(0) ?? 0
        let last = try TestStores.run(EmergencyTests.concord, args)
        #expect(last.status == 0, "after \(kills) kill(s): \(String(decoding: last.stdout, as: UTF8.self)) \(last.stderr)")
        let (gone, new) = before.difference(try StoreDump(f))
        #expect(gone.isEmpty && new.isEmpty, "after \(kills) kill(s): lost \(gone.joined(separator: "\n")) — gained \(new.joined(separator: "\n"))")
        print("undo of \(undo.operations.count) operations applied through \(kills) SIGKILL(s), \(journaled) journaled before the last run")
    }
}
