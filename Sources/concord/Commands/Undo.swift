import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordGitHub
import ConcordJSON
import ConcordPostgres
import ConcordRepair
import Foundation

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
