import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordGitHub
import ConcordJSON
import ConcordPostgres
import ConcordRepair
import Foundation

/// `concord plan --report AUDIT.json --output PLAN.json`.
struct Plan: ParsableCommand, NotifiesOnFailure {
    @OptionGroup(title: "Notifications") var notification: NotifyOptions
    static let configuration = CommandConfiguration(
        abstract: "Turn an audit's JSON report into a checksummed repair plan for review.",
        discussion: "Reads the current state of every record a finding names, to write each operation's precondition.")

    @OptionGroup var stores: StoreOptions
    @OptionGroup var rulesOption: RulesOption

    @Option(name: .long, help: "The audit's JSON report (concord.audit/1).") var report: String
    @Option(name: .long, help: "Where to write the plan.") var output: String
    @Option(name: .long, parsing: .upToNextOption, help: "Plan only these rules.") var only: [String] = []
    @Option(name: .long, parsing: .upToNextOption, help: "Leave these rules out.") var exclude: [String] = []
    @OptionGroup var github: GitHubOptions
    @Flag(name: .long, help: "Plan deleting a draft's duplicate comments on GitHub (cannot be undone); without it each is a manual step.")
    var deleteOnGitHub = false

    func run() throws {
        let rules = try rulesOption.load()
        for id in only + exclude where !rules.rules.contains(where: { $0.id == id }) {
            throw ConcordError(.usage, "unknown rule '\(id)' (see `concord rules list`)")
        }
        guard let data = FileManager.default.contents(atPath: report) else { throw ConcordError(.usage, "cannot read report \(report)") }
        let json: JSON
        do { json = try JSON.parse([UInt8](data)) } catch let e as ConcordError { throw e.wrapped(in: report, code: .invalidInput, context: ["file": report]) }
        let repairStores = RepairStores(postgres: try stores.connectPostgres(), redis: try stores.connectRedis(), graph: try stores.connectGraph())
        repairStores.github = try github.clientIfConfigured()
        var planner = Planner(stores: repairStores, rules: rules)
        planner.deleteOnGitHub = deleteOnGitHub
        let plan = try planner.plan(report: json, file: report, only: only, exclude: exclude)
        try Data(plan.encoded().utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        let byStore = Dictionary(grouping: plan.operations, by: \.store).mapValues(\.count)
        try AuditLog.record(AuditLogEntry(command: "plan", plan: plan, source: plan.sourceAuditId, operator: Operator.name(nil),
                                          outcome: "written to \(output)", counts: .object(byStore.mapValues { .int(Int64($0)) })), on: repairStores.postgres)
        Output.line("\(plan.planId): \(plan.operations.count) operation(s) from audit \(plan.sourceAuditId) — "
            + ["graph", "redis", "postgres", "github", "manual"].map { "\($0) \(byStore[$0] ?? 0)" }.joined(separator: ", "))
        Output.line("  \(output) (sha256 \(plan.checksum.prefix(12))…); review it with: concord apply \(output)")
    }
}

/// `concord undo PLAN_ID --output FILE`: the inverse of an applied plan, from the journal, as a plan to review and apply.
struct Undo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the plan that undoes an applied plan, from the journal's before-images.",
        discussion: """
            Each operation the plan applied is inverted from the before-image the journal kept, newest first; each
            inverse is guarded like every repair (the record must still be what the plan left). Review and run it
            with `concord apply FILE`. An operation with no inverse becomes a manual step that says what it changed.
            """)

    @OptionGroup var stores: StoreOptions
    @OptionGroup var rulesOption: RulesOption

    @Argument(help: "The id of the applied plan (plan-…).") var planId: String
    @Option(name: .long, help: "Where to write the undo plan.") var output: String

    func run() throws {
        let digest = (try? rulesOption.load())?.digest ?? ""
        let pg = try stores.connectPostgres()
        let plan = try RepairPlan.undo(planId: planId, journal: pg, rulesDigest: digest)
        try PlanFile.write(plan, to: output, command: "undo", source: planId, headline: "undoes \(plan.operations.count) operation(s) of \(planId)", on: pg)
    }
}

/// Writing a plan a command made: the file (atomically), the audit log's entry, the summary line.
enum PlanFile {
    static func write(_ plan: RepairPlan, to output: String, command: String, source: String, headline: String, on pg: PostgresConnection) throws {
        try Data(plan.encoded().utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        let byStore = Dictionary(grouping: plan.operations, by: \.store).mapValues(\.count)
        try AuditLog.record(AuditLogEntry(command: command, plan: plan, source: source, operator: Operator.name(nil),
                                          outcome: "written to \(output)", counts: .object(byStore.mapValues { .int(Int64($0)) })), on: pg)
        Output.line("\(plan.planId): \(headline) — " + ["graph", "redis", "postgres", "github", "manual"].map { "\($0) \(byStore[$0] ?? 0)" }.joined(separator: ", "))
        Output.line("  \(output) (sha256 \(plan.checksum.prefix(12))…); review it with: concord apply \(output)")
    }
}

/// `concord apply PLAN`: a dry run unless `--yes`.
struct Apply: ParsableCommand, NotifiesOnFailure {
    @OptionGroup(title: "Notifications") var notification: NotifyOptions
    static let configuration = CommandConfiguration(
        abstract: "Show what a repair plan would change (the default), or execute it with --yes.",
        discussion: """
            Exit codes: 0 everything applied (or, in a dry run, nothing refused), 1 operations skipped or failed,
            2 the plan is damaged, of an unknown format or too old, 3 a store failed.
            """)

    @OptionGroup var stores: StoreOptions
    @OptionGroup var rulesOption: RulesOption

    @Argument(help: "The plan file.") var plan: String
    @Flag(name: .long, help: "Execute the plan (without it: a dry run that changes nothing).") var yes = false
    @Option(name: .long, help: "Who applies it, for the journal (default: $USER).") var `operator`: String?
    @Option(name: .long, help: "Refuse plans older than this.") var maxAge: String = "24h"
    @Flag(name: .long, help: "Apply a plan older than --max-age anyway.") var forceStale = false
    @Option(name: .long, help: "Where the apply report goes (JSON and Markdown).") var outputDir: String = "Reports"
    @Option(name: .long, help: "Operations per store transaction.") var batchSize: Int = 500
    @OptionGroup var github: GitHubOptions

    func run() throws {
        let p = try RepairPlan(file: plan)
        let age = Date().timeIntervalSince(p.createdAt) * 1000
        let limit = Double(try DurationText.milliseconds(maxAge))
        if age > limit && !forceStale {
            throw ConcordError(.invalidInput, "plan \(p.planId) was made \(DurationText.format(milliseconds: Int64(age))) ago, more than --max-age \(maxAge): audit and plan again, or pass --force-stale")
        }
        if let rules = try? rulesOption.load(), rules.digest != p.rulesDigest {
            Output.error("warning: the plan was made with other rules than \(rulesOption.directory) holds now (digest \(p.rulesDigest.prefix(12))… vs \(rules.digest.prefix(12))…)")
        }
        let byStore = Dictionary(grouping: p.operations, by: \.store)
        guard yes else {
            Output.line("dry run of \(p.planId) (audit \(p.sourceAuditId), made \(Timestamp.rfc3339(p.createdAt))): nothing is changed")
            Output.line(RepairPlanText.order(p))
            if p.ordered {
                Output.line("\n\(p.operations.filter { $0.store != "manual" }.count) operation(s), in the order they run")
                for op in p.operations where op.store != "manual" { Output.line("  \(op.store) " + RepairPlanText.change(op)) }
            } else {
                for store in ["graph", "redis", "postgres", "github"] {
                    let ops = byStore[store] ?? []
                    Output.line("\n\(store): \(ops.count) operation(s)")
                    for op in ops { Output.line("  " + RepairPlanText.change(op)) }
                }
            }
            let final = RepairPlanText.notUndoable(p)
            Output.line("\nundo: " + (final.isEmpty ? "every operation can be undone (concord undo \(p.planId))" : "\(final.count) operation(s) cannot be undone"))
            for line in final { Output.line("  " + line) }
            let manual = byStore["manual"] ?? []
            Output.line("\nmanual: \(manual.count) step(s) for a person")
            for op in manual { Output.line("  \(op.rule) \(op.key): \(op.params["reason"]?.stringValue ?? "")") }
            Output.line("\napply with: concord apply \(plan) --yes")
            return
        }
        try Self.execute(p, stores: stores, operator: `operator`, outputDir: outputDir, batchSize: batchSize, github: try github.clientIfConfigured())
    }

    /// Applies `p` (journaled, resumable), writes the apply report, records the outcome in the audit log;
    /// exits 1 when any operation was skipped or failed.
    static func execute(_ p: RepairPlan, stores: StoreOptions, operator op: String?, outputDir: String, batchSize: Int = 500,
                        github: GitHubClient? = nil) throws {
        let who = Operator.name(op)
        let repairStores = RepairStores(postgres: try stores.connectPostgres(), redis: try stores.connectRedis(), graph: try stores.connectGraph())
        repairStores.github = github
        if github == nil, p.operations.contains(where: { $0.store == "github" }) {
            throw ConcordError(.usage, "plan \(p.planId) writes to GitHub; configure it (--github-url, CONCORD_GITHUB_TOKEN or an App)")
        }
        let outcome = try PlanExecution.run(p, stores: repairStores, journal: try stores.connectPostgres(), operator: who, outputDir: outputDir,
                                            batchSize: batchSize)
        let report = outcome.report
        Output.line(report.summary)
        Output.line(outcome.files.map { "  " + $0 }.joined(separator: "\n"))
        if report.count(.skipped) + report.count(.failed) > 0 { throw ExitCode.findings }
    }
}

/// Who runs a command, for the journal and the audit log: `--operator`, else $USER.
enum Operator {
    static func name(_ flag: String?) -> String { flag ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown" }
}

/// `concord journal`: the audit log of every plan written, applied and undone.
struct Journal: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List the audit log: every plan written, applied or undone — when, by whom, where, with which command, how it ended.",
        discussion: "With --plan, also each operation the journal holds for that plan (and the undo plans written for it).")

    @OptionGroup var stores: StoreOptions
    @Option(name: .long, help: "Only this plan (and the plans that undo it), with its operations.") var plan: String?
    @Option(name: .long, help: "Only entries since this time (RFC 3339, or a duration back from now such as 7d).") var since: String?
    @Flag(name: .long, help: "Print JSON (concord.journal/1) instead of text.") var json = false

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
        if json {
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

