import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordNotify
import ConcordGitHub
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordRedis
import ConcordReports
import Foundation

/// Where an audit's reports go and when its exit status says it failed:
/// shared by `concord audit` and `concord report merge`.
struct ReportOutputOptions: ParsableArguments {
    @Option(name: .long, help: "Report formats, comma-separated: json, md, html, junit, prom (default: json,md,html).", transform: FormatList.init(parsing:))
    var format: FormatList = FormatList(text: "json,md,html", formats: [.json, .md, .html])

    @Option(name: .long, help: "Where reports go (timestamped names plus latest.*).")
    var outputDir: String = "Reports"

    @Option(name: .long, help: "Also write the JSON report to exactly this path.")
    var jsonOutput: String?

    @Option(name: .long, help: "Exit 1 on new findings at or above: error, warning, info, never.")
    var failOn: FailOn = .error

    func formats() throws -> [ReportFormat] { format.formats }

    func failLevel() throws -> Rule.Severity? { failOn.severity }

    /// `--fail-on`: a severity, or never; refused by the parser (and by `concord config check`) when it is neither.
    enum FailOn: String, ExpressibleByArgument, CaseIterable {
        case error, warning, info, never
        var severity: Rule.Severity? { self == .never ? nil : Rule.Severity(rawValue: rawValue) }
    }

    /// `--format json,md,…`: checked when parsed (the parser's message names the format it does not know).
    struct FormatList: CustomStringConvertible {
        var text: String
        var formats: [ReportFormat]
        init(text: String, formats: [ReportFormat]) {
            self.text = text
            self.formats = formats
        }
        init(parsing argument: String) throws {
            do { self.init(text: argument, formats: try ReportFormat.parse(argument)) } catch let e as ConcordError { throw ValidationError(e.message) }
        }
        var description: String { text }
    }

    /// Writes the reports (and `--json-output`); returns the paths written.
    func write(_ report: AuditReport, formats: [ReportFormat], runTrees: [String: [TreeNode]] = [:]) throws -> [String] {
        var written = try ReportWriter.write(report, formats: formats, directory: URL(fileURLWithPath: outputDir), runTrees: runTrees)
        if let jsonOutput {
            let url = URL(fileURLWithPath: jsonOutput)
            try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data((report.json().encodedPretty() + "\n").utf8).write(to: url, options: .atomic)
            written.append(jsonOutput)
        }
        return written
    }
}
