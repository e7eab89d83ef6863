import ConcordCore
import ConcordCrypto
import ConcordJSON
import ConcordRedis
import Foundation

// Element-level images of Redis lists (the persistence queue, processing,
// dead letters): what an operation took out of a list and put into one,
// element by element, with where. The journal keeps these instead of
// whole-list images; the undo puts each element back where it was (and
// takes out what was put in), in reverse order of application.
//
// Why elements and not whole images: a list is shared with writers that
// never stop — producers push to the queue's tail, the sync takes from its
// head — and one plan may touch it many times (dedupes, requeues, dead
// letters). A whole image is stale the moment anyone else writes, so its
// undo could only be skipped; an element edit can still be put back in the
// right place among what others wrote since, and leaves their entries alone.
// It is also small: an edit, not two copies of a million-entry queue per
// operation.

/// One element taken out of or put into a list: `index` is its place in the
/// list at that moment (for a removal, before it; for an addition, after it),
/// `previous`/`next` its neighbours then (null at an end).
struct ListEdit: Sendable, Equatable {
    enum Kind: String, Sendable { case removed, added }
    var kind: Kind
    var key: String
    var index: Int
    var raw: String
    var previous: String?
    var next: String?
    /// How often `raw` was in the list before and after the whole operation that made this edit.
    var countBefore: Int?
    var countAfter: Int?

    var json: JSON {
        var o: [String: JSON] = ["edit": .string(kind.rawValue), "key": .string(key), "index": .int(Int64(index)), "raw": .string(raw),
                                 "previous": previous.map(JSON.string) ?? .null, "next": next.map(JSON.string) ?? .null]
        if let countBefore, let countAfter { o["count"] = ["before": .int(Int64(countBefore)), "after": .int(Int64(countAfter))] }
        return .object(o)
    }

    init(kind: Kind, key: String, index: Int, raw: String, previous: String?, next: String?) {
        self.kind = kind
        self.key = key
        self.index = index
        self.raw = raw
        self.previous = previous
        self.next = next
    }

    init?(json j: JSON) {
        guard let k = j["edit"]?.stringValue.flatMap(Kind.init(rawValue:)), let key = j["key"]?.stringValue, let i = j["index"]?.intValue,
            let raw = j["raw"]?.stringValue
        else { return nil }
        self.init(kind: k, key: key, index: Int(i), raw: raw, previous: j["previous"]?.stringValue, next: j["next"]?.stringValue)
        countBefore = j["count"]?["before"]?.intValue.map { Int($0) }
        countAfter = j["count"]?["after"]?.intValue.map { Int($0) }
    }

    /// The edit that undoes this one.
    var inverted: ListEdit {
        var e = self
        e.kind = kind == .removed ? .added : .removed
        return e
    }
}

enum ListEdits {
    static let listCommands: Set<String> = ["LREM", "RPUSH", "LPUSH", "LPOP", "RPOP"]

    static func text(_ a: any RedisArgument) -> String {
        var b: [UInt8] = []
        a.appendRedisBytes(to: &b)
        return String(decoding: b, as: UTF8.self)
    }

    /// The keys `commands` write with list commands (LREM, RPUSH, LPUSH, LPOP, RPOP).
    static func keys(_ commands: [[any RedisArgument]]) -> [String] {
        var keys: [String] = []
        for command in commands where command.count >= 2 && listCommands.contains(text(command[0]).uppercased()) {
            let key = text(command[1])
            if !keys.contains(key) { keys.append(key) }
        }
        return keys
    }

    /// The element edits the list commands of `commands` make, computed on `initial` — what those lists hold now,
    /// read under the same WATCH — exactly as Redis applies them (other commands are imaged some other way).
    static func of(_ commands: [[any RedisArgument]], lists initial: [String: [String]]) -> [ListEdit] {
        var lists = initial
        var edits: [ListEdit] = []
        func remove(_ key: String, at i: Int) {
            var l = lists[key] ?? []
            edits.append(ListEdit(kind: .removed, key: key, index: i, raw: l[i], previous: i > 0 ? l[i - 1] : nil, next: i + 1 < l.count ? l[i + 1] : nil))
            l.remove(at: i)
            lists[key] = l
        }
        func insert(_ key: String, _ raw: String, at i: Int) {
            var l = lists[key] ?? []
            l.insert(raw, at: i)
            lists[key] = l
            edits.append(ListEdit(kind: .added, key: key, index: i, raw: raw, previous: i > 0 ? l[i - 1] : nil, next: i + 1 < l.count ? l[i + 1] : nil))
        }
        for command in commands where command.count >= 2 {
            let name = text(command[0]).uppercased(), key = text(command[1])
            guard listCommands.contains(name) else { continue }
            let count = lists[key]?.count ?? 0
            switch name {
            case "LREM":
                guard command.count == 4, let n = Int(text(command[2])) else { continue }
                let raw = text(command[3])
                var left = n == 0 ? Int.max : abs(n)
                if n >= 0 {
                    var i = 0
                    while left > 0, i < (lists[key]?.count ?? 0) {
                        if lists[key]![i] == raw { remove(key, at: i); left -= 1 } else { i += 1 }
                    }
                } else {
                    var i = count - 1
                    while left > 0, i >= 0 {
                        if lists[key]![i] == raw { remove(key, at: i); left -= 1 }
                        i -= 1
                    }
                }
            case "RPUSH":
                for a in command.dropFirst(2) { insert(key, text(a), at: lists[key]?.count ?? 0) }
            case "LPUSH":
                for a in command.dropFirst(2) { insert(key, text(a), at: 0) }
            default:  // LPOP, RPOP (one element)
                if count > 0 { remove(key, at: name == "LPOP" ? 0 : count - 1) }
            }
        }
        return counted(edits, from: initial, to: lists)
    }

    /// `edits` with how often each element was in its list before and after them all.
    static func counted(_ edits: [ListEdit], from initial: [String: [String]], to final: [String: [String]]) -> [ListEdit] {
        edits.map { e in
            var e = e
            e.countBefore = initial[e.key]?.filter { $0 == e.raw }.count ?? 0
            e.countAfter = final[e.key]?.filter { $0 == e.raw }.count ?? 0
            return e
        }
    }

    /// `list` with `edits` applied in order, each placed where it fits best among what the list holds now: at its
    /// index when its neighbours are still there, else beside the neighbour that is left (the sync takes from the
    /// head, producers push to the tail; an element put back is placed among what others wrote since). Throws
    /// the reason when an element to take out is no longer in the list.
    static func apply(_ edits: [ListEdit], to list: [String]) throws -> (list: [String], made: [ListEdit]) {
        var l = list
        var made: [ListEdit] = []
        func removed(at j: Int, _ e: ListEdit) {
            made.append(ListEdit(kind: .removed, key: e.key, index: j, raw: l[j], previous: j > 0 ? l[j - 1] : nil, next: j + 1 < l.count ? l[j + 1] : nil))
            l.remove(at: j)
        }
        func nearest(_ candidates: [Int], to i: Int) -> Int? { candidates.min { (abs($0 - i), $0) < (abs($1 - i), $1) } }
        for e in edits {
            switch e.kind {
            case .removed:
                if e.index < l.count, l[e.index] == e.raw { removed(at: e.index, e); continue }
                let at = l.indices.filter { l[$0] == e.raw }
                guard let j = nearest(at, to: e.index) else {
                    throw ConcordError(.conflict, "\(e.key) no longer holds \(RepairPlanText.brief(.string(e.raw))) (taken since the plan, by the sync or by hand)")
                }
                removed(at: j, e)
            case .added:
                // Slot j means: insert before l[j] (j == count: at the tail).
                func fits(_ j: Int) -> Bool {
                    (j == 0 ? e.previous == nil : l[j - 1] == e.previous) && (j == l.count ? e.next == nil : l[j] == e.next)
                }
                let slot: Int
                if e.index <= l.count, fits(e.index) {
                    slot = e.index
                } else if let j = nearest((0...l.count).filter(fits), to: e.index) {
                    slot = j
                } else if let next = e.next, let j = nearest(l.indices.filter({ l[$0] == next }), to: e.index) {
                    slot = j
                } else if let previous = e.previous, let j = nearest(l.indices.filter({ l[$0] == previous }), to: e.index - 1) {
                    slot = j + 1
                } else if e.next != nil, e.previous == nil || e.index == 0 {
                    slot = 0
                } else {
                    slot = min(e.index, l.count)
                }
                l.insert(e.raw, at: slot)
                made.append(ListEdit(kind: .added, key: e.key, index: slot, raw: e.raw, previous: slot > 0 ? l[slot - 1] : nil,
                                     next: slot + 1 < l.count ? l[slot + 1] : nil))
            }
        }
        return (l, made)
    }
}

/// `restore-list`: the inverse of an operation's element edits on Redis lists (`params.edits`, already inverted and
/// in the order to run them), under WATCH of every list it names. An element to take out that is no longer there
/// skips the whole operation (nothing written), with the reason. Each edit carries how often its element was in its
/// list before and after the operation it undoes (`count`): an element already back at its count from before (a
/// re-run after a crash between EXEC and the journal) is not put back twice.
struct RestoreListOperation: RedisOperationKind {
    let name = "restore-list"
    let store = RepairStore.redis
    let order = 40
    /// The operation that undoes `edits` (as `op` made them, in order): their inverses in reverse order.
    static func make(undoing edits: [ListEdit], of op: RepairOperation) -> RepairOperation {
        let undo = edits.reversed().map(\.inverted)
        let keys = edits.map(\.key).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        var r = op.inverse("restore-list", params: ["edits": .array(undo.map(\.json))], precondition: ["lists": .array(keys.map(JSON.string))])
        r.before = .array(edits.map { ["list": .string($0.key), $0.kind == .removed ? "removed" : "added": .string(RepairPlanText.brief(.string($0.raw)))] })
        r.after = .array(undo.map { ["list": .string($0.key), $0.kind == .removed ? "take out" : "put back": .string(RepairPlanText.brief(.string($0.raw)))] })
        r.key = keys.joined(separator: " ")
        r.id = String(SHA256.hex("\(op.id)|restore-list").prefix(16))
        return r
    }

    func edits(_ op: RepairOperation) -> [ListEdit] { (op.params["edits"]?.arrayValue ?? []).compactMap(ListEdit.init(json:)) }

    func watched(_ op: RepairOperation) -> [String] { Array(Set(edits(op).map(\.key))).sorted() }

    func step(_ op: RepairOperation, _ c: ApplyContext) throws -> RedisStep {
        let edits = edits(op)
        guard !edits.isEmpty else { return .settled(.skipped, "bad parameters") }
        var lists: [String: [String]] = [:]
        for key in watched(op) { lists[key] = try c.stores.list(key) }
        // An element whose count is back to what it was before the undone operation (and differs from after it) is done.
        var done = Set<String>()
        for e in edits {
            guard let before = e.countBefore, let after = e.countAfter, before != after else { continue }
            if lists[e.key]?.filter({ $0 == e.raw }).count == before { done.insert("\(e.key)\u{0}\(e.raw)") }
        }
        var target = lists
        var made: [ListEdit] = []
        do {
            for e in edits where !done.contains("\(e.key)\u{0}\(e.raw)") {
                let (list, m) = try ListEdits.apply([e], to: target[e.key] ?? [])
                target[e.key] = list
                made += m
            }
        } catch let e as ConcordError {
            return .settled(.skipped, e.message)
        }
        var writes: [[any RedisArgument]] = []
        for key in watched(op) where target[key] != lists[key] {
            writes.append(["DEL", key])
            let items = target[key] ?? []
            for start in stride(from: 0, to: items.count, by: 1000) {
                writes.append(["RPUSH", key] + items[start..<min(start + 1000, items.count)].map { $0 as any RedisArgument })
            }
        }
        // Its own edits, as made, are what an undo of this undo puts back.
        return writes.isEmpty ? .settled(.applied, "already so") : .edited(writes, ListEdits.counted(made, from: lists, to: target))
    }
}
