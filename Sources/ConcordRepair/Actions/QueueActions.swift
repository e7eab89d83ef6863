import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordRedis
import Foundation

/// What a Redis operation does, decided from its watched keys: settled
/// without a write (already done, or changed since the plan), or the writes.
enum RedisStep {
    case settled(Applier.Outcome, String)
    case write([[any RedisArgument]])
    /// Writes whose element edits the step computed itself (a list rewritten whole to put elements back).
    case edited([[any RedisArgument]], [ListEdit])
}

/// A Redis operation: WATCH its keys, decide from what they hold now
/// (the precondition, read under the watch), MULTI/EXEC the writes;
/// retried when a watched key changed in between.
protocol RedisOperationKind: SingleOperationKind {
    func watched(_ op: RepairOperation) -> [String]
    func step(_ op: RepairOperation, _ context: ApplyContext) throws -> RedisStep
}

extension RedisOperationKind {
    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        try watchedWrite(op, c, watch: watched(op), recordingListEdits: recordsListEdits) { try self.step(op, c) }
    }
}

/// WATCH `keys`, let `step` decide from what they hold now, MULTI/EXEC its
/// writes; retried (five times) when a watched key changed in between.
/// With `recordingListEdits`, the element edits the writes make to lists
/// (read under the same WATCH) go into the applied operation's images, for its undo.
func watchedWrite(_ op: RepairOperation, _ c: ApplyContext, watch keys: [String], recordingListEdits: Bool = false,
                  _ step: () throws -> RedisStep) throws -> Applier.Result {
    for _ in 0..<5 {
        var settled: Applier.Result?
        var edits: [ListEdit] = []
        let committed = try c.stores.redis.transaction(watch: keys) { () throws -> [[any RedisArgument]]? in
            switch try step() {
            case .settled(let outcome, let why):
                settled = Applier.Result(operation: op, outcome: outcome, reason: why)
                return nil
            case .write(let commands):
                if recordingListEdits {
                    var lists: [String: [String]] = [:]
                    for key in ListEdits.keys(commands) { lists[key] = try c.stores.list(key) }
                    edits = ListEdits.of(commands, lists: lists)
                }
                return commands
            case .edited(let commands, let made):
                edits = made
                return commands
            }
        }
        if let settled { return settled }
        if committed != nil {
            var result = Applier.Result.applied(op)
            if !edits.isEmpty { result.operation.images = .array((op.images.arrayValue ?? []) + [["edits": .array(edits.map(\.json))]]) }
            return result
        }
    }
    return .skipped(op, "\(keys.joined(separator: ", ")) kept changing; retry the plan")
}

/// `dedupe-queue`: keep one copy of an entry across the queue and processing.
struct DedupeQueueAction: RepairAction {
    let name = "dedupe-queue"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        let q = try c.stores.list(RedisKeys.queue), p = try c.stores.list(RedisKeys.processing)
        let inQueue = q.filter { RepairStores.eventId($0) == f.key }, inProcessing = p.filter { RepairStores.eventId($0) == f.key }
        let total = inQueue.count + inProcessing.count
        guard total > 1 else { return [] }
        // Keep one copy: the one being processed if there is one, else the first queued.
        let remove = inProcessing.isEmpty ? inQueue.count - 1 : inQueue.count
        return [c.op(f, DedupeQueueOperation(), f.key, params: ["id": .string(f.key), "removeFromQueue": .int(Int64(remove))],
                     pre: ["queue": .int(Int64(inQueue.count)), "processing": .int(Int64(inProcessing.count))],
                     before: ["copies": .int(Int64(total))], after: ["copies": 1])]
    }
}

/// `requeue`: a stuck entry goes from its processing list back to its queue
/// (default persistence:processing → persistence:queue; `list`/`into` name others).
struct RequeueAction: RepairAction {
    let name = "requeue"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        let from = c.repair["list"]?.stringValue ?? RedisKeys.processing, into = c.repair["into"]?.stringValue ?? RedisKeys.queue
        guard let raw = try c.stores.list(from).first(where: { RepairStores.eventId($0) == f.key }) else {
            return [c.manual(f, "the entry waits in \(into): nothing to requeue; is the sync running?")]
        }
        return [c.op(f, RequeueOperation(), f.key, params: ["raw": .string(raw), "from": .string(from), "into": .string(into)], pre: ["inProcessing": true],
                     before: ["list": .string(from)], after: ["list": .string(into)])]
    }
}

/// `dead-letter`: a malformed list element or stream entry moves to the dead-letter list
/// (default persistence:deadletter; `into` names another), located by the finding's `at`
/// (`<key>#<index or entry id>`) and matched by the exact bytes the audit read (`raw`).
struct DeadLetterAction: RepairAction {
    let name = "dead-letter"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard let at = f.evidence["at"]?.stringValue, let hash = at.lastIndex(of: "#"), let raw = f.evidence["raw"]?.stringValue else {
            return [c.manual(f, "the finding does not say where the entry is (evidence.at) and what it holds (evidence.raw)")]
        }
        let redisKey = String(at[..<hash]), position = String(at[at.index(after: hash)...])
        let problem = f.evidence["problem"]?.stringValue ?? "malformed"
        var params: [String: JSON] = ["key": .string(redisKey), "position": .string(position), "raw": .string(raw), "error": .string(problem)]
        if let into = c.repair["into"]?.stringValue { params["into"] = .string(into) }
        if let field = c.rules.datasets[f.evidence["dataset"]?.stringValue ?? ""].flatMap({ spec -> String? in
            if case .redisStream(_, let field, _) = spec.source { return field }
            return nil
        }) { params["field"] = .string(field) }
        return [c.op(f, DeadLetterOperation(), f.key, params: .object(params), pre: ["raw": .string(raw)], before: ["at": .string(at), "raw": .string(raw)],
                     after: ["list": .string(c.repair["into"]?.stringValue ?? RedisKeys.deadletter)])]
    }
}

struct DedupeQueueOperation: RedisOperationKind {
    let name = "dedupe-queue"
    let store = RepairStore.redis
    /// The copies removed, each with where it was: the undo puts them back there.
    var recordsListEdits: Bool { true }
    func watched(_ op: RepairOperation) -> [String] { [RedisKeys.queue, RedisKeys.processing] }
    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        let q = try c.stores.list(RedisKeys.queue).filter { RepairStores.eventId($0) == op.key }
        let p = try c.stores.list(RedisKeys.processing).filter { RepairStores.eventId($0) == op.key }
        if q.count + p.count <= 1 { return .settled(.applied, "already one copy") }
        guard q.count == Int(op.precondition["queue"]?.intValue ?? -1), p.count == Int(op.precondition["processing"]?.intValue ?? -1) else {
            return .settled(.skipped, "the queues changed: \(q.count) queued, \(p.count) processing")
        }
        let remove = Int(op.params["removeFromQueue"]?.intValue ?? 0)
        guard remove > 0 else { return .settled(.skipped, "the copies are all in persistence:processing; the sync's recovery takes them") }
        return .write(q.suffix(remove).map { ["LREM", RedisKeys.queue, -1, $0] })
    }
}

struct RequeueOperation: RedisOperationKind {
    let name = "requeue"
    let store = RepairStore.redis
    var recordsListEdits: Bool { true }
    func lists(_ op: RepairOperation) -> (String, String) {
        (op.params["from"]?.stringValue ?? RedisKeys.processing, op.params["into"]?.stringValue ?? RedisKeys.queue)
    }
    func watched(_ op: RepairOperation) -> [String] { let (a, b) = lists(op); return [a, b] }
    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        guard let raw = op.params["raw"]?.stringValue else { return .settled(.skipped, "bad parameters") }
        let (from, into) = lists(op)
        guard try c.stores.list(from).contains(raw) else {
            return try c.stores.list(into).contains(raw) ? .settled(.applied, "already queued") : .settled(.skipped, "the entry left \(from)")
        }
        return .write([["LREM", from, 1, raw], ["RPUSH", into, raw]])
    }
    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard let raw = op.params["raw"] else { return nil }
        let (from, into) = lists(op)
        return op.inverse(name, params: ["raw": raw, "from": .string(into), "into": .string(from)], precondition: ["inProcessing": true])
    }
}

struct DeadLetterOperation: RedisOperationKind {
    let name = "dead-letter"
    let store = RepairStore.redis
    /// The element taken out of its list (or the stream entry, imaged with its stream) and the letter put in.
    var recordsListEdits: Bool { true }
    func into(_ op: RepairOperation) -> String { op.params["into"]?.stringValue ?? RedisKeys.deadletter }
    func watched(_ op: RepairOperation) -> [String] { [op.params["key"]?.stringValue ?? "", into(op)] }
    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        guard let key = op.params["key"]?.stringValue, let pos = op.params["position"]?.stringValue, let raw = op.params["raw"]?.stringValue else {
            return .settled(.skipped, "bad parameters")
        }
        let into = into(op)
        let letter = JSON.object(["raw": .string(raw), "error": op.params["error"] ?? "malformed", "at": .int(nowMilliseconds()),
                                  "from": .string(key), "by": "concord apply", "operation": .string(op.id)]).encoded()
        // Gone from where the audit saw it: applied only if this plan's letter is there (a crash after EXEC), else skipped.
        func gone(_ what: String) throws -> RedisStep {
            let letters = try c.stores.list(into).compactMap { try? JSON.parse($0) }
            if letters.contains(where: { $0["operation"]?.stringValue == op.id && $0["raw"]?.stringValue == raw }) {
                return .settled(.applied, "already dead-lettered to \(into)")
            }
            return .settled(.skipped, what)
        }
        if try c.stores.redis.run("TYPE", key).string != "stream" {
            // List elements are matched by their exact bytes (LREM compares bytes).
            guard try c.stores.list(key).contains(raw) else { return try gone("the entry is no longer in \(key) (byte for byte); nothing was moved") }
            return .write([["LREM", key, 1, raw], ["RPUSH", into, letter]])
        }
        guard let entry = try RedisConnection.streamEntries(try c.stores.redis.run("XRANGE", key, pos, pos)).first else {
            return try gone("stream entry \(pos) is no longer in \(key); nothing was moved")
        }
        let field = op.params["field"]?.stringValue ?? "event"
        guard String(decoding: entry.field(field) ?? [], as: UTF8.self) == raw else {
            return .settled(.skipped, "stream entry \(pos) of \(key) no longer holds the bytes the audit read")
        }
        return .write([["XDEL", key, pos], ["RPUSH", into, letter]])
    }

    /// A stream entry is imaged with its stream (an entry cannot take its old id back in a stream that went on, so the stream is put back whole).
    func imaged(_ op: RepairOperation) -> [RecordAddress] {
        guard op.params["field"] != nil, let key = op.params["key"]?.stringValue else { return [] }
        return [RecordAddress(place: .redisKey(key, type: "stream"), dataset: op.params["dataset"]?.stringValue ?? DatasetRole.eventStreams.conventionalName)]
    }

    /// The letter leaves the dead-letter list; a list element goes back to the end of its list
    /// (a stream entry comes back with its stream's image).
    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard let key = op.params["key"], let raw = op.params["raw"] else { return nil }
        return op.inverse(ReturnLetterOperation().name,
                          params: ["key": key, "raw": raw, "into": .string(into(op)), "letterOf": .string(op.id), "stream": .bool(op.params["field"] != nil)],
                          precondition: ["letterOf": .string(op.id)])
    }
}

/// The inverse of dead-lettering a list element: this plan's letter leaves the dead-letter list and the element returns to its list.
struct ReturnLetterOperation: RedisOperationKind {
    let name = "return-letter"
    let store = RepairStore.redis
    var recordsListEdits: Bool { true }
    func watched(_ op: RepairOperation) -> [String] { [op.params["key"]?.stringValue ?? "", op.params["into"]?.stringValue ?? RedisKeys.deadletter] }
    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        guard let key = op.params["key"]?.stringValue, let raw = op.params["raw"]?.stringValue, let of = op.params["letterOf"]?.stringValue else {
            return .settled(.skipped, "bad parameters")
        }
        let into = op.params["into"]?.stringValue ?? RedisKeys.deadletter
        let stream = op.params["stream"]?.boolValue == true
        guard let letter = try c.stores.list(into).first(where: { (try? JSON.parse($0))?["operation"]?.stringValue == of }) else {
            if stream { return .settled(.applied, "the letter is gone from \(into) already") }
            return try c.stores.list(key).contains(raw) ? .settled(.applied, "already back in \(key)") : .settled(.skipped, "the letter is no longer in \(into)")
        }
        return .write([["LREM", into, 1, letter]] + (stream ? [] : [["RPUSH", key, raw]]))
    }
}
