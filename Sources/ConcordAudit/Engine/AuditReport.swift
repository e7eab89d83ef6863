import ConcordCore
import ConcordCrypto
import ConcordJSON
import Foundation

/// `--partition I/N`: the findings whose run id (or, for a finding with no
/// run, its key) hashes to partition I of N.
public struct Partition: Sendable, Hashable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) throws {
        guard count >= 1, index >= 0, index < count else {
            throw ConcordError(.usage, "bad partition \(index)/\(count): use I/N with 0 <= I < N")
        }
        self.index = index
        self.count = count
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: "/").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let i = parts[0], let n = parts[1] else {
            throw ConcordError(.usage, "bad --partition '\(text)': use I/N, e.g. 0/4")
        }
        try self.init(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// A finding belongs to the partition of its run (`RunBucket`: stable
    /// across runs, machines, versions and stores). One that belongs to no run
    /// (a malformed queue entry, a confirmation with no event) is reported by
    /// every partition that finds it: each reads the queues and sets whole, and
    /// an incremental partition may be the only one to meet it. `concord report
    /// merge` keeps one of each.
    public func contains(_ f: Finding) -> Bool {
        guard let run = f.workflowId else { return true }
        return contains(run: run)
    }

    public func contains(run: String) -> Bool {
        RunBucket.contains(run, index: index, of: count)
    }
}

/// The audit's outcome, and its stable JSON form (`concord.audit/1`).
public struct AuditReport: Sendable {
    public static let format = "concord.audit/1"

    public struct RuleSummary: Sendable {
        public var id: String
        public var severity: Rule.Severity
        public var kind: String
        public var description: String
        public var checked: Int
        public var findings: Int
        public var known: Int
    }

    public var auditId: String
    public var startedAt: Date
    public var finishedAt: Date
    public var source: String
    public var stores: [String: JSON]
    public var rules: [RuleSummary]
    public var findings: [Finding]
    /// Ids of findings that the baseline lists (reported, but not failing the run).
    public var known: Set<String>
    public var graceMs: Int64
    public var nowMs: Int64
    public var partition: Partition?
    public var rulesDigest: String
    public var recheck: JSON
    public var timings: [String: Double]
    /// Further top-level report fields (how a partition or an incremental audit read the stores).
    public var extra: [String: JSON] = [:]

    public var newFindings: [Finding] { findings.filter { !known.contains($0.id) } }

    /// Whether any finding not in the baseline is at or above `severity`.
    public func fails(at severity: Rule.Severity?) -> Bool {
        guard let severity else { return false }
        return newFindings.contains { $0.severity >= severity }
    }

    public func json() -> JSON {
        var bySeverity: [String: JSON] = [:]
        var byRule: [String: JSON] = [:]
        for f in findings {
            bySeverity[f.severity.rawValue] = .int((bySeverity[f.severity.rawValue]?.intValue ?? 0) + 1)
            byRule[f.rule] = .int((byRule[f.rule]?.intValue ?? 0) + 1)
        }
        var o: [String: JSON] = [
            "format": .string(Self.format),
            "auditId": .string(auditId),
            "startedAt": .string(Timestamp.rfc3339(startedAt)),
            "finishedAt": .string(Timestamp.rfc3339(finishedAt)),
            "source": .string(source),
            "stores": .object(stores),
            "rules": .array(rules.map { r in
                ["id": .string(r.id), "severity": .string(r.severity.rawValue), "kind": .string(r.kind), "description": .string(r.description),
                 "checked": .int(Int64(r.checked)), "findings": .int(Int64(r.findings)), "known": .int(Int64(r.known))]
            }),
            "findings": .array(findings.map { f in
                var j = f.json
                if known.contains(f.id), case .object(var fo) = j { fo["known"] = true; j = .object(fo) }
                return j
            }),
            "summary": ["findings": .int(Int64(findings.count)), "new": .int(Int64(newFindings.count)), "known": .int(Int64(findings.count - newFindings.count)),
                        "bySeverity": .object(bySeverity), "byRule": .object(byRule)],
            "graceMs": .int(graceMs),
            "evaluatedAt": .int(nowMs),
            "rulesDigest": .string(rulesDigest),
            "recheck": recheck,
            "timings": .object(timings.mapValues { .double(($0 * 1000).rounded() / 1000) }),
        ]
        o["partition"] = partition.map { .string($0.description) } ?? .null
        for (k, v) in extra where o[k] == nil { o[k] = v }
        return .object(o)
    }

    /// Reads the findings back from a JSON report (for baselines and plans).
    public static func findings(fromReport json: JSON, file: String) throws -> [JSON] {
        guard json["format"]?.stringValue == format else {
            throw ConcordError(.invalidInput, "\(file) is not a Concord audit report (format \(json["format"]?.description ?? "missing"); expected \(format))")
        }
        return json["findings"]?.arrayValue ?? []
    }
}

/// A baseline: findings known and accepted, by id (rule + key).
public struct Baseline: Sendable {
    public static let format = "concord.baseline/1"
    public var ids: Set<String>

    public init(ids: Set<String>) { self.ids = ids }

    /// Reads a baseline file, or an audit report used as one.
    public init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ConcordError(.usage, "cannot read baseline \(file)")
        }
        let json: JSON
        do { json = try JSON.parse([UInt8](data)) } catch let e as ConcordError {
            throw e.wrapped(in: "baseline \(file)", code: .invalidInput, context: ["file": file])
        }
        let items: [JSON]
        if json["format"]?.stringValue == Baseline.format {
            items = json["findings"]?.arrayValue ?? []
        } else {
            items = try AuditReport.findings(fromReport: json, file: file)
        }
        ids = Set(items.compactMap { item in
            guard let rule = item["rule"]?.stringValue, let key = item["key"]?.stringValue else { return nil }
            return Finding.id(rule: rule, key: key)
        })
    }

    public static func json(_ findings: [Finding]) -> JSON {
        ["format": .string(format),
         "findings": .array(findings.map { ["rule": .string($0.rule), "key": .string($0.key), "workflowId": $0.workflowId.map(JSON.string) ?? .null] })]
    }
}
