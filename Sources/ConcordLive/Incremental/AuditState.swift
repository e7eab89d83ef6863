import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordPostgres
import Foundation

/// What an incremental audit needs from the audit before it: when it ran,
/// with which rules and grace, each run's signature and when it last changed
/// and was last audited, the ids' signatures, the sorted sets' marks, and the
/// findings it reported (their runs and keys are audited again).
public struct AuditState: Sendable {
    public static let format = "concord.audit-state/1"

    public struct RunMark: Sendable, Hashable {
        public var signature: String
        /// Evaluation time (ms) of the last audit that read the run's records.
        public var auditedAt: Int64
        /// The newest time a rule's `age()` was asked about among the run's records then (nil: none waits for time).
        public var youngest: Int64?

        /// Whether, when last read, time alone could still change a verdict on the run.
        public func settling(window: Int64) -> Bool {
            guard let youngest else { return false }
            return auditedAt < youngest + window
        }
    }

    public var scope: String
    public var auditId: String
    public var rulesDigest: String
    public var graceMs: Int64
    public var evaluatedAt: Int64
    public var runs: [String: RunMark] = [:]
    public var ids: [String: RunMark] = [:]
    public var runless: [String: String] = [:]
    /// Every member of each sorted set with its score (one that changed since is looked up by its id).
    public var members: [String: [String]] = [:]
    /// The keys each run's records carried when last read (looked up again when the run changes).
    public var keys: [String: [String]] = [:]
    /// The previous report's findings: rule, key, run.
    public var findings: [(rule: String, key: String, workflowId: String?)] = []

    public init(scope: String, auditId: String, rulesDigest: String, graceMs: Int64, evaluatedAt: Int64) {
        self.scope = scope
        self.auditId = auditId
        self.rulesDigest = rulesDigest
        self.graceMs = graceMs
        self.evaluatedAt = evaluatedAt
    }

    /// A list of ids as one string, separated by U+001F (a million short JSON
    /// strings parse ten times slower than one long one); as an array when an
    /// id holds the separator.
    static func packed(_ items: [String]) -> JSON {
        if items.contains(where: { $0.utf8.contains(0x1F) }) { return .array(items.map(JSON.string)) }
        return .string(items.joined(separator: "\u{1F}"))
    }

    static func unpacked(_ v: JSON) -> [String] {
        if let s = v.stringValue { return s.isEmpty ? [] : s.split(separator: "\u{1F}", omittingEmptySubsequences: false).map(String.init) }
        return (v.arrayValue ?? []).compactMap(\.stringValue)
    }

    /// The scope a state belongs to: `all`, or the partition `I/N`.
    public static func scope(_ partition: Partition?) -> String {
        guard let p = partition, p.count > 1 else { return "all" }
        return p.description
    }

    public var json: JSON {
        func marks(_ m: [String: RunMark]) -> JSON {
            // Compact: run → [signature, auditedAt, youngest].
            .object(m.mapValues { [.string($0.signature), .int($0.auditedAt), $0.youngest.map(JSON.int) ?? .null] })
        }
        return [
            "format": .string(Self.format), "scope": .string(scope), "auditId": .string(auditId), "rulesDigest": .string(rulesDigest),
            "graceMs": .int(graceMs), "evaluatedAt": .int(evaluatedAt),
            "runs": marks(runs), "ids": marks(ids), "runless": .object(runless.mapValues(JSON.string)),
            "members": .object(members.mapValues(Self.packed)),
            "keys": .object(keys.mapValues(Self.packed)),
            "findings": .array(findings.map { ["rule": .string($0.rule), "key": .string($0.key), "workflowId": $0.workflowId.map(JSON.string) ?? .null] }),
        ]
    }

    public init(json j: JSON, source: String) throws {
        guard j["format"]?.stringValue == Self.format else {
            throw ConcordError(.invalidInput, "\(source) is not a Concord audit state (format \(j["format"]?.description ?? "missing"); expected \(Self.format))")
        }
        func need<T>(_ v: T?, _ what: String) throws -> T {
            guard let v else { throw ConcordError(.invalidInput, "\(source): audit state without a valid '\(what)'") }
            return v
        }
        scope = try need(j["scope"]?.stringValue, "scope")
        auditId = try need(j["auditId"]?.stringValue, "auditId")
        rulesDigest = try need(j["rulesDigest"]?.stringValue, "rulesDigest")
        graceMs = try need(j["graceMs"]?.intValue, "graceMs")
        evaluatedAt = try need(j["evaluatedAt"]?.intValue, "evaluatedAt")
        func marks(_ v: JSON?, _ what: String) throws -> [String: RunMark] {
            var out: [String: RunMark] = [:]
            for (k, m) in v?.objectValue ?? [:] {
                guard let a = m.arrayValue, a.count == 3, let s = a[0].stringValue, let d = a[1].intValue else {
                    throw ConcordError(.invalidInput, "\(source): bad \(what) entry for '\(k)'")
                }
                out[k] = RunMark(signature: s, auditedAt: d, youngest: a[2].intValue)
            }
            return out
        }
        runs = try marks(j["runs"], "runs")
        ids = try marks(j["ids"], "ids")
        runless = (j["runless"]?.objectValue ?? [:]).compactMapValues(\.stringValue)
        members = (j["members"]?.objectValue ?? [:]).mapValues(Self.unpacked)
        keys = (j["keys"]?.objectValue ?? [:]).mapValues(Self.unpacked)
        findings = (j["findings"]?.arrayValue ?? []).compactMap { f in
            guard let r = f["rule"]?.stringValue, let k = f["key"]?.stringValue else { return nil }
            return (r, k, f["workflowId"]?.stringValue)
        }
    }
}

/// Where audit states are kept: a file, or the `concord_audit_state` table
/// (one row per scope: `all`, or each partition `I/N`), which every job of a
/// deployment can reach.
public enum AuditStateStore: Sendable {
    case file(URL)
    case table(PostgresConnection)


    public var description: String {
        switch self {
        case .file(let u): return u.path
        case .table(let pg): return "table concord_audit_state on \(pg.displayURL)"
        }
    }

    /// The state saved for `scope`, or nil when there is none.
    public func load(scope: String) throws -> AuditState? {
        switch self {
        case .file(let url):
            guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
            let json: JSON
            do { json = try JSON.parse([UInt8](data)) } catch let e as ConcordError {
                throw e.wrapped(in: "audit state \(url.path)", code: .invalidInput, context: ["file": url.path])
            }
            let state = try AuditState(json: json, source: url.path)
            return state.scope == scope ? state : nil
        case .table(let pg):
            let exists = try pg.query("SELECT to_regclass('concord_audit_state') IS NOT NULL")
            guard exists[0].bool(0) == true else { return nil }
            let r = try pg.query("SELECT state FROM concord_audit_state WHERE scope = $1", [scope])
            guard r.rowCount == 1, let text = r[0].string(0) else { return nil }
            let json: JSON
            do { json = try JSON.parse(Array(text.utf8)) } catch let e as ConcordError {
                throw e.wrapped(in: "audit state '\(scope)' in concord_audit_state", code: .invalidInput, context: ["scope": scope])
            }
            return try AuditState(json: json, source: "concord_audit_state[\(scope)]")
        }
    }

    /// Saves `state` (atomically: a file is replaced whole, a row in one statement).
    public func save(_ state: AuditState) throws {
        let text = state.json.encoded()
        switch self {
        case .file(let url):
            try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            do { try Data(text.utf8).write(to: url, options: .atomic) } catch {
                throw ConcordError(.usage, "cannot write the audit state to \(url.path): \(error.localizedDescription)")
            }
        case .table(let pg):
            try pg.execute(PostgresSchema.auditState)
            try pg.execute("""
                INSERT INTO concord_audit_state (scope, audit_id, updated_at, state) VALUES ($1, $2, now(), $3)
                ON CONFLICT (scope) DO UPDATE SET audit_id = EXCLUDED.audit_id, updated_at = now(), state = EXCLUDED.state
                """, [state.scope, state.auditId, text])
        }
    }
}
