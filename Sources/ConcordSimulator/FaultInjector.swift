import ConcordFlow
import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation

/// Injects known faults into a synced simulation and records the ground
/// truth: every finding the audit must report, as rule id and record key.
///
/// Each fault takes a run of its own, so no two faults touch the same
/// records. Some faults cannot exist alone, and their truth lists every
/// finding they cause: a cycle also gives its entry node a second parent
/// that is older than it (`event.wrong-parent`, `event.out-of-order`); a
/// deleted run orphans its first event; a draft for a run that does not
/// exist also makes the run missing. A `event.cycle` finding is keyed by the
/// smallest event id on the cycle.
public struct FaultInjector {
    public struct Truth: Sendable, Hashable {
        public var fault: String
        public var rule: String
        public var key: String
        public var workflowId: String

        public var json: JSON {
            ["fault": .string(fault), "rule": .string(rule), "key": .string(key), "workflowId": .string(workflowId)]
        }
    }

    let postgres: PostgresConnection
    let redis: RedisConnection
    let graph: any GraphStore
    let events: EventWriter
    let drafts: DraftWriter
    var rng: SeededRandom
    var used: Set<String> = []
    public private(set) var truth: [Truth] = []

    public init(postgres: PostgresConnection, redis: RedisConnection, graph: any GraphStore, seed: UInt64, streamMaxLength: Int = 10_000) {
        self.postgres = postgres
        self.redis = redis
        self.graph = graph
        events = EventWriter(redis: redis, streamMaxLength: streamMaxLength)
        drafts = DraftWriter(postgres: postgres, redis: redis)
        rng = SeededRandom(seed: seed ^ 0xFA17)
    }

    /// Injects `spec` into `workload` (already produced and synced).
    public mutating func inject(_ spec: FaultSpec, into workload: Workload) throws {
        let plan = spec.amounts.flatMap { kind, amount in Array(repeating: kind, count: amount.resolve(runs: workload.runs.count)) }
        // Faults that leave entries in the queue go last, after any that write through the sync.
        for kind in plan { try inject(kind, workload) }
    }

    /// The truth file's content.
    public func truthJSON(seed: UInt64) -> JSON {
        ["format": "concord.truth/1", "seed": .int(Int64(bitPattern: seed)),
         "findings": .array(truth.map(\.json))]
    }

    // MARK: Picking runs

    mutating func pick(_ kind: FaultSpec.Kind, _ workload: Workload, where ok: (Workload.Run) -> Bool) throws -> Workload.Run {
        let candidates = workload.runs.filter { !used.contains($0.id) && ok($0) }
        guard !candidates.isEmpty else {
            throw ConcordError(.usage, "no run is left for fault \(kind.rawValue): simulate more runs (each fault takes a run of its own)")
        }
        let run = candidates[Int.random(in: 0..<candidates.count, using: &rng)]
        used.insert(run.id)
        return run
    }

    static func leaf(_ run: Workload.Run) -> Event {
        let parents = Set(run.events.map(\.parentId))
        return run.events.last { !parents.contains($0.id) }!
    }

    /// An event whose parent and grandparent are both events.
    static func grandchild(_ run: Workload.Run) -> (event: Event, parent: Event, grandparent: Event)? {
        let byId = Dictionary(uniqueKeysWithValues: run.events.map { ($0.id, $0) })
        for e in run.events.reversed() {
            if let p = byId[e.parentId], let gp = byId[p.parentId] { return (e, p, gp) }
        }
        return nil
    }

    static func versions(_ plan: Workload.DraftPlan) -> Int { 1 + plan.revisions.count + (plan.outcome == .pending ? 0 : 1) }

    mutating func record(_ kind: FaultSpec.Kind, _ rule: String, _ key: String, _ run: String) {
        truth.append(Truth(fault: kind.rawValue, rule: rule, key: key, workflowId: run))
    }

    /// Writes an event the way a producer and the sync would, without the queue.
    func persist(_ e: Event) throws {
        _ = try redis.transaction([
            ["XADD", RedisKeys.events(e.workflowId), "MAXLEN", "~", events.streamMaxLength, "*", "event", e.encoded],
            ["PUBLISH", RedisKeys.channel(e.workflowId), e.encoded],
        ])
        let engine = SyncEngine(redis: redis, graph: graph)
        try engine.write([e], persistedAt: nowMilliseconds())
        try redis.run("ZADD", RedisKeys.confirmed, nowMilliseconds(), e.id)
    }

    func newEvent(_ run: Workload.Run, id: String, parent: String, at: Int64) -> Event {
        Event(id: id, timestamp: at, type: "message", parentId: parent, payload: ["text": "injected"],
              metadata: EventMetadata(workflowId: run.id, userId: run.userId))
    }

    // MARK: The faults

    mutating func inject(_ kind: FaultSpec.Kind, _ w: Workload) throws {
        let n = truth.count
        switch kind {
        case .missingNode:
            let run = try pick(kind, w) { $0.events.count >= 3 }
            let e = Self.leaf(run)
            try graph.run("MATCH (n:Node {id: $id}) DETACH DELETE n", parameters: ["id": .string(e.id)])
            try redis.run("ZREM", RedisKeys.confirmed, e.id)
            record(kind, "event.missing-in-graph", e.id, run.id)

        case .duplicateNode:
            let run = try pick(kind, w) { $0.events.count >= 3 }
            let e = Self.leaf(run)
            // Stores in the wild lack the constraint; make this one such a store.
            _ = try graph.dropUnique(label: "Node", property: "id")
            try graph.run("""
                MATCH (p)-[:PARENT_OF]->(n:Node {id: $id})
                CREATE (p)-[:PARENT_OF]->(:Node {id: n.id, workflow_id: n.workflow_id, type: n.type, content: n.content,
                  metadata: n.metadata, timestamp: n.timestamp, persisted_at: n.persisted_at})
                """, parameters: ["id": .string(e.id)])
            record(kind, "event.duplicate-node", e.id, run.id)

        case .duplicateInQueue:
            let run = try pick(kind, w) { _ in true }
            let leaf = Self.leaf(run)
            let e = newEvent(run, id: "\(leaf.id)_dupq", parent: leaf.id, at: nowMilliseconds())
            try events.publish(e)
            try redis.run("RPUSH", RedisKeys.queue, e.encoded)
            record(kind, "event.duplicate-in-queue", e.id, run.id)

        case .wrongParent:
            let run = try pick(kind, w) { Self.grandchild($0) != nil }
            let (e, p, gp) = Self.grandchild(run)!
            try graph.run("""
                MATCH (p:Node {id: $p})-[r:PARENT_OF]->(n:Node {id: $id}) DELETE r
                WITH n MATCH (gp:Node {id: $gp}) CREATE (gp)-[:PARENT_OF]->(n)
                """, parameters: ["p": .string(p.id), "id": .string(e.id), "gp": .string(gp.id)])
            record(kind, "event.wrong-parent", e.id, run.id)

        case .crossWorkflowEdge:
            let run = try pick(kind, w) { _ in true }
            let other = try pick(kind, w) { _ in true }
            let parent = Self.leaf(other)
            let at = max(run.events.map(\.timestamp).max()!, parent.timestamp) + 1
            let e = newEvent(run, id: "\(run.id)_cross", parent: parent.id, at: at)
            try persist(e)
            record(kind, "event.cross-workflow-edge", e.id, run.id)

        case .outOfOrder:
            let run = try pick(kind, w) { _ in true }
            let leaf = Self.leaf(run)
            let e = newEvent(run, id: "\(leaf.id)_early", parent: leaf.id, at: leaf.timestamp - 1_000)
            try persist(e)
            record(kind, "event.out-of-order", e.id, run.id)

        case .streamOrderInversion:
            let run = try pick(kind, w) { _ in true }
            let leaf = Self.leaf(run)
            let last = run.events.map(\.timestamp).max()!
            // Two children of the leaf; the second in the stream has the earlier timestamp.
            let x = newEvent(run, id: "\(leaf.id)_x", parent: leaf.id, at: last + 100)
            let y = newEvent(run, id: "\(leaf.id)_y", parent: leaf.id, at: last + 50)
            try persist(x)
            try persist(y)
            record(kind, "event.out-of-order", y.id, run.id)

        case .cycle:
            let run = try pick(kind, w) { Self.grandchild($0) != nil }
            let (c, b, a) = Self.grandchild(run)!
            try graph.run("MATCH (c:Node {id: $c}), (a:Node {id: $a}) CREATE (c)-[:PARENT_OF]->(a)",
                          parameters: ["c": .string(c.id), "a": .string(a.id)])
            record(kind, "event.cycle", [a.id, b.id, c.id].min()!, run.id)
            record(kind, "event.wrong-parent", a.id, run.id)
            record(kind, "event.out-of-order", a.id, run.id)

        case .stuckInQueue:
            let run = try pick(kind, w) { _ in true }
            let leaf = Self.leaf(run)
            let e = newEvent(run, id: "\(leaf.id)_stuck", parent: leaf.id, at: run.events.map(\.timestamp).max()! + 1)
            try redis.run("XADD", RedisKeys.events(run.id), "MAXLEN", "~", events.streamMaxLength, "*", "event", e.encoded)
            try redis.run("RPUSH", RedisKeys.processing, e.encoded)
            record(kind, "event.stuck-in-queue", e.id, run.id)

        case .malformedEntry:
            let run = try pick(kind, w) { _ in true }
            let id = try redis.run("XADD", RedisKeys.events(run.id), "*", "event", "{\"id\": \"truncated").string ?? ""
            record(kind, "event.malformed", "\(RedisKeys.events(run.id))#\(id)", run.id)

        case .confirmedNotPersisted:
            let run = try pick(kind, w) { $0.events.count >= 3 }
            let e = Self.leaf(run)
            try graph.run("MATCH (n:Node {id: $id}) DETACH DELETE n", parameters: ["id": .string(e.id)])
            // Trimmed from the stream too, so only the confirmation remembers it.
            var streamId: String?
            try redis.xrange(RedisKeys.events(run.id)) { batch in
                for entry in batch where (try? Event.parse(entry.field("event") ?? []).id) == e.id { streamId = entry.id }
            }
            if let streamId { try redis.run("XDEL", RedisKeys.events(run.id), streamId) }
            record(kind, "event.confirmed-not-persisted", e.id, run.id)

        case .persistedNotConfirmed:
            let run = try pick(kind, w) { _ in true }
            let e = run.events[run.events.count / 2]
            try redis.run("ZREM", RedisKeys.confirmed, e.id)
            record(kind, "event.persisted-not-confirmed", e.id, run.id)

        case .payloadMismatch:
            let run = try pick(kind, w) { _ in true }
            let e = run.events[run.events.count / 2]
            try graph.run("MATCH (n:Node {id: $id}) SET n.content = $c",
                          parameters: ["id": .string(e.id), "c": .string(#"{"tampered":true}"#)])
            record(kind, "event.payload-mismatch", e.id, run.id)

        case .publishedNotSynced:
            let run = try pick(kind, w) { $0.drafts.contains { $0.outcome == .published } }
            try graph.run("MATCH (r:WorkflowRun {id: $id}) SET r.contentStatus = 'none', r.publishedAt = NULL",
                          parameters: ["id": .string(run.id)])
            // Published an hour ago, so the audit's grace does not take it for a publication still in flight.
            try postgres.execute("UPDATE draft_content SET updated_at = updated_at - interval '1 hour' WHERE workflow_run_id = $1 AND status = 'published'", [run.id])
            record(kind, "draft.published-not-synced", run.drafts.first { $0.outcome == .published }!.draft.id, run.id)

        case .graphPublishedWithoutDraft:
            let run = try pick(kind, w) { !$0.drafts.contains { $0.outcome == .published } }
            try graph.run("MATCH (r:WorkflowRun {id: $id}) SET r.contentStatus = 'published', r.publishedAt = $t",
                          parameters: ["id": .string(run.id), "t": .int(nowMilliseconds())])
            record(kind, "draft.graph-published-without-draft", run.id, run.id)

        case .redisStatusMismatch:
            let run = try pick(kind, w) { !$0.drafts.isEmpty }
            let plan = run.drafts.last!
            let wrong = plan.outcome == .published ? "discarded" : "published"
            try redis.run("HSET", RedisKeys.status(run.id), "contentStatus", wrong)
            record(kind, "draft.status-mismatch-redis", plan.draft.id, run.id)

        case .historyGap:
            let run = try pick(kind, w) { $0.drafts.contains { Self.versions($0) >= 2 } }
            let plan = run.drafts.first { Self.versions($0) >= 2 }!
            try postgres.execute("DELETE FROM draft_content_history WHERE draft_id = $1 AND version = 1", [plan.draft.id])
            record(kind, "draft.history-gap", plan.draft.id, run.id)

        case .draftMissingRun:
            let base = try pick(kind, w) { _ in true }
            let ghost = "\(base.id)_ghost"
            let draft = Draft(id: "dr_\(ghost)", workflowRunId: ghost, contentType: .comment, content: "orphaned draft",
                              status: .draft, metadata: ["githubIssueId": 1, "githubRepo": "acme/widgets", "userId": .string(base.userId),
                                                         "timestamp": .int(nowMilliseconds())])
            try drafts.create(draft, by: base.userId)
            record(kind, "draft.orphan-run", draft.id, ghost)
            record(kind, "run.missing", ghost, ghost)

        case .missingRun:
            let run = try pick(kind, w) { $0.drafts.isEmpty }
            try graph.run("MATCH (r:WorkflowRun {id: $id}) DETACH DELETE r", parameters: ["id": .string(run.id)])
            record(kind, "run.missing", run.id, run.id)
            record(kind, "event.orphan", run.events[0].id, run.id)

        case .runStateMismatch:
            let run = try pick(kind, w) { Self.leaf($0).newRunState == .completed || $0.events.last?.type == "workflowCompleted" }
            try redis.run("HSET", RedisKeys.status(run.id), "state", "running")
            record(kind, "run.state-mismatch", run.id, run.id)
        }
        precondition(truth.count > n)
    }
}
