import ConcordCore
import ConcordCrypto
import ConcordJSON
import ConcordModel
import ConcordPostgres
import Foundation

extension RepairPlan {
    /// The plan that undoes the operations of this plan that were applied, in
    /// exactly the reverse order of their application (the plan is `ordered`):
    /// the last change first, so that where several operations wrote one record
    /// each inverse finds that record as its own operation left it — the images
    /// chain — and the first operation's before-image is what remains. Each
    /// inverse is guarded like every operation: the record must still be what
    /// the operation it undoes left. Per operation:
    /// - the records it imaged whole (nodes, rows, hashes, streams) go back to their before-images (`put-record`);
    /// - the elements it took out of or put into Redis lists go back where they were (`restore-list`), among
    ///   whatever producers and the sync wrote to those lists since;
    /// - anything else through its kind's inverse; none: a manual step that says so.
    /// The order of application is `applicationOrder`'s: as listed for an ordered plan, else by phase.
    public func inverse(applied: Set<String>, createdAt: Date = Date()) -> RepairPlan {
        var ops: [RepairOperation] = []
        for op in applicationOrder.reversed() where applied.contains(op.id) && op.store != .manual {
            let images = op.images.arrayValue ?? []
            // The element edits it made to lists: undone in one step, newest edit first.
            let edits = images.flatMap { ($0["edits"]?.arrayValue ?? []).compactMap(ListEdit.init(json:)) }
            if !edits.isEmpty { ops.append(RestoreListOperation.make(undoing: edits, of: op)) }
            // The whole images: each record the operation wrote goes back to its before-image, the last one imaged first.
            let puts = images.filter { $0["address"] != nil }.reversed().compactMap { image -> RepairOperation? in
                guard let address = RecordAddress(json: image["address"] ?? .null, dataset: image["dataset"]?.stringValue ?? "") else { return nil }
                let before = image["before"].flatMap { $0.isNull ? nil : $0 }, after = image["after"].flatMap { $0.isNull ? nil : $0 }
                if RecordAddress.identical(before, after, at: address) { return nil }
                var put = PutRecordOperation.make(address, record: before, seen: after, findingId: op.findingId, rule: op.rule)
                put.id = String(SHA256.hex("\(op.id)|undo|\(put.key)").prefix(16))
                return put
            }
            ops += puts
            if !edits.isEmpty || !images.isEmpty { continue }
            if var inverse = RepairRegistry.operations[op.action]?.inverse(of: op) {
                // Named after the operation it undoes: two operations on one key (a draft and its history) stay two.
                inverse.id = String(SHA256.hex("\(op.id)|undo").prefix(16))
                ops.append(inverse)
            } else {
                ops.append(op.inverse("manual", params: ["reason": .string(RepairRegistry.notUndoable(op) ?? "\(op.action) cannot be undone"),
                                                         "undoes": .string(op.id), "before": op.before, "after": op.after],
                                      precondition: .null, store: .manual))
            }
        }
        var plan = RepairPlan(planId: "undo-" + String(SHA256.hex("\(planId)\(createdAt.timeIntervalSince1970)").prefix(16)), sourceAuditId: sourceAuditId,
                              createdAt: createdAt, rulesDigest: rulesDigest, operations: ops)
        plan.ordered = true
        return plan
    }

    /// The operations in the order an `Applier` runs them: as listed for an ordered plan, else by phase
    /// (store, then kind), the plan's order within a phase.
    public var applicationOrder: [RepairOperation] { Self.applicationOrder(operations, ordered: ordered) }

    /// `ops` in the order an `Applier` runs them (the one definition of that order).
    static func applicationOrder(_ ops: [RepairOperation], ordered: Bool) -> [RepairOperation] {
        if ordered { return ops }
        return ops.enumerated().sorted { (RepairRegistry.phase($0.element), $0.offset) < (RepairRegistry.phase($1.element), $1.offset) }.map(\.element)
    }
}

extension RepairPlan {
    /// The inverse of plan `planId` from the journal alone: the operations it
    /// applied, with the before-images journaled beside them, inverted in
    /// reverse order. Throws when the journal holds nothing to undo.
    public static func undo(planId: String, journal postgres: PostgresConnection, rulesDigest: String) throws -> RepairPlan {
        for statement in PostgresSchema.journal { try postgres.execute(statement) }
        let rows = try postgres.query("""
            SELECT operation::text, position FROM concord_repair_journal
            WHERE plan_id = $1 AND outcome = 'applied' ORDER BY position NULLS LAST, at
            """, [planId])
        // Whether the plan was an ordered one (an undo) — its operations ran as listed — or by phase.
        let ordered = try postgres.query("SELECT 1 FROM concord_repair_journal WHERE plan_id = $1 AND ordered LIMIT 1", [planId]).rowCount > 0
        var ops: [RepairOperation] = []
        var missing = 0
        for i in 0..<rows.rowCount {
            guard let text = rows[i].string(0), let json = try? JSON.parse(text), let op = try? RepairOperation(json: json) else { missing += 1; continue }
            ops.append(op)
        }
        if ops.isEmpty {
            let any = try postgres.query("SELECT count(*) FROM concord_repair_journal WHERE plan_id = $1", [planId])[0].int(0) ?? 0
            throw ConcordError(.usage, any == 0 ? "the journal has no plan \(planId)"
                : missing > 0 ? "plan \(planId) was applied by a concord that did not journal before-images; it cannot be undone from the journal"
                : "plan \(planId) has no applied operation to undo")
        }
        var applied = RepairPlan(planId: planId, sourceAuditId: "journal", createdAt: Date(), rulesDigest: rulesDigest, operations: ops)
        applied.ordered = ordered
        var undo = applied.inverse(applied: Set(ops.map(\.id)))
        undo.sourceAuditId = "undo of \(planId)"
        return undo
    }
}
