import ConcordCore
import ConcordCrypto
import ConcordNet

/// One Bolt connection: handshake, authentication, and the request/response
/// exchanges the store needs. Not thread-safe; `BoltStore` serializes use.
final class BoltConnection {
    let socket: TCPSocket
    /// The negotiated protocol version.
    private(set) var major: UInt8 = 0
    private(set) var minor: UInt8 = 0
    private(set) var serverAgent = ""
    /// The database to address, from the URL (nil: the server's default).
    let database: String?
    /// True between BEGIN and COMMIT/ROLLBACK.
    private(set) var inTransaction = false
    /// Whether RUN/BEGIN may carry `mode: "r"` (false for FalkorDB's Bolt listener, which hangs on it).
    private(set) var honoursReadMode = true
    /// Bookmarks the next auto-commit RUN or BEGIN waits for (causal consistency in a cluster).
    var bookmarks: [String] = []
    /// The bookmark of the last write this connection committed, if the server gave one.
    private(set) var lastBookmark: String?

    static let userAgent = "concord/0.1"

    /// Versions proposed, best first: 5.7 down to 5.0, then 4.4 (each
    /// proposal is `[reserved, range, minor, major]`).
    static let proposals: [UInt8] = [0, 7, 7, 5, 0, 0, 4, 4, 0, 0, 0, 0, 0, 0, 0, 0]

    init(endpoint: Endpoint, connectTimeout: Double, ioTimeout: Double, trust: TLSTrust? = nil) throws {
        socket = try TCPSocket(host: endpoint.host, port: endpoint.port, connectTimeout: connectTimeout, ioTimeout: ioTimeout)
        if let trust { try socket.startTLS(trust: trust, serverName: endpoint.serverName) }
        database = endpoint.path.isEmpty ? endpoint.query["database"] : endpoint.path
        try handshake(endpoint)
        try authenticate(user: endpoint.user, password: endpoint.password, endpoint: endpoint)
    }

    var version: String { "\(major).\(minor)" }

    private func handshake(_ endpoint: Endpoint) throws {
        try socket.write([0x60, 0x60, 0xB0, 0x17] + Self.proposals)
        let reply = Array(try socket.read(4))
        major = reply[3]
        minor = reply[2]
        guard major == 5 || (major == 4 && minor == 4) else {
            socket.close()
            if reply == [0x48, 0x54, 0x54, 0x50] {
                throw ConcordError(.connection, "\(endpoint) answered with HTTP: point the URL at the Bolt port (7687)", store: "graph")
            }
            throw ConcordError(.connection, "\(endpoint) supports none of Bolt 5.0–5.7 or 4.4 (answered \(reply))", store: "graph")
        }
    }

    private func authenticate(user: String?, password: String?, endpoint: Endpoint) throws {
        let auth: [(String, PackStreamValue?)] =
            user != nil || password != nil
            ? [("scheme", "basic"), ("principal", .string(user ?? "")), ("credentials", .string(password ?? ""))]
            : [("scheme", "none")]
        var hello: [(String, PackStreamValue?)] = [("user_agent", .string(Self.userAgent))]
        if major == 5 && minor >= 3 {
            hello.append(("bolt_agent", BoltMessage.map([
                ("product", .string(Self.userAgent)), ("platform", "Linux"), ("language", "Swift/6"),
            ])))
        }
        let separateLogon = major == 5 && minor >= 1
        if !separateLogon { hello += auth }
        try send(.structure(tag: BoltMessage.hello, fields: [BoltMessage.map(hello)]))
        switch try receive() {
        case .success(let meta):
            serverAgent = meta["server"]?.string ?? ""
            // Neo4j names its connections "bolt-N". FalkorDB's Bolt listener says it is "Neo4j/5.13.0" but
            // names them by UUID — and never answers a request in read mode (the official driver's READ
            // sessions hang on it too), so read mode is only sent to a server that looks like Neo4j.
            honoursReadMode = meta["connection_id"]?.string?.hasPrefix("bolt-") ?? false
        case .failure(let f): socket.close(); throw authError(f, endpoint)
        default: throw unexpected("HELLO")
        }
        if separateLogon {
            try send(.structure(tag: BoltMessage.logon, fields: [BoltMessage.map(auth)]))
            switch try receive() {
            case .success: break
            case .failure(let f): socket.close(); throw authError(f, endpoint)
            default: throw unexpected("LOGON")
            }
        }
    }

    private func authError(_ f: BoltFailure, _ endpoint: Endpoint) -> ConcordError {
        var e = f.error(query: nil)
        e.code = .authentication
        e.message = "authentication failed for \(endpoint): \(f.message)"
        return e
    }

    // MARK: Messages

    func send(_ messages: PackStreamValue...) throws {
        var out: [UInt8] = []
        for m in messages { out += try BoltMessage.frame(m) }
        try socket.write(out)
    }

    /// Reads one whole message (all its chunks), skipping NOOP chunks.
    func receive() throws -> BoltResponse {
        do {
            return try BoltMessage.response(try BoltMessage.readMessage(from: socket))
        } catch let e as ConcordError where e.code == .protocolViolation {
            socket.close()
            throw e
        }
    }

    private func unexpected(_ what: String) -> ConcordError {
        socket.close()
        return ConcordError(.protocolViolation, "unexpected Bolt response to \(what)", store: "graph")
    }

    /// RESET: back to a clean READY state after a FAILURE or an abandoned
    /// stream; reads and drops whatever was still on its way.
    func reset() throws {
        try send(.structure(tag: BoltMessage.reset, fields: []))
        // Responses to messages sent before the RESET (IGNORED, records, a
        // FAILURE) come first; RESET's own SUCCESS ends the exchange.
        while true {
            if case .success = try receive() {
                inTransaction = false
                return
            }
        }
    }

    /// Runs a query: RUN and PULL go out together; records are handed to
    /// `body` as they arrive, PULLing `fetchSize` at a time. Returns the
    /// summary metadata. On a FAILURE the connection is RESET and the server's
    /// error thrown; if `body` throws, the rest of the result is DISCARDed.
    func run(
        _ query: String, parameters: PackStreamValue, readOnly: Bool, fetchSize: Int,
        _ body: ([String], [PackStreamValue]) throws -> Void
    ) throws -> PackStreamValue {
        var extra: [(String, PackStreamValue?)] = []
        if !inTransaction {
            if let database { extra.append(("db", .string(database))) }
            if readOnly && honoursReadMode { extra.append(("mode", "r")) }
            if !bookmarks.isEmpty { extra.append(("bookmarks", .list(bookmarks.map { .string($0) }))) }
        }
        let pull = PackStreamValue.structure(tag: BoltMessage.pull, fields: [BoltMessage.map([("n", .int(Int64(fetchSize)))])])
        try send(.structure(tag: BoltMessage.run, fields: [.string(query), parameters, BoltMessage.map(extra)]), pull)
        var columns: [String] = []
        switch try receive() {
        case .success(let meta): columns = meta["fields"]?.list?.compactMap(\.string) ?? []
        case .failure(let f):
            try reset()  // also reads the IGNORED that answers the PULL
            throw f.error(query: query)
        default: throw unexpected("RUN")
        }
        var abandoned: Error?
        while true {
            switch try receive() {
            case .record(let values):
                guard abandoned == nil else { continue }  // the rest of this batch, dropped
                do { try body(columns, values) } catch { abandoned = error }
            case .success(let meta):
                if meta["has_more"]?.bool == true {
                    if let abandoned {
                        // DISCARD the remainder; unlike RESET it keeps a transaction open.
                        try simple(.structure(tag: BoltMessage.discard, fields: [BoltMessage.map([("n", .int(-1))])]), "DISCARD")
                        throw abandoned
                    }
                    try send(pull)
                    continue
                }
                if let abandoned { throw abandoned }
                if !inTransaction, let b = meta["bookmark"]?.string { lastBookmark = b }
                return meta
            case .failure(let f):
                try reset()
                throw f.error(query: query)
            case .ignored:
                try reset()
                throw ConcordError(.server, "the server ignored the query", store: "graph", query: query)
            }
        }
    }

    func begin(readOnly: Bool) throws {
        var extra: [(String, PackStreamValue?)] = []
        if let database { extra.append(("db", .string(database))) }
        if readOnly && honoursReadMode { extra.append(("mode", "r")) }
        if !bookmarks.isEmpty { extra.append(("bookmarks", .list(bookmarks.map { .string($0) }))) }
        try simple(.structure(tag: BoltMessage.begin, fields: [BoltMessage.map(extra)]), "BEGIN")
        inTransaction = true
    }

    func commit() throws {
        defer { inTransaction = false }
        let meta = try simple(.structure(tag: BoltMessage.commit, fields: []), "COMMIT")
        if let b = meta["bookmark"]?.string { lastBookmark = b }
    }

    /// ROUTE: the routing table for the database (`rt`: ttl, servers by role).
    func route(address: String, bookmarks: [String]) throws -> PackStreamValue {
        var extra: [(String, PackStreamValue?)] = []
        if let database { extra.append(("db", .string(database))) }
        let meta = try simple(.structure(tag: BoltMessage.route, fields: [
            BoltMessage.map([("address", .string(address))]), .list(bookmarks.map { .string($0) }), BoltMessage.map(extra),
        ]), "ROUTE")
        guard let rt = meta["rt"] else { throw ConcordError(.protocolViolation, "the ROUTE answer has no routing table", store: "graph") }
        return rt
    }

    func rollback() throws {
        guard inTransaction else { return }  // a RESET already ended it
        defer { inTransaction = false }
        try simple(.structure(tag: BoltMessage.rollback, fields: []), "ROLLBACK")
    }

    @discardableResult
    private func simple(_ message: PackStreamValue, _ name: String) throws -> PackStreamValue {
        try send(message)
        switch try receive() {
        case .success(let meta): return meta
        case .failure(let f):
            try reset()
            throw f.error(query: name)
        default: throw unexpected(name)
        }
    }

    func goodbye() {
        guard socket.isOpen else { return }
        try? send(.structure(tag: BoltMessage.goodbye, fields: []))
        socket.close()
    }
}
