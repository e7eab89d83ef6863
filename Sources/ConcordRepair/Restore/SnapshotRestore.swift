import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordJSON
import ConcordModel
import Foundation

/// `concord restore SNAPSHOT`: the writes that make the live stores hold
/// what a snapshot holds for the chosen runs (all it has by default) in the
/// chosen stores — each record that differs, is missing, or (for a chosen
/// run) is there but not in the snapshot, as a put-record guarded by what
/// the record holds now. The snapshot's checksums are verified when it is
/// opened, before anything is read.
///
/// What a snapshot holds is what the catalog's datasets declare: a graph
/// node's other properties, a row's other columns, a stream entry's other
/// fields are kept as they are live; the queues are not restored (they are
/// the sync's work in flight — `concord rebuild` and the audit handle them).
public struct SnapshotRestore {
    public enum Scope: String, Sendable, CaseIterable { case redis, graph, postgres }

    let snapshot: Snapshot
    let stores: RepairStores
    let rules: RuleSet
    public var runs: Set<String>?
    public var scope: Set<Scope> = Set(Scope.allCases)
    /// Only records absent now are written (a rebuild from a snapshot).
    public var onlyAbsent = false
    /// Graph nodes left out (a rebuild replays them from their streams).
    public var except: Set<String> = []
    public var progress: ((String) -> Void)?

    public init(snapshot: Snapshot, stores: RepairStores, rules: RuleSet) {
        self.snapshot = snapshot
        self.stores = stores
        self.rules = rules
    }

    /// The roles each store's restore needs from the catalog.
    static let neededRoles: [Scope: [DatasetRole]] = [
        .redis: [.eventStreams, .runStatus, .confirmed], .graph: [.graphEvents, .graphRuns, .parentEdges], .postgres: [.drafts, .draftHistory],
    ]

    /// Refuses (exit 2), naming the role, a restore of a store whose datasets the catalog does not name.
    func checkRoles(_ command: String) throws {
        for store in Scope.allCases where scope.contains(store) {
            for role in Self.neededRoles[store] ?? [] { _ = try rules.datasets.require(role, by: "\(command) of \(store.rawValue)") }
        }
    }

    /// What the snapshot holds, by run.
    struct Held {
        var streams: [String: [(entry: String, raw: String)]] = [:]  // by run
        var status: [String: JSON] = [:]
        var confirmed: [String: JSON] = [:]  // by member: the score
        var nodes: [String: [JSON]] = [:]  // by id
        var nodeRun: [String: String] = [:]
        var runNodes: [String: JSON] = [:]
        var edges: [String: [JSON]] = [:]  // by endpoint id: [type, dir, other label, other id, {}]
        var drafts: [String: JSON] = [:]
        var draftRun: [String: String] = [:]
        var history: [String: [JSON]] = [:]
        var runs: Set<String> = []
    }

    func read(_ inScope: (String) -> Bool) throws -> Held {
        var h = Held()
        let n = rules.datasets.roles
        func has(_ d: String?) -> Bool { d.map(snapshot.datasets.contains) ?? false }
        if let name = n[.eventStreams], has(name) {
            try snapshot.read(name) { r in
                guard let key = r["key"]?.stringValue, let run = RedisKeys.workflowId(fromKey: key), let entry = r["entry"]?.stringValue else { return }
                h.runs.insert(run)
                guard inScope(run) else { return }
                h.streams[run, default: []].append((entry, r["raw"]?.stringValue ?? r["event"]?.encoded() ?? ""))
            }
        }
        if let name = n[.runStatus], has(name) {
            try snapshot.read(name) { r in
                guard let run = r["workflowId"]?.stringValue else { return }
                h.runs.insert(run)
                if inScope(run) { h.status[run] = r }
            }
        }
        if let name = n[.graphEvents], has(name) {
            try snapshot.read(name) { r in
                guard let id = r["id"]?.stringValue else { return }
                let run = r["workflow_id"]?.stringValue ?? ""
                if !run.isEmpty { h.runs.insert(run) }
                guard inScope(run) else { return }
                h.nodes[id, default: []].append(r)
                h.nodeRun[id] = run
            }
        }
        if let name = n[.graphRuns], has(name) {
            try snapshot.read(name) { r in
                guard let id = r["id"]?.stringValue else { return }
                h.runs.insert(id)
                if inScope(id) { h.runNodes[id] = r }
            }
        }
        if let name = n[.parentEdges], has(name) {
            try snapshot.read(name) { r in
                guard let type = r["type"]?.stringValue, let from = r["from"], let to = r["to"],
                    let fromId = from["id"]?.stringValue, let toId = to["id"]?.stringValue
                else { return }
                let fromLabel = from["label"]?.stringValue ?? "Node", toLabel = to["label"]?.stringValue ?? "Node"
                h.edges[fromId, default: []].append([.string(type), "out", .string(toLabel), .string(toId), [:]])
                h.edges[toId, default: []].append([.string(type), "in", .string(fromLabel), .string(fromId), [:]])
            }
        }
        if let name = n[.drafts], has(name) {
            try snapshot.read(name) { r in
                guard let id = r["id"]?.stringValue, let run = r["workflow_run_id"]?.stringValue else { return }
                h.runs.insert(run)
                guard inScope(run) else { return }
                h.drafts[id] = r
                h.draftRun[id] = run
            }
        }
        if let name = n[.draftHistory], has(name) {
            try snapshot.read(name) { r in
                guard let id = r["draft_id"]?.stringValue, h.drafts[id] != nil else { return }
                h.history[id, default: []].append(r)
            }
        }
        if let name = n[.confirmed], has(name) {
            // A confirmation belongs to the run of its node, or of its stream entry.
            var streamRun: [String: String] = [:]
            for (run, entries) in h.streams { for e in entries { if let id = RepairStores.eventId(e.raw) { streamRun[id] = run } } }
            try snapshot.read(name) { r in
                guard let m = r["member"]?.stringValue, let run = h.nodeRun[m] ?? streamRun[m], inScope(run) else { return }
                h.confirmed[m] = r["score"] ?? .null
            }
        }
        return h
    }

    /// The plan (its operations; the caller names and journals it).
    public func operations() throws -> [RepairOperation] { try plannedOperations().ops }

    /// The operations, and how many records were left as they are because they are there (with `onlyAbsent`).
    func plannedOperations() throws -> (ops: [RepairOperation], kept: Int) {
        try checkRoles(onlyAbsent ? "rebuild" : "restore")
        let chosen = runs
        let n = rules.datasets.roles
        progress?("reading the snapshot")
        // Confirmations belong to a run through its nodes, so nodes are read first (read() keeps that order).
        let held = try read { chosen?.contains($0) ?? true }
        let runs = chosen ?? held.runs
        var wanted: [WantedRecord] = []
        let declaredNode = rules.datasets.dataset(.graphEvents)?.fields ?? [], declaredRun = rules.datasets.dataset(.graphRuns)?.fields ?? []
        // A hash's record also carries its key and the key's captures: those are not fields of the hash.
        var declaredStatus = rules.datasets.dataset(.runStatus)?.fields ?? []
        declaredStatus.remove("key")
        if case .redisHash(let pattern, _)? = rules.datasets.dataset(.runStatus)?.source { declaredStatus.subtract(pattern.captures) }

        // Only what the snapshot holds is restored: a store or dataset it lacks (an archive holds Redis only) is left alone.
        let present = Set(snapshot.datasets)
        func has(_ d: String?) -> Bool { d.map(present.contains) ?? false }
        var skipped: [String] = []
        if scope.contains(.graph) && !(has(n[.graphEvents]) && has(n[.graphRuns]) && has(n[.parentEdges])) {
            skipped.append("graph")
        }
        if scope.contains(.postgres) && !has(n[.drafts]) { skipped.append("postgres") }
        if !skipped.isEmpty { progress?("the snapshot holds no \(skipped.joined(separator: " or ")) datasets: left as they are") }
        if scope.contains(.graph) && !skipped.contains("graph") {
            // Every node the snapshot or the live graph has for these runs.
            var ids = Set(held.nodes.keys)
            for chunk in Array(runs).chunked(1000) {
                let live = try stores.graph.run("MATCH (n:Node) WHERE n.workflow_id IN $runs RETURN DISTINCT n.id",
                                                parameters: ["runs": .list(chunk.map { .string($0) })], readOnly: true)
                ids.formUnion(live.records.compactMap { $0[0].stringValue })
            }
            for id in ids.sorted() where !except.contains(id) {
                let copies = held.nodes[id]
                wanted.append(WantedRecord(address: .node(id, dataset: n[.graphEvents])) { now in
                    guard let copies else { return nil }
                    let extra = Self.undeclared(now, declared: declaredNode)
                    return .array(copies.enumerated().map { i, r in
                        var props = (r.objectValue ?? [:]).filter { !$0.value.isNull }
                        if let run = r["workflow_id"]?.stringValue { props[RunBucket.property] = .int(Int64(RunBucket.of(run))) }
                        props.merge(extra) { a, _ in a }
                        return ["properties": .object(props), "edges": .array(i == 0 ? held.edges[id] ?? [] : [])]
                    })
                })
            }
            for run in runs.sorted() {
                let r = held.runNodes[run]
                wanted.append(WantedRecord(address: .run(run, dataset: n[.graphRuns])) { now in
                    guard let r else { return nil }
                    var props = (r.objectValue ?? [:]).filter { !$0.value.isNull }
                    props[RunBucket.property] = .int(Int64(RunBucket.of(run)))
                    props.merge(Self.undeclared(now, declared: declaredRun)) { a, _ in a }
                    return [["properties": .object(props), "edges": .array(held.edges[run]?.filter { $0[2]?.stringValue == "Node" } ?? [])]]
                })
            }
        }
        if scope.contains(.redis) {
            for run in runs.sorted() where has(n[.eventStreams]) {
                let key = RedisKeys.events(run)
                let entries = held.streams[run]
                wanted.append(WantedRecord(address: RecordAddress(place: .redisKey(key, type: "stream"), dataset: n[.eventStreams] ?? "")) { now in
                    guard let entries else { return nil }
                    // An entry keeps its other fields as they are live.
                    var live: [String: [String: JSON]] = [:]
                    for e in now?.arrayValue ?? [] { if let id = e["id"]?.stringValue { live[id] = e["fields"]?.objectValue } }
                    return .array(entries.map { e in
                        var fields = live[e.entry] ?? [:]
                        fields["event"] = .string(e.raw)
                        return ["id": .string(e.entry), "fields": .object(fields)]
                    })
                })
            }
            for run in runs.sorted() where has(n[.runStatus]) {
                let status = held.status[run]
                wanted.append(WantedRecord(address: RecordAddress(place: .redisKey(RedisKeys.status(run), type: "hash"), dataset: n[.runStatus] ?? "")) { now in
                    guard let status else { return nil }
                    var o = Self.undeclared(now, declared: declaredStatus)
                    for f in declaredStatus { if let v = status[f], !v.isNull { o[f] = .string(v.stringValue ?? v.encoded()) } }
                    return .object(o)
                })
            }
            // Confirmations of the runs' events: the snapshot's, and none for an event it has unconfirmed.
            var events = Set(held.nodes.keys)
            for (_, entries) in held.streams { for e in entries { if let id = RepairStores.eventId(e.raw) { events.insert(id) } } }
            for id in events.sorted() where has(n[.confirmed]) {
                let score = held.confirmed[id]
                wanted.append(WantedRecord(address: RecordAddress(place: .redisMember(key: RedisKeys.confirmed, member: id, type: "zset"), dataset: n[.confirmed] ?? "")) { _ in
                    score.map { ["member": .string(id), "score": .string(Self.score($0))] }
                })
            }
        }
        if scope.contains(.postgres) && !skipped.contains("postgres") {
            let rows = RowImages(stores.postgres)
            var drafts = Set(held.drafts.keys)
            for chunk in Array(runs).chunked(1000) {
                let r = try stores.postgres.query("SELECT id FROM draft_content WHERE workflow_run_id = ANY($1::text[])", [Self.textArray(Array(chunk))])
                drafts.formUnion((0..<r.rowCount).compactMap { r[$0].string(0) })
            }
            // A draft's row comes before its history (written in this order, removed in the reverse: see ImagePlanner).
            for id in drafts.sorted() {
                let draft = held.drafts[id]
                wanted.append(WantedRecord(address: RecordAddress(place: .postgresRow(table: "draft_content", column: "id", value: id), dataset: n[.drafts] ?? "")) { now in
                    guard let draft else { return nil }
                    return .array([try rows.row("draft_content", draft, over: now?.arrayValue?.first)])
                })
                guard has(n[.draftHistory]) else { continue }
                let history = held.history[id]
                wanted.append(WantedRecord(address: RecordAddress(place: .postgresRow(table: "draft_content_history", column: "draft_id", value: id), dataset: n[.draftHistory] ?? "")) { now in
                    guard let history, !history.isEmpty else { return nil }
                    let live = Dictionary((now?.arrayValue ?? []).map { ($0["version"]?.intValue ?? -1, $0) }, uniquingKeysWith: { a, _ in a })
                    return .array(try history.sorted { ($0["version"]?.intValue ?? 0) < ($1["version"]?.intValue ?? 0) }.map {
                        try rows.row("draft_content_history", $0, over: live[$0["version"]?.intValue ?? -1])
                    })
                })
            }
        }
        progress?("comparing \(wanted.count) records with the live stores")
        return try ImagePlanner.operations(wanted, stores, .init(onlyAbsent: onlyAbsent, reason: onlyAbsent ? "rebuild graph" : "restore"))
    }

    /// The properties or fields of a record now that the dataset does not declare (kept through a restore).
    static func undeclared(_ now: JSON?, declared: Set<String>) -> [String: JSON] {
        let o = now?.arrayValue?.first?["properties"]?.objectValue ?? now?.objectValue ?? [:]
        return o.filter { !declared.contains($0.key) && $0.key != RunBucket.property }
    }

    /// A zset score as Redis prints it.
    static func score(_ v: JSON) -> String {
        if let i = v.intValue { return String(i) }
        return v.stringValue ?? v.encoded()
    }

    static func textArray(_ values: [String]) -> String {
        "{" + values.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
    }
}
