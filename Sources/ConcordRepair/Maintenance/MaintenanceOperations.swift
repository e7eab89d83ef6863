import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordRedis
import Foundation

/// Moves one list entry: out of `from` (matched byte for byte), into `to`
/// (as `pushed`, at its end). Requeuing a dead letter moves it from the
/// dead-letter list to the queue; purging moves it out to nowhere (the
/// plan and the archive keep it); the inverse moves it back.
struct MoveEntryOperation: RedisOperationKind {
    let name = "move-entry"
    let store = RepairStore.redis
    let order = 20
    var recordsListEdits: Bool { true }

    static func make(_ label: String, key: String, from: String?, element: String?, to: String?, pushed: String?) -> RepairOperation {
        RepairOperation(findingId: label, rule: label, store: .redis, action: "move-entry", key: key,
                        params: ["from": from.map(JSON.string) ?? .null, "element": element.map(JSON.string) ?? .null,
                                 "to": to.map(JSON.string) ?? .null, "pushed": pushed.map(JSON.string) ?? .null],
                        precondition: ["in": from.map(JSON.string) ?? .null],
                        before: ["list": from.map(JSON.string) ?? .null, "entry": element.map(JSON.string) ?? .null],
                        after: ["list": to.map(JSON.string) ?? .null, "entry": pushed.map(JSON.string) ?? .null])
    }

    func watched(_ op: RepairOperation) -> [String] { [op.params["from"]?.stringValue, op.params["to"]?.stringValue].compactMap { $0 } }

    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        let from = op.params["from"]?.stringValue, element = op.params["element"]?.stringValue
        let to = op.params["to"]?.stringValue, pushed = op.params["pushed"]?.stringValue
        // nil: there is no list to take from (putting a purged letter back).
        let inFrom = try from.map { f in try element.map { try c.stores.list(f).contains($0) } ?? false }
        if inFrom != true {
            // Nothing to take out: done if the entry already arrived (a crash after EXEC), else the list moved on.
            if let to, let pushed, try c.stores.list(to).contains(pushed) { return .settled(.applied, "already in \(to)") }
            if let from { return .settled(.skipped, "the entry is no longer in \(from) (byte for byte)") }
            if to == nil { return .settled(.applied, "nothing to do") }
        }
        var writes: [[any RedisArgument]] = []
        if let from, let element { writes.append(["LREM", from, 1, element]) }
        if let to, let pushed { writes.append(["RPUSH", to, pushed]) }
        return .write(writes)
    }

    func inverse(of op: RepairOperation) -> RepairOperation? {
        var back = MoveEntryOperation.make("undo", key: op.key, from: op.params["to"]?.stringValue, element: op.params["pushed"]?.stringValue,
                                           to: op.params["from"]?.stringValue, pushed: op.params["element"]?.stringValue)
        back.findingId = op.findingId
        back.rule = op.rule
        return back
    }
}

/// Removes a confirmation older than the retention whose event the graph
/// holds (and no stream does any more), if its score is still what the plan read.
struct PruneConfirmationOperation: RedisOperationKind {
    let name = "prune-confirmation"
    let store = RepairStore.redis
    let order = 30
    func watched(_ op: RepairOperation) -> [String] { [RedisKeys.confirmed] }
    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        guard let score = try c.stores.confirmedScore(op.key) else { return .settled(.applied, "already pruned") }
        guard score == op.precondition["score"]?.intValue else { return .settled(.skipped, "confirmed again since the plan was made") }
        guard !(try c.stores.nodes(op.key)).isEmpty else { return .settled(.skipped, "the graph no longer holds the event; its confirmation is evidence") }
        return .write([["ZREM", RedisKeys.confirmed, op.key]])
    }
    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard let score = op.precondition["score"] else { return nil }
        return op.inverse(ConfirmEventOperation().name, params: ["id": .string(op.key), "score": score], precondition: ["confirmed": false])
    }
}
