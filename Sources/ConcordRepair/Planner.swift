import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordModel
import Foundation

/// Turns an audit's findings into repair operations, following each rule's
/// declared repair and the data model's "which store wins": PostgreSQL for
/// drafts; the run's Redis stream for events it still holds; the graph for
/// events the stream has trimmed. What cannot be decided that way becomes a
/// manual step carrying the evidence. The current state of every record is
/// read to write its precondition.
public struct Planner {
    let stores: RepairStores
    let rules: RuleSet
    let now: Int64

    public init(stores: RepairStores, rules: RuleSet, now: Int64 = nowMilliseconds()) {
        self.stores = stores
        self.rules = rules
        self.now = now
    }

    /// Plans every finding of `report` (a parsed `concord.audit/1` JSON) whose rule passes the filters.
    public func plan(report: JSON, file: String, only: [String] = [], exclude: [String] = []) throws -> RepairPlan {
        let findings = try AuditReport.findings(fromReport: report, file: file)
        // A finding that cannot know its run (a confirmation is only an id) takes it from another finding of the same record.
        var runOf: [String: String] = [:]
        for f in findings {
            if let key = f["key"]?.stringValue, let run = f["workflowId"]?.stringValue { runOf[key] = runOf[key] ?? run }
        }
        var ops: [RepairOperation] = []
        var seen: Set<String> = []
        for var f in findings {
            guard let rule = f["rule"]?.stringValue, let key = f["key"]?.stringValue else { continue }
            if !only.isEmpty && !only.contains(rule) { continue }
            if exclude.contains(rule) { continue }
            if f["workflowId"]?.stringValue == nil, let run = runOf[key], case .object(var o) = f {
                o["workflowId"] = .string(run)
                f = .object(o)
            }
            for op in try operations(for: f, rule: rule, key: key) where !seen.contains(op.id) {
                seen.insert(op.id)
                ops.append(op)
            }
        }
        ops.sort { (Applier.phase($0), $0.action, $0.key) < (Applier.phase($1), $1.action, $1.key) }
        let created = Date()
        return RepairPlan(planId: "plan-" + String(SHA256.hex("\(created.timeIntervalSince1970)\(UInt64.random(in: 0...UInt64.max))").prefix(16)),
                          sourceAuditId: report["auditId"]?.stringValue ?? "", createdAt: created, rulesDigest: rules.digest, operations: ops)
    }

    func manual(_ f: JSON, _ rule: String, _ key: String, _ reason: String) -> RepairOperation {
        RepairOperation(findingId: f["id"]?.stringValue ?? "", rule: rule, store: "manual", action: "manual", key: key,
                        params: ["reason": .string(reason), "message": f["message"] ?? .null, "evidence": f["evidence"] ?? .null,
                                 "workflowId": f["workflowId"] ?? .null],
                        precondition: .null, before: .null, after: .null)
    }

    func op(_ f: JSON, _ rule: String, _ store: String, _ action: String, _ key: String, params: JSON, pre: JSON, before: JSON, after: JSON) -> RepairOperation {
        RepairOperation(findingId: f["id"]?.stringValue ?? "", rule: rule, store: store, action: action, key: key, params: params,
                        precondition: pre, before: before, after: after)
    }

    func operations(for f: JSON, rule: String, key: String) throws -> [RepairOperation] {
        let declared = rules.rules.first { $0.id == rule }?.repair["action"]?.stringValue ?? "manual"
        let run = f["workflowId"]?.stringValue
        let evidence = f["evidence"] ?? .null
        switch declared {
        case "replay-event", "replay-event-or-unconfirm":
            if let e = try stores.streamEvent(run: run ?? evidence["workflowId"]?.stringValue, id: key) {
                var out = [replay(f, rule, e)]
                if try stores.confirmedScore(key) == nil { out.append(confirm(f, rule, key, score: now)) }
                return out
            }
            if declared == "replay-event-or-unconfirm", let score = try stores.confirmedScore(key) {
                // The stream no longer holds it and the graph never did: the graph wins, so the confirmation goes.
                return [op(f, rule, "redis", "remove-confirmation", key, params: ["id": .string(key)], pre: ["score": .int(score)],
                           before: ["confirmed": .int(score)], after: ["confirmed": .null])]
            }
            return [manual(f, rule, key, "the event is in no stream any more, so there is nothing to replay it from")]

        case "confirm-event":
            guard try stores.confirmedScore(key) == nil else { return [] }
            let at = try stores.nodes(key).first?.fields["persisted_at"]?.intValue ?? now
            return [confirm(f, rule, key, score: at)]

        case "merge-nodes":
            let copies = try stores.nodes(key)
            guard copies.count > 1 else { return [] }
            return [op(f, rule, "graph", "merge-nodes", key, params: ["id": .string(key)],
                       pre: ["copies": .int(Int64(copies.count))],
                       before: ["copies": .int(Int64(copies.count))], after: ["copies": 1, "keep": .int(copies[0].internalId)])]

        case "dedupe-queue":
            let q = try stores.list(RedisKeys.queue), p = try stores.list(RedisKeys.processing)
            let inQueue = q.filter { RepairStores.eventId($0) == key }, inProcessing = p.filter { RepairStores.eventId($0) == key }
            let total = inQueue.count + inProcessing.count
            guard total > 1 else { return [] }
            // Keep one copy: the one being processed if there is one, else the first queued.
            let remove = inProcessing.isEmpty ? inQueue.count - 1 : inQueue.count
            return [op(f, rule, "redis", "dedupe-queue", key, params: ["id": .string(key), "removeFromQueue": .int(Int64(remove))],
                       pre: ["queue": .int(Int64(inQueue.count)), "processing": .int(Int64(inProcessing.count))],
                       before: ["copies": .int(Int64(total))], after: ["copies": 1])]

        case "relink-parent":
            guard let e = try stores.streamEvent(run: run, id: key) else {
                return [manual(f, rule, key, "the event is not in its run's stream any more; its parentId cannot be read")]
            }
            let parents = try stores.parents(key)
            if parents == [e.parentId] {
                let why = rule == "event.cross-workflow-edge" ? "the event itself names a parent in another run (\(e.parentId))"
                    : "the event's parent \(e.parentId) never arrived; only the producer can supply it"
                return [manual(f, rule, key, why)]
            }
            return [op(f, rule, "graph", "relink-parent", key,
                       params: ["id": .string(key), "parentId": .string(e.parentId), "workflowId": .string(e.workflowId), "parentIsRun": .bool(e.parentIsRun)],
                       pre: ["parents": .array(parents.map(JSON.string))],
                       before: ["parents": .array(parents.map(JSON.string))], after: ["parents": [.string(e.parentId)]])]

        case "rewrite-node-from-stream":
            guard let e = try stores.streamEvent(run: run, id: key), let node = try stores.nodes(key).first else {
                return [manual(f, rule, key, "the stream no longer holds the event; the graph's copy is all there is")]
            }
            return [op(f, rule, "graph", "rewrite-node", key, params: ["event": e.json],
                       pre: ["digest": .string(RepairStores.nodeDigest(node.fields))],
                       before: node.fields, after: ["type": .string(e.type), "workflow_id": .string(e.workflowId), "timestamp": .int(e.timestamp),
                                                    "content": .string(e.payload.encoded())])]

        case "requeue":
            let p = try stores.list(RedisKeys.processing)
            guard let raw = p.first(where: { RepairStores.eventId($0) == key }) else {
                return [manual(f, rule, key, "the entry waits in persistence:queue: nothing to requeue; is the sync running?")]
            }
            return [op(f, rule, "redis", "requeue", key, params: ["raw": .string(raw)], pre: ["inProcessing": true],
                       before: ["list": "persistence:processing"], after: ["list": "persistence:queue"])]

        case "dead-letter":
            guard let at = evidence["at"]?.stringValue, let hash = at.lastIndex(of: "#") else {
                return [manual(f, rule, key, "the entry's location is not in the finding")]
            }
            let redisKey = String(at[..<hash]), position = String(at[at.index(after: hash)...])
            let raw = evidence["raw"]?.stringValue ?? ""
            let problem = evidence["problem"]?.stringValue ?? "malformed"
            return [op(f, rule, "redis", "dead-letter", key,
                       params: ["key": .string(redisKey), "position": .string(position), "raw": .string(raw), "error": .string(problem)],
                       pre: ["raw": .string(raw)], before: ["at": .string(at)], after: ["list": "persistence:deadletter"])]

        case "create-run":
            let source = evidence["dataset"]?.stringValue ?? ""
            guard source.hasPrefix("graph.") || source == "redis.streams" else {
                return [manual(f, rule, key, "only \(source) names this run; no event of it exists to rebuild it from")]
            }
            guard try stores.run(key) == nil else { return [] }
            let status = try stores.status(key)
            let stream = try stores.stream(key).compactMap { $0.event?["timestamp"]?.intValue }
            let draft = try stores.newestDraft(key)
            let published = try stores.newestPublished(key)
            var fields: [String: JSON] = ["state": .string(status["state"] ?? "running"), "contentStatus": .string(draft?.status ?? "none"),
                                          "createdAt": .int(stream.min() ?? now)]
            if draft?.status == "published", let p = published { fields["publishedAt"] = .int(p.updatedAt) }
            return [op(f, rule, "graph", "create-run", key, params: ["id": .string(key), "fields": .object(fields)], pre: ["absent": true],
                       before: .null, after: .object(fields))]

        case "set-redis-state":
            guard let graphRun = try stores.run(key), let state = graphRun["state"]?.stringValue else { return [] }
            let current: JSON = ["state": try stores.status(key)["state"].map(JSON.string) ?? .null]
            return [op(f, rule, "redis", "set-redis-state", key, params: ["run": .string(key), "state": .string(state)],
                       pre: current, before: current, after: ["state": .string(state)])]

        case "set-run-published":
            guard let run, let graphRun = try stores.run(run), let p = try stores.newestPublished(run) else { return [] }
            return [setRunContent(f, rule, run, graphRun, status: "published", publishedAt: .int(p.updatedAt))]

        case "set-run-content-status":
            guard let graphRun = try stores.run(key) else { return [] }
            let newest = try stores.newestDraft(key)
            let published = try stores.newestPublished(key)
            let status = published != nil ? "published" : (newest?.status ?? "none")
            return [setRunContent(f, rule, key, graphRun, status: status, publishedAt: published.map { .int($0.updatedAt) } ?? .null)]

        case "set-redis-content-status":
            guard let run, let newest = try stores.newestDraft(run) else { return [] }
            let current = try stores.status(run)
            let before: JSON = ["contentStatus": current["contentStatus"].map(JSON.string) ?? .null, "draftId": current["draftId"].map(JSON.string) ?? .null]
            return [op(f, rule, "redis", "set-redis-content", run,
                       params: ["run": .string(run), "contentStatus": .string(newest.status), "draftId": .string(newest.id)],
                       pre: before, before: before, after: ["contentStatus": .string(newest.status), "draftId": .string(newest.id)])]

        default:
            let reason = rules.rules.first { $0.id == rule }?.repair["reason"]?.stringValue ?? "no automatic repair is declared for this rule"
            return [manual(f, rule, key, reason)]
        }
    }

    /// The graph's run takes PostgreSQL's content status; its current content is the precondition.
    func setRunContent(_ f: JSON, _ rule: String, _ run: String, _ graphRun: JSON, status: String, publishedAt: JSON) -> RepairOperation {
        let now: JSON = ["contentStatus": graphRun["contentStatus"] ?? .null, "publishedAt": graphRun["publishedAt"] ?? .null]
        let target: JSON = ["contentStatus": .string(status), "publishedAt": publishedAt]
        return op(f, rule, "graph", "set-run-content", run, params: ["run": .string(run), "contentStatus": .string(status), "publishedAt": publishedAt],
                  pre: now, before: now, after: target)
    }

    func replay(_ f: JSON, _ rule: String, _ e: Event) -> RepairOperation {
        op(f, rule, "graph", "replay-event", e.id, params: ["event": e.json], pre: ["absent": true],
           before: .null, after: ["node": .string(e.id), "parent": .string(e.parentId)])
    }

    func confirm(_ f: JSON, _ rule: String, _ id: String, score: Int64) -> RepairOperation {
        op(f, rule, "redis", "confirm-event", id, params: ["id": .string(id), "score": .int(score)], pre: ["confirmed": false],
           before: ["confirmed": .null], after: ["confirmed": .int(score)])
    }
}
