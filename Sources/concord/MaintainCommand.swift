import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordRedis
import Foundation

/// `concord maintain`: looking after the queues (issue 13; the read-only part so far).
struct Maintain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look after the queues: their state, and what the dead-letter list holds.",
        subcommands: [Queue.self, Deadletter.self])

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
        static let configuration = CommandConfiguration(abstract: "What the dead-letter list holds.", subcommands: [List.self, Show.self])

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
