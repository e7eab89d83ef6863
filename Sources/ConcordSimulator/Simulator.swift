import ConcordFlow
import ConcordCore
import ConcordGraph
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation
import Logging

/// Produces a workload through the real write paths: runs started, events
/// published, drafts created, revised, published or discarded.
public struct Simulator: Sendable {
    public let runs: RunWriter
    public let events: EventWriter
    public let drafts: DraftWriter
    public var logger: Logger

    public init(postgres: PostgresConnection, redis: RedisConnection, graph: any GraphStore, streamMaxLength: Int = 10_000,
                logger: Logger = Logger(label: "concord.simulate")) {
        events = EventWriter(redis: redis, streamMaxLength: streamMaxLength)
        runs = RunWriter(graph: graph, events: events)
        drafts = DraftWriter(postgres: postgres, redis: redis)
        self.logger = logger
    }

    public struct Counts: Sendable {
        public var runs = 0, events = 0, drafts = 0, published = 0, discarded = 0
    }

    /// Writes the whole workload. Runs go in batches of 200; within a run,
    /// events go in production order.
    @discardableResult
    public func produce(_ workload: Workload, progress: ((Counts) -> Void)? = nil) throws -> Counts {
        var counts = Counts()
        var start = 0
        while start < workload.runs.count {
            let batch = Array(workload.runs[start..<min(start + 200, workload.runs.count)])
            try runs.start(batch.map { $0.events[0] })
            try events.publish(batch.flatMap { $0.events.dropFirst() })
            counts.runs += batch.count
            counts.events += batch.reduce(0) { $0 + $1.events.count }
            for run in batch {
                for plan in run.drafts {
                    try drafts.create(plan.draft, by: run.userId)
                    for text in plan.revisions { try drafts.revise(plan.draft.id, content: text, by: run.userId) }
                    switch plan.outcome {
                    case .published: try drafts.publish(plan.draft.id, by: "reviewer"); counts.published += 1
                    case .discarded: try drafts.discard(plan.draft.id, by: "reviewer"); counts.discarded += 1
                    case .pending: break
                    }
                    counts.drafts += 1
                }
            }
            start += batch.count
            progress?(counts)
        }
        return counts
    }
}
