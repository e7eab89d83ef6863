import ConcordAudit
import ConcordCore
import ConcordJSON
import Foundation

/// The report formats of `--format`.
public enum ReportFormat: String, CaseIterable, Sendable {
    case json, md, html, junit, prom

    public var fileExtension: String {
        switch self {
        case .json: "json"
        case .md: "md"
        case .html: "html"
        case .junit: "junit.xml"
        case .prom: "prom"
        }
    }

    public static func parse(_ list: String) throws -> [ReportFormat] {
        try list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.map { name in
            guard let f = ReportFormat(rawValue: name) else {
                throw ConcordError(.usage, "unknown report format '\(name)' (\(allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return f
        }
    }

    /// The reporter that writes this format.
    public var reporter: any AuditReporter.Type {
        switch self {
        case .json: JSONReport.self
        case .md: MarkdownReport.self
        case .html: HTMLReport.self
        case .junit: JUnitReport.self
        case .prom: PrometheusReport.self
        }
    }

    public func render(_ report: AuditReport, runTrees: [String: [TreeNode]] = [:]) -> String {
        reporter.render(report, ReportContext(runTrees: runTrees))
    }
}

/// What a reporter may use besides the report: the runs' event trees (HTML).
public struct ReportContext: Sendable {
    public var runTrees: [String: [TreeNode]]
    public init(runTrees: [String: [TreeNode]] = [:]) { self.runTrees = runTrees }
}

/// One output format of an audit report.
public protocol AuditReporter {
    static func render(_ report: AuditReport, _ context: ReportContext) -> String
}

/// `concord.audit/1`, indented, keys sorted.
enum JSONReport: AuditReporter {
    static func render(_ r: AuditReport, _ context: ReportContext) -> String { r.json().encodedPretty() + "\n" }
}

/// Writes the chosen formats to `directory` under timestamped names, plus a
/// `latest` copy of each; returns the paths written.
public enum ReportWriter {
    public static func write(_ report: AuditReport, formats: [ReportFormat], directory: URL, runTrees: [String: [TreeNode]] = [:]) throws -> [String] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var written: [String] = []
        for f in formats {
            let text = f.render(report, runTrees: runTrees)
            let name = "\(report.auditId).\(f.fileExtension)"
            let url = directory.appendingPathComponent(name)
            try Data(text.utf8).write(to: url, options: .atomic)
            try Data(text.utf8).write(to: directory.appendingPathComponent("latest.\(f.fileExtension)"), options: .atomic)
            written.append(url.path)
        }
        return written
    }
}

extension JSON {
    /// Indented JSON with sorted keys (the canonical form, made readable).
    public func encodedPretty(indent: String = "") -> String {
        let inner = indent + "  "
        switch self {
        case .array(let a):
            if a.isEmpty { return "[]" }
            return "[\n" + a.map { inner + $0.encodedPretty(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .object(let o):
            if o.isEmpty { return "{}" }
            return "{\n" + o.keys.sorted().map { inner + JSON.string($0).encoded() + ": " + o[$0]!.encodedPretty(indent: inner) }.joined(separator: ",\n") + "\n" + indent + "}"
        default:
            return encoded()
        }
    }
}

/// Escaping for the markup formats (the reports, and the console's pages).
public enum Escape {
    /// Text for XML and HTML element content and quoted attribute values; control characters shown as `\u{…}`.
    public static func xml(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // XML 1.0 cannot carry most control characters at all.
                if c.value < 0x20 && c != "\n" && c != "\t" && c != "\r" { out += "\\u{\(String(c.value, radix: 16))}" } else { out.unicodeScalars.append(c) }
            }
        }
        return out
    }

    static func markdownCell(_ s: String) -> String {
        s.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }

    static func promLabel(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

enum MarkdownReport: AuditReporter {
    static func render(_ r: AuditReport, _ context: ReportContext) -> String {
        var s = "# Concord audit \(r.auditId)\n\n"
        s += "- Source: \(r.source); started \(Timestamp.rfc3339(r.startedAt)); grace \(DurationText.format(milliseconds: r.graceMs))"
        if let p = r.partition { s += "; partition \(p)" }
        s += "\n- Findings: **\(r.findings.count)** (\(r.newFindings.count) new, \(r.findings.count - r.newFindings.count) known from the baseline)\n"
        if r.recheck["performed"]?.boolValue == true {
            s += "- Recheck: \(r.recheck["candidates"]?.intValue ?? 0) candidate(s), \(r.recheck["healed"]?.intValue ?? 0) healed"
            if let n = r.recheck["unavailable"]?.intValue, n > 0 { s += ", **\(n) could not be re-read** (kept, marked ↺?)" }
            s += "\n"
        }
        for store in r.stores.keys.sorted() {
            let records = (r.stores[store]?["records"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
                .map { "\($0.key) \($0.value.textValue)" }.joined(separator: ", ")
            s += "- \(store): \(records.isEmpty ? "not read" : records)\n"
        }
        s += "\n## Rules\n\n| rule | severity | kind | checked | findings |\n| --- | --- | --- | ---: | ---: |\n"
        for rule in r.rules {
            s += "| \(rule.id) | \(rule.severity.rawValue) | \(rule.kind) | \(rule.checked) | \(rule.findings)\(rule.known > 0 ? " (\(rule.known) known)" : "") |\n"
        }
        s += "\n## Findings\n\n"
        if r.findings.isEmpty {
            s += "None: the stores agree.\n"
        } else {
            s += "| severity | rule | key | run | message |\n| --- | --- | --- | --- | --- |\n"
            for f in r.findings {
                let unrechecked = f.recheckUnavailable.map { " ↺? not rechecked: \($0)" } ?? ""
                s += "| \(f.severity.rawValue)\(r.known.contains(f.id) ? " (known)" : "") | \(f.rule) | `\(Escape.markdownCell(f.key))` | \(Escape.markdownCell(f.workflowId ?? "")) | \(Escape.markdownCell(f.message + unrechecked)) |\n"
            }
        }
        return s
    }
}

enum JUnitReport: AuditReporter {
    static func render(_ r: AuditReport, _ context: ReportContext) -> String {
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<testsuites name=\"concord audit \(Escape.xml(r.auditId))\" tests=\"\(r.rules.count)\" failures=\"\(r.newFindings.count)\">\n"
        for rule in r.rules {
            let findings = r.findings.filter { $0.rule == rule.id }
            let failing = findings.filter { !r.known.contains($0.id) }
            s += "  <testsuite name=\"\(Escape.xml(rule.id))\" tests=\"\(max(findings.count, 1))\" failures=\"\(failing.count)\" skipped=\"\(findings.count - failing.count)\">\n"
            if findings.isEmpty {
                s += "    <testcase classname=\"\(Escape.xml(rule.id))\" name=\"no findings (\(rule.checked) records checked)\"/>\n"
            }
            for f in findings {
                s += "    <testcase classname=\"\(Escape.xml(rule.id))\" name=\"\(Escape.xml(f.key))\">\n"
                if r.known.contains(f.id) {
                    s += "      <skipped message=\"known (in the baseline)\"/>\n"
                } else {
                    s += "      <failure type=\"\(f.severity.rawValue)\" message=\"\(Escape.xml(f.message))\">\(Escape.xml(f.evidence.encoded()))</failure>\n"
                }
                s += "    </testcase>\n"
            }
            s += "  </testsuite>\n"
        }
        return s + "</testsuites>\n"
    }
}

enum PrometheusReport: AuditReporter {
    static func render(_ r: AuditReport, _ context: ReportContext) -> String {
        var s = "# HELP concord_findings Findings of the last audit, by rule and severity.\n# TYPE concord_findings gauge\n"
        for rule in r.rules {
            s += "concord_findings{rule=\"\(Escape.promLabel(rule.id))\",severity=\"\(rule.severity.rawValue)\"} \(rule.findings)\n"
        }
        s += "# HELP concord_findings_new Findings not in the baseline, by rule.\n# TYPE concord_findings_new gauge\n"
        for rule in r.rules {
            s += "concord_findings_new{rule=\"\(Escape.promLabel(rule.id))\"} \(rule.findings - rule.known)\n"
        }
        s += "# HELP concord_audit_records Records read, by store and dataset.\n# TYPE concord_audit_records gauge\n"
        for store in r.stores.keys.sorted() {
            for (dataset, n) in (r.stores[store]?["records"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                s += "concord_audit_records{store=\"\(store)\",dataset=\"\(Escape.promLabel(dataset))\"} \(n.textValue)\n"
            }
        }
        s += "# HELP concord_audit_duration_seconds Time spent, by phase.\n# TYPE concord_audit_duration_seconds gauge\n"
        for (phase, secs) in r.timings.sorted(by: { $0.key < $1.key }) {
            s += "concord_audit_duration_seconds{phase=\"\(phase)\"} \(String(format: "%.3f", secs))\n"
        }
        s += "# HELP concord_audit_timestamp_seconds When the audit finished.\n# TYPE concord_audit_timestamp_seconds gauge\n"
        s += "concord_audit_timestamp_seconds \(Int(r.finishedAt.timeIntervalSince1970))\n"
        return s
    }
}
