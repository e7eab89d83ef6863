import ConcordCore
import ConcordJSON
import Foundation
import Yams

/// One test case of the rules (`Rules/tests/…/*.yaml`, docs/audit.md "Testing rules"):
/// the records of each dataset — only the fields that matter, the rest defaulted
/// from the data model — the evaluation time, and the findings the rules must
/// report on them (rule and key), or none.
///
/// ```yaml
/// version: 1
/// rule: event.missing-in-graph          # or rules: [a, b]; default: every rule
/// description: e3 is in its stream, an hour old, and no node holds it
/// now: 2025-11-24T16:00:00Z             # default 2025-11-24T16:00:00Z; "now-1h" anywhere below is relative to it
/// grace: 5m
/// records:
///   redis.streams:
///     - { workflowId: wr_a, event: { id: e3, timestamp: now-1h } }
/// expect:
///   - { rule: event.missing-in-graph, key: e3 }
/// ```
public struct RuleCase: Sendable {
    public var file: String
    public var description: String
    /// The rules evaluated (empty: every rule of the set).
    public var rules: [String]
    public var now: Int64
    public var graceMs: Int64
    /// Records per dataset, defaults filled in.
    public var records: [String: [JSON]]
    /// `rule key` pairs; nil when the case has no `expect:` yet (`--update` writes it).
    public var expect: Set<String>?
    /// The line of the top-level `expect:` key (for `--update`), if any.
    public var expectLine: Int?

    public static let defaultNow: Int64 = 1_764_000_000_000

    public init(file: String, description: String, rules: [String], now: Int64, graceMs: Int64, records: [String: [JSON]], expect: Set<String>?,
                expectLine: Int? = nil) {
        self.file = file
        self.description = description
        self.rules = rules
        self.now = now
        self.graceMs = graceMs
        self.records = records
        self.expect = expect
        self.expectLine = expectLine
    }

    /// Reads a case file; every problem is a diagnostic at its position.
    public static func load(file: String, text: String, rules: RuleSet) -> (RuleCase?, [Diagnostic]) {
        let y = YAMLReader(file: file)
        guard let root = y.compose(text), let m = y.mapping(root, "a rule case", allowed: ["version", "rule", "rules", "description", "now", "grace", "records", "expect"]) else {
            return (nil, y.diagnostics)
        }
        if let v = m["version"], v.scalar?.string != "1" { y.error(at: v, "unsupported case version (1)") }
        var c = RuleCase(file: file, description: m["description"]?.scalar?.string ?? "", rules: [], now: defaultNow, graceMs: 300_000, records: [:], expect: nil)
        let known = Set(rules.rules.map(\.id))
        for node in y.list(m["rule"]) + y.list(m["rules"]) {
            guard let id = node.scalar?.string else { y.error(at: node, "a rule id must be a string"); continue }
            if known.contains(id) { c.rules.append(id) } else { y.error(at: node, "unknown rule '\(id)' (not in \(rules.rules.count) rules loaded)") }
        }
        if let n = m["now"] {
            let s = n.scalar?.string ?? ""
            if let ms = Int64(s) { c.now = ms } else if let d = Timestamp.parse(s) { c.now = Timestamp.milliseconds(d) } else {
                y.error(at: n, "now must be epoch milliseconds or an RFC 3339 time")
            }
        }
        if let g = m["grace"] {
            do { c.graceMs = try DurationText.milliseconds(g.scalar?.string ?? "") } catch { y.error(at: g, "grace must be a duration such as 5m, 30s, 0s") }
        }
        if let recs = y.mapping(m["records"], "records") {
            for (name, node) in recs.sorted(by: { $0.key < $1.key }) {
                guard let spec = rules.datasets[name] else {
                    y.error(at: root.mapping?.first { $0.key.scalar?.string == "records" }?.value.mapping?.first { $0.key.scalar?.string == name }?.key ?? node,
                            "unknown dataset '\(name)' (datasets.yaml declares \(rules.datasets.specs.keys.sorted().joined(separator: ", ")))")
                    continue
                }
                var list: [JSON] = []
                for (i, item) in y.list(node).enumerated() {
                    guard case .object = Self.json(item, now: c.now) else { y.error(at: item, "a record must be a mapping"); continue }
                    list.append(Self.defaulted(Self.json(item, now: c.now), spec: spec, index: i, in: list, now: c.now))
                }
                c.records[name] = list
            }
        } else if m["records"] == nil {
            y.error(at: root, "missing records (a mapping of dataset → list of records; {} for none)")
        }
        if let e = m["expect"] {
            c.expectLine = root.mapping?.first { $0.key.scalar?.string == "expect" }?.key.mark?.line
            var set: Set<String> = []
            for item in y.list(e) where !(e.scalar?.string == "[]") {
                if let s = item.scalar?.string, !s.isEmpty {
                    let parts = s.split(separator: " ", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else { y.error(at: item, "an expected finding is 'RULE KEY' or {rule: RULE, key: KEY}"); continue }
                    set.insert(parts[0] + " " + parts[1])
                } else if let fm = y.mapping(item, "an expected finding", allowed: ["rule", "key"]), let r = y.string(fm["rule"], "rule", parent: item),
                          let k = y.string(fm["key"], "key", parent: item) {
                    if !known.contains(r) { y.error(at: fm["rule"], "unknown rule '\(r)'") }
                    set.insert(r + " " + k)
                }
            }
            c.expect = set
        }
        return (y.diagnostics.contains { $0.severity == .error } ? nil : c, y.diagnostics)
    }

    /// YAML to JSON: plain integers, floats, booleans and null typed; `now`, `now-1h`, `now+30s` as epoch milliseconds.
    static func json(_ node: Node, now: Int64) -> JSON {
        switch node {
        case .scalar(let s):
            if s.style == .plain {
                let t = s.string
                if let i = Int64(t) { return .int(i) }
                if t.contains("."), let d = Double(t), !t.hasPrefix(".") { return .double(d) }
                if t == "true" { return true }
                if t == "false" { return false }
                if t == "null" || t == "~" { return .null }
                if let ms = relative(t, now: now) { return .int(ms) }
            }
            return .string(s.string)
        case .mapping(let m):
            var o: [String: JSON] = [:]
            for (k, v) in m { o[k.scalar?.string ?? ""] = json(v, now: now) }
            return .object(o)
        case .sequence(let seq): return .array(seq.map { json($0, now: now) })
        case .alias: return .null
        }
    }

    /// `now`, `now-90s`, `now+1h` → epoch milliseconds.
    static func relative(_ t: String, now: Int64) -> Int64? {
        guard t.hasPrefix("now") else { return nil }
        let rest = t.dropFirst(3)
        if rest.isEmpty { return now }
        guard let sign = rest.first, sign == "-" || sign == "+", let ms = try? DurationText.milliseconds(String(rest.dropFirst())) else { return nil }
        return sign == "-" ? now - ms : now + ms
    }

    /// A record with what the case left out filled in from the data model and the dataset's declaration.
    static func defaulted(_ record: JSON, spec: DatasetSpec, index: Int, in earlier: [JSON], now: Int64) -> JSON {
        guard case .object(var o) = record else { return record }
        func fill(_ k: String, _ v: JSON) { if o[k] == nil { o[k] = v } }
        let hour = now - 3_600_000
        switch spec.source {
        case .redisStream(let pattern, _, let name):
            let captures = pattern.captures.reduce(into: [String: String]()) { d, c in if let v = o[c]?.stringValue { d[c] = v } }
            if let key = pattern.key(captures) { fill("key", .string(key)) }
            fill("entry", .string("\(hour + Int64(index))-0"))
            fill("seq", .int(Int64(earlier.filter { $0["key"] == o["key"] }.count)))
            if case .object(let ev)? = o[name] { o[name] = event(ev, run: captures.values.first, now: now) }
        case .redisList(let key, let name):
            fill("key", .string(key))
            fill("index", .int(Int64(index)))
            if case .object(let ev)? = o[name] { o[name] = event(ev, run: nil, now: now) }
        case .redisHash(let pattern, _), .redisString(let pattern, _), .redisSet(let pattern?, _):
            let captures = pattern.captures.reduce(into: [String: String]()) { d, c in if let v = o[c]?.stringValue { d[c] = v } }
            if let key = pattern.key(captures) { fill("key", .string(key)) }
            if case .redisHash = spec.source {
                // Redis keeps strings: numbers given in a case are stored as their text.
                for (k, v) in o where k != "key" && !pattern.captures.contains(k) {
                    if case .int(let n) = v { o[k] = .string(String(n)) }
                }
            }
        case .redisSet(nil, let key?):
            fill("key", .string(key))
        case .redisZSet(let key):
            fill("key", .string(key))
            fill("score", .int(hour))
        case .graphRelationship(let type, _, _):
            fill("type", .string(type))
            if case .object(var f)? = o["from"], f["label"] == nil, let l = spec.fromLabels.first { f["label"] = .string(l); o["from"] = .object(f) }
            if case .object(var t)? = o["to"], t["label"] == nil, let l = spec.toLabels.first { t["label"] = .string(l); o["to"] = .object(t) }
        case .postgresTable(let table):
            switch table {
            case "draft_content":
                fill("content_type", "comment"); fill("content", .string("text of \(o["id"]?.stringValue ?? "a draft")"))
                fill("status", "draft"); fill("metadata", ["githubRepo": "acme/widgets", "githubIssueId": 1])
                fill("created_at", .int(hour)); fill("updated_at", o["created_at"] ?? .int(hour))
            case "draft_content_history":
                fill("status", "draft"); fill("content", "text"); fill("changed_by", "u_1"); fill("changed_at", .int(hour))
            case "github_publication":
                fill("state", "published"); fill("attempts", 1); fill("requested_at", .int(hour)); fill("updated_at", .int(hour))
                if o["state"]?.stringValue == "published" { fill("published_at", .int(hour)); fill("synced_at", .int(hour)) }
            default: break
            }
        case .graphLabel(let label):
            if label == "Node" {
                fill("type", "message"); fill("content", "{}"); fill("timestamp", .int(hour)); fill("persisted_at", o["timestamp"] ?? .int(hour))
            } else if label == "WorkflowRun" {
                fill("state", "running"); fill("contentStatus", "none"); fill("createdAt", .int(hour)); fill("stateAt", o["createdAt"] ?? .int(hour))
            }
        case .githubPublications:
            fill("kind", "comment"); fill("created_at", .int(hour)); fill("author", "concord-bot")
        case .redisSet(nil, nil):
            break
        }
        return .object(o)
    }

    /// An event (docs/data-model.md) with its required fields: the run from its stream's key when not given.
    static func event(_ e: [String: JSON], run: String?, now: Int64) -> JSON {
        var e = e
        var meta = e["metadata"]?.objectValue ?? [:]
        if meta["workflowId"] == nil, let run { meta["workflowId"] = .string(run) }
        if meta["userId"] == nil { meta["userId"] = "u_1" }
        e["metadata"] = .object(meta)
        if e["type"] == nil { e["type"] = "message" }
        if e["timestamp"] == nil { e["timestamp"] = .int(now - 3_600_000) }
        if e["payload"] == nil { e["payload"] = .object([:]) }
        if e["parentId"] == nil, let w = meta["workflowId"] { e["parentId"] = w }
        return .object(e)
    }
}
