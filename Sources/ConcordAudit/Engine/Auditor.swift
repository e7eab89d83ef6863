import ConcordCore
import ConcordJSON
import Foundation

/// What an audit runs with.
public struct AuditRequest: Sendable {
    public var rules: RuleSet
    public var graceMs: Int64
    /// The evaluation time (ms); nil: now for a live audit, the snapshot's creation time for a snapshot.
    public var nowMs: Int64?
    public var partition: Partition?
    public var baseline: Baseline?

    public init(rules: RuleSet, graceMs: Int64 = 300_000, nowMs: Int64? = nil, partition: Partition? = nil, baseline: Baseline? = nil) {
        self.rules = rules
        self.graceMs = graceMs
        self.nowMs = nowMs
        self.partition = partition
        self.baseline = baseline
    }

    public var datasets: [DatasetSpec] {
        rules.usedDatasets.sorted().compactMap { rules.datasets[$0] }
    }
}

/// Runs audits: from a snapshot here, from the live stores in `ConcordLive`.
public enum Auditor {
    public static func newAuditId(_ date: Date = Date()) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "audit-" + f.string(from: date) + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    }

    /// Audits a stored snapshot; no store is touched.
    public static func audit(snapshot: Snapshot, _ request: AuditRequest) throws -> AuditReport {
        // A snapshot written without GitHub (no GitHub configured, or before it was a store): its rules are left out, and said so.
        let lacking = Set(request.datasets.filter { $0.store == "github" && !snapshot.datasets.contains($0.name) }.map(\.store))
        let (request, notRun) = leavingOut(stores: lacking, from: request, because: "the snapshot has no GitHub datasets")
        let started = Date()
        let now = request.nowMs ?? snapshot.createdAtMs ?? Timestamp.milliseconds(started)
        let engine = AuditEngine(rules: request.rules, context: EvalContext(now: now, grace: request.graceMs))
        let t0 = Date()
        try SnapshotSource.read(snapshot, datasets: engine.datasets, into: engine)
        let t1 = Date()
        let result = engine.evaluate()
        let t2 = Date()
        var stores: [String: JSON] = [:]
        for (name, entry) in snapshot.manifest["stores"]?.objectValue ?? [:] { stores[name] = entry }
        for (dataset, n) in engine.recordCounts {
            let store = request.rules.datasets[dataset]?.store ?? String(dataset.split(separator: ".").first ?? "")
            var s = stores[store]?.objectValue ?? [:]
            var records = s["records"]?.objectValue ?? [:]
            records[dataset] = .int(Int64(n))
            s["records"] = .object(records)
            stores[store] = .object(s)
        }
        var r = report(request, result, started: started, now: now, source: "snapshot", stores: stores,
                       recheck: ["performed": false], timings: ["read": t1.timeIntervalSince(t0), "evaluate": t2.timeIntervalSince(t1)])
        if let notRun { r.extra["rulesNotRun"] = notRun }
        return r
    }

    /// The request without the rules that read a dataset of `stores`, and those rules with `reason` (nil: none left out).
    public static func leavingOut(stores: Set<String>, from request: AuditRequest, because reason: String) -> (AuditRequest, JSON?) {
        guard !stores.isEmpty else { return (request, nil) }
        let (rules, dropped) = request.rules.without(stores: stores)
        guard !dropped.isEmpty else { return (request, nil) }
        var r = request
        r.rules = rules
        return (r, .object(["rules": .array(dropped.map(JSON.string)), "reason": .string(reason)]))
    }

    /// Assembles the report: partition filter, baseline, per-rule counts.
    public static func report(_ request: AuditRequest, _ result: AuditEngine.Result, started: Date, now: Int64, source: String,
                              stores: [String: JSON], recheck: JSON, timings: [String: Double]) -> AuditReport {
        var findings = result.findings
        if let p = request.partition { findings = findings.filter(p.contains) }
        let known = Set(findings.map(\.id)).intersection(request.baseline?.ids ?? [])
        let rules = request.rules.rules.map { r in
            let mine = findings.filter { $0.rule == r.id }
            return AuditReport.RuleSummary(id: r.id, severity: r.severity, kind: r.kinds.joined(separator: "+"), description: r.description,
                                           checked: result.checked[r.id] ?? 0, findings: mine.count, known: mine.filter { known.contains($0.id) }.count)
        }
        var t = timings
        t["total"] = Date().timeIntervalSince(started)
        return AuditReport(auditId: newAuditId(started), startedAt: started, finishedAt: Date(), source: source, stores: stores,
                           rules: rules, findings: findings, known: known, graceMs: request.graceMs, nowMs: now,
                           partition: request.partition, rulesDigest: request.rules.digest, recheck: recheck, timings: t)
    }
}

extension Snapshot {
    /// When the snapshot was made, in ms (the evaluation time of an audit of it).
    public var createdAtMs: Int64? {
        if let n = manifest["evaluatedAt"]?.intValue { return n }
        return manifest["createdAt"]?.stringValue.flatMap(Timestamp.parse).map(Timestamp.milliseconds)
    }
}
