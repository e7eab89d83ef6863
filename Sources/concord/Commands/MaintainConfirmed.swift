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
    struct Confirmed: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The confirmations (persistence:confirmed).", subcommands: [Prune.self])

        struct Prune: ParsableCommand, NotifiesOnFailure {
            @OptionGroup(title: "Notifications") var notification: NotifyOptions
            static let configuration = CommandConfiguration(
                abstract: "Remove confirmations older than a retention whose events the graph holds.",
                discussion: "Only events no stream holds any more (trimmed or archived): while a stream holds an event, the audit needs its confirmation.")
            @OptionGroup var stores: StoreOptions
            @OptionGroup var planOutput: PlanOutputOptions
            @Option(name: .long, help: "Confirmed longer ago than this (e.g. 30d).") var olderThan: String

            func run() throws {
                let rs = try Maintain.repairStores(stores)
                let ops = try Maintenance.pruneConfirmations(before: try Maintain.cutoff(olderThan), rs)
                let plan = RepairPlan.made("maintain", source: "confirmed prune --older-than \(olderThan)", rules: nil, operations: ops)
                try planOutput.finish(plan, command: "maintain confirmed prune", source: RedisKeys.confirmed,
                                      headline: "\(ops.count) confirmation(s) older than \(olderThan) to prune", stores: stores, repairStores: rs)
            }
        }
    }
}
