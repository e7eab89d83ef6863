import ConcordCore
import ConcordCrypto
import ConcordJSON
import Foundation

/// One inconsistency: a rule, the record it is about, and the evidence.
public struct Finding: Sendable, Hashable {
    public var id: String
    public var rule: String
    public var severity: Rule.Severity
    public var store: String
    public var key: String
    public var workflowId: String?
    public var message: String
    public var evidence: JSON
    /// Set when the recheck could not re-read the finding's records: why. The
    /// finding stays in the report (a candidate is dropped only when its
    /// records were read again and no longer show it).
    public var recheckUnavailable: String?

    public init(rule: Rule, key: String, workflowId: String?, evidence: JSON) {
        id = Finding.id(rule: rule.id, key: key)
        self.rule = rule.id
        severity = rule.severity
        store = rule.store
        self.key = key
        self.workflowId = workflowId.flatMap { $0.isEmpty ? nil : $0 }
        self.evidence = evidence
        message = Finding.render(rule.message, key: key, workflowId: self.workflowId, evidence: evidence)
    }

    /// A stable id: the same rule and key give the same id in every audit.
    public static func id(rule: String, key: String) -> String {
        String(SHA256.hex(rule + "\u{0}" + key).prefix(16))
    }

    /// Fills `{key}`, `{workflowId}` and `{evidence.path}` in a message template.
    static func render(_ template: String, key: String, workflowId: String?, evidence: JSON) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            out += rest[..<open]
            let name = String(rest[rest.index(after: open)..<close])
            switch name {
            case "key": out += key
            case "workflowId": out += workflowId ?? "(unknown run)"
            default:
                if name.hasPrefix("evidence.") {
                    out += evidence.value(atPath: String(name.dropFirst(9)))?.textValue ?? "?"
                } else {
                    out += "{\(name)}"
                }
            }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    public var json: JSON {
        var o: [String: JSON] = ["id": .string(id), "rule": .string(rule), "severity": .string(severity.rawValue), "store": .string(store),
                                 "key": .string(key), "workflowId": workflowId.map(JSON.string) ?? .null, "message": .string(message), "evidence": evidence]
        if let why = recheckUnavailable { o["recheck"] = ["status": "unavailable", "reason": .string(why)] }
        return .object(o)
    }
}

/// One record's expression results, shared by every selection of its
/// dataset: an expression that several selections use (`id`, a common
/// filter) is evaluated, and its string interned, once per record.
final class RecordMemo: @unchecked Sendable {
    let exprs: [Expr]
    let table: CellTable
    let ctx: EvalContext
    let scratch: TapeScratch
    private var record: [JSON] = [.null]
    private var values: [JSON?]
    private var cells: [Cell?]
    /// The whole record, when `record` is a projection of it (valid during one ingest).
    private var whole: (() -> JSON)?

    init(exprs: [Expr], table: CellTable, ctx: EvalContext) {
        self.exprs = exprs
        self.table = table
        var ctx = ctx
        scratch = TapeScratch()
        ctx.scratch = scratch
        self.ctx = ctx
        values = Array(repeating: nil, count: exprs.count)
        cells = Array(repeating: nil, count: exprs.count)
    }

    func reset(_ r: JSON, whole: (() -> JSON)? = nil) {
        record[0] = r
        self.whole = whole
        for i in values.indices { values[i] = nil; cells[i] = nil }
    }

    /// Switches to the whole record: a schema failure's key and values may
    /// read what the projection left out (`raw`, `canonical(event)`).
    func dropWhole() { whole = nil }

    func useWholeRecord() {
        guard let w = whole else { return }
        reset(w())
    }

    var current: JSON { record[0] }

    func value(_ i: Int) -> JSON {
        if let v = values[i] { return v }
        let v = exprs[i].evaluate(record, ctx)
        values[i] = v
        return v
    }

    func cell(_ i: Int) -> Cell {
        if let c = cells[i] { return c }
        let c = table.cell(value(i))
        cells[i] = c
        return c
    }
}

/// The rows a selection keeps: the results of its expressions per record,
/// as cells, flat: key, workflowId, report, the roles, the values.
final class Consumer: @unchecked Sendable {
    let selection: Selection
    let table: CellTable
    /// Keys only (a lookup set for absentFrom / presentIn / exceptIn): no rows kept.
    let keysOnly: Bool
    var keys = CellSet()
    let roleNames: [String]
    let roleExprs: [Expr]
    let valueExprs: [Expr]
    /// For schema checks: the validation, run as records arrive; only failures are kept.
    let validate: ((JSON) -> String?)?
    /// What the validation reads of a record.
    let validationNeeds: JSONProjection?
    let stride: Int
    var cells = CellColumn()
    var count: Int { cells.count / stride }
    var seen = 0
    /// Indices of this selection's expressions in its dataset's RecordMemo.
    var filterSlot: Int?, keySlot = 0, workflowSlot: Int?, reportSlot: Int?
    var roleSlots: [Int] = [], valueSlots: [Int] = []

    /// Registers the expressions in `registry` (one list per dataset, shared by its selections).
    func register(_ registry: inout [Expr], _ seenExprs: inout [String: Int]) {
        func slot(_ e: Expr) -> Int {
            let d = e.description
            if let i = seenExprs[d] { return i }
            seenExprs[d] = registry.count
            registry.append(e)
            return registry.count - 1
        }
        filterSlot = selection.filter.map(slot)
        keySlot = slot(selection.key)
        workflowSlot = selection.workflowId.map(slot)
        reportSlot = selection.report.map(slot)
        roleSlots = roleExprs.map(slot)
        valueSlots = valueExprs.map(slot)
    }

    init(_ s: Selection, table: CellTable, keysOnly: Bool = false, validate: ((JSON) -> String?)? = nil, validationNeeds: JSONProjection? = nil) {
        selection = s
        self.table = table
        self.keysOnly = keysOnly
        self.validationNeeds = validationNeeds
        roleNames = s.roles.keys.sorted()
        roleExprs = roleNames.map { s.roles[$0]! }
        valueExprs = s.values.map(\.expr)
        self.validate = validate
        stride = 3 + roleExprs.count + valueExprs.count + (validate == nil ? 0 : 1)
    }

    @inline(__always) func key(_ i: Int) -> Cell { cells[i * stride] }
    @inline(__always) func workflowId(_ i: Int) -> Cell { cells[i * stride + 1] }
    @inline(__always) func report(_ i: Int) -> Cell { cells[i * stride + 2] }
    @inline(__always) func role(_ i: Int, _ r: Int) -> Cell { cells[i * stride + 3 + r] }
    @inline(__always) func value(_ i: Int, _ v: Int) -> Cell { cells[i * stride + 3 + roleExprs.count + v] }
    /// The schema check's problem text.
    func problem(_ i: Int) -> JSON { table.json(cells[i * stride + stride - 1]) }

    func roleIndex(_ name: String) -> Int? { roleNames.firstIndex(of: name) }

    /// What this selection reads of every record it is fed (a schema
    /// check's key and values only for the records it keeps: on the whole record).
    var needs: JSONProjection? {
        var exprs: [Expr?] = [selection.filter]
        if validate != nil {
            return exprs.reduce(validationNeeds) { Expr.union($0, $1?.needs(slot: 0)) }
        }
        exprs.append(selection.key)
        if !keysOnly { exprs += [selection.workflowId, selection.report] + roleExprs + valueExprs }
        return exprs.reduce(nil) { Expr.union($0, $1?.needs(slot: 0)) }
    }

    /// The row's named values (plus key and workflowId) as one object, for expressions and evidence.
    func object(_ i: Int) -> JSON {
        var o: [String: JSON] = ["key": table.json(key(i))]
        if !workflowId(i).isNull { o["workflowId"] = table.json(workflowId(i)) }
        for (v, named) in selection.values.enumerated() { o[named.name] = table.json(value(i, v)) }
        return .object(o)
    }

    func ingest(_ m: RecordMemo) {
        seen += 1
        if let f = filterSlot, !m.value(f).truthy { return }
        if keysOnly {
            let k = m.cell(keySlot)
            if !k.isNull { keys.insert(k) }
            return
        }
        var problem: JSON?
        if let validate {
            guard let p = validate(m.current) else { return }
            problem = .string(p)
            m.useWholeRecord()
        }
        cells.append(m.cell(keySlot))
        cells.append(workflowSlot.map(m.cell) ?? .null)
        cells.append(reportSlot.map(m.cell) ?? .null)
        for r in roleSlots { cells.append(m.cell(r)) }
        for v in valueSlots { cells.append(m.cell(v)) }
        if let problem { cells.append(table.cell(problem)) }
    }
}

/// One dataset's clock watch and what it saw, per run (fed from one thread at a time).
final class DatasetWatch: @unchecked Sendable {
    let split: String
    let clock = ClockWatch()
    var youngest: [String: Double] = [:]
    init(split: String) { self.split = split }
}

/// Runs a rule set over datasets fed to it record by record.
///
/// Each selection evaluates its expressions as records arrive and keeps only
/// the results, so memory holds keys and compared values, not whole records.
/// Feed each dataset from one thread at a time (different datasets may be
/// fed concurrently).
public final class AuditEngine: @unchecked Sendable {
    public let rules: RuleSet
    public let context: EvalContext
    struct CompiledCheck {
        let rule: Rule
        let check: Check
        let consumers: [Consumer]
    }
    let compiled: [CompiledCheck]
    let byDataset: [String: [Consumer]]
    let memos: [String: RecordMemo]
    /// Per dataset split by run: the newest time its records' `age()` was asked about, per run.
    let watches: [String: DatasetWatch]
    /// Per dataset, what the rules read of every record: the read path parses only that.
    public let projections: [String: JSONProjection]
    let table: CellTable
    private var counts: [String: Int] = [:]
    private let lock = NSLock()

    public init(rules: RuleSet, context: EvalContext) {
        self.rules = rules
        self.context = context
        var compiled: [CompiledCheck] = []
        var byDataset: [String: [Consumer]] = [:]
        var sharedLookups: [String: Consumer] = [:]
        let table = CellTable()
        self.table = table
        for rule in rules.rules {
            for check in rule.checks {
                let consumers: [Consumer]
                if let own = check.kind.consumers(table: table, context: context) {
                    consumers = own
                } else {
                    // Lookup sets are shared by every check that reads the same dataset, filter and key.
                    let lookups = check.kind.lookupSelectionCount
                    let all = check.selections
                    consumers = all.enumerated().map { i, sel in
                        guard i >= all.count - lookups else { return Consumer(sel, table: table) }
                        let signature = "\(sel.dataset)|\(sel.filter?.description ?? "")|\(sel.key)"
                        if let shared = sharedLookups[signature] { return shared }
                        let c = Consumer(sel, table: table, keysOnly: true)
                        sharedLookups[signature] = c
                        byDataset[sel.dataset, default: []].append(c)
                        return c
                    }
                }
                for c in consumers where !c.keysOnly { byDataset[c.selection.dataset, default: []].append(c) }
                compiled.append(CompiledCheck(rule: rule, check: check, consumers: consumers))
            }
        }
        self.compiled = compiled
        self.byDataset = byDataset
        var memos: [String: RecordMemo] = [:]
        var watches: [String: DatasetWatch] = [:]
        for (dataset, consumers) in byDataset {
            var registry: [Expr] = []
            var seenExprs: [String: Int] = [:]
            for c in consumers { c.register(&registry, &seenExprs) }
            var ctx = context
            if let split = rules.datasets[dataset]?.splitField {
                let w = DatasetWatch(split: split)
                ctx.watch = w.clock
                watches[dataset] = w
            }
            memos[dataset] = RecordMemo(exprs: registry, table: table, ctx: ctx)
        }
        self.memos = memos
        self.watches = watches
        var projections: [String: JSONProjection] = [:]
        for (dataset, consumers) in byDataset {
            var need = consumers.reduce(JSONProjection?.none) { Expr.union($0, $1.needs) }
            if let split = watches[dataset]?.split { need = Expr.union(need, .path(split.split(separator: ".").map(String.init)[...], .whole)) }
            // A snapshot line may hold the element's text verbatim instead of `raw`: read the marker too.
            if case .members(var m)? = need, m["raw"] != nil { m[SnapshotLine.verbatimKey] = .whole; need = .members(m) }
            projections[dataset] = need ?? .members([:])
        }
        self.projections = projections
    }

    /// The datasets the rules read.
    public var datasets: Set<String> { Set(byDataset.keys) }

    /// Feeds one record of `dataset`.
    /// `whole`, when `record` is a projection (`projections`), gives the whole
    /// record (called only during this call).
    public func ingest(_ record: JSON, dataset: String, whole: (() -> JSON)? = nil) {
        guard let consumers = byDataset[dataset], let memo = memos[dataset] else { return }
        memo.reset(record, whole: whole)
        defer { memo.dropWhole() }
        guard let watch = watches[dataset] else {
            for c in consumers { c.ingest(memo) }
            return
        }
        watch.clock.youngest = nil
        for c in consumers { c.ingest(memo) }
        if let t = watch.clock.youngest, let run = record.value(atPath: watch.split)?.keyText {
            if t > watch.youngest[run] ?? -.infinity { watch.youngest[run] = t }
        }
    }

    /// Per run (or id, for a dataset split by id): the newest time any rule's
    /// `age()` was asked about among its records — until that time plus the
    /// rules' longest window has passed, time alone may change a verdict.
    public func youngest() -> [String: Int64] {
        var out: [String: Int64] = [:]
        for w in watches.values {
            for (run, t) in w.youngest where t.isFinite {
                let ms = Int64(t.rounded(.up))
                if ms > out[run] ?? .min { out[run] = ms }
            }
        }
        return out
    }

    /// Whether any record fed so far carried `text` (as a key or a value a rule reads).
    public func mentions(_ text: String) -> Bool { table.contains(text) }

    /// The keys (as text) of the records fed so far for `datasets`, by every
    /// selection over them: what other datasets join them by.
    public func keys(of datasets: Set<String>) -> Set<String> {
        var out: Set<String> = []
        for (dataset, consumers) in byDataset where datasets.contains(dataset) {
            for c in consumers {
                if c.keysOnly {
                    c.keys.forEach { if let t = table.text($0) { out.insert(t) } }
                } else {
                    for i in 0..<c.count { if let t = table.text(c.key(i)) { out.insert(t) } }
                }
            }
        }
        return out
    }

    /// The keys (as text) each run's records carry, from every selection that
    /// knows its records' run: what an incremental audit looks up again when
    /// the run changes (a deleted event's confirmation).
    public func keysByRun() -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        for consumers in byDataset.values {
            for c in consumers where !c.keysOnly && c.selection.workflowId != nil {
                for i in 0..<c.count {
                    guard let run = table.text(c.workflowId(i)), let key = table.text(c.key(i)) else { continue }
                    out[run, default: []].insert(key)
                }
            }
        }
        return out
    }

    /// Records how many records a dataset had (for the report).
    public func setCount(_ dataset: String, _ n: Int) {
        lock.lock(); counts[dataset] = n; lock.unlock()
    }

    public var recordCounts: [String: Int] { lock.lock(); defer { lock.unlock() }; return counts }

    /// Per rule: how many records it examined, and its findings.
    public struct Result: Sendable {
        public var findings: [Finding]
        public var checked: [String: Int]
    }

    /// Runs every check over what was fed. Findings are unique per rule and key, sorted.
    public func evaluate() -> Result {
        var all: [String: Finding] = [:]
        var checked: [String: Int] = [:]
        for c in compiled {
            checked[c.rule.id, default: 0] += c.consumers.filter { !$0.keysOnly }.reduce(0) { $0 + $1.seen }
            for f in c.check.kind.findings(CheckRun(table: table, rule: c.rule, ctx: context), c.consumers) {
                let k = f.rule + "\u{0}" + f.key
                if let existing = all[k] {
                    // One finding per rule and key; a later check may know the run when the first did not.
                    if existing.workflowId == nil, f.workflowId != nil { all[k] = f }
                } else {
                    all[k] = f
                }
            }
        }
        let findings = all.values.sorted { ($0.rule, $0.key) < ($1.rule, $1.key) }
        return Result(findings: findings, checked: checked)
    }
}
