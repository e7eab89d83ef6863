import ConcordCore
import ConcordJSON
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
            if let kind = RepairRegistry.operations[op.action], let inverse = kind.inverse(of: op) {
                ops.append(inverse)
            } else {
                ops.append(RepairOperation(findingId: op.findingId, rule: op.rule, store: RepairStore.manual.rawValue, action: "manual", key: op.key,
                                           params: ["reason": .string("\(op.action) keeps no before-image it could be undone from; the plan's before shows what it changed"),
                                                    "undoes": .string(op.id), "before": op.before, "after": op.after],
                                           precondition: .null, before: op.after, after: op.before))
            }
        }
        ops.sort { RepairRegistry.phase($0) < RepairRegistry.phase($1) }
        return RepairPlan(planId: "undo-" + String(SHA256.hex("\(planId)\(createdAt.timeIntervalSince1970)").prefix(16)), sourceAuditId: sourceAuditId,
                          createdAt: createdAt, rulesDigest: rulesDigest, operations: ops)
    }
}
