import ConcordJSON

/// A plan's operations in words, for review (the CLI's dry run and the console's).
public enum RepairPlanText {
    /// One operation for review: what it does to which key, before → after.
    public static func change(_ op: RepairOperation) -> String {
        "\(op.action) \(op.key): \(brief(op.before)) → \(brief(op.after))"
    }

    public static func brief(_ j: JSON) -> String {
        if j.isNull { return "(absent)" }
        let s = j.encoded()
        return s.count > 160 ? String(s.prefix(157)) + "…" : s
    }
}
