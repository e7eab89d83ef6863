import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis
import Foundation
import NIOCore

/// A run's history for a client that joins: what it has not seen, up to the
/// point where its live part starts (`EventClient.joinedAfter`).
///
/// The Redis stream holds the newest events; the graph holds them all. When
/// the stream still starts with the run's first event (its parent is the run),
/// the stream is the whole history. When it has been trimmed, the events only
/// the graph holds come first — oldest first by their own timestamp, then id,
/// each with `id: graph:<event id>` — then the stream.
struct History: Sendable {
    let redis: Pool<RedisConnection>
    let graph: Pool<GraphStoreBox>
    let batch: Int

    /// Hands the history's messages to `send`, a page at a time.
    func replay(run: String, from resume: ResumePoint, through end: StreamID,
                send: ([ByteBuffer]) async throws -> Void) async throws {
        let key = RedisKeys.events(run)
        let head = try await redis.run { r in try RedisConnection.streamEntries(r.run("XRANGE", key, "-", "+", "COUNT", 1)).first }
        let firstId = head.flatMap { StreamID($0.id) }
        let complete = head.map { Self.parentId(of: $0.field("event") ?? []) == run } ?? false

        // Where the stream part starts, and whether the graph's part comes first.
        var streamAfter: StreamID?  // nil: from the stream's first entry
        var graphAfter: String??    // nil: no graph part; .some(nil): all of it; .some(id): after that event
        switch resume {
        case .start:
            graphAfter = complete ? nil : .some(nil)
        case .stream(let id):
            if complete || (firstId.map { id >= $0 } ?? false) || end == .zero && head == nil {
                streamAfter = id
            } else {
                // Older than the stream's first entry: what was trimmed in between can't be told apart
                // in the graph (it keeps no stream ids). Say so and start over.
                try await send([SSEMessage.notice(event: "reset", data: "{\"reason\":\"Last-Event-ID \(id) is older than the run's stream; the whole history follows\"}")])
                graphAfter = .some(nil)
            }
        case .graph(let eventId):
            graphAfter = .some(eventId)
        }

        if let after = graphAfter {
            // The stream's event ids (to leave out of the graph's part), read once and sent after.
            var entries: [RedisConnection.StreamEntry] = []
            if end != .zero {
                entries = try await redis.run { r in
                    var all: [RedisConnection.StreamEntry] = []
                    var from = "-"
                    while true {
                        let page = try RedisConnection.streamEntries(r.run("XRANGE", key, from, end.description, "COUNT", batch))
                        all += page
                        guard page.count == batch, let last = page.last else { break }
                        from = "(" + last.id
                    }
                    return all
                }
            }
            let inStream = Set(entries.compactMap { Self.eventId(of: $0.field("event") ?? []) })
            let events = try await graph.run { g in try Self.graphEvents(run: run, store: g.store) }
            var skipping = after != nil
            var page: [ByteBuffer] = []
            for e in events where !inStream.contains(e.id) {
                if skipping {
                    if e.id == after! { skipping = false }
                    continue
                }
                page.append(SSEMessage.event(id: SSEMessage.graphIdPrefix + e.id, json: e.json))
                if page.count == batch { try await send(page); page.removeAll() }
            }
            if skipping {
                // The id is not in the graph's part (any more): the client can't resume from it.
                try await send([SSEMessage.notice(event: "reset", data: "{\"reason\":\"Last-Event-ID is not an event of this run's graph history; the whole history follows\"}")])
                for e in events where !inStream.contains(e.id) {
                    page.append(SSEMessage.event(id: SSEMessage.graphIdPrefix + e.id, json: e.json))
                }
            }
            if !page.isEmpty { try await send(page) }
            for chunk in stride(from: 0, to: entries.count, by: batch) {
                try await send(entries[chunk..<min(chunk + batch, entries.count)].map { SSEMessage.event(id: $0.id, json: $0.field("event") ?? []) })
            }
            return
        }

        // The stream alone, a page at a time, after `streamAfter` up to and including `end`.
        guard end != .zero else { return }
        var from = streamAfter.map { "(" + $0.description } ?? "-"
        if let after = streamAfter, after >= end { return }
        while true {
            let page = try await redis.run { [from] r in try RedisConnection.streamEntries(r.run("XRANGE", key, from, end.description, "COUNT", batch)) }
            if !page.isEmpty { try await send(page.map { SSEMessage.event(id: $0.id, json: $0.field("event") ?? []) }) }
            guard page.count == batch, let last = page.last else { return }
            from = "(" + last.id
        }
    }

    struct GraphEvent: Sendable {
        var id: String
        var json: [UInt8]
    }

    /// The run's events in the graph, oldest first, rebuilt as event JSON (DATA-MODEL's shape).
    static func graphEvents(run: String, store: any GraphStore) throws -> [GraphEvent] {
        var out: [GraphEvent] = []
        try store.stream("""
            MATCH (n:Node) WHERE n.workflow_id = $run
            OPTIONAL MATCH (p)-[:PARENT_OF]->(n)
            RETURN n.id, n.type, n.timestamp, n.content, n.metadata, p.id
            ORDER BY n.timestamp, n.id
            """, parameters: ["run": .string(run)], readOnly: true, fetchSize: 1000) { r in
            guard case .string(let id) = r[0] else { return }
            var o: [String: JSON] = ["id": .string(id)]
            if case .string(let t) = r[1] { o["type"] = .string(t) }
            if case .int(let ts) = r[2] { o["timestamp"] = .int(ts) }
            if case .string(let c) = r[3] { o["payload"] = (try? JSON.parse(c)) ?? .string(c) }
            if case .string(let m) = r[4] { o["metadata"] = (try? JSON.parse(m)) ?? .string(m) }
            if case .string(let p) = r[5] { o["parentId"] = .string(p) }
            out.append(GraphEvent(id: id, json: Array(JSON.object(o).encoded().utf8)))
        }
        return out
    }

    static func parentId(of json: [UInt8]) -> String? { (try? JSON.parse(json))?["parentId"]?.stringValue }
    static func eventId(of json: [UInt8]) -> String? { (try? JSON.parse(json))?["id"]?.stringValue }
}

/// A graph connection as a pool's element (the store protocol is class-bound but not a concrete type).
public final class GraphStoreBox: Sendable {
    public let store: any GraphStore
    public init(_ store: any GraphStore) { self.store = store }
}
