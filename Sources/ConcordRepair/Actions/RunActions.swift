import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis
import Foundation

// Runs and drafts: PostgreSQL wins for drafts; the graph's run state wins over Redis's.

/// `create-run`: the missing :WorkflowRun, from its events, status and drafts.
struct CreateRunAction: RepairAction {
    let name = "create-run"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        let source = f.evidence["dataset"]?.stringValue ?? ""
        guard c.rules.datasets[source]?.store == "graph" || source == c.rules.datasets.roles[.eventStreams] else {
            return [c.manual(f, "only \(source) names this run; no event of it exists to rebuild it from")]
        }
        guard try c.stores.run(f.key) == nil else { return [] }
        let status = try c.stores.status(f.key)
        let stream = try c.stores.stream(f.key).compactMap { $0.event?["timestamp"]?.intValue }
        let draft = try c.stores.newestDraft(f.key)
        let published = try c.stores.newestPublished(f.key)
        var fields: [String: JSON] = ["state": .string(status["state"] ?? "running"), "contentStatus": .string(draft?.status ?? "none"),
                                      "createdAt": .int(stream.min() ?? c.now)]
        if draft?.status == "published", let p = published { fields["publishedAt"] = .int(p.updatedAt) }
        return [c.op(f, CreateRunOperation(), f.key, params: ["id": .string(f.key), "fields": .object(fields)], pre: ["absent": true],
                     before: .null, after: .object(fields))]
    }
}

/// `set-redis-state`: the run's Redis `state` takes the graph's.
struct SetRedisStateAction: RepairAction {
    let name = "set-redis-state"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard let graphRun = try c.stores.run(f.key), let state = graphRun["state"]?.stringValue else { return [] }
        let current: JSON = ["state": try c.stores.status(f.key)["state"].map(JSON.string) ?? .null]
        return [c.op(f, SetRedisStateOperation(), f.key, params: ["run": .string(f.key), "state": .string(state)],
                     pre: current, before: current, after: ["state": .string(state)])]
    }
}

/// `set-run-published`: the graph's run is marked published from PostgreSQL's published draft.
struct SetRunPublishedAction: RepairAction {
    let name = "set-run-published"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard let run = f.run, let graphRun = try c.stores.run(run), let p = try c.stores.newestPublished(run) else { return [] }
        return [SetRunContentOperation.plan(f, c, run, graphRun, status: "published", publishedAt: .int(p.updatedAt))]
    }
}

/// `set-run-content-status`: the graph's run takes its content status from PostgreSQL's drafts.
struct SetRunContentStatusAction: RepairAction {
    let name = "set-run-content-status"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard let graphRun = try c.stores.run(f.key) else { return [] }
        let newest = try c.stores.newestDraft(f.key)
        let published = try c.stores.newestPublished(f.key)
        let status = published != nil ? "published" : (newest?.status ?? "none")
        return [SetRunContentOperation.plan(f, c, f.key, graphRun, status: status, publishedAt: published.map { .int($0.updatedAt) } ?? .null)]
    }
}

/// `set-redis-content-status`: the run's Redis contentStatus/draftId take its newest draft's.
struct SetRedisContentStatusAction: RepairAction {
    let name = "set-redis-content-status"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard let run = f.run, let newest = try c.stores.newestDraft(run) else { return [] }
        let current = try c.stores.status(run)
        let pre: JSON = ["contentStatus": current["contentStatus"].map(JSON.string) ?? .null, "draftId": current["draftId"].map(JSON.string) ?? .null]
        var before = pre.objectValue ?? [:]
        before["updatedAt"] = current["updatedAt"].map(JSON.string) ?? .null  // for the undo
        return [c.op(f, SetRedisContentOperation(), run, params: ["run": .string(run), "contentStatus": .string(newest.status), "draftId": .string(newest.id)],
                     pre: pre, before: .object(before), after: ["contentStatus": .string(newest.status), "draftId": .string(newest.id)])]
    }
}

// MARK: Operations

struct CreateRunOperation: SingleOperationKind {
    let name = "create-run"
    let store = RepairStore.graph
    let order = 0
    func imaged(_ op: RepairOperation) -> [RecordAddress] { op.params["id"]?.stringValue.map { [.run($0)] } ?? [] }
    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let id = op.params["id"]?.stringValue, let fields = op.params["fields"]?.objectValue else { return .skipped(op, "bad parameters") }
        if try c.stores.run(id) != nil { return .applied(op, "already in the graph") }
        var params: [String: GraphValue] = ["id": .string(id), "bucket": .int(Int64(RunBucket.of(id)))]
        var sets: [String] = ["r.\(RunBucket.property) = $bucket"]
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) where ["state", "contentStatus", "publishedAt", "createdAt"].contains(k) {
            params[k] = GraphValue(v)
            sets.append("r.\(k) = $\(k)")
        }
        try c.stores.graph.run("MERGE (r:WorkflowRun {id: $id}) ON CREATE SET \(sets.joined(separator: ", "))", parameters: params)
        return .applied(op)
    }
}

/// The graph's run takes PostgreSQL's content status; its current content is the precondition.
struct SetRunContentOperation: SingleOperationKind {
    let name = "set-run-content"
    let store = RepairStore.graph
    let order = 5

    static func plan(_ f: FindingInput, _ c: PlanContext, _ run: String, _ graphRun: JSON, status: String, publishedAt: JSON) -> RepairOperation {
        let now: JSON = ["contentStatus": graphRun["contentStatus"] ?? .null, "publishedAt": graphRun["publishedAt"] ?? .null]
        let target: JSON = ["contentStatus": .string(status), "publishedAt": publishedAt]
        return c.op(f, SetRunContentOperation(), run, params: ["run": .string(run), "contentStatus": .string(status), "publishedAt": publishedAt],
                    pre: now, before: now, after: target)
    }

    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let run = op.params["run"]?.stringValue, let status = op.params["contentStatus"]?.stringValue else { return .skipped(op, "bad parameters") }
        guard let current = try c.stores.run(run) else { return .skipped(op, "the run is gone") }
        let now: JSON = ["contentStatus": current["contentStatus"] ?? .null, "publishedAt": current["publishedAt"] ?? .null]
        let target: JSON = ["contentStatus": .string(status), "publishedAt": op.params["publishedAt"] ?? .null]
        if now == target { return .applied(op, "already so") }
        guard now == op.precondition else { return .skipped(op, "the run's content is now \(now.encoded()); the plan saw \(op.precondition.encoded())") }
        let (cond, condParams) = Applier.unchanged("r", op.precondition.objectValue ?? [:], prefix: "b")
        var params: [String: GraphValue] = ["id": .string(run), "status": .string(status), "at": GraphValue(op.params["publishedAt"] ?? .null)]
        params.merge(condParams) { a, _ in a }
        let written = try c.stores.graph.run("MATCH (r:WorkflowRun {id: $id}) WHERE \(cond) SET r.contentStatus = $status, r.publishedAt = $at RETURN count(r)",
                                             parameters: params).records.first?[0].intValue ?? 0
        return written > 0 ? .applied(op) : .skipped(op, "the run's content changed while the repair ran")
    }

    /// Back to the content the plan saw, if the run still holds what the plan wrote.
    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard let run = op.params["run"], let status = op.before["contentStatus"]?.stringValue else { return nil }
        return op.inverse(name, params: ["run": run, "contentStatus": .string(status), "publishedAt": op.before["publishedAt"] ?? .null])
    }
}

struct SetRedisStateOperation: RedisOperationKind {
    let name = "set-redis-state"
    let store = RepairStore.redis
    func watched(_ op: RepairOperation) -> [String] { [RedisKeys.status(op.params["run"]?.stringValue ?? "")] }
    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        // A null state (undoing a write to a status that had none): the field is removed.
        guard let run = op.params["run"]?.stringValue, let target = op.params["state"], target.isNull || target.stringValue != nil else {
            return .settled(.skipped, "bad parameters")
        }
        let state = target.stringValue
        let now = try c.stores.status(run)["state"]
        if now == state { return .settled(.applied, "already \(state ?? "unset")") }
        guard now == op.precondition["state"]?.stringValue else { return .settled(.skipped, "Redis state is now \(now ?? "unset")") }
        return .write([state.map { ["HSET", RedisKeys.status(run), "state", $0] } ?? ["HDEL", RedisKeys.status(run), "state"]])
    }

    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard let run = op.params["run"] else { return nil }
        return op.inverse(name, params: ["run": run, "state": op.before["state"] ?? .null])
    }
}

struct SetRedisContentOperation: RedisOperationKind {
    let name = "set-redis-content"
    let store = RepairStore.redis
    func watched(_ op: RepairOperation) -> [String] { [RedisKeys.status(op.params["run"]?.stringValue ?? "")] }
    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        guard let run = op.params["run"]?.stringValue, let status = op.params["contentStatus"]?.stringValue,
            let draft = op.params["draftId"]?.stringValue
        else { return .settled(.skipped, "bad parameters") }
        let s = try c.stores.status(run)
        let now: JSON = ["contentStatus": s["contentStatus"].map(JSON.string) ?? .null, "draftId": s["draftId"].map(JSON.string) ?? .null]
        if now == ["contentStatus": .string(status), "draftId": .string(draft)] { return .settled(.applied, "already so") }
        guard now == op.precondition else { return .settled(.skipped, "Redis shows \(now.encoded()) now") }
        // `updatedAt` is now, or (undoing) the value the status had before.
        let updated: [any RedisArgument] = op.params["updatedAt"].map { $0.isNull ? [] : ["updatedAt", $0.stringValue ?? $0.encoded()] }
            ?? ["updatedAt", nowMilliseconds()]
        var writes: [[any RedisArgument]] = [["HSET", RedisKeys.status(run), "contentStatus", status, "draftId", draft] + updated]
        if op.params["updatedAt"]?.isNull == true { writes.append(["HDEL", RedisKeys.status(run), "updatedAt"]) }
        return .write(writes)
    }

    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard let run = op.params["run"], let status = op.before["contentStatus"]?.stringValue, let draft = op.before["draftId"]?.stringValue else { return nil }
        var before = op.before.objectValue ?? [:]
        let updated = before.removeValue(forKey: "updatedAt") ?? .null
        return op.inverse(name, params: ["run": run, "contentStatus": .string(status), "draftId": .string(draft), "updatedAt": updated],
                          after: .object(before))
    }
}
