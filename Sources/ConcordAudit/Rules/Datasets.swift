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
/// - graph `label`: every property of the node.
/// - graph `relationship`: `type`, `from` and `to` objects holding `label`
///   and the endpoint properties listed in `endpoints`.
/// - PostgreSQL `table`: every column; timestamps as integer milliseconds,
///   `json`/`jsonb` as JSON values.
public struct DatasetSpec: Sendable, Hashable {
    public enum Source: Sendable, Hashable {
        case redisStream(pattern: KeyPattern, field: String, as: String)
        case redisList(key: String, as: String)
        case redisHash(pattern: KeyPattern)
        case redisZSet(key: String)
        case graphLabel(String)
        case graphRelationship(type: String, endpoints: [String])
        case postgresTable(String)
    }

    public var name: String
    public var store: String
    public var source: Source
    /// Top-level fields a rule may read (deeper paths into them are free).
    public var fields: Set<String>
    /// How the recheck finds this dataset's records by point lookups:
    /// `run` and `id` name the field (path) holding a run id or a record id.
    public var lookup: [String: [String]]
}

/// A Redis key pattern with named captures: `workflow:{workflowId}:events`.
public struct KeyPattern: Sendable, Hashable, CustomStringConvertible {
    public var prefix: String
    public var capture: String
    public var suffix: String

    public init?(_ text: String) {
        guard let open = text.firstIndex(of: "{"), let close = text[open...].firstIndex(of: "}"),
            !text[text.index(after: close)...].contains("{")
        else { return nil }
        prefix = String(text[..<open])
        capture = String(text[text.index(after: open)..<close])
        suffix = String(text[text.index(after: close)...])
        guard !capture.isEmpty else { return nil }
    }

    public var description: String { "\(prefix){\(capture)}\(suffix)" }
    /// The SCAN MATCH glob.
    public var glob: String { Self.escapeGlob(prefix) + "*" + Self.escapeGlob(suffix) }
    public func key(_ value: String) -> String { prefix + value + suffix }

    /// The captured value when `key` matches.
    public func match(_ key: String) -> String? {
        guard key.count > prefix.count + suffix.count, key.hasPrefix(prefix), key.hasSuffix(suffix) else { return nil }
        return String(key.dropFirst(prefix.count).dropLast(suffix.count))
    }

    static func escapeGlob(_ s: String) -> String {
        var out = ""
        for c in s { if "*?[]\\".contains(c) { out.append("\\") }; out.append(c) }
        return out
    }
}

/// The datasets a rule set may read.
public struct DatasetCatalog: Sendable {
    public var specs: [String: DatasetSpec]

    public subscript(name: String) -> DatasetSpec? { specs[name] }

    /// Parses `datasets.yaml`; problems are added to `diagnostics`.
    static func load(text: String, file: String, diagnostics: inout [Diagnostic]) -> DatasetCatalog {
        let y = YAMLReader(file: file)
        var specs: [String: DatasetSpec] = [:]
        defer { diagnostics += y.diagnostics }
        guard let root = y.mapping(y.compose(text), "the dataset file", allowed: ["version", "datasets"]) else {
            return DatasetCatalog(specs: [:])
        }
        if root["version"]?.int != 1 { y.error(at: root["version"], "unsupported dataset file version \(root["version"]?.scalar?.string ?? "(none)"); expected 1") }
        guard let all = y.mapping(root["datasets"], "datasets") else {
            y.error(at: nil, "missing datasets")
            return DatasetCatalog(specs: [:])
        }
        let allowed: Set<String> = ["store", "type", "pattern", "key", "field", "as", "fields", "label", "relationship", "endpoints", "table", "columns", "properties", "lookup"]
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
                    guard let p = KeyPattern(text) else { y.error(at: m["pattern"], "pattern must have one {capture}, e.g. workflow:{workflowId}:events"); return nil }
                    return p
                }
                switch type {
                case "stream":
                    if let p = pattern() {
                        source = .redisStream(pattern: p, field: m["field"]?.scalar?.string ?? "event", as: parsedAs)
                        fields = ["key", p.capture, "entry", "seq", parsedAs, "raw"]
                    }
                case "list":
                    if let k = y.string(m["key"], "key", parent: node) { source = .redisList(key: k, as: parsedAs) }
                    fields = ["key", "index", parsedAs, "raw"]
                case "hash":
                    if let p = pattern() {
                        source = .redisHash(pattern: p)
                        fields = Set(["key", p.capture] + names("fields"))
                    }
                case "zset":
                    if let k = y.string(m["key"], "key", parent: node) { source = .redisZSet(key: k) }
                    fields = ["key", "member", "score"]
                default:
                    y.error(at: m["type"] ?? node, "unknown Redis type '\(type)' (stream, list, hash, zset)")
                }
            case "graph":
                if let label = m["label"]?.scalar?.string {
                    source = .graphLabel(label)
                    fields = Set(names("properties"))
                    if fields.isEmpty { y.error(at: node, "a graph label dataset lists the properties it reads (properties: [id, …])") }
                } else if let rel = m["relationship"]?.scalar?.string {
                    source = .graphRelationship(type: rel, endpoints: names("endpoints"))
                    fields = ["type", "from", "to"]
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
            default:
                y.error(at: m["store"] ?? node, "unknown store '\(store)' (postgres, redis, graph)")
            }
            if let source {
                specs[name] = DatasetSpec(name: name, store: store, source: source, fields: fields, lookup: lookup)
            }
        }
        return DatasetCatalog(specs: specs)
    }
}
