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
    struct Deadletter: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What the dead-letter list holds; requeue or purge it.", subcommands: [List.self, Show.self, Requeue.self, Purge.self])

        /// A dead-letter entry as the sync writes it ({raw, error, at}), or whatever another writer left.
        static func describe(_ index: Int, _ bytes: [UInt8]) -> JSON {
            guard let e = try? JSON.parse(bytes), e.objectValue != nil else {
                return ["index": .int(Int64(index)), "raw": .string(String(decoding: bytes, as: UTF8.self)), "error": "(not a dead-letter entry: stored as is)", "at": .null]
            }
            return ["index": .int(Int64(index)), "raw": e["raw"] ?? .null, "error": e["error"] ?? .null, "at": e["at"] ?? .null]
        }

        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "One line per entry: its index, when, the error and the start of the raw text.")
            @OptionGroup var stores: StoreOptions
            @Option(name: .long, help: "At most this many entries (from the oldest).") var limit: Int = 100
            @OptionGroup var printFormat: PrintFormatOption

            func run() throws {
                let redis = try stores.connectRedis()
                let items = try redis.run("LRANGE", RedisKeys.deadletter, 0, max(0, limit) - 1).array ?? []
                let total = try redis.run("LLEN", RedisKeys.deadletter).int ?? 0
                let entries = items.enumerated().map { Deadletter.describe($0.offset, $0.element.bytes ?? []) }
                if printFormat.isJSON { Output.line(JSON.object(["total": .int(total), "entries": .array(entries)]).encodedPretty()); return }
                Output.line("\(total) entr\(total == 1 ? "y" : "ies") in \(RedisKeys.deadletter)" + (Int64(entries.count) < total ? " (the first \(entries.count))" : ""))
                for e in entries {
                    let at = e["at"]?.intValue.map { Timestamp.rfc3339(Date(timeIntervalSince1970: Double($0) / 1000)) } ?? "-"
                    let raw = e["raw"]?.stringValue ?? e["raw"]?.encoded() ?? ""
                    Output.line("  \(e["index"]!.textValue)  \(at)  \(e["error"]?.stringValue ?? "")  \(raw.prefix(80).replacingOccurrences(of: "\n", with: "⏎"))")
                }
            }
        }

        struct Show: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "One entry whole: the raw text as stored, the error, when.")
            @OptionGroup var stores: StoreOptions
            @Argument(help: "The entry's index (from `deadletter list`).") var index: Int

            func run() throws {
                let redis = try stores.connectRedis()
                guard let bytes = try redis.run("LINDEX", RedisKeys.deadletter, index).bytes else {
                    throw ConcordError(.usage, "no dead-letter entry at index \(index) (see `concord maintain deadletter list`)")
                }
                Output.line(Deadletter.describe(index, bytes).encodedPretty())
            }
        }

        struct Requeue: ParsableCommand, NotifiesOnFailure {
            @OptionGroup(title: "Notifications") var notification: NotifyOptions
            static let configuration = CommandConfiguration(
                commandName: "requeue",
                abstract: "Move dead letters back to persistence:queue (after the producer is fixed).",
                discussion: "Each entry goes back as it was produced (the letter's raw text). An entry that still does not parse as an event is refused unless --force.")
            @OptionGroup var stores: StoreOptions
            @OptionGroup var planOutput: PlanOutputOptions
            @Argument(help: "Indexes of the entries (from `concord maintain deadletter list`).") var indices: [Int]
            @Flag(name: .long, help: "Requeue entries that still do not parse (the sync will dead-letter them again).") var force = false

            func run() throws {
                let rs = try Maintain.repairStores(stores)
                let ops = try Maintenance.requeue(indices, force: force, rs)
                let plan = RepairPlan.made("maintain", source: "deadletter requeue", rules: nil, operations: ops)
                try planOutput.finish(plan, command: "maintain deadletter requeue", source: RedisKeys.deadletter,
                                      headline: "\(ops.count) dead letter(s) back to \(RedisKeys.queue)", stores: stores, repairStores: rs)
            }
        }

        struct Purge: ParsableCommand, NotifiesOnFailure {
            @OptionGroup(title: "Notifications") var notification: NotifyOptions
            static let configuration = CommandConfiguration(
                commandName: "purge",
                abstract: "Remove dead letters older than a retention, archived first.",
                discussion: "With --archive, the purged letters are written there first (a checksummed snapshot directory holding redis.deadletter); the plan and the journal keep them too, so `concord undo` brings them back.")
            @OptionGroup var stores: StoreOptions
            @OptionGroup var planOutput: PlanOutputOptions
            @Option(name: .long, help: "Letters dead-lettered longer ago than this (e.g. 30d).") var olderThan: String
            @Option(name: .long, help: "A directory to archive the purged letters in.") var archive: String?

            func run() throws {
                let rs = try Maintain.repairStores(stores)
                let (ops, letters) = try Maintenance.purge(before: try Maintain.cutoff(olderThan), rs)
                if let archive, !planOutput.dryRun, !letters.isEmpty {
                    let dir = try Maintenance.archive(letters: letters, olderThan: olderThan, under: archive)
                    Output.line("archived \(letters.count) letter(s) in \(dir.path)")
                }
                let plan = RepairPlan.made("maintain", source: "deadletter purge --older-than \(olderThan)", rules: nil, operations: ops)
                try planOutput.finish(plan, command: "maintain deadletter purge", source: RedisKeys.deadletter,
                                      headline: "\(ops.count) dead letter(s) older than \(olderThan) to purge", stores: stores, repairStores: rs)
            }
        }
    }
}
