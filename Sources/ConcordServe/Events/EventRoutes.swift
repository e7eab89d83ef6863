import ConcordCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// `GET /runs/{id}/events`: the run's events as Server-Sent Events — its
/// history, then live — resumable with `Last-Event-ID`.
struct EventRoutes: Sendable {
    let hubs: EventHubs
    let history: History
    let metrics: ServeMetrics

    func register(on router: Router<ServeContext>) {
        router.get("runs/:id/events") { request, context in try await stream(request, context) }
    }

    func stream(_ request: Request, _ context: ServeContext) async throws -> Response {
        let run = try RunID.parse(context)
        // The header a reconnecting EventSource sends; `?lastEventId=` for clients that can't set headers.
        let header = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.uri.queryParameters["lastEventId"].map(String.init)
        guard let resume = ResumePoint(lastEventId: header) else {
            throw HTTPError(.badRequest, message: "Last-Event-ID must be a stream id (ms-seq) or graph:<event id>")
        }
        // `?live=false`: the history only, then `event: end` and the response ends (replays, exports, load tests).
        let live = !["false", "0", "no"].contains(request.uri.queryParameters["live"].map { String($0).lowercased() } ?? "")
        let channel = context.channel
        let client: EventClient
        do {
            client = try await Blocking.run { [hubs] in try hubs.join(run: run) { channel.close(promise: nil) } }
        } catch EventHubs.JoinError.full(let n) {
            return Response(status: .serviceUnavailable, headers: [.retryAfter: "5", .contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "at the limit of \(n) event-stream clients; retry later\n")))
        } catch EventHubs.JoinError.shuttingDown {
            return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "shutting down\n")))
        }
        let headers: HTTPFields = [
            .contentType: "text/event-stream; charset=utf-8",
            .cacheControl: "no-cache",
            HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        let hubs = self.hubs, history = self.history, metrics = self.metrics
        let logger = context.logger
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var reason = ClientEnd.gone
            defer { hubs.leave(client, reason: reason) }
            do {
                // A client that closes its side ends its stream at once, not at the next write that fails.
                try await request.body.consumeWithInboundCloseHandler({ _ in
                    try await writer.write(SSEMessage.comment("run \(run): history then live; resume with Last-Event-ID"))
                    try await history.replay(run: run, from: resume, through: client.joinedAfter) { page in
                        try await writer.write(contentsOf: page)
                        metrics.count("sse_history_events", Int64(page.count))
                        metrics.count("sse_events_sent", Int64(page.count))
                    }
                    if !live {
                        reason = .gone
                        try await writer.write(SSEMessage.notice(event: "end", data: "{\"reason\":\"history only (live=false)\"}"))
                        return
                    }
                    while true {
                        switch await client.next() {
                        case .messages(let batch):
                            try await writer.write(contentsOf: batch)
                            metrics.count("sse_events_sent", Int64(batch.count))
                        case .end(let why):
                            reason = why
                            if why == .shutdown {
                                try? await writer.write(SSEMessage.notice(event: "end", data: "{\"reason\":\"server shutting down\"}"))
                            }
                            return
                        }
                    }
                }, onInboundClosed: { client.end(.gone) })
                try await writer.finish(nil)
            } catch {
                reason = client.endReason ?? .gone
                if reason == .tooSlow {
                    logger.notice("dropped a slow event-stream client of run \(run): its queue passed \(hubs.options.clientQueueLimit) bytes")
                }
                throw error
            }
        })
    }
}

/// The `{id}` of a run route: percent-decoded, non-empty, at most 512 bytes.
enum RunID {
    static func parse(_ context: ServeContext) throws -> String {
        guard let raw = context.parameters.get("id"), let id = raw.removingPercentEncoding, !id.isEmpty, id.utf8.count <= 512 else {
            throw HTTPError(.badRequest, message: "a run id is 1 to 512 bytes")
        }
        return id
    }
}
