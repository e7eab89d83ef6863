import ConcordCore
@_exported import enum ConcordRedis.RedisReply
import ConcordCrypto
import ConcordRedis
import Foundation

/// FalkorDB over RESP: `GRAPH.QUERY` / `GRAPH.RO_QUERY` with `--compact` replies.
///
/// Label, relationship-type and property-key ids in compact replies are
/// resolved through `db.labels()`, `db.relationshipTypes()` and
/// `db.propertyKeys()`, cached and refreshed when an unknown id shows up.
///
/// Transactions: one `GRAPH.QUERY` is atomic and `MULTI`/`EXEC` does not roll
/// back, so a write transaction holds one write statement (see `GraphStore`).
/// Doubles come back with 15 significant digits (FalkorDB's reply format).
public final class FalkorDBStore: GraphStore, @unchecked Sendable {
    // @unchecked: the Redis connection serializes its own use; the id caches
    // are guarded by `lock`.
    public let engine = "falkordb"
    public let graph: String
    let connection: RESPConnection
    public var displayURL: String { "\(connection.endpoint.scheme)://\(connection.endpoint.host):\(connection.endpoint.port)/\(graph)" }
    private let lock = NSRecursiveLock()
    private var labels: [String] = []
    private var relationshipTypes: [String] = []
    private var propertyKeys: [String] = []

    /// Connects to `falkordb://[user:password@]host:port/GRAPH` (graph defaults to `concord`), or over TLS
    /// to `falkordbs://…`: the certificate verified against the system's CAs or `caFile`'s.
    public init(url: String, connectTimeout: Double = 5, ioTimeout: Double = 300, caFile: String? = nil) throws {
        let endpoint = try Endpoint(parsing: url, defaultPorts: ["falkordb": 6379, "falkordbs": 6379])
        graph = endpoint.path.isEmpty ? "concord" : endpoint.path
        let trust: TLSTrust? = endpoint.scheme == "falkordbs" ? (caFile.map { .caFile($0) } ?? .system) : nil
        connection = try RESPConnection(endpoint: endpoint, connectTimeout: connectTimeout, ioTimeout: ioTimeout, trust: trust)
    }

    /// Runs any command on the FalkorDB server (GRAPH.DELETE, GRAPH.CONSTRAINT…).
    public func command(_ args: [any RedisArgument]) throws -> RedisReply {
        try lock.withLock { try connection.command(args) }
    }

    public func close() {}

    public func serverVersion() throws -> String {
        let modules = try command(["MODULE", "LIST"])
        for m in modules.array ?? [] {
            let fields = m.array ?? []
            var name = "", version = ""
            var i = 0
            while i + 1 < fields.count {
                if fields[i].string == "name" { name = fields[i + 1].string ?? "" }
                if fields[i].string == "ver" { version = fields[i + 1].int.map(String.init) ?? fields[i + 1].string ?? "" }
                i += 2
            }
            if name == "graph", let v = Int(version) {
                return "FalkorDB \(v / 10000).\(v / 100 % 100).\(v % 100)"
            }
        }
        return "FalkorDB (version unknown)"
    }

    @discardableResult
    public func stream(
        _ query: String, parameters: [String: GraphValue] = [:], readOnly: Bool = false, fetchSize: Int = 10_000,
        _ body: (GraphRecord) throws -> Void
    ) throws -> GraphSummary {
        let text = try CypherLiteral.prefix(parameters) + query
        var reply = try command([readOnly ? "GRAPH.RO_QUERY" : "GRAPH.QUERY", graph, text, "--compact"])
        if readOnly, reply.errorMessage?.contains("empty key") == true {
            // The graph does not exist yet; GRAPH.RO_QUERY refuses that, GRAPH.QUERY
            // runs a read query on an empty graph (and still rejects writes below).
            reply = try command(["GRAPH.QUERY", graph, text, "--compact"])
            if let parts = reply.array, Self.summary(parts.last ?? .null).counters.keys.contains(where: { $0.hasSuffix("created") }) {
                throw queryError("a read-only query tried to write", query)
            }
        }
        if let e = reply.errorMessage { throw queryError(e, query) }
        guard let parts = reply.array, !parts.isEmpty else {
            throw ConcordError(.protocolViolation, "unexpected GRAPH.QUERY reply", store: "graph", query: query)
        }
        let stats = parts[parts.count - 1]
        if let e = stats.errorMessage { throw queryError(e, query) }
        if parts.count == 3 {
            let columns = (parts[0].array ?? []).map { $0.array?.last?.string ?? $0.string ?? "" }
            for row in parts[1].array ?? [] {
                if let e = row.errorMessage { throw queryError(e, query) }
                let values = try (row.array ?? []).map { try decode($0, query) }
                try body(GraphRecord(columns: columns, values: values))
            }
        }
        return Self.summary(stats)
    }

    public func transaction<T>(readOnly: Bool, _ body: (GraphTransaction) throws -> T) throws -> T {
        try body(FalkorDBTransaction(store: self, readOnly: readOnly))
    }

    // MARK: Decoding compact replies

    private func queryError(_ message: String, _ query: String) -> ConcordError {
        ConcordError(.server, "FalkorDB query failed: \(message)", store: "graph", query: query)
    }

    static func summary(_ stats: RedisReply) -> GraphSummary {
        var counters: [String: Int64] = [:]
        for line in stats.array ?? [] {
            guard let s = line.string, let colon = s.firstIndex(of: ":") else { continue }
            let name = s[..<colon].lowercased().replacingOccurrences(of: " ", with: "-")
            let value = s[s.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if let n = Int64(value.split(separator: " ").first ?? "") { counters[name] = n }
        }
        return GraphSummary(counters: counters)
    }

    /// Decodes one `[type, value]` pair.
    private func decode(_ pair: RedisReply, _ query: String) throws -> GraphValue {
        guard let p = pair.array, p.count == 2, let type = p[0].int else {
            throw ConcordError(.protocolViolation, "unexpected value in a compact reply", store: "graph", query: query)
        }
        return try decode(type: type, p[1], query)
    }

    private func decode(type: Int64, _ v: RedisReply, _ query: String) throws -> GraphValue {
        switch type {
        case 1: return .null
        case 2: return .string(v.string ?? "")
        case 3: return .int(v.int ?? 0)
        case 4: return .bool(v.string == "true")
        case 5: return .double(Double(v.string ?? "") ?? .nan)
        case 6: return .list(try (v.array ?? []).map { try decode($0, query) })
        case 7: return .relationship(try decodeEdge(v, query))
        case 8: return .node(try decodeNode(v, query))
        case 9:
            let parts = v.array ?? []
            guard parts.count == 2, case .list(let ns) = try decode(parts[0], query),
                case .list(let rs) = try decode(parts[1], query)
            else { throw ConcordError(.protocolViolation, "unexpected path in a compact reply", store: "graph") }
            return .path(GraphPath(nodes: ns.compactMap(\.nodeValue), relationships: rs.compactMap {
                if case .relationship(let r) = $0 { return r }; return nil
            }))
        case 10:
            let flat = v.array ?? []
            var m: [String: GraphValue] = [:]
            var i = 0
            while i + 1 < flat.count {
                m[flat[i].string ?? ""] = try decode(flat[i + 1], query)
                i += 2
            }
            return .map(m)
        case 11:
            let xy = (v.array ?? []).map { Double($0.string ?? "") ?? .nan }
            return .structure(GraphStructure(tag: 0x58, fields: [.int(4326)] + xy.reversed().map { .double($0) }))
        case 12: return .list((v.array ?? []).map { .double(Double($0.string ?? "") ?? .nan) })
        case 13: return .structure(GraphStructure(tag: 0x64, fields: [.int(v.int ?? 0), .int(0)]))  // local datetime, epoch s
        case 14: return .structure(GraphStructure(tag: 0x44, fields: [.int((v.int ?? 0) / 86_400)]))  // date, as days
        case 15: return .structure(GraphStructure(tag: 0x74, fields: [.int((v.int ?? 0) * 1_000_000_000)]))  // local time
        case 16: return .structure(GraphStructure(tag: 0x45, fields: [.int(0), .int(0), .int(v.int ?? 0), .int(0)]))  // duration
        default:
            throw ConcordError(.protocolViolation, "FalkorDB value type \(type) is not supported", store: "graph", query: query)
        }
    }

    private func decodeProperties(_ v: RedisReply, _ query: String) throws -> [String: GraphValue] {
        var props: [String: GraphValue] = [:]
        for triple in v.array ?? [] {
            guard let t = triple.array, t.count == 3, let keyId = t[0].int, let type = t[1].int else { continue }
            props[try name(keyId, in: \.propertyKeys, procedure: "db.propertyKeys()")] = try decode(type: type, t[2], query)
        }
        return props
    }

    private func decodeNode(_ v: RedisReply, _ query: String) throws -> GraphNode {
        guard let parts = v.array, parts.count == 3 else {
            throw ConcordError(.protocolViolation, "unexpected node in a compact reply", store: "graph", query: query)
        }
        let labelNames = try (parts[1].array ?? []).map { try name($0.int ?? -1, in: \.labels, procedure: "db.labels()") }
        return GraphNode(id: parts[0].int ?? -1, labels: labelNames, properties: try decodeProperties(parts[2], query))
    }

    private func decodeEdge(_ v: RedisReply, _ query: String) throws -> GraphRelationship {
        guard let parts = v.array, parts.count == 5 else {
            throw ConcordError(.protocolViolation, "unexpected relationship in a compact reply", store: "graph", query: query)
        }
        return GraphRelationship(
            id: parts[0].int ?? -1, startId: parts[2].int ?? -1, endId: parts[3].int ?? -1,
            type: try name(parts[1].int ?? -1, in: \.relationshipTypes, procedure: "db.relationshipTypes()"),
            properties: try decodeProperties(parts[4], query))
    }

    /// Resolves a schema id, refreshing the cache once when the id is new.
    private func name(_ id: Int64, in cache: ReferenceWritableKeyPath<FalkorDBStore, [String]>, procedure: String) throws -> String {
        if let n = lock.withLock({ id >= 0 && id < self[keyPath: cache].count ? self[keyPath: cache][Int(id)] : nil }) {
            return n
        }
        let reply = try command(["GRAPH.RO_QUERY", graph, "CALL \(procedure)", "--compact"])
        if let e = reply.errorMessage { throw queryError(e, "CALL \(procedure)") }
        let names = (reply.array?[safe: 1]?.array ?? []).map { $0.array?.first?.array?.last?.string ?? "" }
        lock.withLock { self[keyPath: cache] = names }
        guard id >= 0 && Int(id) < names.count else {
            throw ConcordError(.protocolViolation, "FalkorDB returned unknown schema id \(id) for \(procedure)", store: "graph")
        }
        return names[Int(id)]
    }
}

/// A FalkorDB "transaction": reads run as they come; one write statement at most.
final class FalkorDBTransaction: GraphTransaction {
    let store: FalkorDBStore
    let readOnly: Bool
    private var wrote = false

    init(store: FalkorDBStore, readOnly: Bool) {
        self.store = store
        self.readOnly = readOnly
    }

    @discardableResult
    func run(_ query: String, parameters: [String: GraphValue]) throws -> GraphResult {
        if !readOnly {
            if wrote {
                throw ConcordError(
                    .usage,
                    "FalkorDB cannot roll back several statements: a write transaction holds one statement; batch with UNWIND $rows",
                    store: "graph", query: query)
            }
            wrote = true
        }
        return try store.run(query, parameters: parameters, readOnly: readOnly)
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
