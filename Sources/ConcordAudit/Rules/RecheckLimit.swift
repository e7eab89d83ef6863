/// Whether the recheck can find a rule's records again by point lookups.
///
/// The recheck re-reads each candidate finding's records through the
/// datasets' `lookup` fields — by the finding's key (and the ids its
/// evidence names) and by its run — and re-runs the rule on them. A
/// selection whose records those lookups cannot return would make every
/// finding look healed. This analysis says, per selection, how the recheck
/// reaches it; a finding that disappears on recheck counts as healed only
/// when every selection that produces it is reachable, and is otherwise kept
/// with `recheck: unavailable`.
public struct RecheckLimit: Sendable, Hashable {
    public var dataset: String
    public var reason: String
    /// True when the selection is reachable by run only: a finding without a run cannot be rechecked.
    public var needsRun: Bool
    public var line: Int
    public var column: Int

    /// The limits of a rule's checks (empty: every finding can be rechecked).
    public static func limits(of checks: [Check], datasets: DatasetCatalog) -> [RecheckLimit] {
        var out: [RecheckLimit] = []
        for check in checks {
            for subject in check.kind.recheckSubjects {
                guard let spec = datasets[subject.selection.dataset] else { continue }
                if let limit = limit(subject, spec) { out.append(limit) }
            }
        }
        return Array(Set(out)).sorted { ($0.line, $0.column, $0.reason) < ($1.line, $1.column, $1.reason) }
    }

    struct Subject {
        var selection: Selection
        /// The expressions that give the record's key (the finding's key for a reported selection).
        var keys: [Expr]
        /// Whether the finding is keyed by this selection's records (else they are joined to it).
        var reported: Bool
    }

    static func plainPath(_ e: Expr?) -> String? {
        guard case .path(0, let parts)? = e else { return nil }
        return parts.joined(separator: ".")
    }

    /// How the recheck reaches `subject`'s records: by the finding's key
    /// (a key path among lookup.id), by its run (the selection's workflowId,
    /// or for a joined selection its key, among lookup.run; or a joined
    /// selection of a dataset the run finds), or not at all.
    static func limit(_ subject: Subject, _ spec: DatasetSpec) -> RecheckLimit? {
        let sel = subject.selection
        if case .redisList = spec.source { return nil }  // read whole
        let ids = spec.lookup["id"] ?? [], runs = spec.lookup["run"] ?? []
        if subject.keys.contains(where: { plainPath($0).map(ids.contains) ?? false }) { return nil }
        let keyText = subject.keys.first.map { "\($0)" } ?? "(none)"
        let byKey = ids.isEmpty ? "\(spec.name) declares no lookup.id"
            : "the key \(keyText) is not one of \(spec.name)'s lookup.id fields (\(ids.joined(separator: ", ")))"
        let runPaths = [sel.workflowId] + (subject.reported ? [] : subject.keys)
        if runPaths.contains(where: { plainPath($0).map(runs.contains) ?? false }) || (!subject.reported && !runs.isEmpty) {
            return RecheckLimit(dataset: spec.name, reason: byKey + ", so its records are found by run only", needsRun: true, line: sel.line, column: sel.column)
        }
        let byRun = runs.isEmpty ? "\(spec.name) declares no lookup.run"
            : sel.workflowId == nil ? "the selection has no workflowId"
            : "its workflowId \(sel.workflowId!) is not one of \(spec.name)'s lookup.run fields (\(runs.joined(separator: ", ")))"
        return RecheckLimit(dataset: spec.name, reason: "\(byKey), and \(byRun)", needsRun: false, line: sel.line, column: sel.column)
    }
}

extension RuleSet {
    /// Why a finding of `rule` (with or without a run) cannot be rechecked; nil when it can.
    public func recheckUnavailable(rule id: String, hasRun: Bool) -> String? {
        guard let rule = rules.first(where: { $0.id == id }) else { return "the rule is not in this rule set" }
        let limits = RecheckLimit.limits(of: rule.checks, datasets: datasets).filter { !$0.needsRun || !hasRun }
        guard let first = limits.first else { return nil }
        return first.needsRun ? "\(first.reason), and the finding names no run" : first.reason
    }
}
