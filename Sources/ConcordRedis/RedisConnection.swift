import CHiredis
import ConcordCore
import Foundation

/// A connection to Redis through hiredis (RESP2).
///
/// Calls block; async code runs them through `Blocking.run`. Commands are sent
/// as argv arrays, so every argument is binary-safe. After the connection
/// drops, the failing call throws and the next call reconnects (with AUTH and
/// SELECT again) before it runs.
public final class RedisConnection: @unchecked Sendable {
    // @unchecked: `context` is only touched under `lock`.
    private var context: UnsafeMutablePointer<redisContext>?
    private let lock = NSRecursiveLock()
    public let endpoint: Endpoint
    public let connectTimeout: Double
    public let commandTimeout: Double
    /// The logical database selected after connecting.
    public let database: Int

    /// Connects to `redis://[user:password@]host:port[/db]`.
    public init(url: String, connectTimeout: Double = 5, commandTimeout: Double = 60) throws {
        endpoint = try Endpoint(parsing: url, defaultPorts: ["redis": 6379, "falkordb": 6379])
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        let db = endpoint.path.split(separator: "/").first.map(String.init) ?? ""
        if endpoint.scheme == "redis", !db.isEmpty {
            guard let n = Int(db), n >= 0 else {
                throw ConcordError(.usage, "bad database number '\(db)' in \(endpoint)", store: "redis")
            }
            database = n
        } else {
            database = 0
        }
        try lock.withLock { try connect() }
    }

    deinit { if let context { redisFree(context) } }

    private func connect() throws {
        if let context { redisFree(context); self.context = nil }
        let c = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), timeval(connectTimeout))
        guard let c else { throw ConcordError(.connection, "out of memory connecting to \(endpoint)", store: "redis") }
        if c.pointee.err != 0 {
            let reason = Self.errorString(c)
            redisFree(c)
            throw ConcordError(.connection, "cannot connect to \(endpoint): \(reason). Is the server running (make services)?",
                               store: "redis")
        }
        redisSetTimeout(c, timeval(commandTimeout))
        context = c
        if let password = endpoint.password {
            let args = endpoint.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]
            let reply = try send(args)
            if let e = reply.errorMessage {
                redisFree(c); context = nil
                throw ConcordError(.authentication, "authentication failed for \(endpoint): \(e)", store: "redis")
            }
        }
        if database != 0 {
            let reply = try send(["SELECT", database])
            if let e = reply.errorMessage {
                redisFree(c); context = nil
                throw ConcordError(.server, "cannot select database \(database) on \(endpoint): \(e)", store: "redis")
            }
        }
    }

    private static func errorString(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: &c.pointee.errstr) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    private func timeval(_ seconds: Double) -> Glibc.timeval {
        Glibc.timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
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
    /// the replies in order. Large pipelines go out in chunks.
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
                    throw ConcordError(.server, "transaction rejected: \(cause)", store: "redis",
                                       serverCode: Self.prefix(cause), query: Self.name(commands[i - 1]))
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
        if context == nil || context!.pointee.err != 0 { try connect() }
    }

    private func send(_ args: [any RedisArgument]) throws -> RedisReply {
        try append(args)
        return try readReply(name: Self.name(args))
    }

    /// Queues one command in hiredis's output buffer.
    private func append(_ args: [any RedisArgument]) throws {
        guard let c = context else { throw ConcordError(.connection, "not connected to \(endpoint)", store: "redis") }
        // All arguments go into one contiguous buffer, so one borrow covers them.
        var flat: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(args.count)
        lengths.reserveCapacity(args.count)
        for a in args {
            let start = flat.count
            a.appendRedisBytes(to: &flat)
            offsets.append(start)
            lengths.append(flat.count - start)
        }
        flat.append(0)
        let status = flat.withUnsafeBufferPointer { buf -> Int32 in
            let base = UnsafeRawPointer(buf.baseAddress!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return pointers.withUnsafeMutableBufferPointer { p in
                lengths.withUnsafeBufferPointer { l in
                    redisAppendCommandArgv(c, Int32(args.count), p.baseAddress, l.baseAddress)
                }
            }
        }
        if status != concord_redis_ok() { throw ioError(Self.name(args)) }
    }

    private func readReply(name: String) throws -> RedisReply {
        guard let c = context else { throw ConcordError(.connection, "not connected to \(endpoint)", store: "redis") }
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(c, &raw) == concord_redis_ok(), let raw else { throw ioError(name) }
        defer { freeReplyObject(raw) }
        return Self.convert(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func ioError(_ name: String) -> ConcordError {
        let reason = context.map { Self.errorString($0) } ?? "not connected"
        // The connection is unusable now; the next call reconnects.
        if let c = context { redisFree(c); context = nil }
        let timedOut = reason.lowercased().contains("timed out") || reason.contains("Resource temporarily unavailable")
        return ConcordError(
            .connection,
            timedOut ? "command \(name) timed out after \(commandTimeout)s on \(endpoint)"
                : "connection to \(endpoint) lost during \(name): \(reason); the next call reconnects",
            store: "redis", query: name)
    }

    static func convert(_ r: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let type = r.pointee.type
        if type == concord_redis_reply_integer() { return .integer(r.pointee.integer) }
        if type == concord_redis_reply_nil() { return .null }
        if type == concord_redis_reply_string() {
            guard let str = r.pointee.str else { return .bulk([]) }
            return .bulk(Array(UnsafeRawBufferPointer(start: str, count: r.pointee.len)))
        }
        if type == concord_redis_reply_status() || type == concord_redis_reply_error() {
            let s = r.pointee.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: r.pointee.len), as: UTF8.self) } ?? ""
            return type == concord_redis_reply_status() ? .status(s) : .error(s)
        }
        if type == concord_redis_reply_array() {
            var out: [RedisReply] = []
            out.reserveCapacity(r.pointee.elements)
            for i in 0..<r.pointee.elements { out.append(convert(r.pointee.element[i]!)) }
            return .array(out)
        }
        return .null
    }

    func serverError(_ message: String, _ args: [any RedisArgument]) -> ConcordError {
        ConcordError(.server, "Redis error: \(message)", store: "redis", serverCode: Self.prefix(message), query: Self.name(args))
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
