import ConcordAudit
import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis
import Foundation

/// The weekly chores, each planned as operations for the applier: dead
/// letters requeued or purged, old confirmations pruned, finished runs'
/// Redis state archived and trimmed.
public enum Maintenance {
    /// A dead-letter entry: the list element as stored, and what it holds.
    public struct Letter: Sendable {
        public var index: Int
        public var element: String
        /// The entry the sync could not take (the element itself when it is not a {raw, error, at} letter).
        public var raw: String
        public var error: String?
        public var at: Int64?

        public init(index: Int, element: String) {
            self.index = index
            self.element = element
            let j = try? JSON.parse(element)
            if let j, j.objectValue != nil, let raw = j["raw"]?.stringValue {
                self.raw = raw
                error = j["error"]?.stringValue
                at = j["at"]?.intValue
            } else {
                raw = element
            }
        }

        /// Why the entry still cannot be synced, or nil when it parses as an event now.
        public var problem: String? {
            guard let j = try? JSON.parse(raw) else { return "it is still not JSON" }
            do { _ = try Event(validating: j) } catch let e as ConcordError { return "it is still not a valid event: \(e.message)" } catch { return "\(error)" }
            return nil
        }
    }

    public static func letters(_ stores: RepairStores) throws -> [Letter] {
        try stores.list(RedisKeys.deadletter).enumerated().map { Letter(index: $0.offset, element: $0.element) }
    }

    /// `deadletter requeue`: the chosen letters back to the queue (their raw entry, as it was produced).
    /// A letter whose entry still does not parse is refused unless `force`.
    public static func requeue(_ indices: [Int], force: Bool, _ stores: RepairStores) throws -> [RepairOperation] {
        let all = try letters(stores)
        var ops: [RepairOperation] = []
        var refused: [String] = []
        for i in indices {
            guard all.indices.contains(i) else { throw ConcordError(.usage, "no dead-letter entry at index \(i) (the list has \(all.count))") }
            let l = all[i]
            if let why = l.problem, !force {
                refused.append("entry \(i): \(why)")
                continue
            }
            ops.append(MoveEntryOperation.make("deadletter requeue", key: "\(RedisKeys.deadletter)[\(i)]", from: RedisKeys.deadletter, element: l.element,
                                               to: RedisKeys.queue, pushed: l.raw))
        }
        if !refused.isEmpty {
            throw ConcordError(.invalidInput, "refusing to requeue what the sync would dead-letter again (fix the producer, or pass --force): " + refused.joined(separator: "; "))
        }
        return ops
    }

    /// `deadletter purge`: letters dead-lettered before `cutoff` (ms) leave the list; with no time (another writer's entry) they stay.
    public static func purge(before cutoff: Int64, _ stores: RepairStores) throws -> (ops: [RepairOperation], letters: [Letter]) {
        let old = try letters(stores).filter { ($0.at ?? Int64.max) < cutoff }
        return (old.map { MoveEntryOperation.make("deadletter purge", key: "\(RedisKeys.deadletter)[\($0.index)]", from: RedisKeys.deadletter, element: $0.element, to: nil, pushed: nil) }, old)
    }

    /// `confirmed prune`: confirmations older than `cutoff` whose event the graph holds and no stream does any more
    /// (while a stream holds it, the audit needs the confirmation).
    public static func pruneConfirmations(before cutoff: Int64, _ stores: RepairStores) throws -> [RepairOperation] {
        var old: [(String, Int64)] = []
        _ = try stores.redis.zrange(RedisKeys.confirmed) { batch in
            for m in batch where Int64(m.score) < cutoff { old.append((m.member, Int64(m.score))) }
        }
        var ops: [RepairOperation] = []
        for chunk in old.chunked(1000) {
            let rows = try stores.graph.run("MATCH (n:Node) WHERE n.id IN $ids AND n.placeholder IS NULL RETURN n.id, n.workflow_id",
                                            parameters: ["ids": .list(chunk.map { .string($0.0) })], readOnly: true).records
            var runOf: [String: String] = [:]
            for r in rows { if let id = r[0].stringValue { runOf[id] = r[1].stringValue ?? "" } }
            var streamed = Set<String>()
            for run in Set(runOf.values) where !run.isEmpty {
                for e in try stores.stream(run) { if let id = e.event?["id"]?.stringValue { streamed.insert(id) } }
            }
            for (id, score) in chunk where runOf[id] != nil && !streamed.contains(id) {
                ops.append(RepairOperation(findingId: "confirmed prune", rule: "confirmed prune", store: .redis, action: "prune-confirmation",
                                           key: id, params: ["id": .string(id)], precondition: ["score": .int(score)],
                                           before: ["confirmed": .int(score)], after: ["confirmed": .null]))
            }
        }
        return ops
    }

    /// The finished runs whose Redis state can be archived: finished (completed, error, timedOut, cancelled) before
    /// `cutoff` by their status's `updatedAt`, every event of their stream in the graph and confirmed, none waiting in the queues.
    /// Returns the runs, the ids of their events (for the archive's confirmations), and why others are not archived yet.
    public static func archivable(before cutoff: Int64, _ stores: RepairStores, runs only: Set<String>? = nil)
        throws -> (runs: [String], events: Set<String>, notYet: [String: String]) {
        var keys: [String] = []
        if let only { keys = only.sorted().map(RedisKeys.status) } else { try stores.redis.scan(match: "workflow:*:status", count: 1000, type: "hash") { keys += $0 } }
        var waiting = Set<String>()
        for key in [RedisKeys.queue, RedisKeys.processing] {
            for raw in try stores.list(key) { if let run = (try? JSON.parse(raw))?["metadata"]?["workflowId"]?.stringValue { waiting.insert(run) } }
        }
        var out: [String] = []
        var events = Set<String>()
        var notYet: [String: String] = [:]
        for key in keys.sorted() {
            guard let run = RedisKeys.workflowId(fromKey: key) else { continue }
            let status = try stores.redis.hgetall(key)
            guard let state = status["state"], ["completed", "error", "timedOut", "cancelled"].contains(state) else {
                if only != nil { notYet[run] = "not finished (state \(status["state"] ?? "unset"))" }
                continue
            }
            guard let at = status["updatedAt"].flatMap({ Int64($0) }), at < cutoff else {
                if only != nil { notYet[run] = "finished too recently" }
                continue
            }
            if waiting.contains(run) { notYet[run] = "entries of it are still in the queue"; continue }
            let ids = try stores.stream(run).compactMap { $0.event?["id"]?.stringValue }
            let inGraph = Set(try stores.graph.run("MATCH (n:Node) WHERE n.id IN $ids AND n.placeholder IS NULL RETURN n.id",
                                                   parameters: ["ids": .list(ids.map { .string($0) })], readOnly: true).records.compactMap { $0[0].stringValue })
            if let missing = ids.first(where: { !inGraph.contains($0) }) { notYet[run] = "event \(missing) is not in the graph"; continue }
            let scores = try stores.redis.pipeline(ids.map { ["ZSCORE", RedisKeys.confirmed, $0] })
            if let i = scores.firstIndex(where: { $0.isNull }) { notYet[run] = "event \(ids[i]) is not confirmed"; continue }
            out.append(run)
            events.formUnion(ids)
        }
        return (out, events, notYet)
    }

    /// Trims an archived run from Redis: its stream and its status, each a delete guarded by its whole image
    /// (a run that changed since its archive was written keeps its state).
    public static func trim(_ runs: [String], _ stores: RepairStores) throws -> [RepairOperation] {
        var ops: [RepairOperation] = []
        for run in runs {
            for (key, type, dataset) in [(RedisKeys.events(run), "stream", DatasetRole.eventStreams.conventionalName), (RedisKeys.status(run), "hash", DatasetRole.runStatus.conventionalName)] {
                let address = RecordAddress(place: .redisKey(key, type: type), dataset: dataset)
                guard let image = try address.read(stores) else { continue }
                ops.append(RepairOperation(findingId: "archive", rule: "archive", store: .redis, action: "delete-record", key: key,
                                           params: ["dataset": .string(dataset), "address": address.json], precondition: ["record": image], before: image, after: .null))
            }
        }
        return ops
    }

    /// A fresh directory for an archive under `dir`, named after what it holds and now.
    public static func archiveDirectory(under dir: String, _ what: String) -> URL {
        let stamp = Timestamp.rfc3339(Date()).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        return URL(fileURLWithPath: dir).appendingPathComponent("\(what)-\(stamp)-\(UInt32.random(in: 0...UInt32.max))")
    }

    /// Writes dead letters (a purge's) to a checksummed snapshot directory under `dir` holding the
    /// dead-letter dataset, and returns it: what `maintain deadletter purge --archive` and the console keep.
    public static func archive(letters: [Letter], olderThan: String, under dir: String) throws -> URL {
        let out = archiveDirectory(under: dir, "deadletter")
        let writer = try SnapshotWriter(directory: out)
        let dataset = DatasetRole.deadLetters.conventionalName
        for l in letters {
            try writer.append(["key": .string(RedisKeys.deadletter), "index": .int(Int64(l.index)), "entry": (try? JSON.parse(l.element)) ?? .null,
                               "raw": .string(l.element)], to: dataset)
        }
        try writer.finish(extra: ["archive": ["of": .string(dataset), "olderThan": .string(olderThan)]])
        return out
    }
}
