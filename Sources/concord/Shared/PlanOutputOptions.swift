import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordJSON
import ConcordRepair
import Foundation

/// What every command that changes data through a plan shares: write the
/// plan for review (`--output`), or plan and apply in one step (`--yes`).
struct PlanOutputOptions: ParsableArguments {
    @Option(name: .long, help: "Where to write the plan (review it, then: concord apply FILE --yes). Without it or --yes: a dry run.") var output: String?
    @Flag(name: .long, help: "Apply the plan right away (it is still written, journaled and resumable).") var yes = false
    @Option(name: .long, help: "Who applies it, for the journal (default: $USER).") var `operator`: String?
    @Option(name: .long, help: "Where the apply report goes (with --yes).") var outputDir: String = "Reports"

    /// Neither --output nor --yes: print what the plan would do, change nothing.
    var dryRun: Bool { output == nil && !yes }

    /// Writes the plan (to --output, or beside the apply report), then applies it with --yes; without either, prints it.
    func finish(_ plan: RepairPlan, command: String, source: String, headline: String, stores: StoreOptions, repairStores: RepairStores) throws {
        if dryRun {
            Output.line("\(headline) (dry run: nothing is changed)")
            for op in plan.operations.prefix(200) { Output.line("  \(op.store) " + RepairPlanText.change(op)) }
            if plan.operations.count > 200 { Output.line("  … and \(plan.operations.count - 200) more") }
            Output.line("write the plan for review with --output FILE, or apply it now with --yes")
            return
        }
        let file = output ?? URL(fileURLWithPath: outputDir).appendingPathComponent("\(plan.planId).json").path
        if output == nil { try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true) }
        try PlanFile.write(plan, to: file, command: command, source: source, headline: headline, on: repairStores.postgres)
        if yes { try Apply.execute(plan, stores: stores, operator: `operator`, outputDir: outputDir) }
    }
}

extension RepairPlan {
    /// A plan of a command's operations, named after the command.
    static func made(_ prefix: String, source: String, rules: RuleSet?, operations: [RepairOperation]) -> RepairPlan {
        let now = Date()
        return RepairPlan(planId: prefix + "-" + String(SHA256.hex("\(now.timeIntervalSince1970)\(UInt64.random(in: 0...UInt64.max))").prefix(16)),
                          sourceAuditId: source, createdAt: now, rulesDigest: rules?.digest ?? "", operations: operations)
    }
}
