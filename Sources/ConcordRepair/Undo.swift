import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordPostgres
import Foundation

extension RepairPlan {
    /// The plan that undoes the operations of this plan that were applied:
    /// each through its kind's inverse, from the before-image the plan kept
    /// (and, like every plan, each guarded by a precondition: the record must
    /// still be what this plan left). An operation with no inverse becomes a
    /// manual step that says so.
    public func inverse(applied: Set<String>, createdAt: Date = Date()) -> RepairPlan {
        var ops: [RepairOperation] = []
        for op in operations.reversed() where applied.contains(op.id) && op.store != RepairStore.manual.rawValue {
            // The journaled images first: each record the operation wrote goes back to its whole before-image.
            let puts = (op.images.arrayValue ?? []).reversed().compactMap { image -> RepairOperation? in
                guard let address = RecordAddress(json: image["address"] ?? .null, dataset: image["dataset"]?.stringValue ?? "") else { return nil }
                let before = image["before"].flatMap { $0.isNull ? nil : $0 }, after = image["after"].flatMap { $0.isNull ? nil : $0 }
                if RecordAddress.identical(before, after, at: address) { return nil }
                var put = PutRecordOperation.make(address, record: before, seen: after, findingId: op.findingId, rule: op.rule)
                put.id = String(SHA256.hex("\(op.id)|undo|\(put.key)").prefix(16))
                return put
            }
            ops += puts
            let kind = RepairRegistry.operations[op.action]
            if var inverse = kind?.inverse(of: op) {
                // Named after the operation it undoes: two operations on one key (a draft and its history) stay two.
                inverse.id = String(SHA256.hex("\(op.id)|undo").prefix(16))
                ops.append(inverse)
            } else if !puts.isEmpty || !(op.images.arrayValue ?? []).isEmpty {
                continue
            } else {
                ops.append(op.inverse("manual", params: ["reason": .string("\(op.action) keeps no before-image it could be undone from; the plan's before shows what it changed"),
                                                         "undoes": .string(op.id), "before": op.before, "after": op.after],
                                      precondition: .null, store: RepairStore.manual.rawValue))
            }
        }
        // Stable: within a phase the operations stay newest first (a draft's history removed before the draft).
        ops = ops.enumerated().sorted { (RepairRegistry.phase($0.element), $0.offset) < (RepairRegistry.phase($1.element), $1.offset) }.map(\.element)
        return RepairPlan(planId: "undo-" + String(SHA256.hex("\(planId)\(createdAt.timeIntervalSince1970)").prefix(16)), sourceAuditId: sourceAuditId,
                          createdAt: createdAt, rulesDigest: rulesDigest, operations: ops)
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
        let applied = RepairPlan(planId: planId, sourceAuditId: "journal", createdAt: Date(), rulesDigest: rulesDigest, operations: ops)
        var undo = applied.inverse(applied: Set(ops.map(\.id)))
        undo.sourceAuditId = "undo of \(planId)"
        return undo
    }
}
