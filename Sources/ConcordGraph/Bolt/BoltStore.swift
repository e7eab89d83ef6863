import ConcordCore
import ConcordCrypto
import Foundation

/// Neo4j (or any Bolt 5.0–5.7 / 4.4 server) through the Bolt client written here.
///
/// `bolt://` talks to the one server named. `neo4j://` routes: the routing
/// table comes from the server named (Bolt `ROUTE`), read-only work goes to a
/// reader, the rest to the writer; the table is fetched again when its TTL
/// runs out, when no server of a role can be reached (another router is asked),
/// and after a write is refused with `Neo.ClientError.Cluster.NotALeader` (the
/// statement, or the whole transaction, is then run once more on the new
/// writer). Bookmarks of committed writes go with the next reads, so a read
/// after a write sees it on any member. `+s` / `+ssc` encrypt every connection.
/// The database comes from the URL path (`bolt://host:7687/mydb`) or
/// `?database=`; without it, the server's default. Transactions are real:
/// BEGIN/COMMIT, rolled back when the body throws.
public final class BoltStore: GraphStore, @unchecked Sendable {
    // @unchecked: connections, the table and the bookmark are only used under `lock`.
    public let engine = "neo4j"
    public let displayURL: String
    private let endpoint: Endpoint
    private let connectTimeout: Double
    private let ioTimeout: Double
    private let lock = NSRecursiveLock()
    /// Open connections by address ("host:port").
    private var pool: [String: BoltConnection] = [:]
    /// The address of the last connection used (the one `bolt://` names, or the last routed to).
    private var lastAddress: String
    private let routing: Bool
    private var table: RoutingTable?
    private var rotation = 0
    /// The connection of the transaction in progress: its statements stay on it.
    private var txConnection: BoltConnection?
    /// The newest bookmark of a committed write, sent with what follows.
    public private(set) var bookmark: String?

    /// A routing table: who writes, who reads, who routes, until when.
    public struct RoutingTable: Sendable, Equatable {
        public var writers: [String]
        public var readers: [String]
        public var routers: [String]
        public var expires: Date
    }

    /// The URL schemes, each with its port and how it encrypts: `+s` verifies the server's
    /// certificate (the system's CAs, or `caFile`), `+ssc` accepts any certificate unverified.
    public static let schemes = ["bolt": 7687, "neo4j": 7687, "bolt+s": 7687, "neo4j+s": 7687, "bolt+ssc": 7687, "neo4j+ssc": 7687]

    /// `caFile`: PEM CA certificate(s) to trust instead of the system's (`--graph-ca`), for `+s` schemes.
    public convenience init(url: String, connectTimeout: Double = 5, ioTimeout: Double = 300, caFile: String? = nil) throws {
        let endpoint = try Endpoint(parsing: url, defaultPorts: Self.schemes)
        try self.init(endpoint: endpoint, connectTimeout: connectTimeout, ioTimeout: ioTimeout,
                      trust: try Self.trust(scheme: endpoint.scheme, caFile: caFile), table: nil, bookmark: nil)
    }

    private init(endpoint: Endpoint, connectTimeout: Double, ioTimeout: Double, trust: TLSTrust?, table: RoutingTable?, bookmark: String?) throws {
        self.endpoint = endpoint
        displayURL = endpoint.description
        self.connectTimeout = connectTimeout
        self.ioTimeout = ioTimeout
        self.trust = trust
        routing = endpoint.scheme.hasPrefix("neo4j")
        lastAddress = "\(endpoint.serverName):\(endpoint.port)"
        self.table = table
        self.bookmark = bookmark
        // Connect now, so a wrong URL, password or certificate fails here.
        _ = try lock.withLock { try connection(readOnly: false) }
    }

    /// Another store on connections of its own, starting from this one's routing table and
    /// bookmark (so it routes even when the server in the URL is gone, and sees this one's writes).
    public func sibling() throws -> BoltStore {
        let (t, b) = lock.withLock { (table, bookmark) }
        return try BoltStore(endpoint: endpoint, connectTimeout: connectTimeout, ioTimeout: ioTimeout, trust: trust, table: t, bookmark: b)
    }

    /// How a scheme encrypts (nil: plaintext).
    static func trust(scheme: String, caFile: String?) throws -> TLSTrust? {
        if scheme.hasSuffix("+ssc") { return .anyCertificate }
        if scheme.hasSuffix("+s") { return caFile.map { .caFile($0) } ?? .system }
        if let caFile { throw ConcordError(.usage, "a CA file (\(caFile)) was given for a plaintext \(scheme):// URL: use \(scheme)+s://") }
        return nil
    }

    private let trust: TLSTrust?

    /// The server ("host:port") the last statement went to.
    public var lastServer: String { lock.withLock { lastAddress } }

    /// The routing table in use (`neo4j://`), or nil.
    public var routingTable: RoutingTable? { lock.withLock { table } }

    /// Whether the last connection is encrypted, and how ("TLSv1.3"), or nil.
    public var tlsVersion: String? { lock.withLock { pool[lastAddress]?.socket.tls?.version } }

    deinit { for c in pool.values { c.goodbye() } }

    public func close() {
        lock.withLock {
            for c in pool.values { c.goodbye() }
            pool = [:]
        }
    }

    /// The negotiated Bolt version, e.g. "5.4".
    public var protocolVersion: String { lock.withLock { pool[lastAddress]?.version ?? "" } }

    public func serverVersion() throws -> String {
        try lock.withLock {
            let c = try connection(readOnly: true)
            return c.serverAgent + " (Bolt \(c.version))"
        }
    }

    // MARK: Connections and routing

    /// The open connection to `address`; a new one when there is none or it was lost.
    private func connect(_ address: String) throws -> BoltConnection {
        if let c = pool[address], c.socket.isOpen { return c }
        pool[address] = nil
        var e = endpoint
        if let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) {
            let host = String(address[..<colon])
            e.serverName = host
            e.host = host == "localhost" ? "127.0.0.1" : host
            e.port = port
        }
        let c = try BoltConnection(endpoint: e, connectTimeout: connectTimeout, ioTimeout: ioTimeout, trust: trust)
        pool[address] = c
        return c
    }

    private func forget(_ address: String) {
        pool[address]?.goodbye()
        pool[address] = nil
        table?.readers.removeAll { $0 == address }
        table?.writers.removeAll { $0 == address }
        table?.routers.removeAll { $0 == address }
    }

    /// A connection for work of this kind: the one server (`bolt://`), or a reader / the writer of the routing table.
    private func connection(readOnly: Bool) throws -> BoltConnection {
        guard routing else {
            let c = try connect(lastAddress)
            return c
        }
        var tried: [String] = []
        for attempt in 0..<2 {
            let t = try routingTable(refresh: attempt > 0)
            let candidates = readOnly ? (t.readers.isEmpty ? t.writers : t.readers) : t.writers
            rotation &+= 1
            for i in candidates.indices {
                let address = candidates[(i + rotation) % candidates.count]
                do {
                    let c = try connect(address)
                    lastAddress = address
                    return c
                } catch let e as ConcordError where e.code == .connection {
                    tried.append(address)
                    forget(address)
                }
            }
        }
        throw ConcordError(.connection, "no \(readOnly ? "reader" : "writer") of \(displayURL) can be reached (tried \(tried.isEmpty ? "none: the routing table names none" : tried.joined(separator: ", ")))",
                           store: "graph")
    }

    /// The routing table, fetched (from a router it names, else the server in the URL) when there is none,
    /// it expired, or `refresh`.
    private func routingTable(refresh: Bool) throws -> RoutingTable {
        if !refresh, let t = table, t.expires > Date() { return t }
        let initial = "\(endpoint.serverName):\(endpoint.port)"
        var routers = table?.routers ?? []
        if !routers.contains(initial) { routers.append(initial) }
        var failures: [String] = []
        for router in routers {
            do {
                let c = try connect(router)
                let rt = try c.route(address: initial, bookmarks: bookmark.map { [$0] } ?? [])
                var t = RoutingTable(writers: [], readers: [], routers: [], expires: Date().addingTimeInterval(Double(rt["ttl"]?.int ?? 300)))
                for server in rt["servers"]?.list ?? [] {
                    let addresses = server["addresses"]?.list?.compactMap(\.string) ?? []
                    switch server["role"]?.string {
                    case "WRITE": t.writers = addresses
                    case "READ": t.readers = addresses
                    case "ROUTE": t.routers = addresses
                    default: break
                    }
                }
                guard !t.routers.isEmpty else {
                    failures.append("\(router): its routing table names no router")
                    continue
                }
                table = t
                return t
            } catch let e as ConcordError where e.code == .connection || e.code == .server || e.code == .protocolViolation {
                failures.append("\(router): \(e.message)")
                forget(router)
            }
        }
        table = nil
        throw ConcordError(.connection, "no router of \(displayURL) answered with a routing table (\(failures.joined(separator: "; ")))", store: "graph")
    }

    /// A write refused because the server is not (any more) the writer: route again and retry.
    static func isNotLeader(_ e: ConcordError) -> Bool {
        e.serverCode == "Neo.ClientError.Cluster.NotALeader" || e.serverCode == "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase"
    }

    // MARK: Queries

    @discardableResult
    public func stream(
        _ query: String, parameters: [String: GraphValue] = [:], readOnly: Bool = false, fetchSize: Int = 1000,
        _ body: (GraphRecord) throws -> Void
    ) throws -> GraphSummary {
        try lock.withLock {
            let params = try PackStreamValue(.map(parameters))
            if let c = txConnection {
                return Self.summary(try c.run(query, parameters: params, readOnly: readOnly, fetchSize: fetchSize) { columns, values in
                    try body(GraphRecord(columns: columns, values: try values.map { try $0.graphValue() }))
                })
            }
            var attempt = 0
            while true {
                let c = try connection(readOnly: readOnly)
                c.bookmarks = bookmark.map { [$0] } ?? []
                var delivered = false
                do {
                    let meta = try c.run(query, parameters: params, readOnly: readOnly, fetchSize: fetchSize) { columns, values in
                        delivered = true
                        try body(GraphRecord(columns: columns, values: try values.map { try $0.graphValue() }))
                    }
                    if let b = c.lastBookmark { bookmark = b }
                    return Self.summary(meta)
                } catch let e as ConcordError where routing && attempt == 0
                    && (Self.isNotLeader(e) || (readOnly && !delivered && e.code == .connection)) {
                    // Not the writer any more, or a reader gone before it answered: route again, once.
                    forget(lastAddress)
                    table?.expires = .distantPast
                    attempt += 1
                }
            }
        }
    }

    public func transaction<T>(readOnly: Bool, _ body: (GraphTransaction) throws -> T) throws -> T {
        try lock.withLock {
            // Inside a transaction already (on this thread): the inner one joins it.
            if txConnection != nil { return try body(BoltTransaction(store: self)) }
            var attempt = 0
            while true {
                let c = try connection(readOnly: readOnly)
                c.bookmarks = bookmark.map { [$0] } ?? []
                try c.begin(readOnly: readOnly)
                txConnection = c
                defer { txConnection = nil }
                do {
                    let value = try body(BoltTransaction(store: self))
                    try c.commit()
                    if let b = c.lastBookmark { bookmark = b }
                    return value
                } catch let e as ConcordError where routing && attempt == 0 && Self.isNotLeader(e) {
                    // The server refused the transaction's writes (it rolled it back): the new writer runs it again.
                    if c.socket.isOpen { try? c.rollback() }
                    forget(lastAddress)
                    table?.expires = .distantPast
                    attempt += 1
                } catch {
                    if c.socket.isOpen { try? c.rollback() }
                    throw error
                }
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
