import ConcordCore
import Foundation

/// Neo4j (or any Bolt 5.0–5.7 / 4.4 server) through the Bolt client written here.
///
/// `neo4j://` is accepted and treated as a direct connection to the named
/// server (no cluster routing). The database comes from the URL path
/// (`bolt://host:7687/mydb`) or `?database=`; without it, the server's default.
/// Transactions are real: BEGIN/COMMIT, rolled back when the body throws.
public final class BoltStore: GraphStore, @unchecked Sendable {
    // @unchecked: the connection is only used under `lock`.
    public let engine = "neo4j"
    public let displayURL: String
    private let endpoint: Endpoint
    private let connectTimeout: Double
    private let ioTimeout: Double
    private var connection: BoltConnection?
    private let lock = NSRecursiveLock()

    public init(url: String, connectTimeout: Double = 5, ioTimeout: Double = 300) throws {
        endpoint = try Endpoint(parsing: url, defaultPorts: ["bolt": 7687, "neo4j": 7687])
        displayURL = endpoint.description
        self.connectTimeout = connectTimeout
        self.ioTimeout = ioTimeout
        connection = try BoltConnection(endpoint: endpoint, connectTimeout: connectTimeout, ioTimeout: ioTimeout)
    }

    deinit { connection?.goodbye() }

    public func close() { lock.withLock { connection?.goodbye(); connection = nil } }

    /// The negotiated Bolt version, e.g. "5.4".
    public var protocolVersion: String { lock.withLock { connection?.version ?? "" } }

    public func serverVersion() throws -> String {
        try lock.withLock { try live().serverAgent + " (Bolt \(try live().version))" }
    }

    /// The open connection; a new one when the last was lost.
    private func live() throws -> BoltConnection {
        if let c = connection, c.socket.isOpen { return c }
        let c = try BoltConnection(endpoint: endpoint, connectTimeout: connectTimeout, ioTimeout: ioTimeout)
        connection = c
        return c
    }

    @discardableResult
    public func stream(
        _ query: String, parameters: [String: GraphValue] = [:], readOnly: Bool = false, fetchSize: Int = 1000,
        _ body: (GraphRecord) throws -> Void
    ) throws -> GraphSummary {
        try lock.withLock {
            let c = try live()
            let params = try PackStreamValue(.map(parameters))
            let meta = try c.run(query, parameters: params, readOnly: readOnly, fetchSize: fetchSize) { columns, values in
                try body(GraphRecord(columns: columns, values: try values.map { try $0.graphValue() }))
            }
            return Self.summary(meta)
        }
    }

    public func transaction<T>(readOnly: Bool, _ body: (GraphTransaction) throws -> T) throws -> T {
        try lock.withLock {
            let c = try live()
            try c.begin(readOnly: readOnly)
            do {
                let value = try body(BoltTransaction(store: self))
                try c.commit()
                return value
            } catch {
                if c.socket.isOpen { try? c.rollback() }
                throw error
            }
        }
    }

    static func summary(_ meta: PackStreamValue) -> GraphSummary {
        var counters: [String: Int64] = [:]
        if case .map(let entries)? = meta["stats"] {
            for e in entries { if let n = e.value.int { counters[e.key] = n } }
        }
        return GraphSummary(counters: counters)
    }
}

final class BoltTransaction: GraphTransaction {
    let store: BoltStore
    init(store: BoltStore) { self.store = store }

    @discardableResult
    func run(_ query: String, parameters: [String: GraphValue]) throws -> GraphResult {
        try store.run(query, parameters: parameters, readOnly: false)
    }
}
