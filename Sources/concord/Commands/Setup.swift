import ArgumentParser
import ConcordCore
import ConcordGraph
import ConcordModel

/// `concord setup`: the PostgreSQL tables and the graph's indexes and
/// uniqueness constraints the data model names. Idempotent.
struct Setup: ParsableCommand, NotifiesOnFailure {
    @OptionGroup(title: "Notifications") var notification: NotifyOptions
    static let configuration = CommandConfiguration(
        abstract: "Create the PostgreSQL tables and graph indexes/constraints the data model names (idempotent).")

    @OptionGroup var stores: StoreOptions

    func run() throws {
        let pg = try stores.connectPostgres()
        try pg.transaction {
            for statement in PostgresSchema.statements { try pg.execute(statement) }
        }
        Output.line("postgres  \(pg.displayURL): tables \(PostgresSchema.tables.joined(separator: ", ")) ready")

        let graph = try stores.connectGraph()
        let outcomes = try GraphSchema.ensure(on: graph)
        for o in outcomes { Output.line("graph     \(graph.displayURL): \(o)") }
        // --partition reads the graph by run_bucket: set it on nodes written without it.
        let fixed = try GraphSchema.backfillBuckets(on: graph) { label, n in Output.error("graph     run_bucket: \(n) :\(label) nodes checked") }
        Output.line("graph     \(graph.displayURL): run_bucket set on " + fixed.sorted { $0.key < $1.key }.map { "\($0.value) :\($0.key)" }.joined(separator: ", ")
                    + " node(s) that lacked it or had a stale one")
        let blocked = outcomes.filter(\.isBlocked)
        if !blocked.isEmpty {
            Output.error("\(blocked.count) constraint(s) could not be created; the data was left alone (see above)")
            throw ExitCode.findings
        }
    }
}
