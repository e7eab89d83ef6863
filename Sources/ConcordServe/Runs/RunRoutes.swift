import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordReports
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /runs/{id}` (the run across the three stores), `GET /healthz`, `GET /metrics`.
struct RunRoutes: Sendable {
    let stores: ServeStores
    let hubs: EventHubs
    let metrics: ServeMetrics
    let syncMetrics: (@Sendable () -> String)?

    func register(on router: Router<ServeContext>) {
        router.get("runs/:id") { _, context in
            let run = try RunID.parse(context)
            let view = try await runView(run)
            guard let view else { throw HTTPError(.notFound, message: "no store knows run \(run)") }
            return jsonResponse(view)
        }
        router.get("healthz") { _, _ in
            let checks = await health()
            let ok = checks.values.allSatisfy { $0 == "ok" }
            var body: [String: JSON] = ["status": .string(ok ? "ok" : "degraded")]
            body["stores"] = .object(checks.mapValues(JSON.string))
            return jsonResponse(.object(body), status: ok ? .ok : .serviceUnavailable)
        }
        router.get("metrics") { _, _ in
            metrics.set("sse_clients", Int64(hubs.connectedClients))
            metrics.set("sse_runs_streaming", Int64(hubs.activeRuns))
            var text = metrics.prometheus()
            if let syncMetrics { text += syncMetrics() }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    /// The run: its Redis status and stream length, its graph node and event count, its newest draft and draft counts.
    /// Nil when no store knows it.
    func runView(_ run: String) async throws -> JSON? {
        async let redisPart: (status: [String: String], length: Int64) = stores.redis.run { r in
            let status = try r.hgetall(RedisKeys.status(run))
            let length = try r.run("XLEN", RedisKeys.events(run)).int ?? 0
            return (status, length)
        }
        async let graphPart: (run: JSON?, events: Int64) = stores.graph.run { g in
            var runNode: JSON?
            try g.store.stream("MATCH (r:WorkflowRun) WHERE r.id = $id RETURN r.state, r.contentStatus, r.publishedAt, r.createdAt LIMIT 1",
                               parameters: ["id": .string(run)], readOnly: true, fetchSize: 10) { rec in
                runNode = .object(["state": Self.json(rec[0]), "contentStatus": Self.json(rec[1]), "publishedAt": Self.json(rec[2]), "createdAt": Self.json(rec[3])])
            }
            var events: Int64 = 0
            try g.store.stream("MATCH (n:Node) WHERE n.workflow_id = $id RETURN count(n)", parameters: ["id": .string(run)], readOnly: true, fetchSize: 10) { rec in
                if case .int(let n) = rec[0] { events = n }
            }
            return (runNode, events)
        }
        async let pgPart: (newest: JSON?, drafts: Int64, versions: Int64) = stores.postgres.run { pg in
            let newest = try pg.query("""
                SELECT d.id, d.content_type, d.status, d.content, d.updated_at,
                       (SELECT max(version) FROM draft_content_history h WHERE h.draft_id = d.id)
                FROM draft_content d WHERE d.workflow_run_id = $1 ORDER BY d.created_at DESC, d.id DESC LIMIT 1
                """, [run])
            let counts = try pg.query("""
                SELECT count(*), coalesce(sum((SELECT count(*) FROM draft_content_history h WHERE h.draft_id = d.id)), 0)
                FROM draft_content d WHERE d.workflow_run_id = $1
                """, [run])
            var draft: JSON?
            if newest.rowCount > 0 {
                let row = newest[0]
                draft = .object([
                    "id": .string(row.string(0) ?? ""), "contentType": .string(row.string(1) ?? ""), "status": .string(row.string(2) ?? ""),
                    "content": .string(row.string(3) ?? ""), "updatedAt": row.string(4).map(JSON.string) ?? .null,
                    "version": row.int(5).map(JSON.int) ?? .null,
                ])
            }
            return (draft, counts[0].int(0) ?? 0, counts[0].int(1) ?? 0)
        }
        let (r, g, p) = try await (redisPart, graphPart, pgPart)
        if r.status.isEmpty && r.length == 0 && g.run == nil && g.events == 0 && p.drafts == 0 { return nil }
        let status = r.status
        let state: JSON = status["state"].map(JSON.string) ?? g.run?["state"] ?? .null
        let contentStatus: JSON = status["contentStatus"].map(JSON.string) ?? g.run?["contentStatus"] ?? .null
        let redisView: JSON = .object(["status": .object(status.mapValues(JSON.string)), "streamEntries": .int(r.length)])
        let graphView: JSON = .object(["run": g.run ?? .null, "events": .int(g.events)])
        let pgView: JSON = .object(["drafts": .int(p.drafts), "draftVersions": .int(p.versions)])
        var view: [String: JSON] = ["run": .string(run), "state": state, "contentStatus": contentStatus]
        view["newestDraft"] = p.newest ?? .null
        view["redis"] = redisView
        view["graph"] = graphView
        view["postgres"] = pgView
        return .object(view)
    }

    static func json(_ v: GraphValue) -> JSON {
        switch v {
        case .string(let s): return .string(s)
        case .int(let n): return .int(n)
        case .double(let d): return .double(d)
        case .bool(let b): return .bool(b)
        default: return .null
        }
    }

    /// Each store answers a trivial read within its timeout: "ok", or why not.
    func health() async -> [String: String] {
        async let redis: String = check { try await stores.redis.run { r in _ = try r.run("PING") } }
        async let pg: String = check { try await stores.postgres.run { p in _ = try p.query("SELECT 1") } }
        async let graph: String = check { try await stores.graph.run { g in _ = try g.store.stream("RETURN 1", parameters: [:], readOnly: true, fetchSize: 1) { _ in } } }
        return await ["redis": redis, "postgres": pg, "graph": graph]
    }

    private func check(_ body: @Sendable () async throws -> Void) async -> String {
        do { try await body(); return "ok" } catch { return "\(error)" }
    }
}

func jsonResponse(_ value: JSON, status: HTTPResponse.Status = .ok) -> Response {
    Response(status: status, headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
             body: .init(byteBuffer: ByteBuffer(string: value.encodedPretty() + "\n")))
}
