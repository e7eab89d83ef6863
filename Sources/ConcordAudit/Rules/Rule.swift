import ConcordCore
import ConcordCrypto
import ConcordJSON
import Foundation

/// A set of records a check reads: a dataset, a filter, and expressions
/// evaluated on each record as it is read (so only their results are kept).
public struct Selection: Sendable {
    public var dataset: String
    public var filter: Expr?
    /// The record's key for joins and for the finding.
    public var key: Expr
    public var workflowId: Expr?
    /// The key a finding reports, when it is not `key` (e.g. a draft's id while joining on its run).
    public var report: Expr?
    /// Role expressions a check kind needs (`from`, `to`, `group`, `sort`, `value`, `pick`, `distinct`, `age`).
    public var roles: [String: Expr]
    /// Named values kept for comparisons and evidence.
    public var values: [(name: String, expr: Expr)]
    /// Where the selection is written (for diagnostics).
    public var line: Int = 1
    public var column: Int = 1
}

/// One rule of the catalog, read from its YAML file.
public struct Rule: Sendable {
    public enum Severity: String, Sendable, CaseIterable, Comparable {
        case info, warning, error
        public var rank: Int { Severity.allCases.firstIndex(of: self)! }
        public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
    }

    public var id: String
    public var severity: Severity
    public var description: String
    public var store: String
    public var message: String
    public var kinds: [String]
    public var checks: [Check]
    /// The repair the rule calls for (used by `concord plan`), as written.
    public var repair: JSON
    public var file: String
    public var line: Int
}

/// A loaded, validated rule set with its datasets.
public struct RuleSet: Sendable {
    public var rules: [Rule]
    public var datasets: DatasetCatalog
    /// sha256 over the rule and dataset files, in name order.
    public var digest: String
    /// What loaded but deserves a look (e.g. a rule whose findings cannot be rechecked).
    public var warnings: [Diagnostic] = []

    /// The datasets the rules read.
    public var usedDatasets: Set<String> { Set(rules.flatMap { $0.checks.flatMap { $0.selections.map(\.dataset) } }) }

    /// Loads every `*.yaml` / `*.yml` in `directory` (`datasets.yaml` holds
    /// the datasets, every other file one rule). Throws a usage error
    /// listing every problem as `file:line:col: message`.
    public static func load(directory: URL) throws -> RuleSet {
        var (set, diagnostics) = check(directory: directory)
        let errors = diagnostics.filter { $0.severity == .error }
        if !errors.isEmpty {
            throw ConcordError(.usage, "the rules in \(directory.path) have \(errors.count) problem(s):\n" + errors.map(\.description).joined(separator: "\n"))
        }
        set.warnings = diagnostics.filter { $0.severity == .warning }
        return set
    }

    /// Loads and validates, returning every problem found.
    public static func check(directory: URL) -> (RuleSet, [Diagnostic]) {
        let fm = FileManager.default
        guard fm.fileExists(atPath: directory.path) else {
            return (RuleSet(rules: [], datasets: DatasetCatalog(specs: [:]), digest: ""),
                    [Diagnostic(file: directory.path, line: 1, column: 1, message: "no such rules directory")])
        }
        let names = ((try? fm.contentsOfDirectory(atPath: directory.path)) ?? []).filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        var files: [(name: String, text: String?)] = []
        for name in names {
            let data = fm.contents(atPath: directory.appendingPathComponent(name).path)
            files.append((name, data.flatMap { String(data: $0, encoding: .utf8) }))
        }
        return check(files: files, directory: directory.path)
    }

    /// Validates rule and dataset files given as text (nil: not readable as
    /// UTF-8), named as in a directory at `directory`; what `check(directory:)` runs.
    public static func check(files: [(name: String, text: String?)], directory: String) -> (RuleSet, [Diagnostic]) {
        var diagnostics: [Diagnostic] = []
        var digest = SHA256()
        let base = directory.count > 1 && directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        func path(_ name: String) -> String { base + "/" + name }
        func read(_ name: String) -> String? {
            guard let text = files.first(where: { $0.name == name })?.text else {
                diagnostics.append(Diagnostic(file: path(name), line: 1, column: 1, message: "cannot read the file as UTF-8"))
                return nil
            }
            digest.update(name)
            digest.update([0])
            digest.update(text)
            digest.update([0])
            return text
        }
        let names = files.map(\.name).sorted()
        let datasetsFile = names.first { $0 == "datasets.yaml" || $0 == "datasets.yml" }
        var catalog = DatasetCatalog(specs: [:])
        if let datasetsFile, let text = read(datasetsFile) {
            catalog = DatasetCatalog.load(text: text, file: path(datasetsFile), diagnostics: &diagnostics)
        } else if datasetsFile == nil {
            diagnostics.append(Diagnostic(file: path("datasets.yaml"), line: 1, column: 1, message: "missing: the datasets the rules read are declared here"))
        }
        var rules: [Rule] = []
        var seen: [String: String] = [:]
        for name in names where name != datasetsFile {
            guard let text = read(name) else { continue }
            let compiler = RuleCompiler(file: path(name), datasets: catalog)
            if let rule = compiler.compile(text) {
                if let other = seen[rule.id] {
                    diagnostics.append(Diagnostic(file: path(name), line: rule.line, column: 1, message: "rule id '\(rule.id)' is also defined in \(other)"))
                } else {
                    seen[rule.id] = path(name)
                    rules.append(rule)
                }
            }
            diagnostics += compiler.y.diagnostics
        }
        if names.filter({ $0 != datasetsFile }).isEmpty {
            diagnostics.append(Diagnostic(file: directory, line: 1, column: 1, message: "no rule files (*.yaml)"))
        }
        return (RuleSet(rules: rules.sorted { $0.id < $1.id }, datasets: catalog, digest: digest.hexDigest()), diagnostics)
    }

    /// Without the rules that read a dataset of one of `stores`: for a source that lacks those stores (no
    /// GitHub configured, a snapshot written without it). Returns the rules left out too.
    public func without(stores: Set<String>) -> (RuleSet, dropped: [String]) {
        let lacking = Set(datasets.specs.values.filter { stores.contains($0.store) }.map(\.name))
        var copy = self
        copy.rules = rules.filter { r in !r.checks.contains { c in c.selections.contains { lacking.contains($0.dataset) } } }
        return (copy, rules.map(\.id).filter { id in !copy.rules.contains { $0.id == id } })
    }

    /// Only the rules whose ids are in `ids` (all when empty); unknown ids are a usage error.
    public func selecting(_ ids: [String]) throws -> RuleSet {
        guard !ids.isEmpty else { return self }
        let known = Set(rules.map(\.id))
        if let unknown = ids.first(where: { !known.contains($0) }) {
            throw ConcordError(.usage, "unknown rule '\(unknown)' (see `concord rules list`)")
        }
        var copy = self
        copy.rules = rules.filter { ids.contains($0.id) }
        return copy
    }
}
