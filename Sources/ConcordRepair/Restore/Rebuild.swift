import ConcordAudit
import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordModel
import Foundation

/// `concord rebuild redis`: after Redis lost its data, what the other two
/// stores know of it, written only where Redis has nothing now (a rebuild
/// fills gaps; what Redis holds is the audit's to judge):
/// - each run's status hash: `state` from the graph's run, `contentStatus`
///   and `draftId` from the run's newest draft in PostgreSQL (the graph's
///   content status when it has none), `updatedAt` the newest of the two;
/// - `persistence:confirmed`: every event the graph holds, at its `persisted_at`;
/// - the streams of unfinished runs (pending, running): their events from
///   the graph in timestamp order (parent before child at equal times), as
///   canonical event JSON, with stream ids from the events' times.
///
/// What the graph cannot know stays lost: events still in the queue or in
/// flight when Redis lost them (never persisted), the stream ids producers
/// had, the streams of finished runs (trimmed streams are normal), and the
/// dead-letter list.
public struct RedisRebuild {
    let stores: RepairStores
    public var runs: Set<String>?
    public var progress: ((String) -> Void)?

    public init(stores: RepairStores) { self.stores = stores }

    static let unfinished: Set<String> = ["pending", "running"]

    public func operations() throws -> (ops: [RepairOperation], kept: Int) {
        let runFilter = runs.map { Array($0) }
        progress?("reading the graph's runs")
        var params: [String: GraphValue] = [:]
        if let runFilter { params["runs"] = .list(runFilter.map { .string($0) }) }
        let graphRuns = try stores.graph.run("""
            MATCH (r:WorkflowRun) \(runFilter == nil ? "" : "WHERE r.id IN $runs")
            RETURN r.id, r.state, r.contentStatus, r.stateAt, r.createdAt, r.publishedAt
            """, parameters: params, readOnly: true).records
        progress?("reading PostgreSQL's newest drafts")
        let draftRows = try stores.postgres.query("""
            SELECT DISTINCT ON (workflow_run_id) workflow_run_id, id, status, (extract(epoch FROM updated_at) * 1000)::bigint
            FROM draft_content \(runFilter == nil ? "" : "WHERE workflow_run_id = ANY($1::text[])")
            ORDER BY workflow_run_id, created_at DESC, id DESC
            """, runFilter.map { [SnapshotRestore.textArray($0)] } ?? [])
        var drafts: [String: (id: String, status: String, at: Int64)] = [:]
        for i in 0..<draftRows.rowCount {
            guard let run = draftRows[i].string(0), let id = draftRows[i].string(1), let status = draftRows[i].string(2) else { continue }
            drafts[run] = (id, status, Int64(draftRows[i].string(3) ?? "") ?? 0)
        }
        var wanted: [WantedRecord] = []
        var open: [String] = []
        for r in graphRuns {
            guard let run = r[0].stringValue else { continue }
            let state = r[1].stringValue
            let draft = drafts[run]
            var o: [String: JSON] = [:]
            if let state { o["state"] = .string(state) }
            o["contentStatus"] = .string(draft?.status ?? r[2].stringValue ?? "none")
            if let draft { o["draftId"] = .string(draft.id) }
            let at = [r[3].intValue, r[4].intValue, r[5].intValue, draft?.at].compactMap { $0 }.max()
            if let at { o["updatedAt"] = .string(String(at)) }
            let status = JSON.object(o)
            wanted.append(WantedRecord(address: RecordAddress(place: .redisKey(RedisKeys.status(run), type: "hash"), dataset: DatasetRole.runStatus.conventionalName)) { _ in status })
            if Self.unfinished.contains(state ?? "running") { open.append(run) }
        }
        progress?("reading the graph's events")
        // Confirmations for every event the graph holds (placeholders are not events).
        var confirmed: [(String, Int64)] = []
        for r in try stores.graph.run("""
            MATCH (n:Node) WHERE n.placeholder IS NULL AND n.persisted_at IS NOT NULL \(runFilter == nil ? "" : "AND n.workflow_id IN $runs")
            RETURN n.id, n.persisted_at
            """, parameters: params, readOnly: true).records {
            if let id = r[0].stringValue, let at = r[1].intValue { confirmed.append((id, at)) }
        }
        // The confirmations Redis lacks, as the applier's batched confirm-event (one WATCH/MULTI per batch).
        var confirms: [RepairOperation] = []
        var keptConfirmations = 0
        for chunk in confirmed.chunked(5000) {
            let scores = try stores.redis.pipeline(chunk.map { ["ZSCORE", RedisKeys.confirmed, $0.0] })
            for ((id, at), score) in zip(chunk, scores) {
                if !score.isNull { keptConfirmations += 1; continue }
                confirms.append(RepairOperation(findingId: "rebuild redis", rule: "rebuild redis", store: .redis, action: "confirm-event", key: id,
                                                params: ["id": .string(id), "score": .int(at)], precondition: ["confirmed": false],
                                                before: ["confirmed": .null], after: ["confirmed": .int(at)]))
            }
        }
        for chunk in open.chunked(500) {
            let rows = try stores.graph.run("""
                MATCH (n:Node) WHERE n.workflow_id IN $runs AND n.placeholder IS NULL
                OPTIONAL MATCH (p)-[:PARENT_OF]->(n)
                RETURN n.workflow_id, n.id, n.timestamp, n.type, n.content, n.metadata, collect(p.id)[0]
                """, parameters: ["runs": .list(chunk.map { .string($0) })], readOnly: true).records
            let byRun = Dictionary(grouping: rows) { $0[0].stringValue ?? "" }
            for run in chunk {
                guard let events = byRun[run], !events.isEmpty else { continue }
                let stream = Self.stream(run: run, events.map { r in
                    (id: r[1].stringValue ?? "", timestamp: r[2].intValue ?? 0, type: r[3].stringValue ?? "", content: r[4].stringValue,
                     metadata: r[5].stringValue, parent: r[6].stringValue ?? run)
                })
                wanted.append(WantedRecord(address: RecordAddress(place: .redisKey(RedisKeys.events(run), type: "stream"), dataset: DatasetRole.eventStreams.conventionalName)) { _ in stream })
            }
        }
        progress?("comparing \(wanted.count) records with Redis")
        let (puts, kept) = try ImagePlanner.operations(wanted, stores, .init(onlyAbsent: true, reason: "rebuild redis"))
        return (puts + confirms, kept + keptConfirmations)
    }

    /// A run's stream rebuilt from its events: timestamp order, a parent before its children,
    /// ids `<ms>-<seq>` rising strictly (an event older than the one before it takes the same ms, next seq).
    static func stream(run: String, _ events: [(id: String, timestamp: Int64, type: String, content: String?, metadata: String?, parent: String)]) -> JSON {
        let ids = Set(events.map(\.id))
        var depth: [String: Int] = [:]
        let parentOf = Dictionary(events.map { ($0.id, $0.parent) }, uniquingKeysWith: { a, _ in a })
        func d(_ id: String, _ seen: Int = 0) -> Int {
            if let v = depth[id] { return v }
            guard seen < events.count, let p = parentOf[id], ids.contains(p) else { return 0 }
            let v = d(p, seen + 1) + 1
            depth[id] = v
            return v
        }
        let ordered = events.sorted { ($0.timestamp, d($0.id), $0.id) < ($1.timestamp, d($1.id), $1.id) }
        var lastMs: Int64 = 0, seq: Int64 = 0
        var out: [JSON] = []
        for e in ordered {
            let ms = max(e.timestamp, 1)
            if ms > lastMs { lastMs = ms; seq = 0 } else { seq += 1 }
            let payload = e.content.flatMap { try? JSON.parse($0) } ?? e.content.map(JSON.string) ?? .null
            let metadata = e.metadata.flatMap { try? JSON.parse($0) } ?? ["workflowId": .string(run)]
            let event: JSON = ["id": .string(e.id), "timestamp": .int(e.timestamp), "type": .string(e.type), "parentId": .string(e.parent),
                               "payload": payload, "metadata": metadata]
            out.append(["id": .string("\(lastMs)-\(seq)"), "fields": ["event": .string(event.encoded())]])
        }
        return .array(out)
    }
}

/// `concord rebuild graph`: after the graph lost data, the runs and events
/// it lacks, from the streams Redis still holds (the sync's own write, as
/// `replay-event`) and, with a snapshot or archive, from what it holds for
/// events no stream has any more (`put-record` of the snapshot's nodes,
/// runs and their edges). Only what the graph lacks is written.
public struct GraphRebuild {
    let stores: RepairStores
    let rules: RuleSet
    public var runs: Set<String>?
    public var snapshot: Snapshot?
    public var progress: ((String) -> Void)?

    public init(stores: RepairStores, rules: RuleSet) {
        self.stores = stores
        self.rules = rules
    }

    public func operations() throws -> (ops: [RepairOperation], kept: Int) {
        var streamKeys: [String] = []
        if let runs {
            streamKeys = runs.sorted().map(RedisKeys.events)
        } else {
            try stores.redis.scan(match: "workflow:*:events", count: 1000, type: "stream") { streamKeys += $0 }
        }
        progress?("reading \(streamKeys.count) stream(s)")
        var events: [Event] = []
        for key in streamKeys.sorted() {
            guard let run = RedisKeys.workflowId(fromKey: key) else { continue }
            for e in try stores.stream(run) {
                if let j = e.event, let ev = try? Event(validating: j), ev.workflowId == run { events.append(ev) }
            }
        }
        var present = Set<String>()
        for chunk in events.map(\.id).chunked(1000) {
            present.formUnion(try stores.graph.run("MATCH (n:Node) WHERE n.id IN $ids AND n.placeholder IS NULL RETURN n.id",
                                                   parameters: ["ids": .list(chunk.map { .string($0) })], readOnly: true).records.compactMap { $0[0].stringValue })
        }
        var seen = Set<String>()
        var ops: [RepairOperation] = []
        for e in events where !present.contains(e.id) && seen.insert(e.id).inserted {
            ops.append(RepairOperation(findingId: "rebuild graph", rule: "rebuild graph", store: .graph, action: "replay-event", key: e.id,
                                       params: ["event": e.json], precondition: ["absent": true], before: .null,
                                       after: ["node": .string(e.id), "parent": .string(e.parentId)]))
        }
        var kept = present.count
        if let snapshot {
            progress?("comparing the snapshot's graph with the live graph")
            var restore = SnapshotRestore(snapshot: snapshot, stores: stores, rules: rules)
            restore.runs = runs
            restore.scope = [.graph]
            restore.onlyAbsent = true
            restore.except = seen.union(present)
            let (more, k) = try restore.plannedOperations()
            ops = more + ops
            kept += k
        }
        return (ops, kept)
    }
}
