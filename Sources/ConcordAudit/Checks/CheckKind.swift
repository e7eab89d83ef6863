import ConcordCore
import ConcordJSON
import Yams

/// One kind of check (`kind: missing`, `kind: compare`, …): how a rule file writes it, the selections it
/// reads, how it turns what they kept into findings, and what the recheck and the incremental audit must
/// know of it. The compiler, the engine, `RecheckLimit` and the time windows ask the kind; none of them
/// switches on kinds. A new kind is one file in this folder and one line in `CheckKinds.all`
/// (docs/audit.md, "Check kinds").
protocol CheckKind: Sendable {
    /// The names a rule file gives this kind (`reference` is `missing` written from the referring side).
    static var names: [String] { get }
    /// Builds the check from its mapping; nil after reporting at their positions what is wrong.
    static func compile(_ source: CheckSource) -> Self?
    /// The selections it reads: those a finding is made of first, lookups (keys only) last.
    var selections: [Selection] { get }
    /// How many of `selections`, at the end, are lookups: only their keys are kept, shared between checks.
    var lookupSelectionCount: Int { get }
    /// The selections the recheck must read again for a finding to show again, and by which expressions
    /// their records are keyed. Lookups are left out: not finding them keeps a finding, it never loses one.
    var recheckSubjects: [RecheckLimit.Subject] { get }
    /// Expressions evaluated after the records are read, where the incremental audit's clock watch does
    /// not see them: one that reads the clock makes the settling window impossible to tell.
    var unwatchedExpressions: [Expr] { get }
    /// Consumers of its own for the selections (nil: the engine's, keeping the selections' cells).
    func consumers(table: CellTable, context: EvalContext) -> [Consumer]?
    /// The findings, from what the selections kept (`consumers[i]` read `selections[i]`).
    func findings(_ run: CheckRun, _ consumers: [Consumer]) -> [Finding]
}

extension CheckKind {
    var lookupSelectionCount: Int { 0 }
    var unwatchedExpressions: [Expr] { [] }
    func consumers(table: CellTable, context: EvalContext) -> [Consumer]? { nil }
}

/// Every kind a rule file may name, in the order the docs and the errors list them.
enum CheckKinds {
    static let all: [any CheckKind.Type] = [
        MissingCheck.self, DuplicateCheck.self, OrderCheck.self, CompareCheck.self, FilterCheck.self,
        SchemaCheck.self, CycleCheck.self, SequenceCheck.self, ReachableCheck.self,
    ]
    static let names: [String] = all.flatMap { $0.names }

    static func named(_ name: String) -> (any CheckKind.Type)? { all.first { $0.names.contains(name) } }
}

/// A compiled check of a rule: its kind's value and the name the rule file gave it.
public struct Check: Sendable {
    let kind: any CheckKind
    /// The kind as the rule file names it (`missing`, `reference`, `order`, …).
    public let name: String

    /// The selections it reads.
    public var selections: [Selection] { kind.selections }
}

/// A check's mapping in a rule file, with the compiler's readers for its parts.
struct CheckSource {
    let node: Node
    let mapping: [String: Node]
    /// The kind as written.
    let kind: String
    let compiler: RuleCompiler

    var y: YAMLReader { compiler.y }
    var datasets: DatasetCatalog { compiler.datasets }

    subscript(_ key: String) -> Node? { mapping[key] }

    /// Reports every key of the check outside `allowed` (and `kind`).
    func allow(_ allowed: Set<String>) {
        for (k, _) in mapping where !allowed.contains(k) && k != "kind" {
            y.error(at: node.mapping?.first { $0.key.scalar?.string == k }?.key,
                    "unknown key '\(k)' for kind \(kind) (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    /// The node under `key`, or an error naming it.
    func required(_ key: String) -> Node? {
        guard let n = mapping[key] else { y.error(at: node, "kind \(kind) needs '\(key)'"); return nil }
        return n
    }

    /// The selections listed under `key` (one, or a list), which must be there.
    func selections(_ key: String, roles: Set<String> = [], requiredRoles: Set<String> = []) -> [Selection] {
        guard let n = required(key) else { return [] }
        return y.list(n).compactMap { compiler.selection($0, roles: roles, required: requiredRoles) }
    }

    func selection(_ node: Node, roles: Set<String> = [], required: Set<String> = [], keyed: Bool = true) -> Selection? {
        compiler.selection(node, roles: roles, required: required, keyed: keyed)
    }
}

/// What evaluating a rule's check has at hand: the cells, the rule, the clock.
struct CheckRun {
    let table: CellTable
    let rule: Rule
    let ctx: EvalContext

    /// A row's named values (the ones it has) with `extra`, as a finding's evidence.
    func evidence(_ c: Consumer, _ i: Int, _ extra: [String: JSON] = [:]) -> JSON {
        var o: [String: JSON] = extra
        for (v, named) in c.selection.values.enumerated() where !c.value(i, v).isNull { o[named.name] = table.json(c.value(i, v)) }
        return .object(o)
    }

    /// The finding's key of a row: its `report` when it has one, else its key.
    func reportedKey(_ c: Consumer, _ i: Int) -> Cell { c.report(i).isNull ? c.key(i) : c.report(i) }
}

extension RecheckLimit.Subject {
    /// A selection keyed by its own key (the finding's `report` first, when it has one).
    static func keyed(_ sel: Selection, reported: Bool) -> Self {
        Self(selection: sel, keys: [sel.report, sel.key].compactMap { $0 }, reported: reported)
    }

    /// Edges, keyed by the node they lead to, then the one they leave.
    static func edges(_ e: Selection, reported: Bool = true) -> Self {
        Self(selection: e, keys: [e.roles["to"], e.roles["from"]].compactMap { $0 }, reported: reported)
    }
}
