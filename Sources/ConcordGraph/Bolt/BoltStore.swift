import ConcordCore
import ConcordCrypto
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

    /// The URL schemes, each with its port and how it encrypts: `+s` verifies the server's
    /// certificate (the system's CAs, or `caFile`), `+ssc` accepts any certificate unverified.
    public static let schemes = ["bolt": 7687, "neo4j": 7687, "bolt+s": 7687, "neo4j+s": 7687, "bolt+ssc": 7687, "neo4j+ssc": 7687]

    /// `caFile`: PEM CA certificate(s) to trust instead of the system's (`--graph-ca`), for `+s` schemes.
    public init(url: String, connectTimeout: Double = 5, ioTimeout: Double = 300, caFile: String? = nil) throws {
        endpoint = try Endpoint(parsing: url, defaultPorts: Self.schemes)
        displayURL = endpoint.description
        self.connectTimeout = connectTimeout
        self.ioTimeout = ioTimeout
        trust = try Self.trust(scheme: endpoint.scheme, caFile: caFile)
        connection = try BoltConnection(endpoint: endpoint, connectTimeout: connectTimeout, ioTimeout: ioTimeout, trust: trust)
    }

    /// How a scheme encrypts (nil: plaintext).
    static func trust(scheme: String, caFile: String?) throws -> TLSTrust? {
        if scheme.hasSuffix("+ssc") { return .anyCertificate }
        if scheme.hasSuffix("+s") { return caFile.map { .caFile($0) } ?? .system }
        if let caFile { throw ConcordError(.usage, "a CA file (\(caFile)) was given for a plaintext \(scheme):// URL: use \(scheme)+s://") }
        return nil
    }

    private let trust: TLSTrust?

    /// Whether the connection is encrypted, and how ("TLSv1.3"), or nil.
    public var tlsVersion: String? { lock.withLock { connection?.socket.tls?.version } }

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
