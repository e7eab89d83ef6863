import ConcordCore
import ConcordFlow
import ConcordJSON
import ConcordModel
import ConcordRedis
import Foundation

/// Events as other producers write them — JSON with spaces and newlines, other key orders, `\u` escapes,
/// floats written as `1.0`/`1e3`, extra fields, big payloads — straight into the stores, not through
/// Concord's write paths.
public enum ForeignProducer {
    /// One event as text, in one of four producers' styles.
    public static func text(id: String, run: String, parent: String, ts: String, type: String, style: Int) -> String {
        switch style % 4 {
        case 0:  // keys reversed, spaces around colons, \u escapes, floats, an extra field
            return #"{ "metadata" : { "version" : "1", "source" : "agent", "userId" : "u_\u00e9", "workflowId" : "\#(run)" }, "payload" : { "text" : "caf\u00e9 \ud83d\ude00 \"quoted\"", "score" : 1.0, "limit" : 1e3 }, "parentId" : "\#(parent)", "type" : "\#(type)", "timestamp" : \#(ts), "id" : "\#(id)", "trace" : { "span" : [1, 2, 3] } }"#
        case 1:  // pretty-printed with tabs and CRLF
            return "{\r\n\t\"id\": \"\(id)\",\r\n\t\"type\": \"\(type)\",\r\n\t\"timestamp\": \(ts),\r\n\t\"parentId\": \"\(parent)\",\r\n\t\"payload\": {\"list\": [1.50, -0.0, null, true], \"nested\": {\"b\": 2, \"a\": 1}},\r\n\t\"metadata\": {\"workflowId\": \"\(run)\", \"userId\": \"u_1\", \"source\": \"ui\", \"version\": \"2\", \"region\": \"eu\"}\r\n}"
        case 2:  // compact, escaped slashes, a 40 KB payload
            let big = String(repeating: "ü/ß\\\\n", count: 8_000)
            return #"{"timestamp":\#(ts),"id":"\#(id)","parentId":"\#(parent)","type":"\#(type)","metadata":{"userId":"u_2","workflowId":"\#(run)","version":"1","source":"batch"},"payload":{"url":"https:\/\/example.com\/a","blob":"\#(big)"}}"#
        default:  // what Concord itself writes
            return JSON.object(["id": .string(id), "timestamp": .int(Int64(ts) ?? 0), "type": .string(type), "parentId": .string(parent),
                                "payload": ["n": 1], "metadata": ["workflowId": .string(run), "userId": "u_3", "source": "agent", "version": "1"]]).encoded()
        }
    }

    public static let types = ["workflowStarted", "toolCall", "llmResponse", "toolCallResult", "workflowCompleted"]

    /// Writes `runs` runs of five events each as a producer would (stream, queue, status), and syncs them.
    public static func produce(_ f: AuditFixture, runs: [String], base: Int64) throws -> [String: [(id: String, text: String)]] {
        var out: [String: [(id: String, text: String)]] = [:]
        for (r, run) in runs.enumerated() {
            var parent = run
            for i in 0..<5 {
                let id = "\(run)_e\(i)"
                let t = text(id: id, run: run, parent: parent, ts: "\(base + Int64(r * 100 + i))", type: types[i], style: r + i)
                try f.redis.run("XADD", RedisKeys.events(run), "*", "event", t)
                try f.redis.run("RPUSH", RedisKeys.queue, t)
                out[run, default: []].append((id, t))
                parent = id
            }
            try f.redis.run("HSET", RedisKeys.status(run), "state", "completed", "contentStatus", "none", "updatedAt", "\(base)")
        }
        _ = try SyncEngine(redis: f.redis, graph: f.graph, postgres: f.postgres).drain()
        return out
    }

    public static func list(_ redis: RedisConnection, _ key: String) throws -> [String] {
        (try redis.run("LRANGE", key, 0, -1).array ?? []).map { String(decoding: $0.bytes ?? [], as: UTF8.self) }
    }

}
