import ConcordJSON

/// `order`, in one of two forms. `along`: along edges, a child whose `value` is less than its parent's
/// (the nodes' values looked up by key). `within`: in a group sorted by `sort`, a record whose `value` is
/// less than an earlier one's.
enum OrderCheck: CheckKind {
    case along(edges: Selection, nodes: [Selection])
    case within(Selection)

    static let names = ["order"]

    static func compile(_ s: CheckSource) -> OrderCheck? {
        s.allow(["along", "within"])
        if let along = s["along"] {
            guard let a = s.y.mapping(along, "along", allowed: ["edges", "nodes"]) else { return nil }
            guard let e = a["edges"], let n = a["nodes"] else { s.y.error(at: along, "along needs edges and nodes"); return nil }
            guard let edges = s.selection(e, roles: ["from", "to"], required: ["from", "to"], keyed: false) else { return nil }
            let nodes = s.y.list(n).compactMap { s.selection($0, roles: ["value"], required: ["value"]) }
            return .along(edges: edges, nodes: nodes)
        }
        guard let w = s.required("within"), let sel = s.selection(w, roles: ["group", "sort", "value"], required: ["group", "sort", "value"]) else { return nil }
        return .within(sel)
    }

    var selections: [Selection] {
        switch self {
        case .along(let e, let n): [e] + n
        case .within(let sel): [sel]
        }
    }

    var recheckSubjects: [RecheckLimit.Subject] {
        switch self {
        case .along(let e, let n): [.edges(e)] + n.map { .keyed($0, reported: false) }
        case .within(let sel): [RecheckLimit.Subject(selection: sel, keys: [sel.roles["group"]].compactMap { $0 }, reported: true)]
        }
    }

    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding] {
        switch self {
        case .along: along(run, edges: consumers[0], nodes: Array(consumers.dropFirst()))
        case .within: within(run, consumers[0])
        }
    }

    private func along(_ run: CheckRun, edges: Consumer, nodes: [Consumer]) -> [Finding] {
        let table = run.table
        var rows = CellIndexMap(strings: table.stringCount)
        var kept: [(value: Cell, workflowId: Cell)] = []
        for c in nodes {
            guard let v = c.roleIndex("value") else { continue }
            for i in 0..<c.count where !c.key(i).isNull && rows[c.key(i)] == nil {
                rows[c.key(i)] = kept.count
                kept.append((c.role(i, v), c.workflowId(i)))
            }
        }
        func lookup(_ c: Cell) -> (value: Cell, workflowId: Cell)? { rows[c].map { kept[$0] } }
        guard let fromRole = edges.roleIndex("from"), let toRole = edges.roleIndex("to") else { return [] }
        var out: [Finding] = []
        for i in 0..<edges.count {
            let from = edges.role(i, fromRole), to = edges.role(i, toRole)
            guard let p = lookup(from), let ch = lookup(to), let o = table.order(ch.value, p.value), o < 0 else { continue }
            out.append(Finding(rule: run.rule, key: table.text(to)!, workflowId: table.text(ch.workflowId),
                               evidence: ["parent": table.json(from), "parentValue": table.json(p.value), "childValue": table.json(ch.value),
                                          "along": .string(edges.selection.dataset)]))
        }
        return out
    }

    private func within(_ run: CheckRun, _ c: Consumer) -> [Finding] {
        let table = run.table
        guard let gRole = c.roleIndex("group"), let sRole = c.roleIndex("sort"), let vRole = c.roleIndex("value") else { return [] }
        var slot = CellIndexMap(strings: table.stringCount)
        var groups: [(group: Cell, rows: [Int])] = []
        for i in 0..<c.count where !c.role(i, gRole).isNull {
            let g = c.role(i, gRole)
            if let s = slot[g] { groups[s].rows.append(i) } else { slot[g] = groups.count; groups.append((g, [i])) }
        }
        var out: [Finding] = []
        for (g, indices) in groups {
            let sorted = indices.sorted { a, b in (table.order(c.role(a, sRole), c.role(b, sRole)) ?? 0) < 0 }
            var best: (value: Cell, key: Cell)?
            for i in sorted {
                let v = c.role(i, vRole)
                guard !v.isNull else { continue }
                if let b = best, let o = table.order(v, b.value) {
                    if o < 0, let k = table.text(c.key(i)) {
                        out.append(Finding(rule: run.rule, key: k, workflowId: table.text(c.workflowId(i)) ?? table.text(g),
                                           evidence: ["group": table.json(g), "value": table.json(v), "earlier": table.json(b.key),
                                                      "earlierValue": table.json(b.value), "position": table.json(c.role(i, sRole)),
                                                      "dataset": .string(c.selection.dataset)]))
                    } else if o > 0 {
                        best = (v, c.key(i))
                    }
                } else {
                    best = (v, c.key(i))
                }
            }
        }
        return out
    }
}
