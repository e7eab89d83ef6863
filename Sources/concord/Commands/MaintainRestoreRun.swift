import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordLive
import ConcordRedis
import ConcordRepair
import Foundation

extension Maintain {
    struct RestoreRun: ParsableCommand, NotifiesOnFailure {
        @OptionGroup(title: "Notifications") var notification: NotifyOptions
        static let configuration = CommandConfiguration(
            commandName: "restore-run",
            abstract: "Bring archived runs' streams, statuses and confirmations back into Redis from an archive.")
        @OptionGroup var stores: StoreOptions
        @OptionGroup var rulesOption: RulesOption
        @OptionGroup var planOutput: PlanOutputOptions
        @Argument(help: "The runs (workflow ids).") var runs: [String]
        @Option(name: .long, help: "The archive directory (written by `concord maintain archive`).") var from: String

        func run() throws {
            let rules = try rulesOption.load()
            // The archive first (a usage error, exit 2), then the stores.
            let snap = try Snapshot(directory: URL(fileURLWithPath: from))
            let rs = try Maintain.repairStores(stores)
            var restore = SnapshotRestore(snapshot: snap, stores: rs, rules: rules)
            restore.runs = Set(runs)
            restore.scope = [.redis]
            restore.progress = { Output.progress($0) }
            let ops = try restore.operations()
            let plan = RepairPlan.made("restore", source: "archive \(from)", rules: rules, operations: ops)
            try planOutput.finish(plan, command: "maintain restore-run", source: from,
                                  headline: "\(ops.count) write(s) bring \(runs.count) run(s) back from \(from)", stores: stores, repairStores: rs)
        }
    }
}
