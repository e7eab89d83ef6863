import ConcordJSON

/// `duplicate`: a key that occurs more than once across `in` (or, with a `distinct` role, with more than
/// one distinct value of it).
struct DuplicateCheck: CheckKind {
    static let names = ["duplicate"]
    var within: [Selection]

    static func compile(_ s: CheckSource) -> DuplicateCheck? {
        s.allow(["in"])
        return DuplicateCheck(within: s.selections("in", roles: ["distinct"]))
    }

    var selections: [Selection] { within }
    var recheckSubjects: [RecheckLimit.Subject] { within.map { .keyed($0, reported: true) } }

    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding] {
        let table = run.table
        // First pass: counts (and whether a key has more than one distinct value) only.
        struct Tally { var count: Int32 = 0; var first = Cell.null; var varies = false }
        var slot = CellIndexMap(strings: table.stringCount)
        var tallies: [Tally] = []
        let usesDistinct = consumers.contains { $0.selection.roles["distinct"] != nil }
        var flagged = CellSet()
        for c in consumers {
            let d = c.roleIndex("distinct")
            for i in 0..<c.count {
                let k = c.key(i)
                guard !k.isNull else { continue }
                let at: Int
                if let s = slot[k] { at = s } else { at = tallies.count; slot[k] = at; tallies.append(Tally()) }
                tallies[at].count += 1
                if let d {
                    let v = c.role(i, d)
                    if tallies[at].count == 1 { tallies[at].first = v } else if !table.equal(tallies[at].first, v) { tallies[at].varies = true }
                }
                if usesDistinct ? tallies[at].varies : tallies[at].count > 1 { flagged.insert(k) }
            }
        }
        guard flagged.count > 0 else { return [] }
        // Second pass, for the flagged keys only: the evidence.
        struct Group { var count = 0; var distinct: Set<String> = []; var workflowId = Cell.null; var datasets: Set<String> = [] }
        var groups: [Cell: Group] = [:]
        for c in consumers {
            let d = c.roleIndex("distinct")
            for i in 0..<c.count where flagged.contains(c.key(i)) {
                var g = groups[c.key(i)] ?? Group()
                g.count += 1
                if let d { g.distinct.insert(table.json(c.role(i, d)).textValue) }
                if g.workflowId.isNull { g.workflowId = c.workflowId(i) }
                g.datasets.insert(c.selection.dataset)
                groups[c.key(i)] = g
            }
        }
        return groups.map { k, g in
            var e: [String: JSON] = ["count": .int(Int64(g.count)), "datasets": .array(g.datasets.sorted().map(JSON.string))]
            if usesDistinct { e["distinct"] = .array(g.distinct.sorted().map(JSON.string)) }
            return Finding(rule: run.rule, key: table.text(k)!, workflowId: table.text(g.workflowId), evidence: .object(e))
        }
    }
}
