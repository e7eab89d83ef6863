import ArgumentParser
import ConcordCore
import ConcordGraph
import ConcordModel

/// `concord setup`: the PostgreSQL tables and the graph's indexes and
/// uniqueness constraints the data model names. Idempotent.
struct Setup: ParsableCommand {
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
        let blocked = outcomes.filter(\.isBlocked)
        if !blocked.isEmpty {
            Output.error("\(blocked.count) constraint(s) could not be created; the data was left alone (see above)")
            throw ExitCode(1)
        }
    }
}
