import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordLive
import ConcordRedis
import ConcordRepair
import Foundation

/// `concord maintain`: the weekly chores. What only reads prints; what changes data is a plan.
struct Maintain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look after the queues, the dead letters, the confirmations and old runs.",
        discussion: "Every subcommand that changes data prints what it would do; --output FILE writes the plan, --yes applies it (journaled, resumable, undoable).",
        subcommands: [Queue.self, Deadletter.self, Confirmed.self, Archive.self, RestoreRun.self, Publications.self])



}

// MARK: Changing data: each a plan, printed (dry run), written (--output) or applied (--yes)

extension Maintain {
    static func repairStores(_ stores: StoreOptions) throws -> RepairStores {
        RepairStores(postgres: try stores.connectPostgres(), redis: try stores.connectRedis(), graph: try stores.connectGraph())
    }

    static func cutoff(_ olderThan: String) throws -> Int64 {
        nowMilliseconds() - (try DurationText.milliseconds(olderThan))
    }
}
