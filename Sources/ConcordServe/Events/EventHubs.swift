import ConcordCore
import ConcordRedis
import Foundation
import Logging
import NIOCore

/// Limits and timings of the event stream.
public struct EventStreamOptions: Sendable {
    /// Most SSE clients connected at once; more are answered 503.
    public var maxClients = 1_000
    /// Bytes a client may have waiting before it is dropped as too slow.
    public var clientQueueLimit = 8 << 20
    /// Seconds between heartbeat comments.
    public var heartbeat: Double = 15
    /// How long one `XREAD` blocks (a hub notices it has no clients within this).
    public var blockMilliseconds = 1_000
    /// Entries per `XREAD` / `XRANGE` page.
    public var readBatch = 1_000

    public init() {}
}

/// Every run's hub and every connected client: joining (with the connection
/// cap), leaving, heartbeats, and ending all streams on shutdown.
public final class EventHubs: @unchecked Sendable {
    // @unchecked: `hubs`, `clientCount` and `closing` are used under `lock`.
    private let lock = NSLock()
    private var hubs: [String: RunHub] = [:]
    private var allClients: [ObjectIdentifier: EventClient] = [:]
    private var closing = false
    let options: EventStreamOptions
    let metrics: ServeMetrics
    private let makeRedis: @Sendable () throws -> RedisConnection
    private let logger: Logger

    public enum JoinError: Error, Sendable {
        case full(Int)
        case shuttingDown
    }

    public init(options: EventStreamOptions, metrics: ServeMetrics, logger: Logger, makeRedis: @escaping @Sendable () throws -> RedisConnection) {
        self.options = options
        self.metrics = metrics
        self.logger = logger
        self.makeRedis = makeRedis
        let ticker = Thread { [weak self] in
            while let self, !self.lock.withLock({ self.closing }) {
                Thread.sleep(forTimeInterval: self.options.heartbeat)
                self.heartbeat()
            }
        }
        ticker.name = "concord-serve-heartbeat"
        ticker.start()
    }

    /// Connects a client to `run`'s live stream (blocking: may start the run's hub). `close` closes its connection.
    public func join(run: String, close: @escaping @Sendable () -> Void) throws -> EventClient {
        let client = EventClient(run: run, limit: options.clientQueueLimit, close: close)
        try lock.withLock {
            if closing { throw JoinError.shuttingDown }
            if allClients.count >= options.maxClients {
                metrics.count("sse_refused_total")
                throw JoinError.full(options.maxClients)
            }
            var hub = hubs[run]
            if hub == nil || !hub!.join(client) {
                let fresh = try RunHub(run: run, redis: try makeRedis(), options: options, metrics: metrics, logger: logger)
                hubs[run] = fresh
                fresh.start { [weak self] hub in self?.retireIfIdle(hub) ?? true }
                _ = fresh.join(client)
                hub = fresh
            }
            allClients[ObjectIdentifier(client)] = client
            metrics.set("sse_clients", Int64(allClients.count))
        }
        metrics.count("sse_connections_total")
        return client
    }

    /// Disconnects a client (its stream ended, for whatever reason).
    public func leave(_ client: EventClient, reason: ClientEnd) {
        client.end(reason)
        lock.withLock {
            allClients.removeValue(forKey: ObjectIdentifier(client))
            hubs[client.run]?.leave(client)
            metrics.set("sse_clients", Int64(allClients.count))
        }
        metrics.count("sse_disconnects_total", label: ("reason", client.endReason?.rawValue ?? reason.rawValue))
    }

    /// Ends every stream and stops every hub; new clients are refused.
    public func shutdown() {
        let clients: [EventClient] = lock.withLock {
            closing = true
            for hub in hubs.values { hub.stop() }
            hubs.removeAll()
            return Array(allClients.values)
        }
        for c in clients { c.end(.shutdown) }
    }

    public var connectedClients: Int { lock.withLock { allClients.count } }
    public var activeRuns: Int { lock.withLock { hubs.count } }

    private func retireIfIdle(_ hub: RunHub) -> Bool {
        lock.withLock {
            guard hubs[hub.run] === hub else { return true }
            if hub.stopIfIdle() { hubs.removeValue(forKey: hub.run); return true }
            return false
        }
    }

    private func heartbeat() {
        let beat = SSEMessage.comment("keep-alive")
        for c in lock.withLock({ Array(allClients.values) }) { c.deliver([beat]) }
    }
}
