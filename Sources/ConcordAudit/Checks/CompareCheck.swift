import ConcordJSON

/// `compare`: records of `left` and `right` with the same key that disagree on `fields` (or for which
/// `differs` holds), unless the key is in one of `exceptIn`. A side with a `pick` role keeps, per key, the
/// record with the greatest pick.
struct CompareCheck: CheckKind {
    static let names = ["compare"]
    var left: Selection
    var right: Selection
    var fields: [String]
    var differs: Expr?
    var reportRight: Bool
    var except: [Selection]

    static func compile(_ s: CheckSource) -> CompareCheck? {
        s.allow(["left", "right", "fields", "differs", "report", "exceptIn"])
        guard let l = s.required("left"), let r = s.required("right"),
            let left = s.selection(l, roles: ["pick"]), let right = s.selection(r, roles: ["pick"])
        else { return nil }
        let fields = s.y.list(s["fields"]).compactMap { $0.scalar?.string }
        for f in fields {
            for (side, sel) in [("left", left), ("right", right)] where !sel.values.contains(where: { $0.name == f }) {
                s.y.error(at: s["fields"], "field '\(f)' is not among the \(side) side's values (\(sel.values.map(\.name).joined(separator: ", ")))")
            }
        }
        var differs: Expr?
        if let d = s["differs"] {
            differs = s.compiler.expr(d, bindings: ["left", "right"], implicit: false, sides: [left, right])
        }
        if fields.isEmpty && differs == nil { s.y.error(at: s.node, "compare needs fields or differs") }
        let report = s["report"]?.scalar?.string ?? "left"
        if report != "left" && report != "right" { s.y.error(at: s["report"], "report must be left or right") }
        let except = s["exceptIn"] == nil ? [] : s.selections("exceptIn")
        return CompareCheck(left: left, right: right, fields: fields, differs: differs, reportRight: report == "right", except: except)
    }

    var selections: [Selection] { [left, right] + except }
    var lookupSelectionCount: Int { except.count }
    var recheckSubjects: [RecheckLimit.Subject] { [.keyed(left, reported: !reportRight), .keyed(right, reported: reportRight)] }
    var unwatchedExpressions: [Expr] { differs.map { [$0] } ?? [] }

    /// Row indices by key: the one with the greatest `pick` when the selection
    /// has one, else every row (most keys have one, kept without an array).
    struct KeyIndex {
        var first: CellIndexMap
        var more: [Cell: [Int]] = [:]
    }

    static func index(_ c: Consumer, _ table: CellTable) -> KeyIndex {
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

    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding] {
        let table = run.table
        let (left, right) = (consumers[0], consumers[1])
        let excepted = consumers.dropFirst(2).reduce(into: CellSet()) { $0.formUnion($1.keys) }
        let l = Self.index(left, table)
        let r = Self.index(right, table)
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
                    guard !diffs.isEmpty || differs.evaluate([.null, o.0, o.1], run.ctx).truthy else { continue }
                } else if diffs.isEmpty {
                    continue
                }
                let (lo, ro) = objects ?? (left.object(li), right.object(ri))
                let reported = reportRight ? run.reportedKey(right, ri) : run.reportedKey(left, li)
                var e: [String: JSON] = ["left": lo, "right": ro, "leftDataset": .string(left.selection.dataset),
                                         "rightDataset": .string(right.selection.dataset)]
                if !diffs.isEmpty { e["fields"] = .array(diffs.map(JSON.string)) }
                out.append(Finding(rule: run.rule, key: table.text(reported) ?? table.text(k)!,
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
}
