import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis
import Foundation

// Events: the run's Redis stream wins for events it still holds; the graph
// for what the stream trimmed.

/// `replay-event`: write the event from its stream into the graph, and confirm it.
struct ReplayEventAction: RepairAction {
    let name = "replay-event"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        if let ops = try Self.replay(f, c) { return ops }
        return [c.manual(f, "the event is in no stream any more, so there is nothing to replay it from")]
    }

    /// The replay (and the confirmation if missing), or nil when no stream holds the event.
    static func replay(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation]? {
        guard let e = try c.stores.streamEvent(run: f.run ?? f.evidence["workflowId"]?.stringValue, id: f.key) else { return nil }
        var out = [c.op(f, ReplayEventOperation(), e.id, params: ["event": e.json], pre: ["absent": true],
                        before: .null, after: ["node": .string(e.id), "parent": .string(e.parentId)])]
        if try c.stores.confirmedScore(f.key) == nil { out.append(ConfirmEventAction.confirm(f, c, f.key, score: c.now)) }
        return out
    }
}

/// `replay-event-or-unconfirm`: replay from the stream; if no stream holds it, the graph wins and the confirmation goes.
struct ReplayEventOrUnconfirmAction: RepairAction {
    let name = "replay-event-or-unconfirm"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        if let ops = try ReplayEventAction.replay(f, c) { return ops }
        if let score = try c.stores.confirmedScore(f.key) {
            return [c.op(f, RemoveConfirmationOperation(), f.key, params: ["id": .string(f.key)], pre: ["score": .int(score)],
                         before: ["confirmed": .int(score)], after: ["confirmed": .null])]
        }
        return [c.manual(f, "the event is in no stream any more, so there is nothing to replay it from")]
    }
}

/// `confirm-event`: add the event to persistence:confirmed at its persisted_at.
struct ConfirmEventAction: RepairAction {
    let name = "confirm-event"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard try c.stores.confirmedScore(f.key) == nil else { return [] }
        let at = try c.stores.nodes(f.key).first?.fields["persisted_at"]?.intValue ?? c.now
        return [Self.confirm(f, c, f.key, score: at)]
    }

    static func confirm(_ f: FindingInput, _ c: PlanContext, _ id: String, score: Int64) -> RepairOperation {
        c.op(f, ConfirmEventOperation(), id, params: ["id": .string(id), "score": .int(score)], pre: ["confirmed": false],
             before: ["confirmed": .null], after: ["confirmed": .int(score)])
    }
}

/// `merge-nodes`: merge duplicate :Node copies into the oldest, moving their edges.
struct MergeNodesAction: RepairAction {
    let name = "merge-nodes"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        let copies = try c.stores.nodes(f.key)
        guard copies.count > 1 else { return [] }
        return [c.op(f, MergeNodesOperation(), f.key, params: ["id": .string(f.key)], pre: ["copies": .int(Int64(copies.count))],
                     before: ["copies": .int(Int64(copies.count))], after: ["copies": 1, "keep": .int(copies[0].internalId)])]
    }
}

/// `relink-parent`: make the node's PARENT_OF edge the one its stream entry names.
struct RelinkParentAction: RepairAction {
    let name = "relink-parent"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard let e = try c.stores.streamEvent(run: f.run, id: f.key) else {
            return [c.manual(f, "the event is not in its run's stream any more; its parentId cannot be read")]
        }
        let parents = try c.stores.parents(f.key)
        if parents == [e.parentId] {
            let why = f.rule == "event.cross-workflow-edge" ? "the event itself names a parent in another run (\(e.parentId))"
                : "the event's parent \(e.parentId) never arrived; only the producer can supply it"
            return [c.manual(f, why)]
        }
        return [c.op(f, RelinkParentOperation(), f.key,
                     params: ["id": .string(f.key), "parentId": .string(e.parentId), "workflowId": .string(e.workflowId), "parentIsRun": .bool(e.parentIsRun)],
                     pre: ["parents": .array(parents.map(JSON.string))],
                     before: ["parents": .array(parents.map(JSON.string))], after: ["parents": [.string(e.parentId)]])]
    }
}

/// `rewrite-node-from-stream`: the node takes the stream's type, run, timestamp and content.
struct RewriteNodeFromStreamAction: RepairAction {
    let name = "rewrite-node-from-stream"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard let e = try c.stores.streamEvent(run: f.run, id: f.key), let node = try c.stores.nodes(f.key).first else {
            return [c.manual(f, "the stream no longer holds the event; the graph's copy is all there is")]
        }
        return [c.op(f, RewriteNodeOperation(), f.key, params: ["event": e.json], pre: ["digest": .string(RepairStores.nodeDigest(node.fields))],
                     before: node.fields, after: RewriteNodeOperation.target(e))]
    }
}

// MARK: Operations

/// Replays events whose node is still absent, in one MERGE batch (the sync's own write).
struct ReplayEventOperation: OperationKind {
    let name = "replay-event"
    let store = RepairStore.graph
    let order = 1
    /// The node, its parent (a node, or the run for a first event) and its run: the sync's write may touch all three.
    func imaged(_ op: RepairOperation) -> [RecordAddress] {
        guard let e = op.params["event"], let id = e["id"]?.stringValue else { return [] }
        let run = e["metadata"]?["workflowId"]?.stringValue, parent = e["parentId"]?.stringValue
        var out = [RecordAddress.node(id)]
        if let parent, parent != run { out.append(.node(parent)) }
        if let run { out.append(.run(run)) }
        return out
    }

    /// The undo removes what the replay created (edges go with a node), or puts back what it saw before:
    /// after-images need the properties only (its guard compares those).
    var edgesAfter: Bool { false }

    /// Narrowed to what the write changes beyond the new node (which its undo removes with its edges):
    /// a parent only when the sync will create it as a placeholder, the run only when it is created or
    /// the event moves its state. Two existence queries per batch instead of whole images of every neighbour.
    func imaged(_ ops: [RepairOperation], _ stores: RepairStores) throws -> [[RecordAddress]] {
        let events = ops.map { $0.params["event"].flatMap { try? Event(validating: $0) } }
        let nodes = Set(events.compactMap { $0.flatMap { $0.parentIsRun ? nil : $0.parentId } } + events.compactMap { $0?.id })
        let runs = Set(events.compactMap { $0?.workflowId })
        let presentParents = nodes.isEmpty ? [] : Set(try stores.graph.run("MATCH (n:Node) WHERE n.id IN $ids RETURN n.id",
                                                                        parameters: ["ids": .list(nodes.map { .string($0) })], readOnly: true).records.compactMap { $0[0].stringValue })
        let presentRuns = runs.isEmpty ? [] : Set(try stores.graph.run("MATCH (r:WorkflowRun) WHERE r.id IN $ids RETURN r.id",
                                                                    parameters: ["ids": .list(runs.map { .string($0) })], readOnly: true).records.compactMap { $0[0].stringValue })
        return zip(ops, events).map { op, e in
            guard let e else { return imaged(op) }
            // A node the write creates is imaged by the apply itself (its properties are the write's): only one that is
            // there already (a placeholder the replay fills in) is read.
            var out: [RecordAddress] = presentParents.contains(e.id) ? [.node(e.id)] : []
            if !e.parentIsRun && !presentParents.contains(e.parentId) { out.append(.node(e.parentId)) }
            if !presentRuns.contains(e.workflowId) || e.newRunState != nil { out.append(.run(e.workflowId)) }
            return out
        }
    }
    func apply(_ ops: [RepairOperation], _ c: ApplyContext) throws -> [Applier.Result] {
        var events: [(RepairOperation, Event)] = []
        var out: [Applier.Result] = []
        for op in ops {
            guard let j = op.params["event"], let e = try? Event(validating: j) else {
                out.append(Applier.Result(operation: op, outcome: .failed, reason: "the plan's event is not a valid event"))
                continue
            }
            events.append((op, e))
        }
        let present = Set(try c.stores.graph.run("MATCH (n:Node) WHERE n.id IN $ids AND n.placeholder IS NULL RETURN n.id",
                                                parameters: ["ids": .list(events.map { .string($0.1.id) })], readOnly: true).records.compactMap { $0[0].stringValue })
        let missing = events.filter { !present.contains($0.1.id) }
        let persistedAt = nowMilliseconds()
        if !missing.isEmpty {
            try SyncEngine(redis: c.stores.redis, graph: c.stores.graph).write(missing.map(\.1), persistedAt: persistedAt)
        }
        for (op, e) in events {
            var result = Applier.Result.applied(op, present.contains(e.id) ? "already in the graph" : nil)
            result.operation.images = []  // nothing written: nothing to undo
            if !present.contains(e.id) {
                // The node as the write made it (a placeholder it filled in is imaged by the applier, read before and after).
                result.operation.images = [["dataset": .string(DatasetRole.graphEvents.conventionalName), "address": RecordAddress.node(e.id).json, "before": .null,
                                            "after": [["properties": .object(SyncEngine.nodeProperties(e, persistedAt: persistedAt)), "edges": []]]]]
            }
            out.append(result)
        }
        return out
    }
}

struct MergeNodesOperation: SingleOperationKind {
    let name = "merge-nodes"
    let store = RepairStore.graph
    let order = 2
    /// Every copy, with its edges: the undo recreates them.
    func imaged(_ op: RepairOperation) -> [RecordAddress] { op.params["id"]?.stringValue.map { [.node($0)] } ?? [] }
    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let id = op.params["id"]?.stringValue, let copies = op.precondition["copies"]?.intValue else { return .skipped(op, "bad parameters") }
        let now = try c.stores.nodes(id).count
        if now == 1 { return .applied(op, "already one node") }
        guard now == Int(copies) else { return .skipped(op, "the node now has \(now) copies; the plan saw \(copies)") }
        try c.stores.graph.run("""
            MATCH (n:Node {id: $id}) WHERE n.placeholder IS NULL WITH n ORDER BY id(n) WITH collect(n) AS ns WHERE size(ns) = $copies
            WITH ns[0] AS keep, ns[1..] AS rest UNWIND rest AS dup
            OPTIONAL MATCH (p)-[:PARENT_OF]->(dup) WITH keep, dup, collect(DISTINCT p) AS ps
            OPTIONAL MATCH (dup)-[:PARENT_OF]->(c) WITH keep, dup, ps, collect(DISTINCT c) AS cs
            FOREACH (p IN ps | MERGE (p)-[:PARENT_OF]->(keep))
            FOREACH (c IN cs | MERGE (keep)-[:PARENT_OF]->(c))
            DETACH DELETE dup
            """, parameters: ["id": .string(id), "copies": .int(copies)])
        return try c.stores.nodes(id).count == 1 ? .applied(op) : .skipped(op, "the merge found a different number of copies")
    }
}

struct RelinkParentOperation: SingleOperationKind {
    let name = "relink-parent"
    let store = RepairStore.graph
    let order = 3
    /// The node (its old parent edge) and the new parent (which the relink may create).
    func imaged(_ op: RepairOperation) -> [RecordAddress] {
        guard let id = op.params["id"]?.stringValue, let pid = op.params["parentId"]?.stringValue else { return [] }
        return [.node(id), op.params["parentIsRun"]?.boolValue == true ? .run(pid) : .node(pid)]
    }
    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let id = op.params["id"]?.stringValue, let pid = op.params["parentId"]?.stringValue,
            let wf = op.params["workflowId"]?.stringValue, let expected = op.precondition["parents"]?.arrayValue?.compactMap(\.stringValue)
        else { return .skipped(op, "bad parameters") }
        let current = try c.stores.parents(id)
        if current == [pid] { return .applied(op, "already linked to \(pid)") }
        guard current == expected else { return .skipped(op, "the node's parents are now \(current); the plan saw \(expected)") }
        let parent = op.params["parentIsRun"]?.boolValue == true
            ? "MERGE (p:WorkflowRun {id: $pid}) ON CREATE SET p.state = 'running', p.contentStatus = 'none', p.createdAt = $now, p.run_bucket = $pbucket"
            : "MERGE (p:Node {id: $pid}) ON CREATE SET p.placeholder = true, p.workflow_id = $wf, p.persisted_at = $now, p.run_bucket = $wbucket"
        // The statement checks the parents itself (one FalkorDB statement is atomic).
        let written = try c.stores.graph.run("""
            MATCH (n:Node {id: $id}) WHERE n.placeholder IS NULL
            OPTIONAL MATCH (x)-[:PARENT_OF]->(n)
            WITH n, collect(DISTINCT x.id) AS now
            WHERE size(now) = size($expected) AND all(e IN $expected WHERE e IN now)
            OPTIONAL MATCH (y)-[old:PARENT_OF]->(n)
            DELETE old
            WITH DISTINCT n
            \(parent)
            MERGE (p)-[:PARENT_OF]->(n)
            RETURN count(n)
            """, parameters: ["id": .string(id), "pid": .string(pid), "wf": .string(wf), "now": .int(nowMilliseconds()),
                              "pbucket": .int(Int64(RunBucket.of(pid))), "wbucket": .int(Int64(RunBucket.of(wf))),
                              "expected": .list(expected.map(GraphValue.string))]).records.first?[0].intValue ?? 0
        guard written > 0 else { return .skipped(op, "the node's parents changed while the repair ran") }
        let after = try c.stores.parents(id)
        return after == [pid] ? .applied(op) : .skipped(op, "after relinking, the parents are \(after)")
    }
}

struct RewriteNodeOperation: SingleOperationKind {
    let name = "rewrite-node"
    let store = RepairStore.graph
    let order = 4
    func imaged(_ op: RepairOperation) -> [RecordAddress] { op.params["event"]?["id"]?.stringValue.map { [.node($0)] } ?? [] }

    static func target(_ e: Event) -> JSON {
        ["type": .string(e.type), "workflow_id": .string(e.workflowId), "timestamp": .int(e.timestamp), "content": .string(e.payload.encoded())]
    }

    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let j = op.params["event"], let e = try? Event(validating: j), let digest = op.precondition["digest"]?.stringValue else {
            return .skipped(op, "bad parameters")
        }
        guard let node = try c.stores.nodes(e.id).first else { return .skipped(op, "the node is gone") }
        if RepairStores.nodeDigest(node.fields) == RepairStores.nodeDigest(Self.target(e)) { return .applied(op, "already as in the stream") }
        guard RepairStores.nodeDigest(node.fields) == digest else { return .skipped(op, "the node changed since the plan was made") }
        var before = node.fields.objectValue ?? [:]
        before.removeValue(forKey: "persisted_at")
        let (cond, condParams) = Applier.unchanged("n", before, prefix: "b")
        var params: [String: GraphValue] = ["id": .string(e.id), "type": .string(e.type), "wf": .string(e.workflowId), "ts": .int(e.timestamp),
                                            "content": .string(e.payload.encoded()), "metadata": .string(e.metadata.json.encoded()),
                                            "bucket": .int(Int64(RunBucket.of(e.workflowId)))]
        params.merge(condParams) { a, _ in a }
        let written = try c.stores.graph.run("""
            MATCH (n:Node {id: $id}) WHERE n.placeholder IS NULL AND \(cond)
            SET n.type = $type, n.workflow_id = $wf, n.timestamp = $ts, n.content = $content, n.metadata = $metadata, n.run_bucket = $bucket
            RETURN count(n)
            """, parameters: params).records.first?[0].intValue ?? 0
        return written > 0 ? .applied(op) : .skipped(op, "the node changed while the repair ran")
    }
}

/// Confirms events in one WATCH/MULTI per batch; an already-confirmed one counts as applied.
struct ConfirmEventOperation: OperationKind {
    let name = "confirm-event"
    let store = RepairStore.redis
    let order = 1
    func apply(_ ops: [RepairOperation], _ c: ApplyContext) throws -> [Applier.Result] {
        for _ in 0..<5 {
            var already: Set<String> = []
            let committed = try c.stores.redis.transaction(watch: [RedisKeys.confirmed]) { () throws -> [[any RedisArgument]]? in
                let scores = try c.stores.redis.pipeline(ops.map { ["ZSCORE", RedisKeys.confirmed, $0.key] })
                for (op, s) in zip(ops, scores) where !s.isNull { already.insert(op.key) }
                return ops.filter { !already.contains($0.key) }.map { ["ZADD", RedisKeys.confirmed, $0.params["score"]?.intValue ?? nowMilliseconds(), $0.key] }
            }
            if committed != nil || already.count == ops.count {
                return ops.map { .applied($0, already.contains($0.key) ? "already confirmed" : nil) }
            }
        }
        return ops.map { .skipped($0, "persistence:confirmed kept changing; retry the plan") }
    }

    /// Removes the confirmation this operation added (even though the graph holds the event: the plan's before had none).
    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard let score = op.params["score"] else { return nil }
        return op.inverse(RemoveConfirmationOperation().name, params: ["id": .string(op.key), "undo": true], precondition: ["score": score])
    }
}

struct RemoveConfirmationOperation: RedisOperationKind {
    let name = "remove-confirmation"
    let store = RepairStore.redis
    func watched(_ op: RepairOperation) -> [String] { [RedisKeys.confirmed] }
    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        let score = try c.stores.confirmedScore(op.key)
        if score == nil { return .settled(.applied, "already unconfirmed") }
        guard score == op.precondition["score"]?.intValue else { return .settled(.skipped, "confirmed again since the plan was made") }
        // The graph wins only while it lacks the event: once a node holds it, the confirmation is right
        // (unless this undoes a confirmation a plan added).
        if op.params["undo"]?.boolValue != true, !(try c.stores.nodes(op.key)).isEmpty {
            return .settled(.skipped, "the graph holds the event now; its confirmation stays")
        }
        return .write([["ZREM", RedisKeys.confirmed, op.key]])
    }

    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard let score = op.precondition["score"] else { return nil }
        return op.inverse(ConfirmEventOperation().name, params: ["id": .string(op.key), "score": score], precondition: ["confirmed": false])
    }
}
