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
        try PlanFile.write(plan, to: output, command: "plan", source: plan.sourceAuditId,
                           headline: "\(plan.operations.count) operation(s) from audit \(plan.sourceAuditId)", on: repairStores.postgres)
    }
}
