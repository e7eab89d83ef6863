import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordSimulator
import ConcordTestSupport
import Foundation

/// Stores of a test's own, so the audit reads nothing else: a Redis
/// database, a FalkorDB graph, and a PostgreSQL schema (via search_path).
/// How Concord reaches the fixture's graph: FalkorDB over RESP, or Bolt through
/// a gateway (the tests' Neo4j: `neo4j+s://`, routed, over TLS).
public enum GraphTransport: String, CaseIterable, CustomStringConvertible, Sendable {
    case falkordb, bolt
    public var description: String { rawValue }
}

public final class AuditFixture {
    public let redisURL: String
    /// The graph URL Concord is given (falkordb:// or neo4j+s:// through the gateway).
    public let graphURL: String
    /// The graph over RESP, for the test's own setup and checks.
    public let falkorURL: String
    public let postgresURL: String
    public let schema: String
    public let redis: RedisConnection
    public let graph: FalkorDBStore
    public let postgres: PostgresConnection
    public let rules: RuleSet
    public let transport: GraphTransport
    public private(set) var cluster: GatewayCluster?

    /// The CA file Concord needs for the graph (`--graph-ca`), or nil.
    public var graphCA: String? { cluster?.caFile }

    /// Concord's graph store flags: --graph, and --graph-ca over TLS.
    public var graphArgs: [String] { cluster?.arguments ?? ["--graph", graphURL] }

    /// The graph as Concord reaches it.
    public func concordGraph() throws -> any GraphStore { try Graph.connect(url: graphURL, caFile: graphCA) }

    /// `redisURL`: another Redis than the test server's database `db` (a private primary, say).
    public init(db: Int, transport: GraphTransport = .falkordb, redisURL: String? = nil) throws {
        self.transport = transport
        self.redisURL = redisURL ?? TestStores.redisURL(db: db)
        let graphName = TestStores.unique("audit")
        falkorURL = TestStores.falkorURL + "/" + graphName
        if transport == .bolt {
            let c = try GatewayCluster(graph: graphName)
            cluster = c
            graphURL = c.url
        } else {
            graphURL = falkorURL
        }
        schema = TestStores.unique("audit").lowercased()
        let admin = try PostgresConnection(url: TestStores.postgresURL)
        try admin.execute("CREATE SCHEMA \(schema)")
        postgresURL = TestStores.postgresURL + "?options=-csearch_path%3D\(schema)"
        redis = try TestStores.redis(self.redisURL)
        _ = try redis.run("FLUSHDB")
        graph = try FalkorDBStore(url: falkorURL)
        _ = try GraphSchema.ensure(on: graph)
        postgres = try PostgresConnection(url: postgresURL)
        for s in PostgresSchema.statements { try postgres.execute(s) }
        rules = try RuleSet.load(directory: TestStores.repositoryRoot.appendingPathComponent("Rules"))
    }

    deinit {
        cluster?.stop()
        _ = try? redis.run("FLUSHDB")
        _ = try? graph.command(["GRAPH.DELETE", graph.graph])
        if let admin = try? PostgresConnection(url: TestStores.postgresURL) { _ = try? admin.execute("DROP SCHEMA \(schema) CASCADE") }
    }

    /// A reader on connections of its own (the audit runs beside other work).
    public func reader() throws -> LiveReader {
        let graph = try concordGraph()
        let r = LiveReader(postgres: try PostgresConnection(url: postgresURL), redis: try TestStores.redis(redisURL), graph: graph)
        let (url, ca) = (graphURL, graphCA)
        r.openGraph = { try Graph.another(graph, url: url, caFile: ca) }
        return r
    }

    public func audit(recheck: Bool = true, graceMs: Int64 = 300_000, snapshot: URL? = nil) throws -> AuditReport {
        try Auditor.audit(live: try reader(), AuditRequest(rules: rules, graceMs: graceMs), recheck: recheck,
                          snapshot: try snapshot.map { try SnapshotWriter(directory: $0) })
    }

    public func simulate(seed: UInt64, runs: Int, eventsPerRun: Int) throws -> Workload {
        let w = Workload.generate(seed: seed, runs: runs, eventsPerRun: eventsPerRun, baseTime: nowMilliseconds() - 3_600_000)
        try Simulator(postgres: postgres, redis: redis, graph: graph).produce(w)
        let engine = SyncEngine(redis: redis, graph: graph, postgres: postgres)
        try engine.drain()
        _ = try engine.syncPublications()
        return w
    }

    /// A synced simulation with `faults` injected; the injector holds the ground truth.
    public func simulate(seed: UInt64, runs: Int, eventsPerRun: Int, faults: String) throws -> FaultInjector {
        let w = try simulate(seed: seed, runs: runs, eventsPerRun: eventsPerRun)
        var injector = FaultInjector(postgres: postgres, redis: redis, graph: graph, seed: seed)
        try injector.inject(try FaultSpec(parsing: faults), into: w)
        return injector
    }
}


/// The findings as "rule key" lines, for comparing with ground truth.
public func findingKeys(_ findings: [Finding]) -> Set<String> { Set(findings.map { "\($0.rule) \($0.key)" }) }
