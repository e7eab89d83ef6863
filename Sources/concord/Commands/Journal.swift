import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordGitHub
import ConcordJSON
import ConcordPostgres
import ConcordRepair
import Foundation

/// `concord journal`: the audit log of every plan written, applied and undone.
struct Journal: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the audit log: every plan written, applied or undone — when, by whom, where, with which command, how it ended.",
        discussion: "With --plan, also each operation the journal holds for that plan (and the undo plans written for it).")

    @OptionGroup var stores: StoreOptions
    @Option(name: .long, help: "Only this plan (and the plans that undo it), with its operations.") var plan: String?
    @Option(name: .long, help: "Only entries since this time (RFC 3339, or a duration back from now such as 7d).") var since: String?
    @OptionGroup var printFormat: PrintFormatOption

    func run() throws {
        let pg = try stores.connectPostgres()
        var from: Date?
        if let since {
            if let d = Timestamp.parse(since) { from = d } else if let ms = try? DurationText.milliseconds(since) {
                from = Date().addingTimeInterval(-Double(ms) / 1000)
            } else {
                throw ConcordError(.usage, "bad --since '\(since)': RFC 3339 or a duration such as 24h or 7d")
            }
        }
        let entries = try AuditLog.entries(on: pg, plan: plan, since: from)
        let operations = try plan.map { try AuditLog.operations(on: pg, plan: $0) } ?? []
        if printFormat.isJSON {
            var o: [String: JSON] = ["format": "concord.journal/1", "entries": .array(entries.map(\.json))]
            if plan != nil { o["operations"] = .array(operations) }
            Output.line(JSON.object(o).encodedPretty())
            return
        }
        if entries.isEmpty { Output.line("no entries" + (plan.map { " for \($0)" } ?? "") + (since.map { " since \($0)" } ?? "")) }
        for e in entries {
            Output.line("\(Timestamp.rfc3339(e.at))  \(e.command.padding(toLength: 5, withPad: " ", startingAt: 0))  \(e.planId)  \(e.operator)@\(e.host)  \(e.outcome)")
            Output.line("    \(e.commandLine)")
        }
        if !operations.isEmpty {
            Output.line("\n\(operations.count) journaled operation(s) of \(plan!):")
            for op in operations {
                Output.line("  \(op["position"]?.textValue ?? "-")  \(op["store"]?.textValue ?? "")  \(op["action"]?.textValue ?? "")  \(op["outcome"]?.textValue ?? "")"
                            + (op["reason"]?.stringValue.map { "  (\($0))" } ?? ""))
            }
        }
    }
}
