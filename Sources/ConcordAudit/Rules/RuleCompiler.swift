import ConcordCore
import ConcordJSON
import Foundation
import Yams

/// Turns one rule file into a `Rule`, reporting every problem with its position.
final class RuleCompiler {
    let y: YAMLReader
    let datasets: DatasetCatalog

    init(file: String, datasets: DatasetCatalog) {
        y = YAMLReader(file: file)
        self.datasets = datasets
    }

    static let severities = Rule.Severity.allCases.map(\.rawValue)
    static let stores = ["postgres", "redis", "graph", "github"]

    func compile(_ text: String) -> Rule? {
        guard let rootNode = y.compose(text) else { return nil }
        guard let root = y.mapping(rootNode, "a rule file", allowed: ["version", "id", "severity", "store", "description", "message", "check", "checks", "repair"]) else { return nil }
        if root["version"]?.int != 1 {
            y.error(at: root["version"] ?? rootNode, root["version"] == nil ? "missing version (this engine reads version 1)" : "unsupported rule format version '\(root["version"]?.scalar?.string ?? "")'; this engine reads version 1")
        }
        let id = y.string(root["id"], "id", parent: rootNode) ?? ""
        if !id.isEmpty, !id.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) {
            y.error(at: root["id"], "id may hold letters, digits, '.', '_' and '-'")
        }
        let sevText = y.string(root["severity"], "severity", parent: rootNode) ?? "error"
        let severity = Rule.Severity(rawValue: sevText)
        if severity == nil { y.error(at: root["severity"], "unknown severity '\(sevText)' (\(Self.severities.joined(separator: ", ")))") }
        let store = y.string(root["store"], "store", parent: rootNode) ?? ""
        if !store.isEmpty, !Self.stores.contains(store) { y.error(at: root["store"], "unknown store '\(store)' (\(Self.stores.joined(separator: ", ")))") }
        let description = y.string(root["description"], "description", parent: rootNode) ?? ""
        let message = y.string(root["message"], "message", required: false) ?? description
        var repair: JSON = .null
        if let r = root["repair"] {
            repair = Self.json(r)
            checkRepair(r)
        } else {
            y.error(at: rootNode, "missing repair (the action a plan takes; 'manual' when none is safe)")
        }
        var checks: [Check] = []
        var kinds: [String] = []
        let checkNodes: [Node]
        if let c = root["check"] { checkNodes = [c] } else if let c = root["checks"] { checkNodes = y.list(c) } else {
            y.error(at: rootNode, "missing check")
            checkNodes = []
        }
        for node in checkNodes {
            if let (kind, check) = compileCheck(node) {
                kinds.append(kind)
                checks.append(check)
            }
        }
        guard !id.isEmpty, let severity, !checks.isEmpty else { return nil }
        if let r = root["repair"] { checkGenericRepair(r, checks) }
        for limit in RecheckLimit.limits(of: checks, datasets: datasets) where !limit.needsRun {
            y.warningAt(line: limit.line, column: limit.column,
                        "this rule's findings cannot be rechecked: \(limit.reason); they are reported with recheck: unavailable (add the field to the dataset's lookup, or key the finding by one)")
        }
        return Rule(id: id, severity: severity, description: description, store: store, message: message,
                    kinds: kinds, checks: checks, repair: repair, file: y.file, line: rootNode.mark?.line ?? 1)
    }

    /// The repair block names an action of the vocabulary, with only its keys,
    /// and every dataset it names is declared.
    func checkRepair(_ node: Node) {
        guard let m = y.mapping(node, "repair") else { return }
        guard let actionNode = m["action"], let name = actionNode.scalar?.string else {
            y.error(at: node, "repair needs an action (\(RepairVocabulary.names.joined(separator: ", ")))")
            return
        }
        guard let action = RepairVocabulary.actions[name] else {
            y.error(at: actionNode, "unknown repair action '\(name)' (known: \(RepairVocabulary.names.joined(separator: ", ")))")
            return
        }
        let allowed = action.keys.union(RepairVocabulary.descriptive).union(["action"])
        for (k, _) in node.mapping ?? [:] {
            guard let key = k.scalar?.string, !allowed.contains(key) else { continue }
            y.error(at: k, "unknown key '\(key)' for repair action \(name) (allowed: \(allowed.subtracting(["action"]).sorted().joined(separator: ", ")))")
        }
        for k in action.required.sorted() where m[k] == nil {
            y.error(at: node, "repair action \(name) needs '\(k)'")
        }
        for k in ["dataset", "winner", "from"] {
            for n in y.list(m[k]) {
                guard let d = n.scalar?.string, d.contains("."), datasets[d] == nil else { continue }
                y.error(at: n, "unknown dataset '\(d)' in repair.\(k) (declared: \(datasets.specs.keys.sorted().joined(separator: ", ")))")
            }
        }
    }

    /// `set-field` writes one side of a compare with the other side's values:
    /// its dataset is a side of a compare check, and each field a value of both sides.
    func checkGenericRepair(_ node: Node, _ checks: [Check]) {
        guard let m = node.mapping, m["action"]?.scalar?.string == "set-field", let dataset = m["dataset"]?.scalar?.string,
            datasets[dataset] != nil  // an unknown one is reported already
        else { return }
        let compares = checks.compactMap { ($0.kind as? CompareCheck).map { ($0.left, $0.right) } }
        guard let (l, r) = compares.first(where: { $0.0.dataset == dataset || $0.1.dataset == dataset }) else {
            y.error(at: m["dataset"], "set-field writes a side of a compare check; no compare in this rule reads \(dataset)")
            return
        }
        let spec = datasets[dataset]
        for f in y.list(m["fields"]) {
            guard let name = f.scalar?.string else { continue }
            for (side, s) in [("left", l), ("right", r)] where !s.values.contains(where: { $0.name == name }) {
                y.error(at: f, "set-field field '\(name)' is not a value of the compare's \(side) side (\(s.values.map(\.name).joined(separator: ", ")))")
            }
            if let spec, !spec.fields.isEmpty, !spec.fields.contains(name) {
                y.error(at: f, "set-field field '\(name)' is not a field of \(dataset) (\(spec.fields.sorted().joined(separator: ", ")))")
            }
        }
    }

    static func json(_ node: Node) -> JSON {
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                if let i = Int64(s.string) { return .int(i) }
                if s.string == "true" { return true }
                if s.string == "false" { return false }
                if s.string == "null" || s.string == "~" { return .null }
            }
            return .string(s.string)
        case .mapping(let m):
            var o: [String: JSON] = [:]
            for (k, v) in m { o[k.scalar?.string ?? ""] = json(v) }
            return .object(o)
        case .sequence(let seq): return .array(seq.map(json))
        case .alias: return .null
        }
    }

    // MARK: Checks

    /// A check: its kind's type reads the rest of the mapping.
    func compileCheck(_ node: Node) -> (String, Check)? {
        guard let m = y.mapping(node, "check") else { return nil }
        guard let name = y.string(m["kind"], "kind", parent: node) else { return nil }
        guard let type = CheckKinds.named(name) else {
            y.error(at: m["kind"], "unknown check kind '\(name)' (\(CheckKinds.names.joined(separator: ", ")))")
            return nil
        }
        guard let kind = type.compile(CheckSource(node: node, mapping: m, kind: name, compiler: self)) else { return nil }
        return (name, Check(kind: kind, name: name))
    }

    // MARK: Selections and expressions

    func selection(_ node: Node, roles: Set<String> = [], required: Set<String> = [], keyed: Bool = true) -> Selection? {
        let allowed = Set<String>(["dataset", "where", "key", "workflowId", "report", "values"]).union(roles)
        guard let m = y.mapping(node, "selection", allowed: allowed) else { return nil }
        guard let name = y.string(m["dataset"], "dataset", parent: node) else { return nil }
        let spec = datasets[name]
        if spec == nil {
            y.error(at: m["dataset"], "unknown dataset '\(name)' (declared: \(datasets.specs.keys.sorted().joined(separator: ", ")))")
        }
        var ok = spec != nil
        func e(_ k: String) -> Expr? {
            guard let n = m[k] else { return nil }
            let x = expr(n, dataset: spec)
            if x == nil { ok = false }
            return x
        }
        let key: Expr
        if let k = m["key"] { key = e("key") ?? .literal(.null); _ = k } else if keyed {
            y.error(at: node, "selection needs key")
            return nil
        } else {
            key = .literal(.null)
        }
        var roleExprs: [String: Expr] = [:]
        for r in roles {
            if m[r] != nil { roleExprs[r] = e(r) } else if required.contains(r) { y.error(at: node, "selection needs '\(r)'"); ok = false }
        }
        var values: [(name: String, expr: Expr)] = []
        if let v = y.mapping(m["values"], "values") {
            for (k, n) in v.sorted(by: { $0.key < $1.key }) {
                if let x = expr(n, dataset: spec) { values.append((k, x)) } else { ok = false }
            }
        }
        guard ok else { return nil }
        return Selection(dataset: name, filter: e("where"), key: key, workflowId: e("workflowId"), report: e("report"), roles: roleExprs, values: values,
                         line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
    }

    /// Compiles an expression over one dataset's records, checking paths against its fields.
    func expr(_ node: Node, dataset: DatasetSpec?) -> Expr? {
        compile(node, bindings: [], implicit: true) { _, path in
            guard let dataset else { return nil }
            if !dataset.fields.isEmpty, !dataset.fields.contains(path[0]) {
                return ("unknown field '\(path[0])' in dataset \(dataset.name) (fields: \(dataset.fields.sorted().joined(separator: ", ")))",
                        path.joined(separator: "."))
            }
            // A relationship's endpoints hold only the properties the dataset reads.
            if case .graphRelationship(_, let endpoints, _) = dataset.source, path[0] == "from" || path[0] == "to" {
                let known = ["label"] + endpoints
                guard path.count > 1 else { return ("use \(path[0]).<property> (\(known.joined(separator: ", ")))", path[0]) }
                if !known.contains(path[1]) {
                    return ("unknown endpoint property '\(path[1])' of \(path[0]) in dataset \(dataset.name) (endpoints: \(known.joined(separator: ", ")))",
                            path.prefix(2).joined(separator: "."))
                }
            }
            return nil
        }
    }

    /// Compiles an expression over named bindings (`left.x`), checking value names.
    func expr(_ node: Node, bindings: [String], implicit: Bool, sides: [Selection]) -> Expr? {
        compile(node, bindings: bindings, implicit: implicit) { slot, path in
            guard slot >= 1 && slot <= sides.count else { return nil }
            let side = bindings[slot - 1]
            guard let first = path.first else { return ("use \(side).<value>", side) }
            let names = ["key", "workflowId"] + sides[slot - 1].values.map(\.name)
            guard !names.contains(first) else { return nil }
            return ("'\(side).\(first)' is not a value of the \(side) side (values: \(names.joined(separator: ", ")))", "\(side).\(first)")
        }
    }

    /// Parses the expression in `node` and runs `check` on each path it reads
    /// (binding slot, segments); a problem is reported at the text it names.
    func compile(_ node: Node, bindings: [String], implicit: Bool,
                 check: (Int, [String]) -> (message: String, at: String)?) -> Expr? {
        guard let text = node.scalar?.string else { y.error(at: node, "expected an expression"); return nil }
        do {
            let e = try Expr.parse(text, bindings: bindings, implicitRecord: implicit)
            for (slot, path) in e.paths {
                if let problem = check(slot, path) {
                    y.error(at: node, problem.message, offset: Self.offset(of: problem.at, in: text))
                    return nil
                }
            }
            return e
        } catch {
            y.error(at: node, "bad expression: \(error.message)", offset: error.offset)
            return nil
        }
    }

    static func offset(of needle: String, in text: String) -> Int {
        guard let r = text.range(of: needle) else { return 0 }
        return text.distance(from: text.startIndex, to: r.lowerBound)
    }
}
