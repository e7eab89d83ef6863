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
    struct Queue: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The queues.", subcommands: [Stats.self])

        struct Stats: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Lengths of the queue, processing, dead-letter list and confirmations; the oldest entry's age; the runs with most entries waiting.")
            @OptionGroup var stores: StoreOptions
            @Option(name: .long, help: "How many runs to list.") var top: Int = 10
            @OptionGroup var printFormat: PrintFormatOption

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
                if printFormat.isJSON { Output.line(JSON.object(out).encodedPretty()); return }
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
}
