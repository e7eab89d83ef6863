import ArgumentParser
import ConcordCore
import ConcordGraph
import ConcordPostgres
import ConcordRedis
import Foundation

/// The three store URLs, shared by every command that touches the stores.
/// Each flag falls back to its environment variable, then to the local
/// services that `make services` starts.
struct StoreOptions: ParsableArguments {
    static let defaultPostgres = "postgresql://postgres@127.0.0.1:55432/concord"
    static let defaultRedis = "redis://127.0.0.1:56379/0"
    static let defaultGraph = "falkordb://127.0.0.1:56380/concord"

    @Option(name: .long, help: "PostgreSQL URL or conninfo (env CONCORD_POSTGRES_URL; PG* variables honoured).")
    var postgres: String?

    @Option(name: .long, help: "Redis URL redis://[user:password@]host:port[/db] (env CONCORD_REDIS_URL).")
    var redis: String?

    @Option(name: .long, help: "Graph URL: bolt://, neo4j://, bolt+s:// / neo4j+s:// (TLS, certificate verified), bolt+ssc:// / neo4j+ssc:// (TLS, any certificate) or falkordb://host:port/GRAPH (env CONCORD_GRAPH_URL).")
    var graph: String?

    @Option(name: .long, help: "PEM file of the CA(s) that sign the graph server's certificate, for bolt+s:// and neo4j+s:// (env CONCORD_GRAPH_CA; default: the system's CAs).")
    var graphCa: String?

    @Option(name: .long, help: "Seconds to wait for each store to accept a connection.")
    var connectTimeout: Double = 5

    var postgresURL: String { postgres ?? env("CONCORD_POSTGRES_URL") ?? Self.defaultPostgres }
    var redisURL: String { redis ?? env("CONCORD_REDIS_URL") ?? Self.defaultRedis }
    var graphURL: String { graph ?? env("CONCORD_GRAPH_URL") ?? Self.defaultGraph }
    var graphCAFile: String? { graphCa ?? env("CONCORD_GRAPH_CA") }

    private func env(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    func connectPostgres() throws -> PostgresConnection {
        try PostgresConnection(url: postgresURL, connectTimeout: Int(connectTimeout.rounded(.up)))
    }

    func connectRedis() throws -> RedisConnection {
        try RedisConnection(url: redisURL, connectTimeout: connectTimeout)
    }

    func connectGraph() throws -> any GraphStore {
        try Graph.connect(url: graphURL, connectTimeout: connectTimeout, caFile: graphCAFile)
    }
}
