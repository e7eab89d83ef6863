import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation

/// Executes a plan: per store, in transactions, each operation's
/// precondition checked right before it is written; the graph first, then
/// Redis (so no confirmation ever runs ahead of the graph write it
/// confirms), then PostgreSQL. Every outcome goes to
/// `concord_repair_journal`; a re-run skips what the journal records as
/// applied, and an operation whose record is already in its planned state
/// counts as applied, so a crash between a store's commit and the journal
/// write repeats nothing.
public final class Applier {
    public enum Outcome: String, Sendable { case applied, skipped, failed, manual }

    public struct Result: Sendable {
        public var operation: RepairOperation
        public var outcome: Outcome
        public var reason: String?
    }

    let stores: RepairStores
    let plan: RepairPlan
    let operator_: String
    public var batchSize = 500
    /// Called after each batch is journaled (progress, and the tests' crash points).
    public var afterBatch: ((Int) -> Void)?

    public init(stores: RepairStores, plan: RepairPlan, operator: String) {
        self.stores = stores
        self.plan = plan
        operator_ = `operator`
    }

    /// Phase of an operation: graph 0, Redis 1, PostgreSQL 2, manual 3.
    public static func phase(_ op: RepairOperation) -> Int {
        switch op.store {
        case "graph": return ["create-run": 0, "replay-event": 1, "merge-nodes": 2, "relink-parent": 3][op.action] ?? 4
        case "redis": return 10
        case "postgres": return 20
        default: return 30
        }
    }

    /// Outcomes already journaled for this plan, by operation id.
    public func journal() throws -> [String: Outcome] {
        var out: [String: Outcome] = [:]
        for r in try stores.postgres.query("SELECT operation_id, outcome FROM concord_repair_journal WHERE plan_id = $1", [plan.planId]).rows {
            out[r.string(0)!] = Outcome(rawValue: r.string(1)!)
        }
        return out
    }

    /// Applies every operation not yet journaled as applied (or manual).
    public func apply() throws -> [Result] {
        let done = try journal()
        var results: [Result] = []
        let pending = plan.operations.filter { op in
            if let o = done[op.id], o == .applied || o == .manual {
                results.append(Result(operation: op, outcome: o, reason: "journaled earlier"))
                return false
            }
            return true
        }
        var batch = 0
        func record(_ rs: [Result]) throws {
            guard !rs.isEmpty else { return }
            try writeJournal(rs)
            results += rs
            batch += 1
            afterBatch?(batch)
        }
        let groups = Dictionary(grouping: pending) { Self.phase($0) }
        for phase in groups.keys.sorted() {
            let ops = groups[phase]!
            var i = 0
            while i < ops.count {
                let chunk = Array(ops[i..<min(i + batchSize, ops.count)])
                i += chunk.count
                try record(try applyBatch(chunk))
            }
        }
        return results
    }

    func applyBatch(_ ops: [RepairOperation]) throws -> [Result] {
        var out: [Result] = []
        let replays = ops.filter { $0.action == "replay-event" }
        if !replays.isEmpty { out += try replayEvents(replays) }
        let confirms = ops.filter { $0.action == "confirm-event" }
        if !confirms.isEmpty { out += try confirmEvents(confirms) }
        for op in ops where op.store == "manual" {
            out.append(Result(operation: op, outcome: .manual, reason: op.params["reason"]?.stringValue))
        }
        for op in ops where op.action != "replay-event" && op.action != "confirm-event" && op.store != "manual" {
            do {
                out.append(try applyOne(op))
            } catch let e as ConcordError where e.code.exitCode == 3 {
                throw e  // a store is down: stop, the journal says where
            } catch {
                out.append(Result(operation: op, outcome: .failed, reason: "\(error)"))
            }
        }
        return out
    }

    func writeJournal(_ rs: [Result]) throws {
        var sql = "INSERT INTO concord_repair_journal (plan_id, operation_id, finding_id, store, action, outcome, reason, operator) VALUES "
        var params: [String?] = []
        for (i, r) in rs.enumerated() {
            let b = i * 8
            sql += (i == 0 ? "" : ", ") + "($\(b + 1), $\(b + 2), $\(b + 3), $\(b + 4), $\(b + 5), $\(b + 6), $\(b + 7), $\(b + 8))"
            params += [plan.planId, r.operation.id, r.operation.findingId, r.operation.store, r.operation.action, r.outcome.rawValue, r.reason, operator_]
        }
        sql += " ON CONFLICT (plan_id, operation_id) DO UPDATE SET outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, operator = EXCLUDED.operator, at = now()"
        try stores.postgres.transaction { _ = try stores.postgres.execute(sql, params.map { $0 as any PostgresParameter }) }
    }

    // MARK: Graph

    /// Cypher conditions that `variable`'s properties still hold `expected`
    /// (null: the property is absent), with their parameters: the
    /// precondition checked by the writing statement itself.
    static func unchanged(_ variable: String, _ expected: [String: JSON], prefix: String) -> (String, [String: GraphValue]) {
        var conds: [String] = []
        var params: [String: GraphValue] = [:]
        for (i, (k, v)) in expected.sorted(by: { $0.key < $1.key }).enumerated() {
            if v.isNull {
                conds.append("\(variable).\(k) IS NULL")
            } else {
                conds.append("\(variable).\(k) = $\(prefix)\(i)")
                params["\(prefix)\(i)"] = GraphValue(v)
            }
        }
        return (conds.isEmpty ? "true" : conds.joined(separator: " AND "), params)
    }

    /// Replays events from the stream: those whose node is still absent, in one MERGE batch (the sync's own write).
    func replayEvents(_ ops: [RepairOperation]) throws -> [Result] {
        var events: [(RepairOperation, Event)] = []
        var out: [Result] = []
        for op in ops {
            guard let j = op.params["event"], let e = try? Event(validating: j) else {
                out.append(Result(operation: op, outcome: .failed, reason: "the plan's event is not a valid event"))
                continue
            }
            events.append((op, e))
        }
        let present = Set(try stores.graph.run("MATCH (n:Node) WHERE n.id IN $ids AND n.placeholder IS NULL RETURN n.id",
                                              parameters: ["ids": .list(events.map { .string($0.1.id) })], readOnly: true).records.compactMap { $0[0].stringValue })
        let missing = events.filter { !present.contains($0.1.id) }
        if !missing.isEmpty {
            try SyncEngine(redis: stores.redis, graph: stores.graph).write(missing.map(\.1), persistedAt: nowMilliseconds())
        }
        for (op, e) in events {
            out.append(Result(operation: op, outcome: .applied, reason: present.contains(e.id) ? "already in the graph" : nil))
        }
        return out
    }

    func applyOne(_ op: RepairOperation) throws -> Result {
        func applied(_ why: String? = nil) -> Result { Result(operation: op, outcome: .applied, reason: why) }
        func skipped(_ why: String) -> Result { Result(operation: op, outcome: .skipped, reason: why) }
        let g = stores.graph
        switch op.action {
        case "create-run":
            guard let id = op.params["id"]?.stringValue, let fields = op.params["fields"]?.objectValue else { return skipped("bad parameters") }
            if try stores.run(id) != nil { return applied("already in the graph") }
            var params: [String: GraphValue] = ["id": .string(id)]
            var sets: [String] = []
            for (k, v) in fields.sorted(by: { $0.key < $1.key }) where ["state", "contentStatus", "publishedAt", "createdAt"].contains(k) {
                params[k] = GraphValue(v)
                sets.append("r.\(k) = $\(k)")
            }
            try g.run("MERGE (r:WorkflowRun {id: $id}) ON CREATE SET \(sets.joined(separator: ", "))", parameters: params)
            return applied()

        case "merge-nodes":
            guard let id = op.params["id"]?.stringValue, let copies = op.precondition["copies"]?.intValue else { return skipped("bad parameters") }
            let now = try stores.nodes(id).count
            if now == 1 { return applied("already one node") }
            guard now == Int(copies) else { return skipped("the node now has \(now) copies; the plan saw \(copies)") }
            try g.run("""
                MATCH (n:Node {id: $id}) WHERE n.placeholder IS NULL WITH n ORDER BY id(n) WITH collect(n) AS ns WHERE size(ns) = $copies
                WITH ns[0] AS keep, ns[1..] AS rest UNWIND rest AS dup
                OPTIONAL MATCH (p)-[:PARENT_OF]->(dup) WITH keep, dup, collect(DISTINCT p) AS ps
                OPTIONAL MATCH (dup)-[:PARENT_OF]->(c) WITH keep, dup, ps, collect(DISTINCT c) AS cs
                FOREACH (p IN ps | MERGE (p)-[:PARENT_OF]->(keep))
                FOREACH (c IN cs | MERGE (keep)-[:PARENT_OF]->(c))
                DETACH DELETE dup
                """, parameters: ["id": .string(id), "copies": .int(copies)])
            return try stores.nodes(id).count == 1 ? applied() : skipped("the merge found a different number of copies")

        case "relink-parent":
            guard let id = op.params["id"]?.stringValue, let pid = op.params["parentId"]?.stringValue,
                let wf = op.params["workflowId"]?.stringValue, let expected = op.precondition["parents"]?.arrayValue?.compactMap(\.stringValue)
            else { return skipped("bad parameters") }
            let current = try stores.parents(id)
            if current == [pid] { return applied("already linked to \(pid)") }
            guard current == expected else { return skipped("the node's parents are now \(current); the plan saw \(expected)") }
            let parent = op.params["parentIsRun"]?.boolValue == true
                ? "MERGE (p:WorkflowRun {id: $pid}) ON CREATE SET p.state = 'running', p.contentStatus = 'none', p.createdAt = $now"
                : "MERGE (p:Node {id: $pid}) ON CREATE SET p.placeholder = true, p.workflow_id = $wf, p.persisted_at = $now"
            // The statement checks the parents itself (one FalkorDB statement is atomic).
            let written = try g.run("""
                MATCH (n:Node {id: $id}) WHERE n.placeholder IS NULL
                OPTIONAL MATCH (x)-[:PARENT_OF]->(n)
                WITH n, collect(DISTINCT x.id) AS now
                WHERE size(now) = size($expected) AND all(e IN $expected WHERE e IN now)
                OPTIONAL MATCH (y)-[old:PARENT_OF]->(n)
                DELETE old
                WITH DISTINCT n
                \(parent)
                MERGE (p)-[:PARENT_OF]->(n)
                RETURN count(n)
                """, parameters: ["id": .string(id), "pid": .string(pid), "wf": .string(wf), "now": .int(nowMilliseconds()),
                                  "expected": .list(expected.map(GraphValue.string))]).records.first?[0].intValue ?? 0
            guard written > 0 else { return skipped("the node's parents changed while the repair ran") }
            return try stores.parents(id) == [pid] ? applied() : skipped("after relinking, the parents are \(try stores.parents(id))")

        case "rewrite-node":
            guard let j = op.params["event"], let e = try? Event(validating: j), let digest = op.precondition["digest"]?.stringValue else {
                return skipped("bad parameters")
            }
            guard let node = try stores.nodes(e.id).first else { return skipped("the node is gone") }
            let target: JSON = ["type": .string(e.type), "workflow_id": .string(e.workflowId), "timestamp": .int(e.timestamp), "content": .string(e.payload.encoded())]
            if RepairStores.nodeDigest(node.fields) == RepairStores.nodeDigest(target) { return applied("already as in the stream") }
            guard RepairStores.nodeDigest(node.fields) == digest else { return skipped("the node changed since the plan was made") }
            var before = node.fields.objectValue ?? [:]
            before.removeValue(forKey: "persisted_at")
            let (cond, condParams) = Self.unchanged("n", before, prefix: "b")
            var params: [String: GraphValue] = ["id": .string(e.id), "type": .string(e.type), "wf": .string(e.workflowId), "ts": .int(e.timestamp),
                                                "content": .string(e.payload.encoded()), "metadata": .string(e.metadata.json.encoded())]
            params.merge(condParams) { a, _ in a }
            let written = try g.run("""
                MATCH (n:Node {id: $id}) WHERE n.placeholder IS NULL AND \(cond)
                SET n.type = $type, n.workflow_id = $wf, n.timestamp = $ts, n.content = $content, n.metadata = $metadata
                RETURN count(n)
                """, parameters: params).records.first?[0].intValue ?? 0
            return written > 0 ? applied() : skipped("the node changed while the repair ran")

        case "set-run-content":
            guard let run = op.params["run"]?.stringValue, let status = op.params["contentStatus"]?.stringValue else { return skipped("bad parameters") }
            guard let current = try stores.run(run) else { return skipped("the run is gone") }
            let now: JSON = ["contentStatus": current["contentStatus"] ?? .null, "publishedAt": current["publishedAt"] ?? .null]
            let target: JSON = ["contentStatus": .string(status), "publishedAt": op.params["publishedAt"] ?? .null]
            if now == target { return applied("already so") }
            guard now == op.precondition else { return skipped("the run's content is now \(now.encoded()); the plan saw \(op.precondition.encoded())") }
            let (cond, condParams) = Self.unchanged("r", op.precondition.objectValue ?? [:], prefix: "b")
            var params: [String: GraphValue] = ["id": .string(run), "status": .string(status), "at": GraphValue(op.params["publishedAt"] ?? .null)]
            params.merge(condParams) { a, _ in a }
            let written = try g.run("MATCH (r:WorkflowRun {id: $id}) WHERE \(cond) SET r.contentStatus = $status, r.publishedAt = $at RETURN count(r)",
                                    parameters: params).records.first?[0].intValue ?? 0
            return written > 0 ? applied() : skipped("the run's content changed while the repair ran")

        default:
            return try applyRedis(op)
        }
    }

    // MARK: Redis

    /// Confirms events in one WATCH/MULTI per batch; an already-confirmed one counts as applied.
    func confirmEvents(_ ops: [RepairOperation]) throws -> [Result] {
        for _ in 0..<5 {
            var already: Set<String> = []
            let committed = try stores.redis.transaction(watch: [RedisKeys.confirmed]) { () throws -> [[any RedisArgument]]? in
                let scores = try self.stores.redis.pipeline(ops.map { ["ZSCORE", RedisKeys.confirmed, $0.key] })
                for (op, s) in zip(ops, scores) where !s.isNull { already.insert(op.key) }
                return ops.filter { !already.contains($0.key) }.map { ["ZADD", RedisKeys.confirmed, $0.params["score"]?.intValue ?? nowMilliseconds(), $0.key] }
            }
            if committed != nil || already.count == ops.count {
                return ops.map { Result(operation: $0, outcome: .applied, reason: already.contains($0.key) ? "already confirmed" : nil) }
            }
        }
        return ops.map { Result(operation: $0, outcome: .skipped, reason: "persistence:confirmed kept changing; retry the plan") }
    }

    /// One Redis operation: WATCH its keys, check the precondition, MULTI/EXEC; retried if a watched key changed.
    func applyRedis(_ op: RepairOperation) throws -> Result {
        guard let watch = Self.watchedKeys(op) else { return Result(operation: op, outcome: .failed, reason: "unknown action \(op.action)") }
        for _ in 0..<5 {
            var settled: Result?
            let committed = try stores.redis.transaction(watch: watch) { () throws -> [[any RedisArgument]]? in
                switch try self.redisStep(op) {
                case .settled(let outcome, let why):
                    settled = Result(operation: op, outcome: outcome, reason: why)
                    return nil
                case .write(let commands):
                    return commands
                }
            }
            if let settled { return settled }
            if committed != nil { return Result(operation: op, outcome: .applied, reason: nil) }
        }
        return Result(operation: op, outcome: .skipped, reason: "its keys kept changing; retry the plan")
    }

    static func watchedKeys(_ op: RepairOperation) -> [String]? {
        switch op.action {
        case "remove-confirmation": return [RedisKeys.confirmed]
        case "set-redis-state", "set-redis-content": return [RedisKeys.status(op.params["run"]?.stringValue ?? "")]
        case "dedupe-queue", "requeue": return [RedisKeys.queue, RedisKeys.processing]
        case "dead-letter": return [op.params["key"]?.stringValue ?? "", op.params["into"]?.stringValue ?? RedisKeys.deadletter]
        default: return nil
        }
    }

    /// What a Redis operation does, decided from the watched keys: settled
    /// without a write (already done, or changed since the plan), or the writes.
    enum RedisStep {
        case settled(Outcome, String)
        case write([[any RedisArgument]])
    }

    func redisStep(_ op: RepairOperation) throws -> RedisStep {
        switch op.action {
        case "remove-confirmation":
            let score = try stores.confirmedScore(op.key)
            if score == nil { return .settled(.applied, "already unconfirmed") }
            guard score == op.precondition["score"]?.intValue else { return .settled(.skipped, "confirmed again since the plan was made") }
            // The graph wins only while it lacks the event: once a node holds it, the confirmation is right.
            if !(try stores.nodes(op.key)).isEmpty { return .settled(.skipped, "the graph holds the event now; its confirmation stays") }
            return .write([["ZREM", RedisKeys.confirmed, op.key]])

        case "set-redis-state":
            guard let run = op.params["run"]?.stringValue, let state = op.params["state"]?.stringValue else { return .settled(.skipped, "bad parameters") }
            let now = try stores.status(run)["state"]
            if now == state { return .settled(.applied, "already \(state)") }
            guard now == op.precondition["state"]?.stringValue else { return .settled(.skipped, "Redis state is now \(now ?? "unset")") }
            return .write([["HSET", RedisKeys.status(run), "state", state]])

        case "set-redis-content":
            guard let run = op.params["run"]?.stringValue, let status = op.params["contentStatus"]?.stringValue,
                let draft = op.params["draftId"]?.stringValue
            else { return .settled(.skipped, "bad parameters") }
            let s = try stores.status(run)
            let now: JSON = ["contentStatus": s["contentStatus"].map(JSON.string) ?? .null, "draftId": s["draftId"].map(JSON.string) ?? .null]
            if now == ["contentStatus": .string(status), "draftId": .string(draft)] { return .settled(.applied, "already so") }
            guard now == op.precondition else { return .settled(.skipped, "Redis shows \(now.encoded()) now") }
            return .write([["HSET", RedisKeys.status(run), "contentStatus", status, "draftId", draft, "updatedAt", nowMilliseconds()]])

        case "dedupe-queue":
            let q = try stores.list(RedisKeys.queue).filter { RepairStores.eventId($0) == op.key }
            let p = try stores.list(RedisKeys.processing).filter { RepairStores.eventId($0) == op.key }
            if q.count + p.count <= 1 { return .settled(.applied, "already one copy") }
            guard q.count == Int(op.precondition["queue"]?.intValue ?? -1), p.count == Int(op.precondition["processing"]?.intValue ?? -1) else {
                return .settled(.skipped, "the queues changed: \(q.count) queued, \(p.count) processing")
            }
            let remove = Int(op.params["removeFromQueue"]?.intValue ?? 0)
            guard remove > 0 else { return .settled(.skipped, "the copies are all in persistence:processing; the sync's recovery takes them") }
            return .write(q.suffix(remove).map { ["LREM", RedisKeys.queue, -1, $0] })

        case "requeue":
            guard let raw = op.params["raw"]?.stringValue else { return .settled(.skipped, "bad parameters") }
            guard try stores.list(RedisKeys.processing).contains(raw) else {
                return try stores.list(RedisKeys.queue).contains(raw) ? .settled(.applied, "already queued") : .settled(.skipped, "the entry left persistence:processing")
            }
            return .write([["LREM", RedisKeys.processing, 1, raw], ["RPUSH", RedisKeys.queue, raw]])

        case "dead-letter":
            guard let key = op.params["key"]?.stringValue, let pos = op.params["position"]?.stringValue, let raw = op.params["raw"]?.stringValue else {
                return .settled(.skipped, "bad parameters")
            }
            let into = op.params["into"]?.stringValue ?? RedisKeys.deadletter
            let letter = JSON.object(["raw": .string(raw), "error": op.params["error"] ?? "malformed", "at": .int(nowMilliseconds()),
                                      "from": .string(key), "by": "concord apply", "operation": .string(op.id)]).encoded()
            // Gone from where the audit saw it: applied only if this plan's letter is there (a crash after EXEC), else skipped.
            func gone(_ what: String) throws -> RedisStep {
                let letters = try stores.list(into).compactMap { try? JSON.parse($0) }
                if letters.contains(where: { $0["operation"]?.stringValue == op.id && $0["raw"]?.stringValue == raw }) {
                    return .settled(.applied, "already dead-lettered to \(into)")
                }
                return .settled(.skipped, what)
            }
            let isList = try stores.redis.run("TYPE", key).string == "list"
            if isList || key == RedisKeys.queue || key == RedisKeys.processing {
                // List elements are matched by their exact bytes (LREM compares bytes).
                guard try stores.list(key).contains(raw) else { return try gone("the entry is no longer in \(key) (byte for byte); nothing was moved") }
                return .write([["LREM", key, 1, raw], ["RPUSH", into, letter]])
            }
            guard let entry = try RedisConnection.streamEntries(try stores.redis.run("XRANGE", key, pos, pos)).first else {
                return try gone("stream entry \(pos) is no longer in \(key); nothing was moved")
            }
            let field = op.params["field"]?.stringValue ?? "event"
            guard String(decoding: entry.field(field) ?? [], as: UTF8.self) == raw else {
                return .settled(.skipped, "stream entry \(pos) of \(key) no longer holds the bytes the audit read")
            }
            return .write([["XDEL", key, pos], ["RPUSH", into, letter]])

        default:
            return .settled(.failed, "unknown action \(op.action)")
        }
    }
}
