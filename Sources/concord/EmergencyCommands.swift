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

/// `concord restore SNAPSHOT`: the plan that brings the live stores back to a snapshot, for chosen runs and stores.
struct Restore: ParsableCommand, NotifiesOnFailure {
    @OptionGroup(title: "Notifications") var notification: NotifyOptions
    static let configuration = CommandConfiguration(
        abstract: "Plan the writes that bring the live stores back to what a snapshot holds (point-in-time restore).",
        discussion: """
            The snapshot's checksums are verified first. For each chosen run (--runs; default every run the snapshot
            holds) and store (--store; default all three), every record that differs from the snapshot, is missing, or is
            there but not in the snapshot becomes a put-record operation guarded by what the record holds now. Records
            the datasets do not declare (a node's other properties, a row's other columns) are kept. The queues are not
            restored. Review the plan, then `concord apply FILE --yes` (or pass --yes here).
            """)

    @OptionGroup var stores: StoreOptions
    @OptionGroup var rulesOption: RulesOption
    @OptionGroup var planOutput: PlanOutputOptions

    @Argument(help: "The snapshot directory (concord snapshot).") var snapshot: String
    @Option(name: .long, parsing: .upToNextOption, help: "Only these runs (workflow ids).") var runs: [String] = []
    @Option(name: .long, parsing: .upToNextOption, help: "Only these stores: redis, graph, postgres.") var store: [String] = []

    func run() throws {
        let rules = try rulesOption.load()
        var scope = Set<SnapshotRestore.Scope>()
        for s in store.flatMap({ $0.split(separator: ",").map(String.init) }) {
            guard let v = SnapshotRestore.Scope(rawValue: s) else { throw ConcordError(.usage, "--store \(s): one of redis, graph, postgres") }
            scope.insert(v)
        }
        let snap = try Snapshot(directory: URL(fileURLWithPath: snapshot))
        Output.progress("snapshot \(snapshot): checksums verified")
        let repairStores = RepairStores(postgres: try stores.connectPostgres(), redis: try stores.connectRedis(), graph: try stores.connectGraph())
        var restore = SnapshotRestore(snapshot: snap, stores: repairStores, rules: rules)
        if !runs.isEmpty { restore.runs = Set(runs) }
        if !scope.isEmpty { restore.scope = scope }
        restore.progress = { Output.progress($0) }
        let ops = try restore.operations()
        let what = runs.isEmpty ? "every run it holds" : "\(runs.count) run(s)"
        let plan = RepairPlan.made("restore", source: "snapshot \(snapshot)", rules: rules, operations: ops)
        try planOutput.finish(plan, command: "restore", source: snapshot, headline: "\(ops.count) write(s) restore \(what) from \(snapshot)",
                              stores: stores, repairStores: repairStores)
    }
}

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
