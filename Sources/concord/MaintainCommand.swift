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

    /// The publications to GitHub that need a person: failed ones with GitHub's reason, and pending ones that keep being deferred.
    struct Publications: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publications to GitHub that failed (with GitHub's reason) or keep being deferred; retry one with `concord publish approve DRAFT`.")
        @OptionGroup var stores: StoreOptions
        @Option(name: .long, help: "Pending publications deferred at least this many times are listed too.") var attempts: Int = 3
        @Flag(name: .long, help: "Print JSON.") var json = false

        func run() throws {
            let pg = try GitHubOptions.publications(stores)
            let r = try pg.query("""
                SELECT draft_id, workflow_run_id, state, attempts, target, coalesce(last_error, ''), updated_at::text FROM github_publication
                WHERE state = 'failed' OR (state = 'pending' AND attempts >= $1) ORDER BY state, updated_at DESC
                """, [Int64(attempts)])
            if json {
                Output.line(JSON.array(r.rows.map { row in
                    ["draft": .string(row.string(0)!), "run": .string(row.string(1)!), "state": .string(row.string(2)!), "attempts": .int(row.int(3)!),
                     "target": .string(row.string(4)!), "error": .string(row.string(5)!), "updatedAt": .string(row.string(6)!)]
                }).encoded())
                return
            }
            if r.rowCount == 0 { Output.line("no publication needs a person"); return }
            for row in r.rows {
                Output.line("\(row.string(0)!)  \(row.string(2)!)  attempts=\(row.int(3)!)  \(row.string(4)!)  run \(row.string(1)!)")
                Output.line("    \(row.string(5)!)")
            }
            Output.line("\(r.rowCount) publication(s); after fixing the cause: concord publish approve DRAFT… (a failed one is tried again)")
        }
    }

    struct Queue: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The queues.", subcommands: [Stats.self])

        struct Stats: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Lengths of the queue, processing, dead-letter list and confirmations; the oldest entry's age; the runs with most entries waiting.")
            @OptionGroup var stores: StoreOptions
            @Option(name: .long, help: "How many runs to list.") var top: Int = 10
            @Flag(name: .long, help: "Print JSON.") var json = false

            func run() throws {
                let redis = try stores.connectRedis()
                let now = Timestamp.milliseconds(Date())
                var out: [String: JSON] = [:]
                var perRun: [String: Int] = [:]
                for (name, key) in [("queue", RedisKeys.queue), ("processing", RedisKeys.processing)] {
                    var n = 0, oldest: Int64?, unparsable = 0
                    _ = try redis.lrange(key) { batch in
                        for item in batch {
                            n += 1
                            guard let e = try? JSON.parse(item.bytes ?? []) else { unparsable += 1; continue }
                            if let t = e["timestamp"]?.intValue { oldest = min(oldest ?? t, t) }
                            if let run = e["metadata"]?["workflowId"]?.stringValue { perRun[run, default: 0] += 1 }
                        }
                    }
                    out[name] = ["length": .int(Int64(n)), "oldestAgeMs": oldest.map { .int(now - $0) } ?? .null, "notJSON": .int(Int64(unparsable))]
                }
                let lengths = try redis.pipeline([["LLEN", RedisKeys.deadletter], ["ZCARD", RedisKeys.confirmed]])
                out["deadletter"] = ["length": .int(lengths[0].int ?? 0)]
                out["confirmed"] = ["members": .int(lengths[1].int ?? 0)]
                let busiest = perRun.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(max(0, top))
                out["runs"] = .array(busiest.map { ["workflowId": .string($0.key), "waiting": .int(Int64($0.value))] })
                if json { Output.line(JSON.object(out).encodedPretty()); return }
                for name in ["queue", "processing"] {
                    let q = out[name]!
                    let age = q["oldestAgeMs"]?.intValue.map { ", oldest \(DurationText.format(milliseconds: $0 - $0 % 1000)) old" } ?? ""
                    let bad = (q["notJSON"]?.intValue ?? 0) > 0 ? ", \(q["notJSON"]!.textValue) not JSON" : ""
                    Output.line("\(name.padding(toLength: 11, withPad: " ", startingAt: 0)) \(q["length"]!.textValue) entries\(age)\(bad)")
                }
                Output.line("deadletter  \(out["deadletter"]!["length"]!.textValue) entries")
                Output.line("confirmed   \(out["confirmed"]!["members"]!.textValue) members")
                if !busiest.isEmpty {
                    Output.line("runs with most entries waiting:")
                    for (run, n) in busiest { Output.line("  \(run)  \(n)") }
                }
            }
        }
    }

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
            @Flag(name: .long, help: "Print JSON.") var json = false

            func run() throws {
                let redis = try stores.connectRedis()
                let items = try redis.run("LRANGE", RedisKeys.deadletter, 0, max(0, limit) - 1).array ?? []
                let total = try redis.run("LLEN", RedisKeys.deadletter).int ?? 0
                let entries = items.enumerated().map { Deadletter.describe($0.offset, $0.element.bytes ?? []) }
                if json { Output.line(JSON.object(["total": .int(total), "entries": .array(entries)]).encodedPretty()); return }
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
    }
}

// MARK: Changing data: each a plan, printed (dry run), written (--output) or applied (--yes)

extension Maintain {
    static func repairStores(_ stores: StoreOptions) throws -> RepairStores {
        RepairStores(postgres: try stores.connectPostgres(), redis: try stores.connectRedis(), graph: try stores.connectGraph())
    }

    static func cutoff(_ olderThan: String) throws -> Int64 {
        nowMilliseconds() - (try DurationText.milliseconds(olderThan))
    }

    /// A fresh directory for an archive under `dir`, named after now.
    static func archiveDirectory(_ dir: String, _ what: String) -> URL {
        let stamp = Timestamp.rfc3339(Date()).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        return URL(fileURLWithPath: dir).appendingPathComponent("\(what)-\(stamp)-\(UInt32.random(in: 0...UInt32.max))")
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
                let dir = Maintain.archiveDirectory(archive, "deadletter")
                let writer = try SnapshotWriter(directory: dir)
                for l in letters {
                    try writer.append(["key": .string(RedisKeys.deadletter), "index": .int(Int64(l.index)), "entry": (try? JSON.parse(l.element)) ?? .null,
                                       "raw": .string(l.element)], to: "redis.deadletter")
                }
                try writer.finish(extra: ["archive": ["of": "redis.deadletter", "olderThan": .string(olderThan)]])
                Output.line("archived \(letters.count) letter(s) in \(dir.path)")
            }
            let plan = RepairPlan.made("maintain", source: "deadletter purge --older-than \(olderThan)", rules: nil, operations: ops)
            try planOutput.finish(plan, command: "maintain deadletter purge", source: RedisKeys.deadletter,
                                  headline: "\(ops.count) dead letter(s) older than \(olderThan) to purge", stores: stores, repairStores: rs)
        }
    }

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
                let dir = Maintain.archiveDirectory(archive, "runs")
                let specs = ["redis.streams", "redis.status", "redis.confirmed"].compactMap { rules.datasets[$0] }
                let writer = try SnapshotWriter(directory: dir, datasets: specs)
                let reader = LiveReader(postgres: rs.postgres, redis: rs.redis, graph: rs.graph)
                try reader.lookup(specs, runs: Set(chosen), ids: ids, into: writer)
                for s in specs { try writer.touch(s.name) }
                try writer.finish(extra: ["archive": ["runs": .array(chosen.map(JSON.string)), "olderThan": .string(olderThan)]])
                Output.line("archived \(chosen.count) run(s) in \(dir.path)")
            }
            let ops = try Maintenance.trim(chosen, rs)
            let plan = RepairPlan.made("maintain", source: "archive --older-than \(olderThan)", rules: rules, operations: ops)
            try planOutput.finish(plan, command: "maintain archive", source: archive,
                                  headline: "\(chosen.count) run(s) to trim from Redis (\(ops.count) key(s))", stores: stores, repairStores: rs)
        }
    }

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
            let rs = try Maintain.repairStores(stores)
            let snap = try Snapshot(directory: URL(fileURLWithPath: from))
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
