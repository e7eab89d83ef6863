import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordGitHub
import ConcordJSON
import ConcordPostgres
import ConcordRepair
import Foundation

/// Writing a plan a command made: the file (atomically), the audit log's entry, the summary line.
enum PlanFile {
    static func write(_ plan: RepairPlan, to output: String, command: String, source: String, headline: String, on pg: PostgresConnection) throws {
        try Data(plan.encoded().utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        try AuditLog.record(AuditLogEntry(command: command, plan: plan, source: source, operator: Operator.name(nil),
                                          outcome: "written to \(output)", counts: plan.storeCounts), on: pg)
        Output.line("\(plan.planId): \(headline) — " + plan.storeSummary)
        Output.line("  \(output) (sha256 \(plan.checksum.prefix(12))…); review it with: concord apply \(output)")
    }
}

/// Who runs a command, for the journal and the audit log: `--operator`, else $USER.
enum Operator {
    static func name(_ flag: String?) -> String { flag ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown" }
}
