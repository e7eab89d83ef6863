import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordGitHub
import ConcordGraph
import ConcordJSON
import ConcordPostgres
import ConcordRedis
import Foundation

/// Reads the datasets of a rule set from the live stores, streaming each
/// record to a sink: the three stores concurrently (a thread each),
/// PostgreSQL inside one `REPEATABLE READ READ ONLY` transaction, Redis by
/// `SCAN` and pipelined `XRANGE`/`LRANGE`/`ZRANGE`/`HGETALL` in batches, the
/// graph by keyset pages. Also the recheck's point lookups.
public final class LiveReader: @unchecked Sendable {
    public let postgres: PostgresConnection
    /// Where the datasets are read from: the primary, or a replica (`--redis-read replica`).
    public let redis: RedisConnection
    /// The primary, when `redis` is a replica: the recheck's lookups read it (a finding is confirmed where the writes go).
    public var primaryRedis: RedisConnection?
    public let graph: any GraphStore
    public var pageSize = 10_000
    public var progress: ReadProgress?
    /// Read only this partition's share of each partitioned dataset (by
    /// `RunBucket`: a predicate in PostgreSQL, key selection in Redis,
    /// `run_bucket` in the graph, then each record's own run checked here).
    public var partition: Partition?
    /// Opens another connection to the graph (for queries run side by side); nil: one at a time on `graph`.
    public var openGraph: (@Sendable () throws -> any GraphStore)?
    /// GitHub, the fourth store (nil: not configured; rules that read it are left out).
    public var github: GitHubClient?
    /// The pages GitHub answered last time, with their ETags (loaded from `concord_github_cache` on first use).
    var githubCache: GitHubPageCache?
    private var newestEntry: (ms: UInt64, seq: UInt64)?
    private var streamsRead = 0

    public init(postgres: PostgresConnection, redis: RedisConnection, graph: any GraphStore) {
        self.postgres = postgres
        self.redis = redis
        self.graph = graph
    }

    /// When and where each store was read.
    public struct StoreRead: Sendable {
        public var readAt: Date
        public var finishedAt: Date
        public var watermark: JSON
        public var records: [String: Int]
        /// For a partition: what the store sent before each record's run was checked.
        public var scanned: [String: Int]?

        public var json: JSON {
            var o: [String: JSON] = ["readAt": .string(Timestamp.rfc3339(readAt)), "seconds": .double((finishedAt.timeIntervalSince(readAt) * 1000).rounded() / 1000),
                                     "watermark": watermark, "records": .object(records.mapValues { .int(Int64($0)) })]
            if let scanned { o["scanned"] = .object(scanned.mapValues { .int(Int64($0)) }) }
            return .object(o)
        }
    }

    /// Reads `specs` into `sink`; returns per store when it was read and its watermark.
    public func read(_ specs: [DatasetSpec], into target: any RecordSink) throws -> [String: StoreRead] {
        let filter = partition.map { PartitionFilter(target, $0, specs) }
        let sink: any RecordSink = filter ?? target
        let byStore = Dictionary(grouping: specs, by: \.store)
        let stores = ["postgres", "redis", "graph"].filter { byStore[$0] != nil }
        let errors = Locked<[Error]>([])
        let results = Locked<[String: StoreRead]>([:])
        DispatchQueue.concurrentPerform(iterations: stores.count) { i in
            let store = stores[i]
            do {
                let r: StoreRead
                switch store {
                case "postgres": r = try readPostgres(byStore[store]!, sink)
                case "redis": r = try readRedis(byStore[store]!, sink)
                default: r = try readGraph(byStore[store]!, sink)
                }
                results.withLock { $0[store] = r }
            } catch { errors.withLock { $0.append(error) } }
        }
        // GitHub is read only when configured: without it, callers leave its rules out (`Auditor.leavingOut`).
        if errors.value.isEmpty, let github = byStore["github"], self.github != nil {
            // After the others: the targets come from PostgreSQL, and GitHub is paced by its rate limit, not by us.
            do { let r = try readGitHub(github, sink); results.withLock { $0["github"] = r } } catch {
                errors.withLock { $0.append(error) }
            }
        }
        progress?.done()
        if let e = errors.value.first { throw e }
        guard let filter else { return results.value }
        // A partition's records are those it kept; `scanned` counts what the stores sent.
        let kept = filter.kept
        return results.value.mapValues { r in
            var r = r
            r.scanned = r.records
            for k in r.records.keys { r.records[k] = kept[k] ?? r.records[k] }
            return r
        }
    }

    // MARK: PostgreSQL

    func readPostgres(_ specs: [DatasetSpec], _ sink: any RecordSink) throws -> StoreRead {
        let start = Date()
        var counts: [String: Int] = [:]
        let watermark: JSON = try postgres.transaction(isolation: .repeatableRead, readOnly: true) {
            let w = try postgres.query("SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text ELSE pg_current_wal_lsn()::text END, pg_current_snapshot()::text")
            for spec in specs {
                guard case .postgresTable(let table) = spec.source else { continue }
                let n = try postgres.stream("SELECT * FROM \(Self.qualified(table, postgres))" + partitionClause(spec)) { row in
                    try sink.append(row.jsonObject(), to: spec.name)
                    progress?.add("postgres")
                }
                counts[spec.name] = n
                try sink.finished(spec.name, records: n)
            }
            return ["lsn": w[0].string(0).map(JSON.string) ?? .null, "snapshot": w[0].string(1).map(JSON.string) ?? .null]
        }
        return StoreRead(readAt: start, finishedAt: Date(), watermark: watermark, records: counts)
    }

    /// ` WHERE …` selecting this partition's rows (and rows with no run, which every partition reads).
    func partitionClause(_ spec: DatasetSpec) -> String {
        guard let p = partition, p.count > 1 else { return "" }
        func pred(_ column: String) -> String {
            let c = postgres.quoteIdentifier(column)
            return "(\(RunBucket.sql(c)) % \(p.count) = \(p.index) OR \(c) IS NULL)"
        }
        if let field = spec.splitField { return " WHERE " + pred(field) }
        return ""
    }

    static func qualified(_ table: String, _ pg: PostgresConnection) -> String {
        table.split(separator: ".").map { pg.quoteIdentifier(String($0)) }.joined(separator: ".")
    }

    // MARK: Redis

    func readRedis(_ specs: [DatasetSpec], _ sink: any RecordSink) throws -> StoreRead {
        let start = Date()
        let time = try redis.run("TIME").array?.compactMap(\.int) ?? []
        let serverMs: JSON = time.count == 2 ? .int(time[0] * 1000 + time[1] / 1000) : .null
        var counts: [String: Int] = [:]
        for spec in specs {
            var n = 0
            func emit(_ record: JSON) throws {
                try sink.append(record, to: spec.name)
                n += 1
                progress?.add("redis")
            }
            func emitText(_ record: TextRecord) throws {
                try sink.append(record, to: spec.name)
                n += 1
                progress?.add("redis")
            }
            switch spec.source {
            case .redisStream(let pattern, let field, let name):
                try redis.scan(match: pattern.glob, count: 1000, type: "stream") { keys in
                    try readStreams(mine(keys, pattern, spec), pattern, field, name, emitText)
                }
            case .redisList(let key, let name):
                var index = 0
                try redis.lrange(key) { batch in
                    for item in batch {
                        try emitText(Self.listRecord(key, index, item.bytes, as: name))
                        index += 1
                    }
                }
            case .redisZSet(let key):
                try redis.zrange(key) { batch in
                    for (member, score) in batch { try emit(Self.zsetRecord(key, member, score)) }
                }
            case .redisHash(let pattern, let name):
                try redis.scan(match: pattern.glob, count: 1000, type: "hash") { keys in
                    let matching = mine(keys, pattern, spec).filter { pattern.match($0) != nil }
                    for (key, fields) in zip(matching, try redis.hgetall(matching)) where !fields.isEmpty {
                        try emit(Self.hashRecord(key, pattern, fields, as: name))
                    }
                }
            case .redisString(let pattern, let name):
                try redis.scan(match: pattern.glob, count: 1000, type: "string") { keys in
                    try readStrings(mine(keys, pattern, spec).filter { pattern.match($0) != nil }, pattern, name, emit)
                }
            case .redisSet(let pattern, let fixed):
                if let pattern {
                    try redis.scan(match: pattern.glob, count: 1000, type: "set") { keys in
                        try readSets(mine(keys, pattern, spec).filter { pattern.match($0) != nil }, pattern, emit)
                    }
                } else if let fixed {
                    try readSets([fixed], nil, emit)
                }
            default: continue
            }
            counts[spec.name] = n
            try sink.finished(spec.name, records: n)
        }
        // The newest stream entry read: entries after it were written after the read began.
        let newest: JSON = newestEntry.map { .string("\($0.ms)-\($0.seq)") } ?? .null
        return StoreRead(readAt: start, finishedAt: Date(), watermark: ["serverTimeMs": serverMs, "streams": .int(Int64(streamsRead)), "newestStreamEntry": newest],
                         records: counts)
    }

    /// The keys of this partition's runs (all of them when not partitioned,
    /// or when the dataset's run is not one of the key's captures).
    func mine(_ keys: [String], _ pattern: KeyPattern, _ spec: DatasetSpec) -> [String] {
        guard let p = partition, p.count > 1, let run = spec.runField, pattern.captures.contains(run) else { return keys }
        return keys.filter { key in pattern.match(key)?[run].map(p.contains(run:)) ?? true }
    }

    private func noteEntry(_ id: String) {
        let parts = id.split(separator: "-")
        guard parts.count == 2, let ms = UInt64(parts[0]), let seq = UInt64(parts[1]) else { return }
        if let n = newestEntry, (n.ms, n.seq) >= (ms, seq) { return }
        newestEntry = (ms, seq)
    }

    func readStreams(_ keys: [String], _ pattern: KeyPattern, _ field: String, _ name: String, _ emit: (TextRecord) throws -> Void) throws {
        let matching = keys.filter { pattern.match($0) != nil }
        var i = 0
        while i < matching.count {
            let chunk = Array(matching[i..<min(i + 64, matching.count)])
            i += chunk.count
            let replies = try redis.pipeline(chunk.map { ["XRANGE", $0, "-", "+", "COUNT", pageSize] })
            for (key, reply) in zip(chunk, replies) {
                streamsRead += 1
                if let e = reply.errorMessage { throw ConcordError(.server, "Redis error reading \(key): \(e)", store: "redis") }
                var entries = try RedisConnection.streamEntries(reply)
                let captures = pattern.match(key) ?? [:]
                var seq = 0
                while true {
                    for entry in entries {
                        try emit(Self.streamRecord(key, captures, entry, seq, field, name))
                        noteEntry(entry.id)
                        seq += 1
                    }
                    guard entries.count == pageSize, let last = entries.last else { break }
                    entries = try RedisConnection.streamEntries(try redis.run("XRANGE", key, "(" + last.id, "+", "COUNT", pageSize))
                }
            }
        }
    }

    /// GET of each key, pipelined.
    func readStrings(_ keys: [String], _ pattern: KeyPattern, _ name: String?, _ emit: (JSON) throws -> Void) throws {
        for (key, reply) in zip(keys, try redis.pipeline(keys.map { ["GET", $0] })) {
            guard let bytes = reply.bytes else { continue }  // gone, or not a string any more
            try emit(Self.stringRecord(key, pattern, bytes, name))
        }
    }

    /// The members of each set (SSCAN, so a large set is read in pieces).
    func readSets(_ keys: [String], _ pattern: KeyPattern?, _ emit: (JSON) throws -> Void) throws {
        for key in keys {
            var base: [String: JSON] = ["key": .string(key)]
            for (k, v) in pattern?.match(key) ?? [:] { base[k] = .string(v) }
            var cursor = "0"
            repeat {
                let reply = try redis.run("SSCAN", key, cursor, "COUNT", 1000)
                if let e = reply.errorMessage { throw ConcordError(.server, "Redis error reading \(key): \(e)", store: "redis") }
                guard let parts = reply.array, parts.count == 2 else { break }
                cursor = parts[0].string ?? "0"
                for m in parts[1].array ?? [] {
                    var o = base
                    o["member"] = .string(m.string ?? "")
                    try emit(.object(o))
                }
            } while cursor != "0"
        }
    }

    /// A list element: parsed under `name` (null if not JSON) and, always,
    /// the stored text as `raw` (see `TextRecord`).
    static func listRecord(_ key: String, _ index: Int, _ bytes: [UInt8]?, as name: String) -> TextRecord {
        TextRecord(base: ["key": .string(key), "index": .int(Int64(index))], text: bytes ?? [], field: name)
    }

    static func stringRecord(_ key: String, _ pattern: KeyPattern, _ bytes: [UInt8], _ name: String?) -> JSON {
        var o: [String: JSON] = ["key": .string(key), "value": .string(String(decoding: bytes, as: UTF8.self))]
        for (k, v) in pattern.match(key) ?? [:] { o[k] = .string(v) }
        if let name { o[name] = (try? JSON.parse(bytes)) ?? .null }
        return .object(o)
    }

    /// A stream entry's record; `captures` are its key's (matched once per stream).
    static func streamRecord(_ key: String, _ captures: [String: String], _ entry: RedisConnection.StreamEntry, _ seq: Int, _ field: String, _ name: String) -> TextRecord {
        var base: [String: JSON] = ["key": .string(key), "entry": .string(entry.id), "seq": .int(Int64(seq))]
        for (k, v) in captures { base[k] = .string(v) }
        return TextRecord(base: base, text: entry.field(field), field: name)
    }

    static func zsetRecord(_ key: String, _ member: String, _ score: Double) -> JSON {
        let s: JSON = score.rounded() == score && abs(score) < 9e15 ? .int(Int64(score)) : .double(score)
        return ["key": .string(key), "member": .string(member), "score": s]
    }

    static func hashRecord(_ key: String, _ pattern: KeyPattern, _ fields: [String: String], as name: String? = nil) -> JSON {
        var o: [String: JSON] = fields.mapValues(JSON.string)
        if let name { o[name] = .object(fields.mapValues(JSON.string)) }
        o["key"] = .string(key)
        for (k, v) in pattern.match(key) ?? [:] { o[k] = .string(v) }
        return .object(o)
    }

    // MARK: Graph

    func readGraph(_ specs: [DatasetSpec], _ sink: any RecordSink) throws -> StoreRead {
        let start = Date()
        var counts: [String: Int] = [:]
        for spec in specs {
            var n = 0
            switch spec.source {
            case .graphLabel(let label):
                let props = spec.fields.sorted()
                // `size(labels(n)) > 0`: FalkorDB 4.16.3 keeps a DETACH DELETEd node in its label's
                // matrix; MATCH (n:Label) then yields a phantom whose properties cannot be read.
                // Pages are ranges of node ids: FalkorDB seeks a range (cost: the range), where
                // ORDER BY id(n) LIMIT sorted every node after the cursor (cost: the rest of the label).
                let name = try Self.name(label)
                let query = "MATCH (n:\(name)) WHERE id(n) > $after AND id(n) <= $until AND size(labels(n)) > 0\(bucketPredicate("n", spec.runField != nil && spec.partitionKey == nil)) RETURN id(n) AS k, \(try Self.propertyColumns(props))"
                n = try idRanges(query, stats: "MATCH (n:\(name)) RETURN count(n), min(id(n)), max(id(n))") { record in
                    try sink.append(Self.nodeRecord(props, record), to: spec.name)
                    progress?.add("graph")
                }
            case .graphRelationship(let type, let endpoints, let properties):
                n = try readRelationships(type, endpoints, properties, byTarget: spec.runField?.hasPrefix("to.") == true) { record in
                    try sink.append(record, to: spec.name)
                    progress?.add("graph")
                }
            default: continue
            }
            counts[spec.name] = n
            try sink.finished(spec.name, records: n)
        }
        return StoreRead(readAt: start, finishedAt: Date(), watermark: ["engine": .string(graph.engine), "readAtMs": .int(Timestamp.milliseconds(start))], records: counts)
    }

    /// Reads every `type` relationship with its endpoints, paging by the
    /// target node's id: a page of nodes in id order, then their incoming
    /// relationships. (Paging by the relationship's own id makes FalkorDB
    /// expand every relationship for every page.) Returns the count.
    func readRelationships(_ type: String, _ endpoints: [String], _ properties: [String], byTarget: Bool = false, _ body: (JSON) throws -> Void) throws -> Int {
        let query = "MATCH (b) WHERE id(b) > $after AND id(b) <= $until AND size(labels(b)) > 0\(bucketPredicate("b", byTarget)) "
            + "OPTIONAL MATCH (a)-[r:\(try Self.name(type))]->(b) RETURN id(b) AS k, \(try Self.endpointColumns(endpoints, properties)), id(r) AS rid"
        return try idRanges(query, stats: "MATCH (b) RETURN count(b), min(id(b)), max(id(b))", keep: { !($0.values.last ?? .null).isNull }) { record in
            try body(Self.edgeRecord(type, endpoints, properties, record))
        }
    }

    /// Runs `query` (with `$after` and `$until`) over consecutive ranges of
    /// node ids, from the smallest to the largest `stats` gives (with the
    /// count, for the first range's width), fetched one range ahead on their
    /// own thread; each range sized so a page holds about `pageSize` records,
    /// or fewer when records are big (`PageBudget`). Returns the records handed to `body`.
    func idRanges(_ query: String, stats: String, keep: @escaping @Sendable (GraphRecord) -> Bool = { _ in true },
                  _ body: (GraphRecord) throws -> Void) throws -> Int {
        let row = try graph.run(stats, readOnly: true).records.first
        let count = row?[0].intValue ?? 0
        guard count > 0, let minId = row?[1].intValue, let maxId = row?[2].intValue else { return 0 }
        let budget = PageBudget(maxRecords: pageSize, density: Double(count) / Double(maxId - minId + 1))
        let params = bucketParameters
        return try prefetched(from: minId - 1, { [graph] after in
            let until = after + budget.span
            let records = try graph.run(query, parameters: params.merging(["after": .int(after), "until": .int(until)]) { $1 }, readOnly: true).records
            budget.learn(records, span: until - after)
            return (records.filter(keep), until >= maxId ? nil : until)
        }, body)
    }

    /// ` AND …` keeping the nodes whose `run_bucket` is this partition's, or
    /// that have none (written by a producer that does not set it: their own
    /// run is checked as the records arrive).
    func bucketPredicate(_ variable: String, _ applies: Bool) -> String {
        guard applies, let p = partition, p.count > 1 else { return "" }
        let b = "\(variable).\(RunBucket.property)"
        return " AND (\(b) IS NULL OR \(b) % $partitions = $partition)"
    }

    var bucketParameters: [String: GraphValue] {
        guard let p = partition, p.count > 1 else { return [:] }
        return ["partitions": .int(Int64(p.count)), "partition": .int(Int64(p.index))]
    }

    /// Keyset pages fetched one ahead on a thread of their own, so the graph
    /// computes the next page while this thread works through the current
    /// one. `fetch(after)` returns a page and the key to continue after (nil
    /// at the end). Returns the number of records handed to `body`.
    func prefetched(from start: Int64 = -1, _ fetch: @escaping @Sendable (Int64) throws -> (records: [GraphRecord], next: Int64?),
                    _ body: (GraphRecord) throws -> Void) throws -> Int {
        let pages = PageQueue()
        let fetcherDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            defer { fetcherDone.signal() }
            var after: Int64 = start
            while !pages.cancelled {
                do {
                    let (records, next) = try fetch(after)
                    pages.put(.page(records))
                    guard let next else { break }
                    after = next
                } catch {
                    pages.put(.failed(error))
                    return
                }
            }
            pages.put(.end)
        }
        var total = 0
        // The connection is the fetcher's until it has stopped.
        defer { pages.cancel(); fetcherDone.wait() }
        while true {
            switch pages.take() {
            case .page(let records):
                for r in records { try body(r) }
                total += records.count
            case .failed(let error): throw error
            case .end: return total
            }
        }
    }
    /// A label, relationship type or property name, back-quoted; refused if it holds a backtick.
    static func name(_ s: String) throws -> String {
        guard !s.isEmpty, !s.contains("`") else { throw ConcordError(.usage, "bad graph name '\(s)' in the dataset file") }
        return "`\(s)`"
    }

    /// The declared properties as columns. (Not `properties(n)`: FalkorDB 4.16
    /// was seen to crash in it while reading a graph that had nodes deleted.)
    static func propertyColumns(_ props: [String]) throws -> String {
        try props.enumerated().map { "n.\(try name($0.element)) AS p\($0.offset)" }.joined(separator: ", ")
    }

    /// A node record: the declared properties that are set (column 0 is the key).
    static func nodeRecord(_ props: [String], _ record: GraphRecord) -> JSON {
        var o: [String: JSON] = [:]
        for (i, p) in props.enumerated() {
            let v = record[i + 1].json
            if !v.isNull { o[p] = v }
        }
        return .object(o)
    }

    static func endpointColumns(_ endpoints: [String], _ properties: [String]) throws -> String {
        var cols = ["labels(a) AS al", "labels(b) AS bl"]
        for (i, p) in endpoints.enumerated() {
            cols.append("a.\(try name(p)) AS a\(i)")
            cols.append("b.\(try name(p)) AS b\(i)")
        }
        for (i, p) in properties.enumerated() { cols.append("r.\(try name(p)) AS r\(i)") }
        return cols.joined(separator: ", ")
    }

    static func edgeRecord(_ type: String, _ endpoints: [String], _ properties: [String], _ record: GraphRecord) -> JSON {
        // Columns: k, al, bl, then a0, b0, a1, b1, …, then r0, r1, …
        func endpoint(_ labelColumn: Int, _ offset: Int) -> JSON {
            var o: [String: JSON] = ["label": record[labelColumn].json[0] ?? .null]
            for (i, p) in endpoints.enumerated() {
                let v = record[3 + 2 * i + offset].json
                if !v.isNull { o[p] = v }
            }
            return .object(o)
        }
        var o: [String: JSON] = ["type": .string(type), "from": endpoint(1, 0), "to": endpoint(2, 1)]
        for (i, p) in properties.enumerated() {
            let v = record[3 + 2 * endpoints.count + i].json
            if !v.isNull { o[p] = v }
        }
        return .object(o)
    }
}

extension SnapshotWriter {
    /// Finishes a snapshot of live reads: each store's read time, seconds and
    /// watermark, and `evaluatedAt` (ms), the time an audit of it is evaluated at.
    @discardableResult
    public func finish(reads: [String: LiveReader.StoreRead], createdAt: Date, evaluatedAt: Int64) throws -> JSON {
        for (store, r) in reads { setStore(store, readAt: r.readAt, watermark: r.watermark, extra: ["seconds": r.json["seconds"] ?? .null]) }
        return try finish(createdAt: createdAt, extra: ["evaluatedAt": .int(evaluatedAt)])
    }
}

/// A bounded hand-over of pages from the fetching thread (at most two waiting).
/// How many records a graph page asks for: `maxRecords`, or fewer when
/// records are big, so a page holds about `maxBytes` of property text (a
/// million 3 KB nodes in pages of 10,000 held ~120 MB per page in flight).
final class PageBudget: @unchecked Sendable {
    let maxRecords: Int
    let maxBytes: Int
    private(set) var limit: Int
    /// How many node ids the next range spans.
    private(set) var span: Int64

    /// `density`: the share of ids in the range that hold a record (the first range's width).
    init(maxRecords: Int, maxBytes: Int = 8 << 20, density: Double = 1) {
        self.maxRecords = maxRecords
        self.maxBytes = maxBytes
        limit = min(maxRecords, 1_000)  // the first page finds out how big records are
        span = max(64, min(1 << 24, Int64(Double(limit) / max(density, 1e-6))))
    }

    /// Sets the next page's size from this page's records, which covered
    /// `span` ids (used by the fetching thread only).
    func learn(_ records: [GraphRecord], span covered: Int64) {
        guard !records.isEmpty else {
            span = min(span * 2, 1 << 24)  // ids of other labels, or deleted: look further
            return
        }
        let sample = records.prefix(100)
        let bytes = sample.reduce(0) { $0 + $1.values.reduce(16) { $0 + Self.size($1) } }
        let perRecord = max(bytes / sample.count, 1)
        limit = max(100, min(maxRecords, maxBytes / perRecord))
        span = max(64, min(1 << 24, Int64(Double(limit) * Double(covered) / Double(records.count))))
    }

    static func size(_ v: GraphValue) -> Int {
        switch v {
        case .string(let s): return s.utf8.count + 16
        case .bytes(let b): return b.count + 16
        case .list(let l): return l.reduce(16) { $0 + size($1) }
        case .map(let m): return m.reduce(16) { $0 + $1.key.utf8.count + size($1.value) }
        default: return 16
        }
    }
}

final class PageQueue: @unchecked Sendable {
    enum Item { case page([GraphRecord]), failed(Error), end }
    private let cond = NSCondition()
    private var items: [Item] = []
    private var isCancelled = false

    var cancelled: Bool { cond.lock(); defer { cond.unlock() }; return isCancelled }

    func put(_ item: Item) {
        cond.lock()
        while items.count >= 1 && !isCancelled { cond.wait() }  // one page ahead: the overlap, not a backlog
        if !isCancelled { items.append(item) }
        cond.broadcast()
        cond.unlock()
    }

    func take() -> Item {
        cond.lock()
        while items.isEmpty { cond.wait() }
        let item = items.removeFirst()
        cond.broadcast()
        cond.unlock()
        return item
    }

    /// The consumer stopped (finished or failed): the fetcher stops at its next page.
    func cancel() {
        cond.lock()
        isCancelled = true
        cond.broadcast()
        cond.unlock()
    }
}

