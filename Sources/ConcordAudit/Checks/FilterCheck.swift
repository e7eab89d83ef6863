import ConcordJSON

/// `filter`: every record of `in` that passes its `where`. `stale` adds an age condition: the selection's
/// `age` (a time) older than `olderThan` (the grace period when not given).
struct FilterCheck: CheckKind {
    static let names = ["filter", "stale"]
    var within: [Selection]

    static func compile(_ s: CheckSource) -> FilterCheck? {
        let stale = s.kind == "stale"
        s.allow(stale ? ["in", "olderThan"] : ["in"])
        var sels = s.selections("in", roles: stale ? ["age"] : [], requiredRoles: stale ? ["age"] : [])
        if stale {
            let limit = s["olderThan"].flatMap { s.compiler.expr($0, dataset: nil) } ?? .grace
            for i in sels.indices {
                let cond = Expr.binary(.gt, .call(.age, [sels[i].roles["age"]!]), limit)
                sels[i].filter = sels[i].filter.map { .binary(.and, $0, cond) } ?? cond
            }
        }
        return FilterCheck(within: sels)
    }

    var selections: [Selection] { within }
    var recheckSubjects: [RecheckLimit.Subject] { within.map { .keyed($0, reported: true) } }

    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding] {
        consumers.flatMap { c in
            (0..<c.count).compactMap { i -> Finding? in
                guard let key = run.table.text(run.reportedKey(c, i)) else { return nil }
                return Finding(rule: run.rule, key: key, workflowId: run.table.text(c.workflowId(i)),
                               evidence: run.evidence(c, i, ["dataset": .string(c.selection.dataset)]))
            }
        }
    }
}
