import ConcordCore
import ConcordCrypto
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation
import Logging

/// The live sync path: drains `persistence:queue` into the graph without
/// losing, duplicating or misordering events, and confirms back to Redis.
///
/// Reliable-queue pattern: entries move atomically to `persistence:processing`
/// (`LMOVE`/`BLMOVE`), a batch is written to the graph in one statement
/// (`MERGE` on id, so a repeat is harmless), and only then confirmed
/// (`ZADD persistence:confirmed`) and removed from processing, in one `MULTI`.
/// A crash anywhere leaves the entries in processing, and the next start
/// recovers them. One sync process per queue: recovery takes over everything
/// in `persistence:processing`.
///
/// A run's graph `state` follows the newest state-changing event by the
/// event's own timestamp (`stateAt`), so replays and out-of-order arrival
/// never move it backwards.
public final class SyncEngine: @unchecked Sendable {
    // @unchecked: an engine runs on one thread; `metrics` is thread-safe.
    public let redis: RedisConnection
    public let graph: any GraphStore
    public let postgres: PostgresConnection?
    public let metrics: SyncMetrics
    public var logger: Logger
    public var batchSize: Int
    /// Checked between batches and while waiting: when true the engine
    /// finishes the batch in hand and returns.
    public var shouldStop: @Sendable () -> Bool = { false }
    /// Longest wait between retries of a failing store.
    public var maxBackoff: Double = 10

    static let watermarkKey = "concord:sync:published-watermark"
    /// Set when taking from the queue failed midway: Redis may have moved
    /// entries to processing whose replies never arrived. They are recovered
    /// before the next batch.
    private var needsRecovery = false

    public init(
        redis: RedisConnection, graph: any GraphStore, postgres: PostgresConnection? = nil,
        metrics: SyncMetrics = SyncMetrics(), logger: Logger = Logger(label: "concord.sync"), batchSize: Int = 500
    ) {
        self.redis = redis
        self.graph = graph
        self.postgres = postgres
        self.metrics = metrics
        self.logger = logger
        self.batchSize = batchSize
    }

    // MARK: Running

    /// Processes what a previous run left in `persistence:processing`.
    @discardableResult
    public func recover() throws -> Int {
        needsRecovery = false
        var leftovers: [[UInt8]] = []
        try retrying("read persistence:processing") {
            leftovers = []
            try redis.lrange(RedisKeys.processing) { batch in leftovers += batch.compactMap(\.bytes) }
        }
        if !leftovers.isEmpty { logger.notice("recovering \(leftovers.count) entries left in \(RedisKeys.processing)") }
        var start = 0
        while start < leftovers.count {
            let end = min(start + batchSize, leftovers.count)
            try process(Array(leftovers[start..<end]))
            start = end
        }
        metrics.add("recovered", Int64(leftovers.count))
        return leftovers.count
    }

    /// Recovers, then drains the queue until it is empty (`concord sync --once`).
    @discardableResult
    public func drain() throws -> Int {
        var total = try recover()
        while !shouldStop() {
            if needsRecovery { total += try recover() }
            let batch = try take(block: false)
            if batch.isEmpty { break }
            try process(batch)
            total += batch.count
        }
        try syncPublications()
        try updateGauges()
        return total
    }

    /// Runs until `shouldStop` says so: waits on the queue when idle, syncs
    /// publications between batches (at most every `publicationInterval` s).
    public func run(publicationInterval: Double = 1) throws {
        try recover()
        var lastPublication = 0.0
        while !shouldStop() {
            if needsRecovery { try recover() }
            let batch = try take(block: true)
            if !batch.isEmpty { try process(batch) }
            let now = Date().timeIntervalSince1970
            if now - lastPublication >= publicationInterval {
                try syncPublications()
                try updateGauges()
                lastPublication = now
            }
        }
        logger.info("sync stopped", metadata: ["processed": "\(metrics.counter("processed"))"])
    }

    // MARK: Taking entries

    /// Moves up to `batchSize` entries from the queue to processing.
    func take(block: Bool) throws -> [[UInt8]] {
        var taken: [[UInt8]] = []
        try retrying("take from \(RedisKeys.queue)", onFailure: { self.needsRecovery = true }) {
            if block && taken.isEmpty {
                let blmove: [any RedisArgument] = ["BLMOVE", RedisKeys.queue, RedisKeys.processing, "LEFT", "RIGHT", 1]
                let first = try redis.command(blmove)
                if let e = first.errorMessage { throw redis.serverError(e, blmove, what: "BLMOVE failed") }
                guard let bytes = first.bytes else { return }
                taken.append(bytes)
            }
            let want = batchSize - taken.count
            guard want > 0 else { return }
            let lmove: [any RedisArgument] = ["LMOVE", RedisKeys.queue, RedisKeys.processing, "LEFT", "RIGHT"]
            let replies = try redis.pipeline(Array(repeating: lmove, count: want))
            // An error reply (a refused permission, a key of the wrong type) is an error, not an empty queue.
            if let e = replies.lazy.compactMap(\.errorMessage).first { throw redis.serverError(e, lmove, what: "LMOVE failed") }
            taken += replies.compactMap(\.bytes)
        }
        return taken
    }

    // MARK: Processing a batch

    /// Writes a batch (already in processing) to the graph, then confirms it.
    func process(_ raws: [[UInt8]]) throws {
        var events: [(raw: [UInt8], event: Event)] = []
        var dead: [(raw: [UInt8], error: String)] = []
        for raw in raws {
            do { events.append((raw, try Event.parse(raw))) } catch { dead.append((raw, "\(error)")) }
        }
        let persistedAt = nowMilliseconds()
        var written = events
        if !events.isEmpty {
            do {
                try retrying("write \(events.count) events to the graph") { try write(events.map(\.event), persistedAt: persistedAt) }
            } catch let e as ConcordError where e.code == .server {
                // The batch as a whole was refused: write one by one, dead-letter what the graph refuses.
                logger.warning("graph refused a batch; writing its \(events.count) events one by one", metadata: ["error": "\(e)"])
                written = []
                for item in events {
                    do {
                        try retrying("write event \(item.event.id)") { try write([item.event], persistedAt: persistedAt) }
                        written.append(item)
                    } catch let e as ConcordError where e.code == .server {
                        dead.append((item.raw, "graph refused the event: \(e.message)"))
                    }
                }
            }
        }
        try confirm(written, dead: dead)
    }

    /// A node's `content`: the payload as canonical JSON text.
    public static func content(_ e: Event) -> String { e.payload.encoded() }
    /// A node's `metadata`: the metadata as canonical JSON text.
    public static func metadata(_ e: Event) -> String { e.metadata.json.encoded() }

    /// The properties `write` gives the node of an event it creates (exactly: the undo of a replay is guarded by them).
    public static func nodeProperties(_ e: Event, persistedAt: Int64) -> [String: JSON] {
        ["id": .string(e.id), "workflow_id": .string(e.workflowId), "type": .string(e.type), "content": .string(content(e)),
         "metadata": .string(metadata(e)), "timestamp": .int(e.timestamp), "persisted_at": .int(persistedAt),
         RunBucket.property: .int(Int64(RunBucket.of(e.workflowId)))]
    }

    static let writeEvents = """
        UNWIND $rows AS row
        MERGE (n:Node {id: row.id})
        SET n.workflow_id = row.workflowId, n.type = row.type, n.content = row.content, n.metadata = row.metadata,
            n.timestamp = row.timestamp, n.persisted_at = row.persistedAt, n.placeholder = NULL, n.run_bucket = row.bucket
        WITH n, row
        FOREACH (_ IN CASE WHEN row.parentIsRun THEN [1] ELSE [] END |
          MERGE (r:WorkflowRun {id: row.parentId})
          ON CREATE SET r.state = 'running', r.contentStatus = 'none', r.createdAt = row.timestamp, r.run_bucket = row.parentBucket
          MERGE (r)-[:PARENT_OF]->(n))
        FOREACH (_ IN CASE WHEN row.parentIsRun THEN [] ELSE [1] END |
          MERGE (p:Node {id: row.parentId})
          ON CREATE SET p.placeholder = true, p.workflow_id = row.workflowId, p.persisted_at = row.persistedAt, p.run_bucket = row.bucket
          MERGE (p)-[:PARENT_OF]->(n))
        FOREACH (_ IN CASE WHEN row.newState IS NULL THEN [] ELSE [1] END |
          MERGE (s:WorkflowRun {id: row.workflowId})
          ON CREATE SET s.contentStatus = 'none', s.createdAt = row.timestamp, s.run_bucket = row.bucket
          SET s.state = CASE WHEN coalesce(s.stateAt, -1) <= row.timestamp THEN row.newState ELSE s.state END,
              s.stateAt = CASE WHEN coalesce(s.stateAt, -1) <= row.timestamp THEN row.timestamp ELSE s.stateAt END)
        """

    /// Writes events to the graph in one statement (atomic on either engine):
    /// MERGE on id, the parent edge (a placeholder parent when it has not
    /// arrived yet), and the run's state for state-changing events.
    public func write(_ events: [Event], persistedAt: Int64) throws {
        let rows: [GraphValue] = events.map { e in
            .map([
                "id": .string(e.id), "workflowId": .string(e.workflowId), "type": .string(e.type),
                "content": .string(Self.content(e)), "metadata": .string(Self.metadata(e)),
                "timestamp": .int(e.timestamp), "persistedAt": .int(persistedAt), "parentId": .string(e.parentId),
                "parentIsRun": .bool(e.parentIsRun), "bucket": .int(Int64(RunBucket.of(e.workflowId))),
                "parentBucket": .int(Int64(RunBucket.of(e.parentId))), "newState": e.newRunState.map { .string($0.rawValue) } ?? .null,
            ])
        }
        let summary = try graph.transaction(readOnly: false) { tx in
            try tx.run(Self.writeEvents, parameters: ["rows": .list(rows)]).summary
        }
        let placeholders = summary["nodes-created"] - Int64(Set(events.map(\.id)).count)
        if placeholders > 0 { metrics.add("placeholders", placeholders) }
    }

    /// Confirms written events and dead-letters the rest, removing all from processing, in one MULTI.
    func confirm(_ written: [(raw: [UInt8], event: Event)], dead: [(raw: [UInt8], error: String)]) throws {
        let now = nowMilliseconds()
        var cmds: [[any RedisArgument]] = []
        for d in dead {
            let entry = JSON.object(["raw": .string(String(decoding: d.raw, as: UTF8.self)), "error": .string(d.error), "at": .int(now)])
            cmds.append(["RPUSH", RedisKeys.deadletter, entry.encoded()])
        }
        if !written.isEmpty {
            var zadd: [any RedisArgument] = ["ZADD", RedisKeys.confirmed]
            for w in written { zadd += [now, w.event.id] }
            cmds.append(zadd)
        }
        for w in written { cmds.append(["LREM", RedisKeys.processing, 1, w.raw]) }
        for d in dead { cmds.append(["LREM", RedisKeys.processing, 1, d.raw]) }
        guard !cmds.isEmpty else { return }
        try retrying("confirm \(written.count) events") {
            guard try redis.transaction(cmds) != nil else {
                throw ConcordError(.conflict, "confirmation transaction aborted", store: "redis")
            }
        }
        for w in written { metrics.recordLag(now - w.event.timestamp) }
        metrics.add("processed", Int64(written.count))
        if !dead.isEmpty {
            metrics.add("deadlettered", Int64(dead.count))
            logger.warning("dead-lettered \(dead.count) entries", metadata: ["first": "\(dead[0].error)"])
        }
    }

    // MARK: Publications

    /// Sets `contentStatus = 'published'` and `publishedAt` on the runs of
    /// drafts published since the watermark (kept in Redis so a restart
    /// resumes; each pass re-reads the last 10 s to catch late commits).
    @discardableResult
    public func syncPublications() throws -> Int {
        guard let postgres else { return 0 }
        var total = 0
        try retrying("sync publications") {
            var startAt = "-infinity"
            if let stored = try redis.run("GET", Self.watermarkKey).string, let wm = try? JSON.parse(stored),
                let at = wm["at"]?.stringValue
            {
                startAt = at
            }
            var cursorAt = "-infinity", cursorId = ""
            var newest = startAt
            var unmatched = 0
            defer { metrics.set("publications_without_run", Double(unmatched)) }
            while true {
                let r = try postgres.query("""
                    SELECT id, workflow_run_id, updated_at::text, (extract(epoch FROM updated_at) * 1000)::int8
                    FROM draft_content
                    WHERE status = 'published' AND updated_at >= $1::timestamptz - interval '10 seconds'
                      AND (updated_at, id) > ($2::timestamptz, $3)
                    ORDER BY updated_at, id LIMIT 500
                    """, [startAt, cursorAt, cursorId])
                guard r.rowCount > 0 else { break }
                let rows: [GraphValue] = r.rows.map { .map(["runId": .string($0.string(1)!), "publishedAt": .int($0.int(3)!)]) }
                let matched = try graph.transaction(readOnly: false) { tx in
                    try tx.run("""
                        UNWIND $rows AS row MATCH (r:WorkflowRun {id: row.runId})
                        SET r.contentStatus = 'published', r.publishedAt = row.publishedAt
                        RETURN count(r) AS n
                        """, parameters: ["rows": .list(rows)]).records.first?[0].intValue ?? 0
                }
                total += Int(matched)
                unmatched += r.rowCount - Int(matched)
                let last = r[r.rowCount - 1]
                cursorAt = last.string(2)!
                cursorId = last.string(0)!
                newest = cursorAt
                if r.rowCount < 500 { break }
            }
            if newest != startAt {
                try redis.run("SET", Self.watermarkKey, JSON.object(["at": .string(newest)]).encoded())
            }
        }
        if total > 0 { metrics.add("publications_synced", Int64(total)) }
        return total
    }

    func updateGauges() throws {
        var lengths: [RedisReply] = []
        try retrying("read queue lengths") {
            lengths = try redis.pipeline([["LLEN", RedisKeys.queue], ["LLEN", RedisKeys.processing], ["LLEN", RedisKeys.deadletter]])
        }
        metrics.set("queue_length", Double(lengths[0].int ?? 0))
        metrics.set("processing_length", Double(lengths[1].int ?? 0))
        metrics.set("deadletter_length", Double(lengths[2].int ?? 0))
    }

    // MARK: Retries

    /// Runs `body`; when a store cannot be reached, waits with exponential
    /// backoff (capped at `maxBackoff`) and tries again until it works or the
    /// engine is asked to stop. Server-side refusals are not retried.
    func retrying(_ what: String, onFailure: (() -> Void)? = nil, _ body: () throws -> Void) throws {
        var delay = 0.1
        while true {
            do {
                try body()
                return
            } catch let e as ConcordError where e.code == .connection || e.code == .protocolViolation || e.code == .conflict {
                onFailure?()
                // Whatever failed, the connection may come back to another server (a failover): entries this
                // engine moved to processing and confirmed there may be unconfirmed in processing on the new
                // primary. The next loop reads processing again (what is confirmed is gone from it).
                if e.code == .connection { needsRecovery = true }
                metrics.add("retried")
                logger.error("\(what) failed; retrying in \(String(format: "%.1f", delay))s", metadata: ["error": "\(e)"])
                if shouldStop() { throw e }
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, maxBackoff)
            }
        }
    }
}
