import ConcordGraph
import ConcordPostgres
import ConcordRedis
import Foundation

/// What `concord serve` runs with.
public struct ServeConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (printed when the server is up).
    public var port = 8080
    public var events = EventStreamOptions()
    /// The console's bearer token (`CONCORD_SERVE_TOKEN`); the console is off without one.
    public var consoleToken: String?
    /// Where audit reports are listed from and plans and apply reports are written.
    public var reportsDirectory = "Reports"
    /// The rules plans are made with.
    public var rulesDirectory = "Rules"
    /// Refuse to apply plans older than this (ms), as `concord apply --max-age`.
    public var planMaxAgeMilliseconds: Int64 = 24 * 3_600_000
    /// Seconds between the console's samples of the persistence queue (its trends).
    public var sampleInterval: Double = 60
    public var makeRedis: @Sendable () throws -> RedisConnection
    public var makePostgres: @Sendable () throws -> PostgresConnection
    public var makeGraph: @Sendable () throws -> any GraphStore
    /// The sync's Prometheus text, when `--sync` runs it in this process.
    public var syncMetrics: (@Sendable () -> String)?

    public init(makeRedis: @escaping @Sendable () throws -> RedisConnection,
                makePostgres: @escaping @Sendable () throws -> PostgresConnection,
                makeGraph: @escaping @Sendable () throws -> any GraphStore) {
        self.makeRedis = makeRedis
        self.makePostgres = makePostgres
        self.makeGraph = makeGraph
    }
}

/// The stores' connections, pooled for the handlers.
public struct ServeStores: Sendable {
    public let redis: Pool<RedisConnection>
    public let postgres: Pool<PostgresConnection>
    public let graph: Pool<GraphStoreBox>

    public init(_ c: ServeConfiguration) {
        redis = Pool(make: c.makeRedis)
        postgres = Pool(make: c.makePostgres)
        let g = c.makeGraph
        graph = Pool(make: { GraphStoreBox(try g()) })
    }
}
