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
    struct Archive: ParsableCommand, NotifiesOnFailure {
        @OptionGroup(title: "Notifications") var notification: NotifyOptions
        static let configuration = CommandConfiguration(
            abstract: "Archive finished runs' streams and statuses, then trim them from Redis.",
            discussion: """
                A run qualifies when it finished (completed, error, timedOut, cancelled) longer ago than --older-than, every
                event of its stream is in the graph and confirmed, and nothing of it waits in the queues. Its stream, status
                and confirmations are written to a new checksummed snapshot directory under --archive first; then the plan
                deletes the stream and the status, each guarded by its whole image. `concord maintain restore-run` brings
                a run back.
                """)
        @OptionGroup var stores: StoreOptions
        @OptionGroup var rulesOption: RulesOption
        @OptionGroup var planOutput: PlanOutputOptions
        @Option(name: .long, help: "Runs finished longer ago than this (e.g. 30d).") var olderThan: String
        @Option(name: .long, help: "The directory the archive is written under.") var archive: String
        @Option(name: .long, parsing: .upToNextOption, help: "Only these runs.") var runs: [String] = []

        func run() throws {
            let rules = try rulesOption.load()
            let rs = try Maintain.repairStores(stores)
            let (chosen, ids, notYet) = try Maintenance.archivable(before: try Maintain.cutoff(olderThan), rs, runs: runs.isEmpty ? nil : Set(runs))
            for (run, why) in notYet.sorted(by: { $0.key < $1.key }) { Output.line("not archived: \(run): \(why)") }
            if !planOutput.dryRun && !chosen.isEmpty {
                let dir = Maintenance.archiveDirectory(under: archive, "runs")
                try RunArchive.write(runs: chosen, ids: ids, rules: rules, reader: LiveReader(postgres: rs.postgres, redis: rs.redis, graph: rs.graph),
                                     to: dir, olderThan: olderThan)
                Output.line("archived \(chosen.count) run(s) in \(dir.path)")
            }
            let ops = try Maintenance.trim(chosen, rs)
            let plan = RepairPlan.made("maintain", source: "archive --older-than \(olderThan)", rules: rules, operations: ops)
            try planOutput.finish(plan, command: "maintain archive", source: archive,
                                  headline: "\(chosen.count) run(s) to trim from Redis (\(ops.count) key(s))", stores: stores, repairStores: rs)
        }
    }
}
