import ConcordCore
import ConcordJSON
import Foundation

/// `concord fixture cut`: a real snapshot cut down to the records of some runs
/// (and what those records reference: their events' confirmations and queue
/// entries, their drafts' history and publications), optionally redacted, as a
/// rule case — so a production incident becomes a regression case in one command.
public enum FixtureCut {
    /// The records of `runs` and what they reference, per dataset the rules read.
    public static func cut(_ snapshot: Snapshot, rules: RuleSet, runs: Set<String>) throws -> [String: [JSON]] {
        var out: [String: [JSON]] = [:]
        var all: [String: [JSON]] = [:]
        for name in rules.usedDatasets.sorted() where snapshot.datasets.contains(name) {
            var records: [JSON] = []
            _ = try snapshot.readLines(name) { line in records.append(try JSON.parse(Array(UnsafeRawBufferPointer(line)))) }
            all[name] = records
        }
        // First the records that belong to the runs; then, twice (a confirmation names an event that names its draft…),
        // those of datasets without a run whose ids the kept records carry.
        var ids: Set<String> = runs
        func collect(_ r: JSON, _ spec: DatasetSpec) {
            for path in spec.lookup["id"] ?? [] { if let v = r.value(atPath: path)?.keyText { ids.insert(v) } }
            for path in ["id", "event.id", "draft_id", "member"] { if let v = r.value(atPath: path)?.keyText { ids.insert(v) } }
        }
        for (name, records) in all {
            guard let spec = rules.datasets[name], let run = spec.runField else { continue }
            out[name] = records.filter { runs.contains($0.value(atPath: run)?.keyText ?? "") }
            for r in out[name]! { collect(r, spec) }
        }
        for _ in 0..<2 {
            for (name, records) in all where rules.datasets[name]?.runField == nil {
                guard let spec = rules.datasets[name] else { continue }
                let paths = (spec.lookup["id"] ?? []) + (spec.partitionKey.map { [$0] } ?? [])
                out[name] = records.filter { r in
                    if paths.contains(where: { ids.contains(r.value(atPath: $0)?.keyText ?? "") }) { return true }
                    // A queue entry or a dead letter of the runs that no kept record names (malformed, or queued only):
                    // kept when it holds one of the runs' ids as a JSON string.
                    let text = r.encoded()
                    return runs.contains { text.contains(JSON.string($0).encoded()) }
                }
                for r in out[name]! { collect(r, spec) }
            }
        }
        return out.filter { !$0.value.isEmpty || rules.usedDatasets.contains($0.key) }
    }

    /// Replaces the text of payloads and contents by tokens, the same text by the same token everywhere, so
    /// what the rules compare equal stays equal and what differs stays different; ids, keys, types and times are kept.
    public final class Redactor {
        private var tokens: [String: String] = [:]
        public init() {}

        func token(_ s: String) -> String {
            if let t = tokens[s] { return t }
            let t = "redacted-\(tokens.count + 1)"
            tokens[s] = t
            return t
        }

        func leaves(_ j: JSON) -> JSON {
            switch j {
            case .string(let s): return .string(token(s))
            case .array(let a): return .array(a.map(leaves))
            case .object(let o): return .object(o.mapValues(leaves))
            default: return j
            }
        }

        /// A JSON document held as text (a node's content): redacted inside, written back as canonical text.
        func text(_ s: String) -> String {
            guard let j = try? JSON.parse(s) else { return token(s) }
            return leaves(j).encoded()
        }

        public func record(_ r: JSON, dataset: String) -> JSON {
            guard case .object(var o) = r else { return r }
            for k in ["event", "entry", "value"] {
                if case .object(var e)? = o[k], let p = e["payload"] { e["payload"] = leaves(p); o[k] = .object(e) }
            }
            // The stored text: the redacted event's own text when it parsed, a token when it did not.
            if o["raw"]?.stringValue != nil {
                if let e = o["event"] ?? o["entry"] ?? o["value"], !e.isNull { o["raw"] = .string(e.encoded()) } else { o["raw"] = .string(token(o["raw"]!.stringValue!)) }
            }
            if case .string(let c)? = o["content"] {
                o["content"] = .string(dataset.hasPrefix("graph.") ? text(c) : token(c))
            }
            return .object(o)
        }
    }

    /// The case file: records one per line as JSON (valid YAML flow mappings), then what the rules found.
    public static func yaml(records: [String: [JSON]], now: Int64, grace: Int64, description: String, rules: [String], expect: [Finding]) -> String {
        var y = "version: 1\n"
        if rules.count == 1 { y += "rule: \(rules[0])\n" } else if !rules.isEmpty { y += "rules: [\(rules.joined(separator: ", "))]\n" }
        y += "description: \(JSON.string(description).encoded())\n"
        y += "now: \(Timestamp.rfc3339(Date(timeIntervalSince1970: Double(now) / 1000)))\n"
        y += "grace: \(grace / 1000)s\n"
        y += "records:\n"
        for (name, list) in records.sorted(by: { $0.key < $1.key }) {
            if list.isEmpty { y += "  \(name): []\n"; continue }
            y += "  \(name):\n"
            for r in list { y += "    - \(r.encoded())\n" }
        }
        y += "expect:"
        if expect.isEmpty { return y + " []\n" }
        y += "\n"
        for f in expect.sorted(by: { ($0.rule, $0.key) < ($1.rule, $1.key) }) {
            y += "  - { rule: \(f.rule), key: \(RuleCaseRunner.yamlString(f.key)) }\n"
        }
        return y
    }
}
