import ConcordJSON

/// `cycle`: a cycle along `edges` (a key with an edge to itself included); keyed by the smallest key on it.
struct CycleCheck: CheckKind {
    static let names = ["cycle"]
    var edges: Selection

    static func compile(_ s: CheckSource) -> CycleCheck? {
        s.allow(["edges"])
        guard let e = s.required("edges"), let sel = s.selection(e, roles: ["from", "to"], required: ["from", "to"], keyed: false) else { return nil }
        return CycleCheck(edges: sel)
    }

    var selections: [Selection] { [edges] }
    var recheckSubjects: [RecheckLimit.Subject] { [.edges(edges)] }

    /// Strongly connected components (iterative Tarjan); a component of more
    /// than one key, or a key with an edge to itself, is a cycle.
    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding] {
        let c = consumers[0], table = run.table
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
                            out.append(Finding(rule: run.rule, key: members[0].0, workflowId: table.text(workflow[members[0].1]),
                                               evidence: ["members": .array(members.map { .string($0.0) }), "length": .int(Int64(members.count))]))
                        }
                    }
                }
            }
        }
        return out
    }
}
