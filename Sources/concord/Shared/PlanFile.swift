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
        let byStore = Dictionary(grouping: plan.operations, by: \.store.rawValue).mapValues(\.count)
        try AuditLog.record(AuditLogEntry(command: command, plan: plan, source: source, operator: Operator.name(nil),
                                          outcome: "written to \(output)", counts: .object(byStore.mapValues { .int(Int64($0)) })), on: pg)
        Output.line("\(plan.planId): \(headline) — " + ["graph", "redis", "postgres", "github", "manual"].map { "\($0) \(byStore[$0] ?? 0)" }.joined(separator: ", "))
        Output.line("  \(output) (sha256 \(plan.checksum.prefix(12))…); review it with: concord apply \(output)")
    }
}

/// Who runs a command, for the journal and the audit log: `--operator`, else $USER.
enum Operator {
    static func name(_ flag: String?) -> String { flag ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown" }
}
