import ConcordJSON

/// `schema`: a record of `in` whose `value` is not a JSON object, lacks a `require`d field or has it of
/// another type, or fails an `assert`. Its selections keep only the records that fail, with the problem.
struct SchemaCheck: CheckKind {
    static let names = ["schema"]
    static let requireTypes: Set<String> = ["string", "nonempty-string", "integer", "number", "boolean", "object", "array", "any"]
    var within: [Selection]
    var value: Expr
    var require: [(path: [String], type: String)]
    var asserts: [(expr: Expr, message: String)]

    static func compile(_ s: CheckSource) -> SchemaCheck? {
        s.allow(["in", "value", "require", "assert"])
        let sels = s.selections("in")
        guard let v = s.required("value") else { return nil }
        let value = sels.first.flatMap { s.compiler.expr(v, dataset: s.datasets[$0.dataset]) } ?? s.compiler.expr(v, dataset: nil)
        var require: [(path: [String], type: String)] = []
        if let r = s.y.mapping(s["require"], "require") {
            for (path, t) in r.sorted(by: { $0.key < $1.key }) {
                let type = t.scalar?.string ?? ""
                if !requireTypes.contains(type) { s.y.error(at: t, "unknown type '\(type)' (\(requireTypes.sorted().joined(separator: ", ")))") }
                require.append((path.split(separator: ".").map(String.init), type))
            }
        }
        var asserts: [(expr: Expr, message: String)] = []
        for a in s.y.list(s["assert"]) {
            guard let am = s.y.mapping(a, "assert", allowed: ["expr", "message"]), let en = am["expr"] else { s.y.error(at: a, "assert needs expr and message"); continue }
            if let e = s.compiler.expr(en, bindings: ["value"], implicit: false, sides: []) {
                asserts.append((e, am["message"]?.scalar?.string ?? "fails \(en.scalar?.string ?? "")"))
            }
        }
        guard let value else { return nil }
        return SchemaCheck(within: sels, value: value, require: require, asserts: asserts)
    }

    var selections: [Selection] { within }
    var recheckSubjects: [RecheckLimit.Subject] { within.map { .keyed($0, reported: true) } }
    var unwatchedExpressions: [Expr] { [value] + asserts.map(\.expr) }

    /// Each selection validates the records it is fed and keeps only those that fail, with their problem.
    func consumers(table: CellTable, context: EvalContext) -> [Consumer]? {
        let (value, require, asserts) = (value, require, asserts)
        let needs = validationNeeds
        return within.map { s in
            Consumer(s, table: table, validate: { record in Self.validate(value.evaluate([record], context), require, asserts, context) },
                     validationNeeds: needs)
        }
    }

    /// What the validation reads of a record: the value (kept an object), the required fields (only
    /// presence for `any`) and what the assertions read.
    var validationNeeds: JSONProjection? {
        guard case .path(0, let at) = value else { return value.needs(slot: 0) }
        var p = JSONProjection.path(at[...], .members([:]))
        for r in require { p = p.merged(with: .path((at + r.path)[...], r.type == "any" ? .presence : .whole)) }
        for a in asserts { if let n = a.expr.needs(slot: 1) { p = p.merged(with: .path(at[...], n)) } }
        return p
    }

    /// The problem with `value`, or nil when it passes.
    static func validate(_ value: JSON, _ require: [(path: [String], type: String)], _ asserts: [(expr: Expr, message: String)], _ ctx: EvalContext) -> String? {
        guard case .object = value else {
            return value.isNull ? "not JSON" : "a JSON \(value.typeName), not an object"
        }
        for (path, type) in require {
            var found: JSON? = value
            for p in path { found = found?[p] }
            guard let v = found, !(v.isNull && type != "any") else { return "missing field \(path.joined(separator: "."))" }
            let ok: Bool
            switch type {
            case "string": ok = v.stringValue != nil
            case "nonempty-string": ok = !(v.stringValue ?? "").isEmpty
            case "integer": if case .int = v { ok = true } else { ok = false }
            case "number": ok = v.doubleValue != nil
            case "boolean": ok = v.boolValue != nil
            case "object": ok = v.objectValue != nil
            case "array": ok = v.arrayValue != nil
            default: ok = true
            }
            if !ok { return "\(path.joined(separator: ".")) must be \(type == "nonempty-string" ? "a non-empty string" : "a(n) \(type)"), not \(v.typeName)" }
        }
        for a in asserts where !a.expr.evaluate([.null, value], ctx).truthy { return a.message }
        return nil
    }

    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding] {
        consumers.flatMap { c in
            (0..<c.count).compactMap { i -> Finding? in
                guard let key = run.table.text(c.key(i)) else { return nil }
                let e = run.evidence(c, i, ["dataset": .string(c.selection.dataset), "problem": c.problem(i)])
                return Finding(rule: run.rule, key: key, workflowId: run.table.text(c.workflowId(i)), evidence: e)
            }
        }
    }
}
