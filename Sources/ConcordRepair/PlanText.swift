import ConcordJSON

/// A plan's operations in words, for review (the CLI's dry run and the console's).
public enum RepairPlanText {
    /// One operation for review: what it does to which key, before → after.
    public static func change(_ op: RepairOperation) -> String {
        "\(op.action) \(op.key): \(brief(op.before)) → \(brief(op.after))"
    }

    /// "this operation cannot be undone: …" for each operation of `plan` whose undo could not put back what it
    /// changes — said before the apply, not discovered after.
    public static func notUndoable(_ plan: RepairPlan) -> [String] {
        plan.operations.compactMap { op in RepairRegistry.notUndoable(op).map { "this operation cannot be undone: \($0)" } }
    }

    /// How the applier orders the plan, in words.
    public static func order(_ plan: RepairPlan) -> String {
        plan.ordered ? "applied in the order listed (an undo: the last change first), not store by store"
            : "applied store by store: graph, Redis, PostgreSQL, then GitHub"
    }

    public static func brief(_ j: JSON) -> String {
        if j.isNull { return "(absent)" }
        let s = j.encoded()
        return s.count > 160 ? String(s.prefix(157)) + "…" : s
    }
}
