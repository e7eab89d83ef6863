import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordJSON
import ConcordRepair
import Foundation

/// `concord rebuild redis|graph`: reconstructs a store that lost data from the other two, as a plan.
struct Rebuild: ParsableCommand, NotifiesOnFailure {
    @OptionGroup(title: "Notifications") var notification: NotifyOptions
    static let configuration = CommandConfiguration(
        abstract: "Plan the reconstruction of Redis or the graph from the other stores, after one lost its data.",
        discussion: """
            redis: each run's status hash (state from the graph, content status and draft from PostgreSQL),
            persistence:confirmed from the graph's events, and the streams of unfinished runs from the graph's events in
            order. Lost for good: entries that were queued or in flight (never persisted), the streams' original ids and the
            streams of finished runs, the dead letters.
            graph: the events the graph lacks from the streams Redis holds (the sync's write); with --from, also what a
            snapshot or archive holds for events no stream has any more.
            Only records the store lacks are written; what it has is the audit's to judge.
            """)

    enum Target: String, ExpressibleByArgument, CaseIterable { case redis, graph }

    @OptionGroup var stores: StoreOptions
    @OptionGroup var rulesOption: RulesOption
    @OptionGroup var planOutput: PlanOutputOptions

    @Argument(help: "The store to rebuild: redis or graph.") var target: Target
    @Option(name: .long, parsing: .upToNextOption, help: "Only these runs (workflow ids).") var runs: [String] = []
    @Option(name: .long, help: "graph: also a snapshot or archive directory to take what no stream holds from.") var from: String?

    func run() throws {
        let rules = try rulesOption.load()
        let repairStores = RepairStores(postgres: try stores.connectPostgres(), redis: try stores.connectRedis(), graph: try stores.connectGraph())
        let result: (ops: [RepairOperation], kept: Int)
        switch target {
        case .redis:
            if from != nil { throw ConcordError(.usage, "--from is for rebuild graph; Redis is rebuilt from the graph and PostgreSQL") }
            var r = RedisRebuild(stores: repairStores)
            if !runs.isEmpty { r.runs = Set(runs) }
            r.progress = { Output.progress($0) }
            result = try r.operations()
        case .graph:
            var g = GraphRebuild(stores: repairStores, rules: rules)
            if !runs.isEmpty { g.runs = Set(runs) }
            if let from {
                g.snapshot = try Snapshot(directory: URL(fileURLWithPath: from))
                Output.progress("\(from): checksums verified")
            }
            g.progress = { Output.progress($0) }
            result = try g.operations()
        }
        let plan = RepairPlan.made("rebuild", source: "rebuild \(target.rawValue)" + (from.map { " from \($0)" } ?? ""), rules: rules, operations: result.ops)
        try planOutput.finish(plan, command: "rebuild \(target.rawValue)", source: from ?? target.rawValue,
                              headline: "\(result.ops.count) record(s) to write into \(target.rawValue); \(result.kept) already there, left as they are",
                              stores: stores, repairStores: repairStores)
    }
}
