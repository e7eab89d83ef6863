import ConcordJSON

/// `reachable`: a record of `nodes` that no path along `edges` (from → to) reaches from a key of `roots`.
struct ReachableCheck: CheckKind {
    static let names = ["reachable"]
    var nodes: Selection
    var roots: [Selection]
    var edges: [Selection]

    static func compile(_ s: CheckSource) -> ReachableCheck? {
        s.allow(["nodes", "roots", "edges"])
        guard let n = s.required("nodes"), let nodes = s.selection(n) else { return nil }
        let roots = s.selections("roots")
        guard let e = s.required("edges") else { return nil }
        let edges = s.y.list(e).compactMap { s.selection($0, roles: ["from", "to"], required: ["from", "to"], keyed: false) }
        guard !roots.isEmpty, !edges.isEmpty else { return nil }
        return ReachableCheck(nodes: nodes, roots: roots, edges: edges)
    }

    var selections: [Selection] { [nodes] + roots + edges }
    var recheckSubjects: [RecheckLimit.Subject] {
        [.keyed(nodes, reported: true)] + roots.map { .keyed($0, reported: false) } + edges.map { .edges($0, reported: false) }
    }

    /// Breadth-first from every root key along the edges (iterative: no
    /// recursion limit, each key visited once); every node key not reached
    /// is a finding, reported once.
    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding] {
        let nodesC = consumers[0], rootsC = consumers[1...roots.count], edgesC = consumers[(1 + roots.count)...]
        var adjacency: [Cell: [Cell]] = [:]
        for c in edgesC {
            guard let f = c.roleIndex("from"), let t = c.roleIndex("to") else { continue }
            for i in 0..<c.count where !c.role(i, f).isNull && !c.role(i, t).isNull {
                adjacency[c.role(i, f), default: []].append(c.role(i, t))
            }
        }
        var reached = CellSet()
        var queue: [Cell] = []
        for r in rootsC {
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
        for i in 0..<nodesC.count {
            let k = nodesC.key(i)
            guard !k.isNull, !reached.contains(k), !reported.contains(k), let key = run.table.text(k) else { continue }
            reported.insert(k)
            out.append(Finding(rule: run.rule, key: key, workflowId: run.table.text(nodesC.workflowId(i)),
                               evidence: run.evidence(nodesC, i, ["dataset": .string(nodesC.selection.dataset),
                                                                  "roots": .array(rootsC.map { .string($0.selection.dataset) })])))
        }
        return out
    }
}
