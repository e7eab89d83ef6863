import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordReports
import Foundation

/// `concord report merge`: the reports of an audit's partitions as one set.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Work with audit reports.", subcommands: [Merge.self])

    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge the JSON reports of an audit's N partitions (or several audits of the same rules) into one report set.",
            discussion: """
                Each finding once; per-rule counts summed; each store's records summed and every report's watermark kept.
                Refuses reports of different rules, and a partitioned set with a partition missing or given twice
                (unless --allow-partial). Exit codes as for audit: 1 when the merged findings fail --fail-on.
                """)

        @Argument(help: "The JSON reports (concord.audit/1).") var reports: [String]

        @OptionGroup var output: ReportOutputOptions

        @Flag(name: .long, help: "Merge a partitioned set even if some partitions are missing (the report says so).")
        var allowPartial = false

        func run() throws {
            guard !reports.isEmpty else { throw ConcordError(.usage, "give the JSON reports to merge") }
            let formats = try output.formats()
            let failLevel = try output.failLevel()
            let inputs = try reports.map { file -> (file: String, json: JSON) in
                guard let data = FileManager.default.contents(atPath: file) else { throw ConcordError(.usage, "cannot read report \(file)") }
                do { return (file, try JSON.parse([UInt8](data))) } catch let e as ConcordError {
                    throw e.wrapped(in: "report \(file)", code: .invalidInput, context: ["file": file])
                }
            }
            let merged = try AuditReport.merge(inputs, allowPartial: allowPartial)
            let written = try output.write(merged, formats: formats)
            Output.line("\(merged.auditId): \(merged.findings.count) finding(s) from \(inputs.count) report(s)")
            for path in written { Output.line("  \(path)") }
            if merged.fails(at: failLevel) { throw ExitCode.findings }
        }
    }
}
