import ConcordGraph
import ConcordJSON
import ConcordPostgres
import ConcordRedis
import Foundation

/// Everything a fixture's three stores hold, as sorted lines of canonical
/// text: every Redis key with its type and content, every graph node
/// (labels, properties) and relationship (type, ends by label and id,
/// properties), every row of the workflow's PostgreSQL tables. Internal ids
/// are left out, so a record deleted and written back compares equal.
public struct StoreDump: Equatable, Sendable {
    public var lines: [String]

    /// Lists compared as multisets (none: an undo puts every element back where it was).
    public static let unordered: Set<String> = []

    public init(lines: [String]) { self.lines = lines }

    public init(_ f: AuditFixture, skipping skip: Set<String> = []) throws {
        var out: [String] = []
        var keys: [String] = []
        try f.redis.scan(match: "*") { keys += $0 }
        for key in Set(keys).subtracting(skip).sorted() {
            let type = try f.redis.run("TYPE", key).string ?? "?"
            var body: JSON
            switch type {
            case "string": body = .string(try f.redis.run("GET", key).string ?? "")
            case "hash": body = .object(try f.redis.hgetall(key).mapValues(JSON.string))
            case "list":
                let items = (try f.redis.run("LRANGE", key, "0", "-1").array ?? []).map { JSON.string($0.string ?? "") }
                body = .array(Self.unordered.contains(key) ? items.sorted { $0.encoded() < $1.encoded() } : items)
            case "set": body = .array((try f.redis.run("SMEMBERS", key).array ?? []).compactMap(\.string).sorted().map(JSON.string))
            case "zset": body = .array((try f.redis.run("ZRANGE", key, "0", "-1", "WITHSCORES").array ?? []).compactMap(\.string).map(JSON.string))
            case "stream":
                body = .array(try RedisConnection.streamEntries(try f.redis.run("XRANGE", key, "-", "+")).map { e in
                    .array([.string(e.id)] + e.fields.map { [.string($0.0), .string(String(decoding: $0.1, as: UTF8.self))] })
                })
            default: body = .null
            }
            out.append("redis \(key) \(type) \(body.encoded())")
        }
        for r in try f.graph.run("MATCH (n) RETURN labels(n), properties(n)", readOnly: true).records {
            out.append("node \(r[0].json.encoded()) \(r[1].json.encoded())")
        }
        for r in try f.graph.run("MATCH (a)-[r]->(b) RETURN type(r), labels(a)[0], a.id, labels(b)[0], b.id, properties(r)", readOnly: true).records {
            out.append("edge \(JSON.array((0..<6).map { r[$0].json }).encoded())")
        }
        for table in ["draft_content", "draft_content_history", "user_preferences"] {
            let rows = try f.postgres.query("SELECT row_to_json(t)::text FROM \(table) t")
            for i in 0..<rows.rowCount { out.append("postgres \(table) \(rows[i].string(0) ?? "")") }
        }
        lines = out.sorted()
    }

    /// The lines only one side has, for a readable failure.
    public func difference(_ other: StoreDump) -> (gone: [String], new: [String]) {
        var counts: [String: Int] = [:]
        for l in lines { counts[l, default: 0] += 1 }
        for l in other.lines { counts[l, default: 0] -= 1 }
        return (counts.filter { $0.value > 0 }.map(\.key).sorted(), counts.filter { $0.value < 0 }.map(\.key).sorted())
    }
}
