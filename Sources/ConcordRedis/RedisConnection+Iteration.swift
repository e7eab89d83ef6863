import ConcordCore

/// Batched iteration over large keys and keyspaces, so no single reply holds
/// everything.
extension RedisConnection {
    /// Calls `body` with each batch of key names matching `pattern` (SCAN).
    public func scan(match pattern: String, count: Int = 1000, type: String? = nil, _ body: ([String]) throws -> Void) throws {
        var cursor = "0"
        repeat {
            var args: [any RedisArgument] = ["SCAN", cursor, "MATCH", pattern, "COUNT", count]
            if let type { args += ["TYPE", type] }
            let reply = try command(args)
            if let e = reply.errorMessage { throw serverError(e, args) }
            guard let parts = reply.array, parts.count == 2, let next = parts[0].string, let keys = parts[1].array else {
                throw ConcordError(.protocolViolation, "unexpected SCAN reply", store: "redis")
            }
            cursor = next
            let names = keys.compactMap { $0.string }
            if !names.isEmpty { try body(names) }
        } while cursor != "0"
    }

    /// Calls `body` with each batch of a list's elements (LRANGE in windows).
    /// Returns the number of elements read.
    @discardableResult
    public func lrange(_ key: String, batch: Int = 10_000, _ body: ([RedisReply]) throws -> Void) throws -> Int {
        var start = 0
        while true {
            let reply = try run("LRANGE", key, start, start + batch - 1)
            guard let items = reply.array else { throw ConcordError(.protocolViolation, "unexpected LRANGE reply", store: "redis") }
            if !items.isEmpty { try body(items) }
            start += items.count
            if items.count < batch { return start }
        }
    }

    /// A stream entry: its id and its field/value pairs.
    public struct StreamEntry: Sendable, Hashable {
        public var id: String
        public var fields: [(String, [UInt8])]
        public func field(_ name: String) -> [UInt8]? { fields.first(where: { $0.0 == name })?.1 }
        public static func == (a: StreamEntry, b: StreamEntry) -> Bool {
            a.id == b.id && a.fields.map(\.0) == b.fields.map(\.0) && a.fields.map(\.1) == b.fields.map(\.1)
        }
        public func hash(into h: inout Hasher) { h.combine(id) }
    }

    /// Calls `body` with each batch of a stream's entries (XRANGE with COUNT,
    /// continuing after the last id). Returns the number of entries read.
    @discardableResult
    public func xrange(_ key: String, batch: Int = 10_000, _ body: ([StreamEntry]) throws -> Void) throws -> Int {
        var start = "-"
        var total = 0
        while true {
            let reply = try run("XRANGE", key, start, "+", "COUNT", batch)
            let entries = try Self.parseStreamEntries(reply)
            if !entries.isEmpty { try body(entries) }
            total += entries.count
            if entries.count < batch { return total }
            start = "(" + entries.last!.id
        }
    }

    /// The entries of an `XRANGE` reply.
    public static func streamEntries(_ reply: RedisReply) throws -> [StreamEntry] { try parseStreamEntries(reply) }

    static func parseStreamEntries(_ reply: RedisReply) throws -> [StreamEntry] {
        guard let items = reply.array else { throw ConcordError(.protocolViolation, "unexpected XRANGE reply", store: "redis") }
        return try items.map { item in
            guard let pair = item.array, pair.count == 2, let id = pair[0].string, let kv = pair[1].array else {
                throw ConcordError(.protocolViolation, "unexpected stream entry", store: "redis")
            }
            var fields: [(String, [UInt8])] = []
            var i = 0
            while i + 1 < kv.count {
                fields.append((kv[i].string ?? "", kv[i + 1].bytes ?? []))
                i += 2
            }
            return StreamEntry(id: id, fields: fields)
        }
    }

    /// Calls `body` with each batch of a sorted set's members and scores, by rank.
    @discardableResult
    public func zrange(_ key: String, batch: Int = 10_000, _ body: ([(member: String, score: Double)]) throws -> Void) throws -> Int {
        var start = 0
        while true {
            let reply = try run("ZRANGE", key, start, start + batch - 1, "WITHSCORES")
            guard let flat = reply.array else { throw ConcordError(.protocolViolation, "unexpected ZRANGE reply", store: "redis") }
            var pairs: [(member: String, score: Double)] = []
            pairs.reserveCapacity(flat.count / 2)
            var i = 0
            while i + 1 < flat.count {
                pairs.append((flat[i].string ?? "", Double(flat[i + 1].string ?? "") ?? .nan))
                i += 2
            }
            if !pairs.isEmpty { try body(pairs) }
            start += pairs.count
            if pairs.count < batch { return start }
        }
    }

    /// A hash's fields and values.
    public func hgetall(_ key: String) throws -> [String: String] {
        try Self.parseHash(run("HGETALL", key))
    }

    /// Reads many hashes in one pipeline.
    public func hgetall(_ keys: [String]) throws -> [[String: String]] {
        try pipeline(keys.map { ["HGETALL", $0] }).map { try Self.parseHash($0) }
    }

    static func parseHash(_ reply: RedisReply) throws -> [String: String] {
        if let e = reply.errorMessage { throw ConcordError(.server, "Redis error: \(e)", store: "redis", query: "HGETALL") }
        guard let flat = reply.array else { throw ConcordError(.protocolViolation, "unexpected HGETALL reply", store: "redis") }
        var out: [String: String] = [:]
        var i = 0
        while i + 1 < flat.count {
            out[flat[i].string ?? ""] = flat[i + 1].string ?? ""
            i += 2
        }
        return out
    }
}
