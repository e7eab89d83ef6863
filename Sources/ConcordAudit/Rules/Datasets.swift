import ConcordCore
import Foundation
import Yams

/// Where a dataset's records come from in a live store, and the fields its
/// records have. Declared in `Rules/datasets.yaml`, so that a rule over
/// another label, key pattern or table is a file edit.
///
/// Record shapes, per source:
/// - Redis `stream` (keys matching `pattern`): `key`, the pattern's captures,
///   `entry` (stream id), `seq` (position in the stream), the entry's `field`
///   parsed as JSON under `as` (null if not JSON), `raw` (the text, only when
///   it is not JSON).
/// - Redis `list` (`key`): `key`, `index`, the element parsed under `as`, `raw`.
/// - Redis `hash` (`pattern`): `key`, the captures, every hash field (strings).
/// - Redis `zset` (`key`): `key`, `member`, `score`.
/// - Redis `string` (`pattern`): `key`, the captures, `value` (the text) and,
///   with `as`, the text parsed as JSON under that name (null if not JSON).
/// - Redis `set` (`pattern` or `key`): `key`, the captures, `member`; one record per member.
/// - graph `label`: every property of the node.
/// - graph `relationship`: `type`, `from` and `to` objects holding `label`
///   and the endpoint properties listed in `endpoints`, and the
///   relationship's own `properties` at the top level.
/// - PostgreSQL `table`: every column; timestamps as integer milliseconds,
///   `json`/`jsonb` as JSON values.
/// - GitHub `publications`: what GitHub holds for the publications under
///   audit, one record per comment or pull request carrying Concord's marker:
///   `kind` (comment, pull_request), `id`, `number`, `repo`, `target`,
///   `draft_id`, `workflow_id` (the draft's run), `content` (the body without
///   the marker), `url`, `author`, `created_at` (ms).
public struct DatasetSpec: Sendable, Hashable {
    public enum Source: Sendable, Hashable {
        case redisStream(pattern: KeyPattern, field: String, as: String)
        case redisList(key: String, as: String)
        /// With `as`, the hash's fields are also one object under that name (to compare all of them at once).
        case redisHash(pattern: KeyPattern, as: String?)
        case redisZSet(key: String)
        /// String keys matching `pattern`: the text as `value`, and parsed as JSON under `as` when given.
        case redisString(pattern: KeyPattern, as: String?)
        /// Set keys matching `pattern` (or one fixed key): one record per member.
        case redisSet(pattern: KeyPattern?, key: String?)
        case graphLabel(String)
        case graphRelationship(type: String, endpoints: [String], properties: [String])
        case postgresTable(String)
        /// What GitHub holds for the drafts whose publications are recorded (comments on their issues, pull requests from their heads).
        case githubPublications
    }

    public var name: String
    public var store: String
    public var source: Source
    /// Top-level fields a rule may read (deeper paths into them are free).
    public var fields: Set<String>
    /// How the recheck finds this dataset's records by point lookups:
    /// `run` and `id` name the field (path) holding a run id or a record id.
    public var lookup: [String: [String]]
    /// For a dataset with no run of its own (`partition: FIELD`): `--partition`
    /// splits it by this field's bucket instead (a draft's history by its
    /// draft id, so a finding keyed by that id is where its records are).
    public var partitionKey: String?
    /// For a relationship: labels its source and target always have (`from:` / `to:`), so lookups start from their indexes.
    public var fromLabels: [String] = []
    public var toLabels: [String] = []
    /// Graph properties whose in-place edits an incremental audit must notice (`watch:`; each costs a scan of the label).
    public var watch: [String] = []

    /// The field (path) holding a record's run.
    public var runField: String? { lookup["run"]?.first }

    /// The field `--partition` splits this dataset by; nil: every partition reads it whole.
    public var splitField: String? { runField ?? partitionKey }

    public var isPartitioned: Bool { splitField != nil }

    /// A sorted set or fixed set, read whole by every partition and looked up
    /// by id: a partition keeps the members its own records name, and those no
    /// run holds whose id falls in it.
    public var holdsBackInPartitions: Bool {
        guard splitField == nil, lookup["id"]?.isEmpty == false else { return false }
        switch source {
        case .redisZSet, .redisSet(nil, _): return true
        default: return false
        }
    }
}

/// A Redis key pattern with named captures: `workflow:{workflowId}:events`,
/// `tenant:{tenant}:prefs:{userId}`. A capture matches at least one
/// character; one that is followed by more text ends at the first occurrence
/// of that text (so only the last capture may contain its own separator).
public struct KeyPattern: Sendable, Hashable, CustomStringConvertible {
    enum Part: Sendable, Hashable { case text(String), capture(String) }
    let parts: [Part]

    public init?(_ text: String) {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            guard let close = rest[open...].firstIndex(of: "}") else { return nil }
            let name = String(rest[rest.index(after: open)..<close])
            guard !name.isEmpty, !name.contains("{") else { return nil }
            if open > rest.startIndex { parts.append(.text(String(rest[..<open]))) }
            // Two captures side by side cannot be told apart.
            if case .capture = parts.last { return nil }
            parts.append(.capture(name))
            rest = rest[rest.index(after: close)...]
        }
        guard !rest.contains("}") else { return nil }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
        guard !captures.isEmpty, Set(captures).count == captures.count else { return nil }
    }

    /// The capture names, in order.
    public var captures: [String] { parts.compactMap { if case .capture(let n) = $0 { n } else { nil } } }
    /// The first capture (the one a single-capture pattern has).
    public var capture: String { captures[0] }

    public var description: String {
        parts.map { switch $0 { case .text(let t): t; case .capture(let n): "{\(n)}" } }.joined()
    }

    /// The SCAN MATCH glob; `fixed` captures are given, the others match anything.
    public func glob(fixing fixed: [String: String] = [:]) -> String {
        parts.map {
            switch $0 {
            case .text(let t): Self.escapeGlob(t)
            case .capture(let n): fixed[n].map(Self.escapeGlob) ?? "*"
            }
        }.joined()
    }

    public var glob: String { glob() }

    /// The key for the given captures, or nil when one is not given.
    public func key(_ values: [String: String]) -> String? {
        var out = ""
        for p in parts {
            switch p {
            case .text(let t): out += t
            case .capture(let n):
                guard let v = values[n] else { return nil }
                out += v
            }
        }
        return out
    }

    /// The key of a single-capture pattern.
    public func key(_ value: String) -> String { key([capture: value]) ?? "" }

    /// The captured values when `key` matches (compared as UTF-8 bytes).
    public func match(_ key: String) -> [String: String]? {
        var key = key
        return key.withUTF8 { k -> [String: String]? in
            var out: [String: String] = [:]
            var at = 0
            var i = 0
            func equal(_ text: String, _ pos: Int) -> Bool {
                var text = text
                return text.withUTF8 { t in pos + t.count <= k.count && (t.isEmpty || memcmp(k.baseAddress! + pos, t.baseAddress!, t.count) == 0) }
            }
            while i < parts.count {
                switch parts[i] {
                case .text(let t):
                    guard equal(t, at) else { return nil }
                    at += t.utf8.count
                case .capture(let n):
                    var end = k.count
                    if i + 1 < parts.count, case .text(let next) = parts[i + 1] {
                        let n2 = next.utf8.count
                        if i + 2 >= parts.count {
                            // The last text ends the key.
                            end = k.count - n2
                            guard end > at, equal(next, end) else { return nil }
                        } else {
                            // An inner text ends this capture at its first occurrence (after at least one byte).
                            var p = at + 1
                            while p + n2 <= k.count, !equal(next, p) { p += 1 }
                            guard p + n2 <= k.count else { return nil }
                            end = p
                        }
                    }
                    guard end > at else { return nil }
                    out[n] = String(decoding: UnsafeBufferPointer(rebasing: k[at..<end]), as: UTF8.self)
                    at = end
                }
                i += 1
            }
            return at == k.count ? out : nil
        }
    }

    static func escapeGlob(_ s: String) -> String {
        var out = ""
        for c in s { if "*?[]\\".contains(c) { out.append("\\") }; out.append(c) }
        return out
    }
}

/// Where the HTML report's per-run event trees come from (`drilldown:` in
/// `datasets.yaml`): a dataset of events and one of the links between them,
/// with the paths of their fields. Absent: the report has no trees.
public struct Drilldown: Sendable, Hashable {
    public var nodes: String
    public var id: String, run: String, type: String, time: String
    public var edges: String
    public var from: String, to: String, edgeRun: String
}

/// The datasets a rule set may read.
public struct DatasetCatalog: Sendable {
    public var specs: [String: DatasetSpec]
    public var drilldown: Drilldown?
    /// Which dataset plays each role Concord's own commands need (`role:`; see `DatasetRole`).
    public var roles: [DatasetRole: String]

    public init(specs: [String: DatasetSpec], drilldown: Drilldown? = nil, roles: [DatasetRole: String]? = nil) {
        self.specs = specs
        self.drilldown = drilldown
        self.roles = roles ?? Self.assignRoles(specs, declared: [:])
    }

    public subscript(name: String) -> DatasetSpec? { specs[name] }

    /// Parses `datasets.yaml`; problems are added to `diagnostics`.
    public static func load(text: String, file: String, diagnostics: inout [Diagnostic]) -> DatasetCatalog {
        let y = YAMLReader(file: file)
        var specs: [String: DatasetSpec] = [:]
        defer { diagnostics += y.diagnostics }
        guard let root = y.mapping(y.compose(text), "the dataset file", allowed: ["version", "datasets", "drilldown"]) else {
            return DatasetCatalog(specs: [:])
        }
        if root["version"]?.int != 1 { y.error(at: root["version"], "unsupported dataset file version \(root["version"]?.scalar?.string ?? "(none)"); expected 1") }
        guard let all = y.mapping(root["datasets"], "datasets") else {
            y.error(at: nil, "missing datasets")
            return DatasetCatalog(specs: [:])
        }
        let allowed: Set<String> = ["role", "store", "type", "pattern", "key", "field", "as", "fields", "label", "relationship", "endpoints", "table", "columns", "properties", "lookup", "partition", "from", "to", "watch"]
        let reserved: Set<String> = ["type", "from", "to"]
        var declaredRoles: [String: DatasetRole] = [:]
        var roleNodes: [DatasetRole: (name: String, node: Node)] = [:]
        for (name, node) in all.sorted(by: { $0.key < $1.key }) {
            guard let m = y.mapping(node, "dataset '\(name)'", allowed: allowed) else { continue }
            let store = y.string(m["store"], "store", parent: node) ?? ""
            func names(_ key: String) -> [String] { y.list(m[key]).compactMap { $0.scalar?.string } }
            var lookup: [String: [String]] = [:]
            if let l = y.mapping(m["lookup"], "lookup", allowed: ["run", "id"]) {
                for (k, v) in l { lookup[k] = y.list(v).compactMap { $0.scalar?.string } }
            }
            var source: DatasetSpec.Source?
            var fields: Set<String> = []
            switch store {
            case "redis":
                let type = y.string(m["type"], "type", parent: node) ?? ""
                let parsedAs = m["as"]?.scalar?.string ?? "value"
                func pattern() -> KeyPattern? {
                    guard let text = y.string(m["pattern"], "pattern", parent: node) else { return nil }
                    guard let p = KeyPattern(text) else {
                        y.error(at: m["pattern"], "pattern needs at least one {capture}, distinct names, and text between captures, e.g. workflow:{workflowId}:events")
                        return nil
                    }
                    return p
                }
                switch type {
                case "stream":
                    if let p = pattern() {
                        source = .redisStream(pattern: p, field: m["field"]?.scalar?.string ?? "event", as: parsedAs)
                        fields = Set(["key", "entry", "seq", parsedAs, "raw"] + p.captures)
                    }
                case "list":
                    if let k = y.string(m["key"], "key", parent: node) { source = .redisList(key: k, as: parsedAs) }
                    fields = ["key", "index", parsedAs, "raw"]
                case "hash":
                    if let p = pattern() {
                        let name = m["as"]?.scalar?.string
                        source = .redisHash(pattern: p, as: name)
                        fields = Set(["key"] + p.captures + names("fields") + (name.map { [$0] } ?? []))
                    }
                case "string":
                    if let p = pattern() {
                        let name = m["as"]?.scalar?.string
                        source = .redisString(pattern: p, as: name)
                        fields = Set(["key", "value"] + p.captures + (name.map { [$0] } ?? []))
                    }
                case "set":
                    if m["pattern"] != nil {
                        if let p = pattern() {
                            source = .redisSet(pattern: p, key: nil)
                            fields = Set(["key", "member"] + p.captures)
                        }
                    } else if let k = y.string(m["key"], "key or pattern", parent: node) {
                        source = .redisSet(pattern: nil, key: k)
                        fields = ["key", "member"]
                    }
                case "zset":
                    if let k = y.string(m["key"], "key", parent: node) { source = .redisZSet(key: k) }
                    fields = ["key", "member", "score"]
                default:
                    y.error(at: m["type"] ?? node, "unknown Redis type '\(type)' (stream, list, hash, zset, string, set)")
                }
            case "graph":
                if let label = m["label"]?.scalar?.string {
                    source = .graphLabel(label)
                    fields = Set(names("properties"))
                    if fields.isEmpty { y.error(at: node, "a graph label dataset lists the properties it reads (properties: [id, …])") }
                } else if let rel = m["relationship"]?.scalar?.string {
                    let props = names("properties")
                    for p in props where reserved.contains(p) {
                        y.error(at: m["properties"], "relationship property '\(p)' clashes with the record's own '\(p)'")
                    }
                    source = .graphRelationship(type: rel, endpoints: names("endpoints"), properties: props)
                    fields = Set(["type", "from", "to"] + props)
                } else {
                    y.error(at: node, "a graph dataset needs label or relationship")
                }
            case "postgres":
                if let t = y.string(m["table"], "table", parent: node) {
                    if !t.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }) {
                        y.error(at: m["table"], "table must be a plain (optionally schema-qualified) name")
                    }
                    source = .postgresTable(t)
                }
                fields = Set(names("columns"))
            case "github":
                let type = y.string(m["type"], "type", parent: node) ?? ""
                if type == "publications" {
                    source = .githubPublications
                    fields = ["kind", "id", "number", "repo", "target", "draft_id", "workflow_id", "content", "url", "author", "created_at"]
                } else {
                    y.error(at: m["type"] ?? node, "unknown GitHub type '\(type)' (publications)")
                }
            default:
                y.error(at: m["store"] ?? node, "unknown store '\(store)' (postgres, redis, graph, github)")
            }
            if let source {
                checkLookup(lookup, source: source, fields: fields, node: m["lookup"] ?? node, y: y)
                var spec = DatasetSpec(name: name, store: store, source: source, fields: fields, lookup: lookup)
                if let p = m["partition"] {
                    let field = p.scalar?.string ?? ""
                    if lookup["run"] != nil { y.error(at: p, "a dataset with lookup.run is split by its run; partition: is for datasets with no run of their own") }
                    switch source {
                    case .postgresTable, .graphLabel:
                        if !fields.contains(field) { y.error(at: p, "partition '\(field)' must be one of the dataset's declared fields (\(fields.sorted().joined(separator: ", ")))") }
                    default:
                        y.error(at: p, "partition: FIELD is for PostgreSQL tables and graph labels (a Redis key is split by its lookup.run capture)")
                    }
                    spec.partitionKey = field
                }
                if let w = m["watch"] {
                    if case .graphLabel = source {
                        spec.watch = names("watch")
                        for p in spec.watch where !fields.contains(p) { y.error(at: w, "watch '\(p)' is not one of the dataset's properties") }
                    } else {
                        y.error(at: w, "watch: is for graph labels (PostgreSQL rows and Redis values are compared whole)")
                    }
                }
                if m["from"] != nil || m["to"] != nil {
                    if case .graphRelationship = source {
                        spec.fromLabels = names("from")
                        spec.toLabels = names("to")
                    } else {
                        y.error(at: m["from"] ?? m["to"], "from: and to: name the labels of a relationship's endpoints")
                    }
                }
                specs[name] = spec
                if let r = m["role"] {
                    let text = r.scalar?.string ?? ""
                    if let role = DatasetRole(rawValue: text) {
                        if let other = roleNodes[role] {
                            y.error(at: r, "role '\(text)' is also \(other.name)'s: one dataset plays a role")
                        } else if !role.accepts(source) {
                            y.error(at: r, "role '\(text)' is \(role.expected); \(name) is not")
                        } else {
                            roleNodes[role] = (name, r)
                            declaredRoles[name] = role
                        }
                    } else {
                        y.error(at: r, "unknown role '\(text)' (\(DatasetRole.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                }
            }
        }
        var catalog = DatasetCatalog(specs: specs, roles: assignRoles(specs, declared: declaredRoles))
        if let d = y.mapping(root["drilldown"], "drilldown", allowed: ["nodes", "edges"]) {
            let n = y.mapping(d["nodes"], "drilldown.nodes", allowed: ["dataset", "id", "run", "type", "time"]) ?? [:]
            let e = y.mapping(d["edges"], "drilldown.edges", allowed: ["dataset", "from", "to", "run"]) ?? [:]
            func s(_ m: [String: Node], _ k: String, _ what: String) -> String {
                guard let v = m[k]?.scalar?.string else { y.error(at: root["drilldown"], "\(what) needs '\(k)'"); return "" }
                return v
            }
            let dl = Drilldown(nodes: s(n, "dataset", "drilldown.nodes"), id: s(n, "id", "drilldown.nodes"), run: s(n, "run", "drilldown.nodes"),
                               type: s(n, "type", "drilldown.nodes"), time: s(n, "time", "drilldown.nodes"),
                               edges: s(e, "dataset", "drilldown.edges"), from: s(e, "from", "drilldown.edges"), to: s(e, "to", "drilldown.edges"),
                               edgeRun: s(e, "run", "drilldown.edges"))
            for (name, node) in [(dl.nodes, n["dataset"]), (dl.edges, e["dataset"])] where !name.isEmpty && specs[name] == nil {
                y.error(at: node, "drilldown names unknown dataset '\(name)'")
            }
            catalog.drilldown = dl
        }
        return catalog
    }

    /// Each lookup field must be something the store can be asked for by value.
    static func checkLookup(_ lookup: [String: [String]], source: DatasetSpec.Source, fields: Set<String>, node: Node, y: YAMLReader) {
        for (kind, paths) in lookup.sorted(by: { $0.key < $1.key }) {
            for path in paths {
                let parts = path.split(separator: ".").map(String.init)
                var problem: String?
                switch source {
                case .redisStream(let p, _, _), .redisHash(let p, _), .redisString(let p, _), .redisSet(let p?, _):
                    if !p.captures.contains(path) { problem = "a Redis key pattern is looked up by one of its captures (\(p.captures.joined(separator: ", ")))" }
                case .redisZSet, .redisSet(nil, _):
                    if path != "member" { problem = "a sorted set or set is looked up by member" }
                case .redisList:
                    break  // lists are read whole
                case .graphRelationship(_, let endpoints, let props):
                    if !(parts.count == 2 && (parts[0] == "from" || parts[0] == "to") && endpoints.contains(parts[1])) && !(parts.count == 1 && props.contains(path)) {
                        problem = "a relationship is looked up by from.<endpoint>, to.<endpoint> or one of its properties"
                    }
                case .graphLabel, .postgresTable:
                    if parts.count != 1 || !fields.contains(path) { problem = "looked up by one of its declared fields (\(fields.sorted().joined(separator: ", ")))" }
                case .githubPublications:
                    if !(kind == "id" && path == "draft_id") && !(kind == "run" && path == "workflow_id") {
                        problem = "GitHub's publications are looked up by draft_id (id) and workflow_id (run)"
                    }
                }
                if let problem { y.error(at: node, "lookup.\(kind) '\(path)': \(problem)") }
            }
        }
    }
}
