import ConcordCore
import ConcordCrypto
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis

/// Starting and finishing workflow runs: the `:WorkflowRun` node, the Redis
/// status the UI shows, and the run's first and last events.
public struct RunWriter: Sendable {
    public let graph: any GraphStore
    public let events: EventWriter

    public init(graph: any GraphStore, events: EventWriter) {
        self.graph = graph
        self.events = events
    }

    static let upsertRuns = """
        UNWIND $rows AS row
        MERGE (r:WorkflowRun {id: row.id})
        ON CREATE SET r.createdAt = row.createdAt, r.contentStatus = 'none', r.run_bucket = row.bucket
        SET r.state = CASE WHEN coalesce(r.stateAt, -1) <= row.createdAt THEN row.state ELSE r.state END,
            r.stateAt = CASE WHEN coalesce(r.stateAt, -1) <= row.createdAt THEN row.createdAt ELSE r.stateAt END
        """

    /// Starts runs: each `workflowStarted` event (whose parent is its run)
    /// creates the `:WorkflowRun` node and the Redis status, then is published.
    public func start(_ started: [Event]) throws {
        guard !started.isEmpty else { return }
        for e in started where !e.parentIsRun || e.type != "workflowStarted" {
            throw ConcordError(.usage, "event \(e.id) does not start a run: expected workflowStarted with the run id as parent")
        }
        try graph.writeBatches(Self.upsertRuns, rows: started.map {
            .map(["id": .string($0.workflowId), "createdAt": .int($0.timestamp), "state": "running", "bucket": .int(Int64(RunBucket.of($0.workflowId)))])
        }, batchSize: 1000)
        var cmds: [[any RedisArgument]] = started.map {
            ["HSET", RedisKeys.status($0.workflowId), "state", "running", "contentStatus", "none", "updatedAt", $0.timestamp]
        }
        cmds += started.map { ["HDEL", RedisKeys.status($0.workflowId), "draftId"] }
        _ = try events.redis.pipeline(cmds)
        try events.publish(started)
    }

    /// A run's `workflowStarted` event.
    public static func startedEvent(id: String, run: String, userId: String, at: Int64) -> Event {
        Event(id: id, timestamp: at, type: "workflowStarted", parentId: run, payload: ["trigger": "user"],
              metadata: EventMetadata(workflowId: run, userId: userId))
    }

    /// Finishes a run with its last event (`workflowCompleted`, `error` or `workflowCancelled`).
    public func finish(_ last: Event) throws {
        guard last.newRunState != nil else {
            throw ConcordError(.usage, "event type \(last.type) does not finish a run")
        }
        try events.publish(last)
    }
}
