import ConcordCore
import ConcordModel
import ConcordRedis

/// The producer's write path for events (DATA-MODEL.md): one `MULTI` that
/// appends to the run's stream, publishes to its channel, enqueues for the
/// graph and, when the event changes the run's state, updates its status.
public struct EventWriter: Sendable {
    public let redis: RedisConnection
    /// The stream's approximate cap (`XADD … MAXLEN ~ N`).
    public var streamMaxLength: Int

    public init(redis: RedisConnection, streamMaxLength: Int = 10_000) {
        self.redis = redis
        self.streamMaxLength = streamMaxLength
    }

    /// The commands one publish runs, in order.
    public func commands(for event: Event, text: String? = nil) -> [[any RedisArgument]] {
        let json = text ?? event.encoded
        let run = event.workflowId
        var cmds: [[any RedisArgument]] = [
            ["XADD", RedisKeys.events(run), "MAXLEN", "~", streamMaxLength, "*", "event", json],
            ["PUBLISH", RedisKeys.channel(run), json],
            ["RPUSH", RedisKeys.queue, json],
        ]
        if let state = event.newRunState {
            cmds.append(["HSET", RedisKeys.status(run), "state", state.rawValue, "updatedAt", event.timestamp])
        }
        return cmds
    }

    /// Publishes one event atomically.
    public func publish(_ event: Event) throws {
        guard try redis.transaction(commands(for: event)) != nil else {
            throw ConcordError(.conflict, "publishing event \(event.id) was aborted", store: "redis")
        }
    }

    /// Publishes many events, each in its own `MULTI`, pipelined together.
    public func publish(_ events: [Event]) throws {
        var all: [[any RedisArgument]] = []
        for e in events {
            all.append(["MULTI"])
            all += commands(for: e)
            all.append(["EXEC"])
        }
        for (i, r) in try redis.pipeline(all).enumerated() {
            if let e = r.errorMessage { throw redis.serverError(e, all[i], what: "publishing events failed") }
        }
    }
}
