import ConcordJSON

extension Expr {
    /// The ages this expression compares against (ms), or nil when it reads
    /// the clock in a way whose window cannot be told (`now` itself, `age()`
    /// not compared with a constant). An incremental audit re-reads a run
    /// until the longest window has passed since it last changed.
    func ageWindows(grace: Int64) -> [Int64]? {
        func constant(_ e: Expr) -> Int64? {
            guard e.paths.isEmpty, e.readsClock == false else { return nil }
            return e.evaluate([.null], EvalContext(now: 0, grace: grace)).intValue
        }
        switch self {
        case .binary(let op, .call(.age, let args), let limit) where [.gt, .ge, .lt, .le].contains(op),
             .binary(let op, let limit, .call(.age, let args)) where [.gt, .ge, .lt, .le].contains(op):
            guard let w = constant(limit), !args.contains(where: \.readsClock) else { return nil }
            return [w]
        case .now, .call(.age, _): return nil
        case .literal, .grace, .path: return []
        case .not(let e), .negate(let e): return e.ageWindows(grace: grace)
        case .binary(_, let a, let b):
            guard let x = a.ageWindows(grace: grace), let y = b.ageWindows(grace: grace) else { return nil }
            return x + y
        case .list(let items), .call(_, let items):
            var out: [Int64] = []
            for i in items { guard let w = i.ageWindows(grace: grace) else { return nil }; out += w }
            return out
        }
    }

    var readsClock: Bool {
        switch self {
        case .now, .call(.age, _): return true
        case .literal, .grace, .path: return false
        case .not(let e), .negate(let e): return e.readsClock
        case .binary(_, let a, let b): return a.readsClock || b.readsClock
        case .list(let items), .call(_, let items): return items.contains(where: \.readsClock)
        }
    }
}

extension RuleSet {
    /// How long after a record is written a rule may still change its mind
    /// about it because time passed (the longest `age(…) > …` window, grace
    /// included), or the id of a rule that reads the clock otherwise.
    public func settlingWindow(grace: Int64) -> Result<Int64, TimeWindowError> {
        var longest = grace
        for rule in rules {
            for check in rule.checks {
                var exprs: [Expr] = []
                for s in check.selections {
                    exprs += [s.key] + [s.filter, s.workflowId, s.report].compactMap { $0 } + Array(s.roles.values) + s.values.map(\.expr)
                }
                // Evaluated where the per-record watch does not see them: the clock there has no window to tell.
                if check.kind.unwatchedExpressions.contains(where: \.readsClock) { return .failure(TimeWindowError(rule: rule.id)) }
                for e in exprs {
                    guard let w = e.ageWindows(grace: grace) else { return .failure(TimeWindowError(rule: rule.id)) }
                    longest = max(longest, w.max() ?? 0)
                }
            }
        }
        return .success(longest)
    }

    public struct TimeWindowError: Error, Sendable {
        public var rule: String
    }
}
