import CHiredis
import ConcordCore
import ConcordNet
import Foundation

/// A connection to Redis (RESP2): plaintext through hiredis, TLS through
/// ConcordCrypto's sessions with hiredis's reply parser (`RedisWire`), one
/// server or the primary that Sentinel names.
///
/// Calls block; async code runs them through `Blocking.run`. Commands are sent
/// as argv arrays, so every argument is binary-safe. After the connection
/// drops, the failing call throws and the next call reconnects (with AUTH and
/// SELECT again; behind Sentinel, to whichever server is the primary then)
/// before it runs.
public final class RedisConnection: @unchecked Sendable {
    // @unchecked: `wire` and `server` are only touched under `lock`.
    private var wire: (any RedisWire)?
    private let lock = NSRecursiveLock()
    public let address: RedisAddress
    public let tls: RedisTLS
    public let connectTimeout: Double
    public let commandTimeout: Double
    /// How long a connection behind Sentinel keeps asking for the primary while a failover is under way.
    public let failoverTimeout: Double
    /// The logical database selected after connecting.
    public var database: Int { address.database }
    /// The server this connection talks to (for a Sentinel URL, the primary it found last).
    public var server: String { lock.withLock { currentServer } }
    private var currentServer = ""
    /// The sentinel that answered last is asked first next time.
    var sentinelOrder: [Int] = []

    /// Connects to `url` (see `RedisAddress`: `redis://`, `rediss://`, `redis+sentinel://`, `rediss+sentinel://`).
    public convenience init(url: String, tls: RedisTLS = RedisTLS(), connectTimeout: Double = 5, commandTimeout: Double = 60,
                            failoverTimeout: Double = 30) throws {
        try self.init(address: try RedisAddress(parsing: url), tls: tls, connectTimeout: connectTimeout, commandTimeout: commandTimeout,
                      failoverTimeout: failoverTimeout)
    }

    public init(address: RedisAddress, tls: RedisTLS = RedisTLS(), connectTimeout: Double = 5, commandTimeout: Double = 60,
                failoverTimeout: Double = 30) throws {
        self.address = address
        self.tls = tls
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.failoverTimeout = failoverTimeout
        if case .sentinel(let sentinels, _) = address.topology { sentinelOrder = Array(sentinels.indices) }
        try lock.withLock { try connect() }
    }

    deinit { wire?.close() }

    /// The TLS protocol of the current connection ("TLSv1.3"), nil in plaintext.
    public var tlsVersion: String? { lock.withLock { wire?.tlsVersion } }

    /// The URL, password masked.
    public var description: String { address.description }

    private func connect() throws {
        wire?.close()
        wire = nil
        switch address.topology {
        case .server(let host, let serverName, let port):
            try open(host: host, serverName: serverName, port: port)
        case .sentinel(_, let master):
            let deadline = Date().addingTimeInterval(failoverTimeout)
            var lastWhy = ""
            repeat {
                do {
                    let primary = try askSentinels()
                    try open(host: primary.host, serverName: primary.serverName, port: primary.port)
                    let role = try send(["ROLE"])
                    if case .array(let parts) = role, parts.first?.string == "master" { return }
                    // A user without +role cannot check; the sentinels' word is taken (docs: give +role).
                    if let e = role.errorMessage, Self.prefix(e) == "NOPERM" { return }
                    lastWhy = "\(primary.host):\(primary.port) answers as \(role.array?.first?.string ?? "?"), not as the primary (a failover is under way)"
                    wire?.close()
                    wire = nil
                } catch let e as ConcordError where e.code == .connection {
                    lastWhy = e.message
                }
                Thread.sleep(forTimeInterval: 0.2)
            } while Date() < deadline
            throw ConcordError(.connection, "no primary for '\(master)' reached within \(Int(failoverTimeout)) s through \(address): \(lastWhy)",
                               store: "redis")
        }
    }

    /// Opens the wire to one server and authenticates and selects the database on it.
    private func open(host: String, serverName: String, port: Int) throws {
        currentServer = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let name = "\(address.tls ? "rediss" : "redis")://\(currentServer)"
        do {
            if address.tls {
                let socket = try TCPSocket(host: host, port: port, connectTimeout: connectTimeout, ioTimeout: commandTimeout, store: "redis")
                try socket.startTLS(trust: tls.trust, serverName: serverName, identity: tls.identity, hints: RedisTLS.hints)
                wire = try StreamWire(socket: socket)
            } else {
                wire = try HiredisWire(host: host, port: port, connectTimeout: connectTimeout, commandTimeout: commandTimeout)
            }
        } catch let e as ConcordError where e.code == .connection && e.context["tls"] == nil {
            // The URL given, when it says more than the server (a Sentinel URL, the server it named).
            let given = address.description
            let shown = given == name || given.hasPrefix(name + "/") ? name : "\(name) (\(given))"
            throw ConcordError(.connection, "cannot connect to \(shown): \(e.message). Is the server running (make services)?", store: "redis")
        }
        do {
            try handshake()
        } catch let e as ConcordError where e.code == .connection && !address.tls {
            // A TLS-only port closes a plaintext client at its first command.
            throw ConcordError(.connection, "\(name) dropped the connection at the first command: is it a TLS port? then use rediss://",
                               store: "redis", underlying: e)
        }
    }

    /// AUTH (with the ACL user when there is one) and SELECT; a PING when neither is needed, so a dead or TLS-only port shows now.
    private func handshake() throws {
        if let password = address.password {
            let args = address.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            let reply = try send(args)
            if let e = reply.errorMessage {
                wire?.close(); wire = nil
                let who = address.user.map { "as user '\($0)'" } ?? "with the default user"
                throw ConcordError(.authentication, "authentication failed for \(address) \(who) on \(currentServer): \(e)", store: "redis",
                                   serverCode: Self.prefix(e), query: "AUTH")
            }
        }
        if database != 0 {
            let reply = try send(["SELECT", database])
            if let e = reply.errorMessage {
                wire?.close(); wire = nil
                throw serverError(e, ["SELECT"], what: "cannot select database \(database) on \(address)")
            }
        } else if address.password == nil {
            if let e = try send(["PING"]).errorMessage, Self.prefix(e) == "NOAUTH" { throw serverError(e, ["PING"]) }
        }
    }

    // MARK: Commands

    /// Runs one command. An error reply is returned as `.error`, not thrown;
    /// use `run` to throw on error replies.
    public func command(_ args: [any RedisArgument]) throws -> RedisReply {
        try lock.withLock {
            try ensureConnected()
            return try send(args)
        }
    }

    /// Runs one command and throws when the server answers with an error.
    @discardableResult
    public func run(_ args: any RedisArgument...) throws -> RedisReply {
        let reply = try command(args)
        if let e = reply.errorMessage { throw serverError(e, args) }
        return reply
    }

    /// Sends all `commands` before reading any reply (pipelining) and returns
    /// the replies in order (error replies as `.error`, but a `NOPERM` throws).
    /// Large pipelines go out in chunks.
    public func pipeline(_ commands: [[any RedisArgument]], chunkSize: Int = 5000) throws -> [RedisReply] {
        try lock.withLock {
            try ensureConnected()
            var replies: [RedisReply] = []
            replies.reserveCapacity(commands.count)
            var start = 0
            while start < commands.count {
                let end = min(start + chunkSize, commands.count)
                for i in start..<end { try append(commands[i]) }
                for _ in start..<end { replies.append(try readReply(name: "pipeline")) }
                start = end
            }
            // Error replies come back as values (a missing stream's XINFO is an answer), except a refused
            // permission: reading on as if the key were empty would turn an ACL into false findings.
            if let i = replies.firstIndex(where: { if case .error(let e) = $0 { return Self.prefix(e) == "NOPERM" }; return false }),
               case .error(let e) = replies[i] {
                throw serverError(e, commands[i])
            }
            return replies
        }
    }

    /// Runs `commands` in `MULTI`/`EXEC` after `WATCH`ing `keys`.
    ///
    /// `check` runs after `WATCH` and before `MULTI`, so it can read the
    /// watched keys and decide; returning false aborts with `nil` (UNWATCH).
    /// Returns the `EXEC` replies, or nil when a watched key changed and Redis
    /// aborted the transaction.
    public func transaction(
        watch keys: [String] = [], check: (() throws -> Bool)? = nil, _ commands: [[any RedisArgument]]
    ) throws -> [RedisReply]? {
        try transaction(watch: keys) { () throws -> [[any RedisArgument]]? in
            if let check, try !check() { return nil }
            return commands
        }
    }

    /// `WATCH`es `keys`, then `build` reads them and returns the commands to
    /// run in `MULTI`/`EXEC` (nil aborts with UNWATCH and returns nil). Returns
    /// the `EXEC` replies, or nil when aborted or a watched key changed.
    public func transaction(watch keys: [String], build: () throws -> [[any RedisArgument]]?) throws -> [RedisReply]? {
        try lock.withLock {
            if !keys.isEmpty { try run(["WATCH"] + keys) }
            guard let commands = try build(), !commands.isEmpty else {
                try run("UNWATCH")
                return nil
            }
            var all: [[any RedisArgument]] = [["MULTI"]]
            all += commands
            all.append(["EXEC"])
            let replies = try pipeline(all)
            switch replies.last! {
            case .null: return nil
            case .array(let results): return results
            case .error(let e):
                // A command rejected while queuing makes EXEC fail with EXECABORT; name the first.
                let queued = replies.dropFirst().dropLast()
                if let i = queued.firstIndex(where: { $0.errorMessage != nil }), let cause = replies[i].errorMessage {
                    throw serverError(cause, commands[i - 1], what: "transaction rejected")
                }
                throw serverError(e, ["EXEC"])
            default: throw ConcordError(.protocolViolation, "unexpected EXEC reply", store: "redis")
            }
        }
    }

    private func run(_ args: [any RedisArgument]) throws {
        let reply = try command(args)
        if let e = reply.errorMessage { throw serverError(e, args) }
    }

    // MARK: Wire

    private func ensureConnected() throws {
        if wire == nil || wire!.failure != nil { try connect() }
    }

    private func send(_ args: [any RedisArgument]) throws -> RedisReply {
        try append(args)
        return try readReply(name: Self.name(args))
    }

    /// Queues one command.
    private func append(_ args: [any RedisArgument]) throws {
        guard let w = wire else { throw ConcordError(.connection, "not connected to \(address)", store: "redis") }
        do { try w.append(args) } catch let e as ConcordError { throw ioError(Self.name(args), e) }
    }

    private func readReply(name: String) throws -> RedisReply {
        guard let w = wire else { throw ConcordError(.connection, "not connected to \(address)", store: "redis") }
        let reply: RedisReply
        do { reply = try w.readReply() } catch let e as ConcordError { throw ioError(name, e) }
        if case .error(let message) = reply, isFailover(message) { throw failoverError(message, name) }
        return reply
    }

    /// Behind Sentinel, a server that stopped being the primary (READONLY), is loading its data after a
    /// restart (LOADING) or lost its primary (MASTERDOWN) means a failover: the connection is dropped and
    /// the error is a connection error, so a caller that retries finds the new primary.
    private var isSentinel: Bool { if case .sentinel = address.topology { return true }; return false }

    private func isFailover(_ message: String) -> Bool {
        guard case .sentinel = address.topology else { return false }
        return ["READONLY", "LOADING", "MASTERDOWN"].contains(Self.prefix(message))
    }

    private func failoverError(_ message: String, _ name: String) -> ConcordError {
        wire?.close()
        wire = nil
        return ConcordError(.connection, "\(currentServer) refused \(name) during a failover (\(message)); the next call asks the sentinels for the primary",
                            store: "redis", serverCode: Self.prefix(message), query: name)
    }

    private func ioError(_ name: String, _ cause: ConcordError) -> ConcordError {
        if cause.code != .connection { return cause }
        let reason = wire?.failure ?? cause.message
        // The connection is unusable now; the next call reconnects.
        wire?.close()
        wire = nil
        let timedOut = reason.lowercased().contains("timed out") || reason.contains("Resource temporarily unavailable")
        return ConcordError(
            .connection,
            timedOut ? "command \(name) timed out after \(commandTimeout)s on \(address) (\(currentServer))"
                : "connection to \(address) (\(currentServer)) lost during \(name): \(reason)"
                    + (isSentinel ? " (a failover? the sentinels are asked again on the next attempt)" : ""),
            store: "redis", query: name)
    }

    /// A server's error reply to `args` as an error: a refused permission or missing authentication named as such.
    public func serverError(_ message: String, _ args: [any RedisArgument], what: String? = nil) -> ConcordError {
        let code = Self.prefix(message)
        let name = Self.name(args)
        switch code {
        case "NOAUTH":
            return ConcordError(.authentication, "\(address) requires authentication: put user:password in the URL (\(message))", store: "redis",
                                serverCode: code, query: name)
        case _ where code == "NOPERM" || (code == "EXECABORT" && message.contains("NOPERM")):
            let who = address.user.map { "user '\($0)'" } ?? "the default user"
            return ConcordError(.permission, "\(who) may not run \(name) on \(address): \(message) (docs/operations.md lists the permissions each command needs)",
                                store: "redis", serverCode: code, query: name)
        default:
            return ConcordError(.server, "\(what.map { "\($0): " } ?? "Redis error: ")\(message)", store: "redis", serverCode: code, query: name)
        }
    }

    static func prefix(_ message: String) -> String { String(message.prefix(while: { $0 != " " })) }

    /// The command name (with a subcommand for two-word commands), never argument values.
    static func name(_ args: [any RedisArgument]) -> String {
        guard let first = args.first else { return "" }
        var b: [UInt8] = []
        first.appendRedisBytes(to: &b)
        return String(decoding: b, as: UTF8.self).uppercased()
    }
}
