import ConcordCore
import ConcordModel
import ConcordRedis
import Foundation
import Logging
import NIOCore

/// The live side of one run's event stream: one thread reading the run's
/// Redis stream with blocking `XREAD` from the last id it delivered, handing
/// each new entry to every client of the run.
///
/// Reading the stream by id, not the pub/sub channel, is what makes the
/// switch from history to live exact: a client joins under the hub's lock
/// and learns the id the hub has delivered up to (`joinedAfter`); its
/// history is the stream up to and including that id, its live part every
/// entry after it. No entry is in both, none in neither — whatever producers
/// write meanwhile. (Pub/sub would lose what is published while the history
/// is read, or send it twice.)
final class RunHub: @unchecked Sendable {
    // @unchecked: `clients`, `lastDelivered` and `stopped` are used under `lock`.
    let run: String
    let key: String
    private let lock = NSLock()
    private var clients: [ObjectIdentifier: EventClient] = [:]
    private var lastDelivered: StreamID
    private var stopped = false
    private let redis: RedisConnection
    private let options: EventStreamOptions
    private let metrics: ServeMetrics
    private let logger: Logger

    init(run: String, redis: RedisConnection, options: EventStreamOptions, metrics: ServeMetrics, logger: Logger) throws {
        self.run = run
        key = RedisKeys.events(run)
        self.redis = redis
        self.options = options
        self.metrics = metrics
        self.logger = logger
        // Start at the newest entry: everything up to it is history for whoever joins.
        let newest = try redis.run("XREVRANGE", key, "+", "-", "COUNT", 1)
        lastDelivered = try RedisConnection.streamEntries(newest).first.flatMap { StreamID($0.id) } ?? .zero
    }

    func start(onIdle: @escaping @Sendable (RunHub) -> Bool) {
        let thread = Thread { [self] in loop(onIdle: onIdle) }
        thread.name = "concord-serve-hub"
        thread.start()
    }

    /// Adds a client; from now on it gets every entry after `client.joinedAfter`. Nil once the hub stopped.
    func join(_ client: EventClient) -> Bool {
        lock.withLock {
            guard !stopped else { return false }
            client.joinedAfter = lastDelivered
            clients[ObjectIdentifier(client)] = client
            return true
        }
    }

    func leave(_ client: EventClient) {
        lock.withLock { _ = clients.removeValue(forKey: ObjectIdentifier(client)) }
    }

    /// Stops the hub when it has no clients (called by the registry under its own lock). Returns whether it stopped.
    func stopIfIdle() -> Bool {
        lock.withLock {
            if clients.isEmpty { stopped = true }
            return stopped
        }
    }

    func stop() { lock.withLock { stopped = true } }

    var clientCount: Int { lock.withLock { clients.count } }

    private func loop(onIdle: @escaping @Sendable (RunHub) -> Bool) {
        var failures = 0
        while true {
            if lock.withLock({ stopped }) { break }
            if onIdle(self) { break }
            let from = lock.withLock { lastDelivered }
            let reply: RedisReply
            do {
                reply = try redis.command(["XREAD", "COUNT", options.readBatch, "BLOCK", options.blockMilliseconds, "STREAMS", key, from.description])
                if let e = reply.errorMessage { throw ConcordError(.server, "XREAD \(key): \(e)", store: "redis") }
                failures = 0
            } catch {
                failures += 1
                metrics.count("hub_read_errors")
                logger.warning("reading \(key) failed (attempt \(failures)); retrying: \(error)")
                Thread.sleep(forTimeInterval: min(2, 0.1 * Double(failures)))
                continue
            }
            guard !reply.isNull, let streams = reply.array, let first = streams.first?.array, first.count == 2,
                  let entries = try? RedisConnection.streamEntries(first[1]), !entries.isEmpty else { continue }
            var messages: [ByteBuffer] = []
            messages.reserveCapacity(entries.count)
            var newest = from
            for entry in entries {
                guard let id = StreamID(entry.id) else { continue }
                messages.append(SSEMessage.event(id: entry.id, json: entry.field("event") ?? []))
                newest = id
            }
            lock.withLock {
                lastDelivered = newest
                for client in clients.values { client.deliver(messages) }
            }
        }
    }
}
