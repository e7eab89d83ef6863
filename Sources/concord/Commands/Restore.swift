import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordJSON
import ConcordRepair
import Foundation

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

    /// The chosen stores (`--store redis graph` or `--store redis,graph`).
    func scope() throws -> Set<SnapshotRestore.Scope> {
        var scope = Set<SnapshotRestore.Scope>()
        for s in store.flatMap({ $0.split(separator: ",").map(String.init) }) {
            guard let v = SnapshotRestore.Scope(rawValue: s) else { throw ValidationError("--store \(s): one of redis, graph, postgres") }
            scope.insert(v)
        }
        return scope
    }

    func validate() throws { _ = try scope() }

    func run() throws {
        let rules = try rulesOption.load()
        let scope = try scope()
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
