import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordGitHub
import ConcordJSON
import ConcordPostgres
import ConcordRepair
import Foundation

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
        let byStore = p.byStore
        guard yes else {
            Output.line("dry run of \(p.planId) (audit \(p.sourceAuditId), made \(Timestamp.rfc3339(p.createdAt))): nothing is changed")
            Output.line(RepairPlanText.order(p))
            if p.ordered {
                Output.line("\n\(p.operations.filter { $0.store != .manual }.count) operation(s), in the order they run")
                for op in p.operations where op.store != .manual { Output.line("  \(op.store) " + RepairPlanText.change(op)) }
            } else {
                for store in RepairStore.allCases where store != .manual {
                    let ops = byStore[store] ?? []
                    Output.line("\n\(store.rawValue): \(ops.count) operation(s)")
                    for op in ops { Output.line("  " + RepairPlanText.change(op)) }
                }
            }
            let final = RepairPlanText.notUndoable(p)
            Output.line("\nundo: " + (final.isEmpty ? "every operation can be undone (concord undo \(p.planId))" : "\(final.count) operation(s) cannot be undone"))
            for line in final { Output.line("  " + line) }
            let manual = byStore[.manual] ?? []
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
        if github == nil, p.operations.contains(where: { $0.store == .github }) {
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
