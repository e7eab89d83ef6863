import ConcordCore
import ConcordJSON
import Foundation

extension Finding {
    /// A finding read back from a JSON report.
    public init(json f: JSON, file: String) throws {
        guard let rule = f["rule"]?.stringValue, let key = f["key"]?.stringValue, let sev = f["severity"]?.stringValue.flatMap(Rule.Severity.init(rawValue:)) else {
            throw ConcordError(.invalidInput, "\(file): a finding without rule, key or a known severity: \(f.encoded().prefix(200))")
        }
        id = f["id"]?.stringValue ?? Finding.id(rule: rule, key: key)
        self.rule = rule
        severity = sev
        store = f["store"]?.stringValue ?? ""
        self.key = key
        workflowId = f["workflowId"]?.stringValue
        message = f["message"]?.stringValue ?? ""
        evidence = f["evidence"] ?? .null
        recheckUnavailable = f["recheck"]?["reason"]?.stringValue
    }
}

extension AuditReport {
    /// Merges the reports of one audit's partitions (or of any audits of the
    /// same rules) into one: each finding once (one of a run is in one
    /// partition; one of no run may be in several), per-rule counts summed,
    /// each store's records summed and watermarks kept per report. Refuses
    /// reports of different rules, and — unless `allowPartial` — a partition
    /// set with one missing or twice.
    public static func merge(_ reports: [(file: String, json: JSON)], allowPartial: Bool = false) throws -> AuditReport {
        guard let first = reports.first else { throw ConcordError(.usage, "report merge needs at least one report") }
        for r in reports { _ = try AuditReport.findings(fromReport: r.json, file: r.file) }
        let digests = Set(reports.map { $0.json["rulesDigest"]?.stringValue ?? "" })
        guard digests.count == 1 else {
            throw ConcordError(.invalidInput, "the reports were made with different rules (rules digests \(digests.sorted().joined(separator: ", "))): merge reports of one audit")
        }
        // The partitions: all of 0..<N, each once.
        let parts = try reports.compactMap { r -> (String, Partition)? in
            guard let p = r.json["partition"]?.stringValue else { return nil }
            return (r.file, try Partition(parsing: p))
        }
        if !parts.isEmpty && !allowPartial {
            guard parts.count == reports.count else {
                throw ConcordError(.invalidInput, "some reports are of a partition and some are not: merge the N reports of one partitioned audit")
            }
            let counts = Set(parts.map(\.1.count))
            guard counts.count == 1, let n = counts.first else {
                throw ConcordError(.invalidInput, "the reports are of different partitionings (\(counts.sorted().map { "N=\($0)" }.joined(separator: ", ")))")
            }
            let byIndex = Dictionary(grouping: parts, by: \.1.index)
            let missing = (0..<n).filter { byIndex[$0] == nil }
            let twice = byIndex.filter { $0.value.count > 1 }.map { "\($0.key)/\(n) (\($0.value.map(\.0).joined(separator: ", ")))" }
            if !missing.isEmpty || !twice.isEmpty {
                throw ConcordError(.invalidInput, (missing.isEmpty ? "" : "partition(s) \(missing.map { "\($0)/\(n)" }.joined(separator: ", ")) missing") +
                                   (missing.isEmpty || twice.isEmpty ? "" : "; ") + (twice.isEmpty ? "" : "given twice: \(twice.joined(separator: "; "))") +
                                   " (--allow-partial merges what is there)")
            }
        }

        var findings: [String: Finding] = [:]
        var known: Set<String> = []
        var checked: [String: Int] = [:]
        var ruleInfo: [String: RuleSummary] = [:]
        var ruleOrder: [String] = []
        var stores: [String: [String: JSON]] = [:]
        var watermarks: [String: [JSON]] = [:]
        var started = Date.distantFuture, finished = Date.distantPast
        var recheck: [String: Int64] = [:]
        for (file, json) in reports {
            for f in json["findings"]?.arrayValue ?? [] {
                let finding = try Finding(json: f, file: file)
                if let had = findings[finding.id], had.workflowId != nil { continue }
                findings[finding.id] = finding
                if f["known"]?.boolValue == true { known.insert(finding.id) }
            }
            for r in json["rules"]?.arrayValue ?? [] {
                guard let id = r["id"]?.stringValue else { continue }
                checked[id, default: 0] += Int(r["checked"]?.intValue ?? 0)
                if ruleInfo[id] == nil {
                    ruleOrder.append(id)
                    ruleInfo[id] = RuleSummary(id: id, severity: r["severity"]?.stringValue.flatMap(Rule.Severity.init(rawValue:)) ?? .error,
                                               kind: r["kind"]?.stringValue ?? "", description: r["description"]?.stringValue ?? "",
                                               checked: 0, findings: 0, known: 0)
                }
            }
            for (store, s) in json["stores"]?.objectValue ?? [:] {
                var merged = stores[store] ?? [:]
                var records = merged["records"]?.objectValue ?? [:]
                for (dataset, n) in s["records"]?.objectValue ?? [:] {
                    records[dataset] = .int((records[dataset]?.intValue ?? 0) + (n.intValue ?? 0))
                }
                merged["records"] = .object(records)
                stores[store] = merged
                watermarks[store, default: []].append(["report": .string(file), "partition": json["partition"] ?? .null, "watermark": s["watermark"] ?? .null])
            }
            if let t = json["startedAt"]?.stringValue.flatMap(Timestamp.parse) { started = min(started, t) }
            if let t = json["finishedAt"]?.stringValue.flatMap(Timestamp.parse) { finished = max(finished, t) }
            for k in ["candidates", "healed", "unavailable"] { recheck[k, default: 0] += json["recheck"]?[k]?.intValue ?? 0 }
        }
        for (store, w) in watermarks { stores[store]?["watermarks"] = .array(w) }
        let all = findings.values.sorted { ($0.rule, $0.key) < ($1.rule, $1.key) }
        let rules = ruleOrder.map { id -> RuleSummary in
            var r = ruleInfo[id]!
            r.checked = checked[id] ?? 0
            let mine = all.filter { $0.rule == id }
            r.findings = mine.count
            r.known = mine.filter { known.contains($0.id) }.count
            return r
        }
        let now = reports.compactMap { $0.json["evaluatedAt"]?.intValue }.max() ?? Timestamp.milliseconds(Date())
        var merged = AuditReport(
            auditId: "merged-" + Auditor.newAuditId(Date()).dropFirst("audit-".count), startedAt: started == .distantFuture ? Date() : started,
            finishedAt: finished == .distantPast ? Date() : finished, source: first.json["source"]?.stringValue ?? "live",
            stores: stores.mapValues { .object($0) }, rules: rules, findings: all, known: known,
            graceMs: first.json["graceMs"]?.intValue ?? 0, nowMs: now, partition: nil, rulesDigest: digests.first!,
            recheck: ["performed": .bool(reports.contains { $0.json["recheck"]?["performed"]?.boolValue == true }),
                      "candidates": .int(recheck["candidates"] ?? 0), "healed": .int(recheck["healed"] ?? 0), "unavailable": .int(recheck["unavailable"] ?? 0)],
            timings: [:])
        merged.extra["merged"] = [
            "reports": .array(reports.map { r in
                ["file": .string(r.file), "auditId": r.json["auditId"] ?? .null, "partition": r.json["partition"] ?? .null,
                 "mode": r.json["mode"] ?? .null, "findings": .int(Int64(r.json["findings"]?.arrayValue?.count ?? 0))]
            }),
            "partial": .bool(allowPartial && !parts.isEmpty && Set(parts.map(\.1.index)).count < (parts.first?.1.count ?? 0)),
        ]
        return merged
    }
}
