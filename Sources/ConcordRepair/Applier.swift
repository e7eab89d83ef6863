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
    /// Called as operations finish: (operations done, of the plan's total) — the console's progress.
    public var progress: (@Sendable (Int, Int) -> Void)?
    /// A second connection to the journal's database: with it, a batch's journal rows are written while the
    /// next batch applies (one write in flight; a crash loses at most the rows of the batch in flight, and
    /// a re-run finds those operations in their planned state, so nothing repeats).
    public var journalConnection: PostgresConnection?

    /// Each operation's place in the plan (journaled, so an undo can run them in reverse).
    let positions: [String: Int]

    public init(stores: RepairStores, plan: RepairPlan, operator: String) {
        self.stores = stores
        self.plan = plan
        operator_ = `operator`
        positions = Dictionary(plan.operations.enumerated().map { ($1.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    /// The order an operation runs in: graph, Redis, PostgreSQL, manual; within a store, its kind's order.
    public static func phase(_ op: RepairOperation) -> Int { RepairRegistry.phase(op) }

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
        for statement in PostgresSchema.journal { try stores.postgres.execute(statement) }
        let done = try journal()
        var results: [Result] = []
        let pending = plan.operations.filter { op in
            if let o = done[op.id], o == .applied || o == .manual {
                results.append(Result(operation: op, outcome: o, reason: "journaled earlier"))
                return false
            }
            return true
        }
        var batch = 0, journaled = 0
        let pipeline = journalConnection.map { JournalPipeline($0) }
        defer { try? pipeline?.finish() }  // a store that failed mid-plan: the rows already applied still go in
        let (planId, who, positions, ordered) = (plan.planId, operator_, positions, plan.ordered)
        func record(_ rs: [Result]) throws {
            guard !rs.isEmpty else { return }
            results += rs
            progress?(results.count, plan.operations.count)
            batch += 1
            if let pipeline {
                try pipeline.submit { connection in try Self.writeJournal(rs, planId: planId, operator: who, positions: positions, ordered: ordered, on: connection) }
                // The previous batch's rows are in.
                while journaled < batch - 1 { journaled += 1; afterBatch?(journaled) }
            } else {
                try Self.writeJournal(rs, planId: planId, operator: who, positions: positions, ordered: ordered, on: stores.postgres)
                journaled = batch
                afterBatch?(batch)
            }
        }
        for ops in Self.runs(pending, ordered: plan.ordered) {
            var i = 0
            while i < ops.count {
                let chunk = Array(ops[i..<min(i + batchSize, ops.count)])
                i += chunk.count
                try record(try applyBatch(chunk))
            }
        }
        try pipeline?.finish()
        while journaled < batch { journaled += 1; afterBatch?(journaled) }
        return results
    }

    /// The operations in the order they run, as runs of one phase each: by phase (store, then kind; the plan's
    /// order within a phase), or — for an ordered plan (an undo) — as listed, each run the longest stretch of one phase.
    static func runs(_ ops: [RepairOperation], ordered: Bool) -> [[RepairOperation]] {
        var out: [[RepairOperation]] = []
        for op in RepairPlan.applicationOrder(ops, ordered: ordered) {
            if let last = out.last?.last, phase(last) == phase(op) { out[out.count - 1].append(op) } else { out.append([op]) }
        }
        return out
    }

    /// A batch of one phase, grouped by kind; each kind applies its operations.
    /// A batch of graph operations on an engine with real transactions (Neo4j): one explicit
    /// transaction, each operation's precondition read inside it. A transient failure
    /// (`Neo.TransientError.*`, a deadlock, a leader switch) retries the batch; an operation that
    /// fails rolls the whole batch back, which then runs one operation at a time so each gets its
    /// own outcome. FalkorDB has no multi-statement transaction: there each statement is atomic.
    func applyBatch(_ ops: [RepairOperation]) throws -> [Result] {
        guard stores.graph.engine == "neo4j", ops.allSatisfy({ $0.store == .graph }) else { return try applyKinds(ops) }
        struct RolledBack: Error {}
        for attempt in 1...3 {
            do {
                var out: [Result] = []
                try stores.graph.transaction(readOnly: false) { _ in
                    out = try applyKinds(ops)
                    if out.contains(where: { $0.outcome == .failed }) { throw RolledBack() }
                }
                return out
            } catch is RolledBack {
                break
            } catch let e as ConcordError where e.serverCode?.hasPrefix("Neo.TransientError") == true && attempt < 3 {
                Thread.sleep(forTimeInterval: 0.1 * Double(attempt))
            }
        }
        // One at a time, each operation's statements on their own (what was written before the rollback is gone;
        // an operation the server already holds in its planned state counts as applied).
        return try ops.flatMap { try applyKinds([$0]) }
    }

    /// The operations of one batch, grouped by kind; each kind applies its own.
    func applyKinds(_ ops: [RepairOperation]) throws -> [Result] {
        var out: [Result] = []
        let context = ApplyContext(stores: stores, planId: plan.planId)
        var order: [String] = []
        var byKind: [String: [RepairOperation]] = [:]
        for op in ops {
            if byKind[op.action] == nil { order.append(op.action) }
            byKind[op.action, default: []].append(op)
        }
        for name in order {
            let group = byKind[name]!
            guard let kind = RepairRegistry.operations[name] else {
                out += group.map { Result(operation: $0, outcome: .failed, reason: "unknown operation \(name) (a plan from a newer concord?)") }
                continue
            }
            out += try imaging(kind, group, context)
        }
        return out
    }

    /// Applies `ops` of `kind`, with the whole images of the records they
    /// write read before and after (for the kinds that declare them), kept
    /// on the journaled operation for its undo.
    func imaging(_ kind: any OperationKind, _ ops: [RepairOperation], _ context: ApplyContext) throws -> [Result] {
        let addresses = try kind.imaged(ops, stores)
        guard addresses.contains(where: { !$0.isEmpty }) else { return try kind.apply(ops, context) }
        // (operation, record) pairs, each read before the write.
        let pairs = zip(ops, addresses).flatMap { op, list in list.map { (op: op.id, address: $0) } }
        let before = try RecordAddress.readAll(pairs.map(\.address), stores)
        var results = try kind.apply(ops, context)
        let written = Set(results.filter { $0.outcome == .applied && $0.reason == nil }.map(\.operation.id))
        let changed = pairs.indices.filter { written.contains(pairs[$0].op) }
        let after = try RecordAddress.readAll(changed.map { pairs[$0].address }, edges: kind.edgesAfter, stores)
        var images: [String: [JSON]] = [:]
        for (i, image) in zip(changed, after) {
            let a = pairs[i].address
            images[pairs[i].op, default: []].append(["dataset": .string(a.dataset), "address": a.json, "before": before[i] ?? .null, "after": image ?? .null])
        }
        // Beside what the kind imaged itself while applying; applied without a write ("already so"): nothing to undo.
        for i in results.indices where results[i].outcome == .applied {
            results[i].operation.images = .array((results[i].operation.images.arrayValue ?? []) + (images[results[i].operation.id] ?? []))
        }
        return results
    }

    static func writeJournal(_ rs: [Result], planId: String, operator operator_: String, positions: [String: Int], ordered: Bool = false,
                             on postgres: PostgresConnection) throws {
        var sql = "INSERT INTO concord_repair_journal (plan_id, operation_id, finding_id, store, action, outcome, reason, operator, position, operation, ordered) VALUES "
        var params: [String?] = []
        for (i, r) in rs.enumerated() {
            let b = i * 11
            sql += (i == 0 ? "" : ", ") + "(" + (1...11).map { "$\(b + $0)" }.joined(separator: ", ") + ")"
            params += [planId, r.operation.id, r.operation.findingId, r.operation.store.rawValue, r.operation.action, r.outcome.rawValue, r.reason, operator_,
                       positions[r.operation.id].map(String.init), r.operation.json.encoded(), ordered ? "true" : "false"]
        }
        sql += " ON CONFLICT (plan_id, operation_id) DO UPDATE SET outcome = EXCLUDED.outcome, reason = EXCLUDED.reason, operator = EXCLUDED.operator, at = now()"
        try postgres.transaction { _ = try postgres.execute(sql, params.map { $0 as any PostgresParameter }) }
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
}

/// Journal writes on their own connection and thread, one in flight: the
/// caller's next batch applies while the previous one's rows are written.
final class JournalPipeline: @unchecked Sendable {
    // @unchecked: `failure` is guarded by `lock`; the connection is used by the one queue only.
    private let connection: PostgresConnection
    private let queue = DispatchQueue(label: "concord.journal")
    private let inFlight = DispatchGroup()
    private let lock = NSLock()
    private var failure: (any Error)?

    init(_ connection: PostgresConnection) { self.connection = connection }

    /// Waits for the write in flight (rethrowing its error), then starts `write`.
    func submit(_ write: @escaping @Sendable (PostgresConnection) throws -> Void) throws {
        try finish()
        inFlight.enter()
        queue.async { [connection] in
            do { try write(connection) } catch { self.lock.withLock { self.failure = error } }
            self.inFlight.leave()
        }
    }

    /// Waits for the write in flight; its error, if any.
    func finish() throws {
        inFlight.wait()
        if let e = lock.withLock({ () -> (any Error)? in defer { failure = nil }; return failure }) { throw e }
    }
}
