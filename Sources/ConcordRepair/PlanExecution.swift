import ConcordCore
import ConcordJSON
import ConcordPostgres
import Foundation

/// Applying a plan as `concord apply --yes` and the console's "approve and apply" both do: journaled and
/// resumable (the Applier), then the apply report written beside the other reports and the outcome in the
/// audit log — a failure included.
public enum PlanExecution {
    public struct Outcome: Sendable {
        public var report: ApplyReport
        /// The apply report's JSON and Markdown files.
        public var files: [String]
    }

    /// - Parameters:
    ///   - journal: a second connection for the journal's rows (written while the next batch applies).
    ///   - commandLine: what the audit log records as the command (the console names itself and the peer).
    public static func run(_ plan: RepairPlan, stores: RepairStores, journal: PostgresConnection?, operator who: String, outputDir: String,
                           batchSize: Int = 500, commandLine: [String] = CommandLine.arguments,
                           progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> Outcome {
        let applier = Applier(stores: stores, plan: plan, operator: who)
        applier.batchSize = max(1, batchSize)
        applier.journalConnection = journal
        applier.progress = progress
        let started = Date()
        let results: [Applier.Result]
        do { results = try applier.apply() } catch {
            try? AuditLog.record(AuditLogEntry(command: "apply", plan: plan, source: plan.sourceAuditId, operator: who, outcome: "failed: \(error)",
                                               commandLine: commandLine), on: stores.postgres)
            throw error
        }
        let report = ApplyReport(plan: plan, results: results, operator: who, started: started, finished: Date())
        let counts = JSON.object(Dictionary(uniqueKeysWithValues: [Applier.Outcome.applied, .skipped, .failed, .manual].map {
            ($0.rawValue, JSON.int(Int64(report.count($0))))
        }))
        try AuditLog.record(AuditLogEntry(command: "apply", plan: plan, source: plan.sourceAuditId, operator: who, outcome: report.summary, counts: counts,
                                          commandLine: commandLine), on: stores.postgres)
        try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let base = URL(fileURLWithPath: outputDir).appendingPathComponent("apply-\(plan.planId)")
        let json = base.appendingPathExtension("json"), md = base.appendingPathExtension("md")
        try Data((report.json.encoded() + "\n").utf8).write(to: json, options: .atomic)
        try Data(report.markdown.utf8).write(to: md, options: .atomic)
        return Outcome(report: report, files: [json.path, md.path])
    }
}
