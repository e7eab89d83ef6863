import ConcordCore
import ConcordJSON

/// The generic check kinds, run over the rows their selections kept.
enum Checks {
    typealias Row = Consumer.Row

    static func run(_ check: Check, _ consumers: [Consumer], _ rule: Rule, _ ctx: EvalContext) -> [Finding] {
        switch check {
        case .missing(let from, let absent, let present):
            return missing(Array(consumers[0..<from.count]),
                           absent: Array(consumers[from.count..<(from.count + absent.count)]),
                           present: Array(consumers[(from.count + absent.count)...]), rule)
        case .duplicate: return duplicate(consumers, rule)
        case .orderAlong: return orderAlong(edges: consumers[0], nodes: Array(consumers.dropFirst()), rule)
        case .orderWithin: return orderWithin(consumers[0], rule)
        case .compare(_, _, let fields, let differs, let reportRight, _):
            return compare(consumers[0], consumers[1], Array(consumers.dropFirst(2)), fields, differs, reportRight, rule, ctx)
        case .filter(let sels):
            return zip(sels, consumers).flatMap { s, c in
                c.rows.compactMap { row -> Finding? in
                    guard let key = text(row.report.isNull ? row.key : row.report) else { return nil }
                    return Finding(rule: rule, key: key, workflowId: text(row.workflowId),
                                   evidence: evidence(c, row, ["dataset": .string(s.dataset)]))
                }
            }
        case .schema:
            return consumers.flatMap { c in
                c.rows.compactMap { row -> Finding? in
                    guard let key = text(row.key) else { return nil }
                    var e = evidence(c, row, ["dataset": .string(c.selection.dataset)])
                    if case .object(var o) = e { o["problem"] = row.values.last ?? .null; e = .object(o) }
                    return Finding(rule: rule, key: key, workflowId: text(row.workflowId), evidence: e)
                }
            }
        case .cycle: return cycles(consumers[0], rule)
        case .sequence(_, let start): return sequence(consumers[0], start, rule)
        }
    }

    /// A key as text; nil for null (a record without the key is not judged).
    static func text(_ v: JSON) -> String? {
        switch v {
        case .null: return nil
        case .string(let s): return s
        default: return v.textValue
        }
    }

    static func evidence(_ c: Consumer, _ row: Row, _ extra: [String: JSON] = [:]) -> JSON {
        var o: [String: JSON] = extra
        for (i, v) in c.selection.values.enumerated() where !row.values[i].isNull { o[v.name] = row.values[i] }
        return .object(o)
    }

    // MARK: missing / reference

    static func missing(_ from: [Consumer], absent: [Consumer], present: [Consumer], _ rule: Rule) -> [Finding] {
        let absentSets = absent.map(\.keys)
        let presentSets = present.map(\.keys)
        var out: [Finding] = []
        for c in from {
            for row in c.rows {
                guard let k = text(row.key) else { continue }
                guard !absentSets.contains(where: { $0.contains(k) }), presentSets.allSatisfy({ $0.contains(k) }) else { continue }
                let reported = text(row.report) ?? k
                var extra: [String: JSON] = ["dataset": .string(c.selection.dataset),
                                             "absentFrom": .array(absent.map { .string($0.selection.dataset) })]
                if reported != k { extra["lookedUp"] = .string(k) }
                out.append(Finding(rule: rule, key: reported, workflowId: text(row.workflowId), evidence: evidence(c, row, extra)))
            }
        }
        return out
    }

    // MARK: duplicate

    static func duplicate(_ consumers: [Consumer], _ rule: Rule) -> [Finding] {
        // First pass: counts (and whether a key has more than one distinct value) only.
        struct Tally { var count: Int32 = 0; var firstDistinct: JSON = .null; var varies = false }
        var tallies: [String: Tally] = [:]
        let usesDistinct = consumers.contains { $0.selection.roles["distinct"] != nil }
        for c in consumers {
            let d = c.roleNames.firstIndex(of: "distinct")
            for row in c.rows {
                guard let k = text(row.key) else { continue }
                tallies[k, default: Tally()].count += 1
                if let d {
                    let v = row.roles[d]
                    if tallies[k]!.count == 1 { tallies[k]!.firstDistinct = v } else if tallies[k]!.firstDistinct != v { tallies[k]!.varies = true }
                }
            }
        }
        let flagged = Set(tallies.compactMap { k, t in (usesDistinct ? t.varies : t.count > 1) ? k : nil })
        guard !flagged.isEmpty else { return [] }
        // Second pass, for the flagged keys only: the evidence.
        struct Group { var count = 0; var distinct: Set<String> = []; var workflowId: JSON = .null; var datasets: Set<String> = [] }
        var groups: [String: Group] = [:]
        for c in consumers {
            for row in c.rows {
                guard let k = text(row.key), flagged.contains(k) else { continue }
                var g = groups[k] ?? Group()
                g.count += 1
                if usesDistinct { g.distinct.insert(c.role(row, "distinct").textValue) }
                if g.workflowId.isNull { g.workflowId = row.workflowId }
                g.datasets.insert(c.selection.dataset)
                groups[k] = g
            }
        }
        return groups.compactMap { k, g in
            var e: [String: JSON] = ["count": .int(Int64(g.count)), "datasets": .array(g.datasets.sorted().map(JSON.string))]
            if usesDistinct { e["distinct"] = .array(g.distinct.sorted().map(JSON.string)) }
            return Finding(rule: rule, key: k, workflowId: text(g.workflowId), evidence: .object(e))
        }
    }

    // MARK: order

    static func orderAlong(edges: Consumer, nodes: [Consumer], _ rule: Rule) -> [Finding] {
        var index: [String: (value: JSON, workflowId: JSON)] = [:]
        for c in nodes {
            for row in c.rows {
                guard let k = text(row.key), index[k] == nil else { continue }
                index[k] = (c.role(row, "value"), row.workflowId)
            }
        }
        var out: [Finding] = []
        for row in edges.rows {
            guard let from = text(edges.role(row, "from")), let to = text(edges.role(row, "to")),
                let p = index[from], let ch = index[to], let o = JSON.order(ch.value, p.value), o < 0
            else { continue }
            out.append(Finding(rule: rule, key: to, workflowId: text(ch.workflowId),
                               evidence: ["parent": .string(from), "parentValue": p.value, "childValue": ch.value, "along": .string(edges.selection.dataset)]))
        }
        return out
    }

    static func orderWithin(_ c: Consumer, _ rule: Rule) -> [Finding] {
        var groups: [String: [Int]] = [:]
        for (i, row) in c.rows.enumerated() {
            guard let g = text(c.role(row, "group")) else { continue }
            groups[g, default: []].append(i)
        }
        var out: [Finding] = []
        for (g, indices) in groups {
            let sorted = indices.sorted { a, b in (JSON.order(c.role(c.rows[a], "sort"), c.role(c.rows[b], "sort")) ?? 0) < 0 }
            var best: (value: JSON, key: JSON)?
            for i in sorted {
                let row = c.rows[i]
                let v = c.role(row, "value")
                guard !v.isNull else { continue }
                if let b = best, let o = JSON.order(v, b.value) {
                    if o < 0, let k = text(row.key) {
                        out.append(Finding(rule: rule, key: k, workflowId: text(row.workflowId) ?? g,
                                           evidence: ["group": .string(g), "value": v, "earlier": b.key, "earlierValue": b.value,
                                                      "position": c.role(row, "sort"), "dataset": .string(c.selection.dataset)]))
                    } else if o > 0 {
                        best = (v, row.key)
                    }
                } else {
                    best = (v, row.key)
                }
            }
        }
        return out
    }

    // MARK: compare

    /// Row indices by key: the one with the greatest `pick` when the selection
    /// has one, else every row (most keys have one, kept without an array).
    struct KeyIndex {
        var first: [String: Int] = [:]
        var more: [String: [Int]] = [:]

        func rows(_ k: String) -> [Int] {
            guard let f = first[k] else { return [] }
            return [f] + (more[k] ?? [])
        }
    }

    static func index(_ c: Consumer) -> KeyIndex {
        var idx = KeyIndex()
        idx.first.reserveCapacity(c.rows.count)
        let pick = c.roleNames.firstIndex(of: "pick")
        for (i, row) in c.rows.enumerated() {
            guard let k = text(row.key) else { continue }
            if let cur = idx.first[k] {
                if let p = pick {
                    if let o = JSON.order(row.roles[p], c.rows[cur].roles[p]), o > 0 { idx.first[k] = i }
                } else {
                    idx.more[k, default: []].append(i)
                }
            } else {
                idx.first[k] = i
            }
        }
        return idx
    }

    static func compare(_ left: Consumer, _ right: Consumer, _ except: [Consumer], _ fields: [String], _ differs: Expr?, _ reportRight: Bool,
                        _ rule: Rule, _ ctx: EvalContext) -> [Finding] {
        let excepted = except.reduce(into: Set<String>()) { $0.formUnion($1.keys) }
        let l = index(left)
        let r = index(right)
        let lIndex = fields.map { f in left.selection.values.firstIndex { $0.name == f }! }
        let rIndex = fields.map { f in right.selection.values.firstIndex { $0.name == f }! }
        var out: [Finding] = []
        func visit(_ k: String, _ li: Int) {
            guard !excepted.contains(k), let rf = r.first[k] else { return }
            let lr = left.rows[li]
            for ri in (r.more[k] == nil ? [rf] : r.rows(k)) {
                let rr = right.rows[ri]
                var diffs: [String] = []
                for (i, f) in fields.enumerated() where !JSON.looselyEqual(lr.values[lIndex[i]], rr.values[rIndex[i]]) { diffs.append(f) }
                var objects: (JSON, JSON)?
                if let differs {
                    let o = (left.object(lr), right.object(rr))
                    objects = o
                    guard !diffs.isEmpty || differs.evaluate([.null, o.0, o.1], ctx).truthy else { continue }
                } else if diffs.isEmpty {
                    continue
                }
                let (lo, ro) = objects ?? (left.object(lr), right.object(rr))
                let row = reportRight ? rr : lr
                let key = text(row.report) ?? text(row.key) ?? k
                var e: [String: JSON] = ["left": lo, "right": ro, "leftDataset": .string(left.selection.dataset),
                                         "rightDataset": .string(right.selection.dataset)]
                if !diffs.isEmpty { e["fields"] = .array(diffs.map(JSON.string)) }
                out.append(Finding(rule: rule, key: key, workflowId: text(lr.workflowId) ?? text(rr.workflowId), evidence: .object(e)))
            }
        }
        for (k, li) in l.first {
            visit(k, li)
            for more in l.more[k] ?? [] { visit(k, more) }
        }
        return out
    }

    // MARK: cycle

    /// Strongly connected components (iterative Tarjan); a component of more
    /// than one key, or a key with an edge to itself, is a cycle.
    static func cycles(_ c: Consumer, _ rule: Rule) -> [Finding] {
        var ids: [String: Int] = [:]
        var names: [String] = []
        var workflow: [JSON] = []
        func id(_ s: String) -> Int {
            if let i = ids[s] { return i }
            ids[s] = names.count
            names.append(s)
            workflow.append(.null)
            return names.count - 1
        }
        var adj: [[Int]] = []
        var selfLoop: Set<Int> = []
        for row in c.rows {
            guard let f = text(c.role(row, "from")), let t = text(c.role(row, "to")) else { continue }
            let a = id(f), b = id(t)
            while adj.count < names.count { adj.append([]) }
            adj[a].append(b)
            if workflow[b].isNull { workflow[b] = row.workflowId }
            if a == b { selfLoop.insert(a) }
        }
        while adj.count < names.count { adj.append([]) }
        let n = names.count
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
                            let members = component.map { names[$0] }.sorted()
                            let key = members[0]
                            out.append(Finding(rule: rule, key: key, workflowId: text(workflow[ids[key]!]),
                                               evidence: ["members": .array(members.map(JSON.string)), "length": .int(Int64(members.count))]))
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: sequence

    static func sequence(_ c: Consumer, _ start: Int64, _ rule: Rule) -> [Finding] {
        var groups: [String: (positions: [Int64], workflowId: JSON)] = [:]
        for row in c.rows {
            guard let g = text(c.role(row, "group")) else { continue }
            groups[g, default: ([], row.workflowId)].positions.append(c.role(row, "sort").intValue ?? Int64.min)
        }
        return groups.compactMap { g, v in
            let sorted = v.positions.sorted()
            let expected = (0..<Int64(sorted.count)).map { start + $0 }
            guard sorted != expected else { return nil }
            return Finding(rule: rule, key: g, workflowId: text(v.workflowId),
                           evidence: ["positions": .array(sorted.map(JSON.int)), "expectedFrom": .int(start), "dataset": .string(c.selection.dataset)])
        }
    }
}
