import ConcordCore
import ConcordFlow
import ConcordSimulator
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordTestSupport
import Foundation
import Testing

/// Stores of a test's own: a Redis database (the persistence keys have fixed
/// names), a FalkorDB graph, and the shared PostgreSQL test database.
public final class FlowFixture {
    public let redisURL: String
    /// The graph over RESP (the test's own writes and checks).
    public let graphURL: String
    /// Through Bolt gateways, as Neo4j in production (`neo4j+s://`), when the test asks for it.
    public private(set) var cluster: GatewayCluster?
    /// Concord's graph flags: the graph over RESP, or the gateways' `neo4j+s://` and CA.
    public var graphArgs: [String] { cluster?.arguments ?? ["--graph", graphURL] }
    public let postgresURL: String
    /// A PostgreSQL schema of the test's own (so an audit of the fixture reads no other test's drafts), or nil for the shared one.
    public let schema: String?
    public let redis: RedisConnection
    public let graph: FalkorDBStore
    public let postgres: PostgresConnection

    public convenience init(db: Int, overBolt: Bool = false) throws {
        try self.init(redisURL: TestStores.redisURL(db: db))
        if overBolt { cluster = try GatewayCluster(graph: graph.graph) }
    }

    public init(redisURL: String, ownSchema: Bool = false) throws {
        self.redisURL = redisURL
        schema = ownSchema ? TestStores.unique("flow").lowercased() : nil
        if let schema {
            try PostgresConnection(url: TestStores.postgresURL).execute("CREATE SCHEMA \(schema)")
            postgresURL = TestStores.postgresURL + "?options=-csearch_path%3D\(schema)"
        } else {
            postgresURL = TestStores.postgresURL
        }
        graphURL = TestStores.falkorURL + "/" + TestStores.unique("flow")
        redis = try TestStores.redis(redisURL)
        _ = try redis.run("FLUSHDB")
        graph = try FalkorDBStore(url: graphURL)
        _ = try GraphSchema.ensure(on: graph)
        postgres = try PostgresConnection(url: postgresURL)
        // Concurrent CREATE TABLE IF NOT EXISTS can collide; serialize setup.
        try postgres.transaction {
            try postgres.query("SELECT pg_advisory_xact_lock(4242)")
            for s in PostgresSchema.statements { try postgres.execute(s) }
        }
    }

    deinit {
        cluster?.stop()
        _ = try? redis.run("FLUSHDB")
        _ = try? graph.command(["GRAPH.DELETE", graph.graph])
        if let schema, let admin = try? PostgresConnection(url: TestStores.postgresURL) { _ = try? admin.execute("DROP SCHEMA \(schema) CASCADE") }
    }

    public func engine(batchSize: Int = 500) -> SyncEngine {
        SyncEngine(redis: redis, graph: graph, postgres: postgres, batchSize: batchSize)
    }

    public func length(_ key: String) throws -> Int64 { try redis.run("LLEN", key).int ?? -1 }
}

/// Checks the data model's definitions of consistency directly on the stores
/// (the audit comes later; this is the ground the tests stand on).
public struct Consistency {
    public let f: FlowFixture

    public init(f: FlowFixture) { self.f = f }

    /// Every event must be in the graph exactly once, with its fields and the one right parent.
    public func expectEventsPersisted(_ events: [Event], sourceLocation: SourceLocation = #_sourceLocation) throws {
        var nodes: [String: [GraphRecord]] = [:]
        try f.graph.streamKeyset("""
            MATCH (n:Node) WHERE id(n) > $after
            OPTIONAL MATCH (p)-[:PARENT_OF]->(n)
            RETURN id(n) AS k, n.id, n.type, n.workflow_id, n.timestamp, n.content, n.placeholder, collect(p.id) AS parents
            ORDER BY k LIMIT $limit
            """, start: -1, pageSize: 5000, key: { $0[0] }) { r in
            nodes[r[1].stringValue ?? "", default: []].append(r)
        }
        #expect(nodes.count == Set(events.map(\.id)).count, "node ids vs events", sourceLocation: sourceLocation)
        var problems: [String] = []
        for e in Set(events.map(\.id)).compactMap({ id in events.first { $0.id == id } }) {
            guard let found = nodes[e.id] else { problems.append("\(e.id): missing"); continue }
            if found.count != 1 { problems.append("\(e.id): \(found.count) nodes"); continue }
            let r = found[0]
            if r[2] != .string(e.type) || r[3] != .string(e.workflowId) || r[4] != .int(e.timestamp) { problems.append("\(e.id): fields") }
            if (try? JSON.parse(r[5].stringValue ?? "")) != e.payload { problems.append("\(e.id): content") }
            if r[6] == .bool(true) { problems.append("\(e.id): still a placeholder") }
            if r[7] != .list([.string(e.parentId)]) { problems.append("\(e.id): parents \(r[7]) expected \(e.parentId)") }
        }
        #expect(problems.isEmpty, "\(problems.prefix(10))", sourceLocation: sourceLocation)
    }

    /// Queue and processing empty; every event confirmed.
    public func expectQueuesSettled(_ events: [Event], sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try f.length(RedisKeys.queue) == 0, sourceLocation: sourceLocation)
        #expect(try f.length(RedisKeys.processing) == 0, sourceLocation: sourceLocation)
        var confirmed = Set<String>()
        try f.redis.zrange(RedisKeys.confirmed) { confirmed.formUnion($0.map(\.member)) }
        let missing = Set(events.map(\.id)).subtracting(confirmed)
        #expect(missing.isEmpty, "unconfirmed: \(missing.prefix(5))", sourceLocation: sourceLocation)
    }
}
