import ConcordJSON

/// `sequence`: a group whose `sort` values are not contiguous from `start` (1 when not given).
struct SequenceCheck: CheckKind {
    static let names = ["sequence"]
    var within: Selection
    var start: Int64

    static func compile(_ s: CheckSource) -> SequenceCheck? {
        s.allow(["in", "start"])
        guard let i = s.required("in"), let sel = s.selection(i, roles: ["group", "sort"], required: ["group", "sort"], keyed: false) else { return nil }
        return SequenceCheck(within: sel, start: Int64(s["start"]?.int ?? 1))
    }

    var selections: [Selection] { [within] }
    var recheckSubjects: [RecheckLimit.Subject] {
        [RecheckLimit.Subject(selection: within, keys: [within.roles["group"]].compactMap { $0 }, reported: true)]
    }

    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding] {
        let c = consumers[0], table = run.table
        guard let gRole = c.roleIndex("group"), let sRole = c.roleIndex("sort") else { return [] }
        var groups: [Cell: (positions: [Int64], workflowId: Cell)] = [:]
        for i in 0..<c.count where !c.role(i, gRole).isNull {
            let p = c.role(i, sRole)
            groups[c.role(i, gRole), default: ([], c.workflowId(i))].positions.append(p.isInt ? p.int : Int64.min)
        }
        return groups.compactMap { g, v in
            let sorted = v.positions.sorted()
            guard sorted != (0..<Int64(sorted.count)).map({ start + $0 }) else { return nil }
            return Finding(rule: run.rule, key: table.text(g)!, workflowId: table.text(v.workflowId),
                           evidence: ["positions": .array(sorted.map(JSON.int)), "expectedFrom": .int(start), "dataset": .string(c.selection.dataset)])
        }
    }
}
