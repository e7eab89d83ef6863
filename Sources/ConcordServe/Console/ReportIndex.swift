import ConcordJSON
import Foundation

/// The audit reports and plans in the reports directory, read once per file version (name, size, mtime).
final class ReportIndex: @unchecked Sendable {
    // @unchecked: `cache` is used under `lock`.
    struct Audit: Sendable {
        var file: String
        var auditId: String
        var source: String
        var finishedAt: String
        var findings: Int
        var errors: Int
        var warnings: Int
        /// The HTML report beside it (`<auditId>.html`), if there is one.
        var html: String?
        /// Findings known from the baseline, the audit's seconds, and how it read (live, snapshot; incremental or full).
        var known: Int = 0
        var seconds: Double = 0
        var mode: String = ""
        /// Findings per rule and the records the audit read (for the trends; read once with the rest, cached by file version).
        var perRule: [String: Int] = [:]
        var recordsRead = 0
    }

    struct PlanFile: Sendable {
        var file: String
        var planId: String
        var sourceAuditId: String
        var createdAt: String
        var byStore: [String: Int]
    }

    private enum Entry { case audit(Audit), plan(PlanFile), other }
    private struct Version: Hashable { var size: Int; var modified: Date }
    private let lock = NSLock()
    private var cache: [String: (Version, Entry)] = [:]
    let directory: String

    init(directory: String) { self.directory = directory }

    func path(_ file: String) -> String { URL(fileURLWithPath: directory).appendingPathComponent(file).path }

    /// The directory's JSON files, newest first.
    private func entries() -> [Entry] {
        let fm = FileManager.default
        let names = ((try? fm.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
        var out: [(Date, Entry)] = []
        for name in names {
            guard let attrs = try? fm.attributesOfItem(atPath: path(name)), (attrs[.type] as? FileAttributeType) == .typeRegular else { continue }
            let version = Version(size: (attrs[.size] as? Int) ?? 0, modified: (attrs[.modificationDate] as? Date) ?? .distantPast)
            let cached = lock.withLock { cache[name] }
            let entry: Entry
            if let cached, cached.0 == version { entry = cached.1 } else {
                entry = Self.read(name, path: path(name), htmlExists: { fm.fileExists(atPath: self.path($0)) })
                lock.withLock { cache[name] = (version, entry) }
            }
            out.append((version.modified, entry))
        }
        return out.sorted { $0.0 > $1.0 }.map(\.1)
    }

    private static func read(_ name: String, path: String, htmlExists: (String) -> Bool) -> Entry {
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSON.parse([UInt8](data)) else { return .other }
        switch json["format"]?.stringValue {
        case "concord.audit/1":
            let id = json["auditId"]?.stringValue ?? name
            let sev = json["summary"]?["bySeverity"]
            return .audit(Audit(file: name, auditId: id, source: json["source"]?.stringValue ?? "?", finishedAt: json["finishedAt"]?.stringValue ?? "",
                                findings: Int(json["summary"]?["findings"]?.intValue ?? 0), errors: Int(sev?["error"]?.intValue ?? 0),
                                warnings: Int(sev?["warning"]?.intValue ?? 0), html: htmlExists(id + ".html") ? id + ".html" : nil,
                                known: Int(json["summary"]?["known"]?.intValue ?? 0), seconds: json["timings"]?["total"]?.doubleValue ?? 0,
                                mode: (json["source"]?.stringValue ?? "?") + (json["incremental"].map { $0["fullBecause"] == nil ? ", incremental" : ", full" } ?? "")
                                    + (json["partition"]?.stringValue.map { ", partition \($0)" } ?? ""),
                                perRule: (json["rules"]?.arrayValue ?? []).reduce(into: [:]) { d, r in
                                    if let id = r["id"]?.stringValue { d[id] = Int(r["findings"]?.intValue ?? 0) } },
                                recordsRead: (json["stores"]?.objectValue ?? [:]).values.reduce(0) { n, st in
                                    n + (st["records"]?.objectValue ?? [:]).values.reduce(0) { $0 + Int($1.intValue ?? 0) } }))
        case "concord.plan/1":
            var byStore: [String: Int] = [:]
            for op in json["operations"]?.arrayValue ?? [] { byStore[op["store"]?.stringValue ?? "?", default: 0] += 1 }
            return .plan(PlanFile(file: name, planId: json["planId"]?.stringValue ?? name, sourceAuditId: json["sourceAuditId"]?.stringValue ?? "",
                                  createdAt: json["createdAt"]?.stringValue ?? "", byStore: byStore))
        default:
            return .other
        }
    }

    /// Audits, newest first; one row per audit id (`latest.json` is a copy of another report).
    var audits: [Audit] {
        var seen: Set<String> = []
        var out: [Audit] = []
        let all = entries().compactMap { if case .audit(let a) = $0 { return a } else { return nil } }
        for a in all.sorted(by: { ($0.file == "latest.json" ? 1 : 0) < ($1.file == "latest.json" ? 1 : 0) }) where seen.insert(a.auditId).inserted {
            out.append(a)
        }
        return out.sorted { $0.finishedAt > $1.finishedAt }
    }

    var plans: [PlanFile] {
        var seen: Set<String> = []
        return entries().compactMap { if case .plan(let p) = $0, seen.insert(p.planId).inserted { return p } else { return nil } }
    }

    /// A listed audit by file name (never a path: names come from the directory listing only).
    func audit(file: String) -> Audit? {
        for case .audit(let a) in entries() where a.file == file { return a }
        return nil
    }
    func plan(id: String) -> PlanFile? { plans.first { $0.planId == id } }

    /// The plans an apply report exists for (`apply-PLAN.json` beside them).
    var appliedPlans: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).compactMap { name in
            name.hasPrefix("apply-") && name.hasSuffix(".json") ? String(name.dropFirst(6).dropLast(5)) : nil
        }
    }

    /// The findings of the newest audit that name `run`, or one of its records' `keys` (a confirmation or a draft's
    /// history knows no run of its own), read from its JSON report.
    func findings(run: String, keys: Set<String>) -> [(rule: String, key: String, message: String, file: String)] {
        guard let a = audits.first, let data = FileManager.default.contents(atPath: path(a.file)), let json = try? JSON.parse([UInt8](data)) else { return [] }
        return (json["findings"]?.arrayValue ?? []).filter { $0["workflowId"]?.stringValue == run || keys.contains($0["key"]?.stringValue ?? "") }.map {
            ($0["rule"]?.stringValue ?? "", $0["key"]?.stringValue ?? "", $0["message"]?.stringValue ?? "", a.file)
        }
    }

    /// The names of the directory's files, for serving only files it holds.
    func holds(_ file: String) -> Bool {
        !file.contains("/") && !file.hasPrefix(".") && ((try? FileManager.default.contentsOfDirectory(atPath: directory))?.contains(file) ?? false)
    }
}
