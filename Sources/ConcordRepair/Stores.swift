import ConcordCore
import ConcordCrypto
import ConcordGitHub
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation

/// The three stores, and the point reads the planner and the applier share.
public final class RepairStores: @unchecked Sendable {
    public let postgres: PostgresConnection
    public let redis: RedisConnection
    public let graph: any GraphStore
    /// GitHub, for the publication repairs (nil: not configured; those repairs become manual steps).
    public var github: GitHubClient?
    private var streams: [String: [(entry: String, raw: String, event: JSON?)]] = [:]

    public init(postgres: PostgresConnection, redis: RedisConnection, graph: any GraphStore) {
        self.postgres = postgres
        self.redis = redis
        self.graph = graph
    }

    /// A run's stream, read once per planner.
    func stream(_ run: String) throws -> [(entry: String, raw: String, event: JSON?)] {
        if let s = streams[run] { return s }
        var out: [(entry: String, raw: String, event: JSON?)] = []
        try redis.xrange(RedisKeys.events(run)) { batch in
            for e in batch {
                let raw = String(decoding: e.field("event") ?? [], as: UTF8.self)
                out.append((e.id, raw, try? JSON.parse(raw)))
            }
        }
        streams[run] = out
        return out
    }

    /// The event with `id` in its run's stream (valid events only).
    func streamEvent(run: String?, id: String) throws -> Event? {
        guard let run else { return nil }
        for e in try stream(run) where e.event?["id"]?.stringValue == id {
            if let j = e.event, let ev = try? Event(validating: j) { return ev }
        }
        return nil
    }

    /// The :Node copies with `id` (placeholders excluded): internal id and fields.
    func nodes(_ id: String) throws -> [(internalId: Int64, fields: JSON)] {
        try graph.run("""
            MATCH (n:Node {id: $id}) WHERE size(labels(n)) > 0 AND n.placeholder IS NULL
            RETURN id(n) AS k, n.type, n.workflow_id, n.timestamp, n.content, n.persisted_at ORDER BY k
            """, parameters: ["id": .string(id)], readOnly: true).records.map { r in
            (r[0].intValue ?? -1, ["type": r[1].json, "workflow_id": r[2].json, "timestamp": r[3].json, "content": r[4].json, "persisted_at": r[5].json])
        }
    }

    /// The ids of the parents of the :Node(s) with `id`, sorted, without repeats.
    func parents(_ id: String) throws -> [String] {
        Set(try graph.run("MATCH (p)-[:PARENT_OF]->(n:Node {id: $id}) RETURN p.id", parameters: ["id": .string(id)], readOnly: true)
            .records.compactMap { $0[0].stringValue }).sorted()
    }

    /// A :WorkflowRun's fields, or nil.
    func run(_ id: String) throws -> JSON? {
        try graph.run("""
            MATCH (r:WorkflowRun {id: $id}) WHERE size(labels(r)) > 0 RETURN r.state, r.contentStatus, r.publishedAt, r.createdAt LIMIT 1
            """, parameters: ["id": .string(id)], readOnly: true).records.first.map { r in
            ["state": r[0].json, "contentStatus": r[1].json, "publishedAt": r[2].json, "createdAt": r[3].json]
        }
    }

    func confirmedScore(_ id: String) throws -> Int64? {
        try redis.run("ZSCORE", RedisKeys.confirmed, id).string.flatMap { Double($0) }.map { Int64($0) }
    }

    func status(_ run: String) throws -> [String: String] { try redis.hgetall(RedisKeys.status(run)) }

    /// The run's newest draft: (id, status, updated_at ms), or nil.
    func newestDraft(_ run: String) throws -> (id: String, status: String, updatedAt: Int64)? {
        let r = try postgres.query("""
            SELECT id, status, updated_at FROM draft_content WHERE workflow_run_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1
            """, [run])
        guard r.rowCount == 1 else { return nil }
        return (r[0].string(0)!, r[0].string(1)!, r[0].timestamp(2) ?? 0)
    }

    /// The newest published draft of the run: (id, updated_at ms), or nil.
    func newestPublished(_ run: String) throws -> (id: String, updatedAt: Int64)? {
        let r = try postgres.query("""
            SELECT id, updated_at FROM draft_content WHERE workflow_run_id = $1 AND status = 'published' ORDER BY updated_at DESC, id DESC LIMIT 1
            """, [run])
        guard r.rowCount == 1 else { return nil }
        return (r[0].string(0)!, r[0].timestamp(1) ?? 0)
    }

    /// Entries of a Redis list (raw text).
    func list(_ key: String) throws -> [String] {
        var out: [String] = []
        try redis.lrange(key) { out += $0.map { String(decoding: $0.bytes ?? [], as: UTF8.self) } }
        return out
    }

    /// A digest of a node's compared fields (the payload-mismatch precondition).
    static func nodeDigest(_ fields: JSON) -> String {
        SHA256.hex(JSON.object(["type": fields["type"] ?? .null, "workflow_id": fields["workflow_id"] ?? .null,
                                "timestamp": fields["timestamp"] ?? .null, "content": fields["content"] ?? .null]).encoded())
    }

    /// The `id` of a raw queue entry, if it is a JSON object with one.
    public static func eventId(_ raw: String) -> String? { (try? JSON.parse(raw))?["id"]?.stringValue }
}
