import ConcordCore
import ConcordJSON

/// The generic check kinds, run over the cells their selections kept.
struct Checks {
    let table: CellTable
    let rule: Rule
    let ctx: EvalContext

    func run(_ check: Check, _ consumers: [Consumer]) -> [Finding] {
        switch check {
        case .missing(let from, let absent, let present):
            return missing(Array(consumers[0..<from.count]),
                           absent: Array(consumers[from.count..<(from.count + absent.count)]),
                           present: Array(consumers[(from.count + absent.count)...]))
        case .duplicate: return duplicate(consumers)
        case .orderAlong: return orderAlong(edges: consumers[0], nodes: Array(consumers.dropFirst()))
        case .orderWithin: return orderWithin(consumers[0])
        case .compare(_, _, let fields, let differs, let reportRight, _):
            return compare(consumers[0], consumers[1], Array(consumers.dropFirst(2)), fields, differs, reportRight)
        case .filter:
            return consumers.flatMap { c in
                (0..<c.count).compactMap { i -> Finding? in
                    guard let key = table.text(c.report(i).isNull ? c.key(i) : c.report(i)) else { return nil }
                    return Finding(rule: rule, key: key, workflowId: table.text(c.workflowId(i)),
                                   evidence: evidence(c, i, ["dataset": .string(c.selection.dataset)]))
                }
            }
        case .schema:
            return consumers.flatMap { c in
                (0..<c.count).compactMap { i -> Finding? in
                    guard let key = table.text(c.key(i)) else { return nil }
                    let e = evidence(c, i, ["dataset": .string(c.selection.dataset), "problem": c.problem(i)])
                    return Finding(rule: rule, key: key, workflowId: table.text(c.workflowId(i)), evidence: e)
                }
            }
        case .cycle: return cycles(consumers[0])
        case .reachable(_, let roots, _):
            return reachable(consumers[0], roots: Array(consumers[1...roots.count]), edges: Array(consumers[(1 + roots.count)...]))
        case .sequence(_, let start): return sequence(consumers[0], start)
        }
    }

    func evidence(_ c: Consumer, _ i: Int, _ extra: [String: JSON] = [:]) -> JSON {
        var o: [String: JSON] = extra
        for (v, named) in c.selection.values.enumerated() where !c.value(i, v).isNull { o[named.name] = table.json(c.value(i, v)) }
        return .object(o)
    }

    // MARK: missing / reference

    func missing(_ from: [Consumer], absent: [Consumer], present: [Consumer]) -> [Finding] {
        var out: [Finding] = []
        for c in from {
            for i in 0..<c.count {
                let k = c.key(i)
                guard !k.isNull, !absent.contains(where: { $0.keys.contains(k) }), present.allSatisfy({ $0.keys.contains(k) }) else { continue }
                let key = table.text(k)!
                let reported = table.text(c.report(i)) ?? key
                var extra: [String: JSON] = ["dataset": .string(c.selection.dataset),
                                             "absentFrom": .array(absent.map { .string($0.selection.dataset) })]
                if reported != key { extra["lookedUp"] = .string(key) }
                out.append(Finding(rule: rule, key: reported, workflowId: table.text(c.workflowId(i)), evidence: evidence(c, i, extra)))
            }
        }
        return out
    }

    // MARK: duplicate

    func duplicate(_ consumers: [Consumer]) -> [Finding] {
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
            return Finding(rule: rule, key: table.text(k)!, workflowId: table.text(g.workflowId), evidence: .object(e))
        }
    }

    // MARK: order

    func orderAlong(edges: Consumer, nodes: [Consumer]) -> [Finding] {
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
            out.append(Finding(rule: rule, key: table.text(to)!, workflowId: table.text(ch.workflowId),
                               evidence: ["parent": table.json(from), "parentValue": table.json(p.value), "childValue": table.json(ch.value),
                                          "along": .string(edges.selection.dataset)]))
        }
        return out
    }

    func orderWithin(_ c: Consumer) -> [Finding] {
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
                        out.append(Finding(rule: rule, key: k, workflowId: table.text(c.workflowId(i)) ?? table.text(g),
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

    // MARK: compare

    /// Row indices by key: the one with the greatest `pick` when the selection
    /// has one, else every row (most keys have one, kept without an array).
    struct KeyIndex {
        var first: CellIndexMap
        var more: [Cell: [Int]] = [:]
    }

    func index(_ c: Consumer) -> KeyIndex {
        var idx = KeyIndex(first: CellIndexMap(strings: table.stringCount))
        let pick = c.roleIndex("pick")
        for i in 0..<c.count {
            let k = c.key(i)
            guard !k.isNull else { continue }
            if let cur = idx.first[k] {
                if let p = pick {
                    if let o = table.order(c.role(i, p), c.role(cur, p)), o > 0 { idx.first[k] = i }
                } else {
                    idx.more[k, default: []].append(i)
                }
            } else {
                idx.first[k] = i
            }
        }
        return idx
    }

    func compare(_ left: Consumer, _ right: Consumer, _ except: [Consumer], _ fields: [String], _ differs: Expr?, _ reportRight: Bool) -> [Finding] {
        let excepted = except.reduce(into: CellSet()) { $0.formUnion($1.keys) }
        let l = index(left)
        let r = index(right)
        let lIndex = fields.map { f in left.selection.values.firstIndex { $0.name == f }! }
        let rIndex = fields.map { f in right.selection.values.firstIndex { $0.name == f }! }
        var out: [Finding] = []
        func visit(_ k: Cell, _ li: Int) {
            guard !excepted.contains(k), let rf = r.first[k] else { return }
            for ri in [rf] + (r.more[k] ?? []) {
                var diffs: [String] = []
                for (n, f) in fields.enumerated() where !table.equal(left.value(li, lIndex[n]), right.value(ri, rIndex[n])) { diffs.append(f) }
                var objects: (JSON, JSON)?
                if let differs {
                    let o = (left.object(li), right.object(ri))
                    objects = o
                    guard !diffs.isEmpty || differs.evaluate([.null, o.0, o.1], ctx).truthy else { continue }
                } else if diffs.isEmpty {
                    continue
                }
                let (lo, ro) = objects ?? (left.object(li), right.object(ri))
                let reported = reportRight ? (right.report(ri).isNull ? right.key(ri) : right.report(ri)) : (left.report(li).isNull ? left.key(li) : left.report(li))
                var e: [String: JSON] = ["left": lo, "right": ro, "leftDataset": .string(left.selection.dataset),
                                         "rightDataset": .string(right.selection.dataset)]
                if !diffs.isEmpty { e["fields"] = .array(diffs.map(JSON.string)) }
                out.append(Finding(rule: rule, key: table.text(reported) ?? table.text(k)!,
                                   workflowId: table.text(left.workflowId(li)) ?? table.text(right.workflowId(ri)), evidence: .object(e)))
            }
        }
        // Every left row whose key is first or repeated, once per row (picked rows only when the selection picks).
        for li in 0..<left.count {
            let k = left.key(li)
            guard !k.isNull, let first = l.first[k] else { continue }
            if first == li || (l.more[k]?.contains(li) ?? false) { visit(k, li) }
        }
        return out
    }

    // MARK: cycle

    /// Strongly connected components (iterative Tarjan); a component of more
    /// than one key, or a key with an edge to itself, is a cycle.
    func cycles(_ c: Consumer) -> [Finding] {
        guard let fromRole = c.roleIndex("from"), let toRole = c.roleIndex("to") else { return [] }
        var ids = CellIndexMap(strings: table.stringCount)
        var names: [Cell] = []
        var workflow: [Cell] = []
        func id(_ s: Cell) -> Int {
            if let i = ids[s] { return i }
            ids[s] = names.count
            names.append(s)
            workflow.append(.null)
            return names.count - 1
        }
        var edges: [(Int, Int)] = []
        var selfLoop: Set<Int> = []
        for i in 0..<c.count {
            let f = c.role(i, fromRole), t = c.role(i, toRole)
            guard !f.isNull, !t.isNull else { continue }
            let a = id(f), b = id(t)
            edges.append((a, b))
            if workflow[b].isNull { workflow[b] = c.workflowId(i) }
            if a == b { selfLoop.insert(a) }
        }
        let n = names.count
        var adj = [[Int]](repeating: [], count: n)
        for (a, b) in edges { adj[a].append(b) }
        var index = [Int](repeating: -1, count: n), low = [Int](repeating: 0, count: n)
        var onStack = [Bool](repeating: false, count: n)
        var stack: [Int] = []
        var counter = 0
        var out: [Finding] = []
        for root in 0..<n where index[root] < 0 {
            var work: [(v: Int, next: Int)] = [(root, 0)]
            index[root] = counter; low[root] = counter; counter += 1
            stack.append(root); onStack[root] = true
            while let top = work.last {
                let v = top.v
                if top.next < adj[v].count {
                    work[work.count - 1].next += 1
                    let w = adj[v][top.next]
                    if index[w] < 0 {
                        index[w] = counter; low[w] = counter; counter += 1
                        stack.append(w); onStack[w] = true
                        work.append((w, 0))
                    } else if onStack[w] {
                        low[v] = min(low[v], index[w])
                    }
                } else {
                    work.removeLast()
                    if let parent = work.last?.v { low[parent] = min(low[parent], low[v]) }
                    if low[v] == index[v] {
                        var component: [Int] = []
                        while let w = stack.popLast() {
                            onStack[w] = false
                            component.append(w)
                            if w == v { break }
                        }
                        if component.count > 1 || selfLoop.contains(v) {
                            let members = component.map { (table.text(names[$0]) ?? "", $0) }.sorted { $0.0 < $1.0 }
                            out.append(Finding(rule: rule, key: members[0].0, workflowId: table.text(workflow[members[0].1]),
                                               evidence: ["members": .array(members.map { .string($0.0) }), "length": .int(Int64(members.count))]))
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: reachable

    /// Breadth-first from every root key along the edges (iterative: no
    /// recursion limit, each key visited once); every node key not reached
    /// is a finding, reported once.
    func reachable(_ nodes: Consumer, roots: [Consumer], edges: [Consumer]) -> [Finding] {
        var adjacency: [Cell: [Cell]] = [:]
        for c in edges {
            guard let f = c.roleIndex("from"), let t = c.roleIndex("to") else { continue }
            for i in 0..<c.count where !c.role(i, f).isNull && !c.role(i, t).isNull {
                adjacency[c.role(i, f), default: []].append(c.role(i, t))
            }
        }
        var reached = CellSet()
        var queue: [Cell] = []
        for r in roots {
            for i in 0..<r.count where !r.key(i).isNull && !reached.contains(r.key(i)) {
                reached.insert(r.key(i))
                queue.append(r.key(i))
            }
        }
        var head = 0
        while head < queue.count {
            let v = queue[head]
            head += 1
            for w in adjacency[v] ?? [] where !reached.contains(w) {
                reached.insert(w)
                queue.append(w)
            }
        }
        var out: [Finding] = []
        var reported = CellSet()
        for i in 0..<nodes.count {
            let k = nodes.key(i)
            guard !k.isNull, !reached.contains(k), !reported.contains(k), let key = table.text(k) else { continue }
            reported.insert(k)
            out.append(Finding(rule: rule, key: key, workflowId: table.text(nodes.workflowId(i)),
                               evidence: evidence(nodes, i, ["dataset": .string(nodes.selection.dataset),
                                                             "roots": .array(roots.map { .string($0.selection.dataset) })])))
        }
        return out
    }

    // MARK: sequence

    func sequence(_ c: Consumer, _ start: Int64) -> [Finding] {
        guard let gRole = c.roleIndex("group"), let sRole = c.roleIndex("sort") else { return [] }
        var groups: [Cell: (positions: [Int64], workflowId: Cell)] = [:]
        for i in 0..<c.count where !c.role(i, gRole).isNull {
            let p = c.role(i, sRole)
            groups[c.role(i, gRole), default: ([], c.workflowId(i))].positions.append(p.isInt ? p.int : Int64.min)
        }
        return groups.compactMap { g, v in
            let sorted = v.positions.sorted()
            guard sorted != (0..<Int64(sorted.count)).map({ start + $0 }) else { return nil }
            return Finding(rule: rule, key: table.text(g)!, workflowId: table.text(v.workflowId),
                           evidence: ["positions": .array(sorted.map(JSON.int)), "expectedFrom": .int(start), "dataset": .string(c.selection.dataset)])
        }
    }
}
