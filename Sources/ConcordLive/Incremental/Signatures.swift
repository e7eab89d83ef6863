import ConcordAudit
import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordPostgres
import ConcordRedis
import Foundation

/// Cheap per-run aggregates of every store, compared between audits to find
/// the runs that changed without reading their records: per stream its
/// length, last and deleted ids and entries added (`XINFO STREAM`); per hash,
/// string or set its content; per run in the graph the count of nodes and the
/// sum of their internal ids, per watched property (`watch:` in the dataset)
/// the sum of the lengths of its text, and per
/// relationship type each endpoint's degree weighted by its id; per run in
/// PostgreSQL the count and the sum of `hashtext` of each row. A record
/// added, removed, re-created or re-linked shows, and so does any edit of a
/// PostgreSQL row, Redis value or watched property that changes its length;
/// an in-place edit of another graph property is seen by the next full audit.
public struct StoreSignatures: Sendable {
    /// Run → digest over every dataset split by run.
    public var runs: [String: String] = [:]
    /// Id → digest, for datasets split by `partition: FIELD` (a draft's history by draft id).
    public var ids: [String: String] = [:]
    /// Dataset → digest of its records that belong to no run.
    public var runless: [String: String] = [:]
    /// Sorted set dataset → every member with its score (`member U+001E score`):
    /// compared whole with the state's, so a member added, removed or re-scored
    /// by any writer shows (read beside the graph's signature, which takes longer).
    public var zsets: [String: Set<String>] = [:]
    /// Seconds each store took.
    public var seconds: [String: Double] = [:]

    public init() {}

    /// A sorted-set member as the state keeps it, with its score.
    static func entry(_ member: String, _ score: Double) -> String { member + "\u{1E}" + String(score) }

    /// The member of such an entry.
    static func member(_ entry: String) -> String { String(entry.split(separator: "\u{1E}", maxSplits: 1, omittingEmptySubsequences: false).first ?? "") }

    /// Accumulates the parts of each unit, then digests them.
    struct Builder {
        var runs: [String: [String]] = [:]
        var ids: [String: [String]] = [:]
        var runless: [String: [String]] = [:]
        var zsets: [String: Set<String>] = [:]

        mutating func add(_ dataset: String, run: String?, byId: Bool, _ part: String) {
            let p = dataset + "=" + part
            guard let run, !run.isEmpty else { runless[dataset, default: []].append(part); return }
            if byId { ids[run, default: []].append(p) } else { runs[run, default: []].append(p) }
        }

        mutating func merge(_ o: Builder) {
            runs.merge(o.runs) { $0 + $1 }
            ids.merge(o.ids) { $0 + $1 }
            runless.merge(o.runless) { $0 + $1 }
            zsets.merge(o.zsets) { a, _ in a }
        }

        func build() -> StoreSignatures {
            func digest(_ parts: [String]) -> String {
                String(FNV1a.hash(parts.sorted().joined(separator: "\n")), radix: 16)
            }
            var s = StoreSignatures()
            s.runs = runs.mapValues(digest)
            s.ids = ids.mapValues(digest)
            s.runless = runless.mapValues(digest)
            s.zsets = zsets
            return s
        }
    }
}

extension LiveReader {
    /// The signatures of `specs` (this reader's partition only), the three stores at once.
    public func signatures(_ specs: [DatasetSpec], catalog: [String: DatasetSpec] = [:]) throws -> StoreSignatures {
        let byStore = Dictionary(grouping: specs, by: \.store)
        let stores = ["postgres", "redis", "graph"].filter { byStore[$0] != nil }
        let errors = Locked<[Error]>([])
        let parts = Locked<StoreSignatures.Builder>(.init())
        let seconds = Locked<[String: Double]>([:])
        DispatchQueue.concurrentPerform(iterations: stores.count) { i in
            let start = Date()
            do {
                var b = StoreSignatures.Builder()
                var specs = byStore[stores[i]]!
                if stores[i] == "graph" { specs = try graphLabelSignatures(specs, catalog: catalog, into: &b) }
                for spec in specs { try signature(spec, catalog: catalog, into: &b) }
                let built = b
                parts.withLock { $0.merge(built) }
            } catch { errors.withLock { $0.append(error) } }
            seconds.withLock { $0[stores[i]] = Date().timeIntervalSince(start) }
        }
        if let e = errors.value.first { throw e }
        var out = parts.value.build()
        out.seconds = seconds.value
        return out
    }

    /// One scan per label for every graph dataset that can be signed from
    /// its nodes: a label's count, identity and watched properties, and the
    /// degrees of the relationships whose endpoints have the label. Returns
    /// the datasets left for `signature` (split by id, or relationships with
    /// properties or without declared endpoint labels).
    func graphLabelSignatures(_ specs: [DatasetSpec], catalog: [String: DatasetSpec], into b: inout StoreSignatures.Builder) throws -> [DatasetSpec] {
        struct Group { var terms: [String] = []; var owners: [(dataset: String, first: Int, count: Int)] = [] }
        var groups: [String: Group] = [:]  // "label\u{0}runProperty"
        var rest: [DatasetSpec] = []
        func runProperty(of label: String, fallback: String) -> String {
            for d in catalog.values.sorted(by: { $0.name < $1.name }) {
                if case .graphLabel(label) = d.source, let r = d.runField { return r }
            }
            return fallback
        }
        func add(_ label: String, _ run: String, _ dataset: String, _ terms: [String]) {
            var g = groups[label + "\u{0}" + run] ?? Group()
            g.owners.append((dataset, g.terms.count, terms.count))
            g.terms += terms
            groups[label + "\u{0}" + run] = g
        }
        for spec in specs {
            switch spec.source {
            case .graphLabel(let label) where spec.runField != nil:
                add(label, spec.runField!, spec.name, ["count(n)", "sum(id(n))"] + (try Self.propertySumTerms("n", spec.watch)))
            case .graphRelationship(let type, _, let properties) where properties.isEmpty && !spec.toLabels.isEmpty && !spec.fromLabels.isEmpty:
                // Each endpoint's degree along `type` weighted by its identity: an edge added, removed or moved
                // changes the sum of the run of each node it touches.
                let fallback = String((spec.runField ?? "").split(separator: ".").last ?? "")
                var labels = spec.toLabels
                for l in spec.fromLabels where !labels.contains(l) { labels.append(l) }
                for label in labels {
                    var terms: [String] = []
                    if spec.toLabels.contains(label) { terms.append("sum(\(try degreeExpression("n", type, incoming: true)) * (id(n) + 1))") }
                    if spec.fromLabels.contains(label) { terms.append("sum(\(try degreeExpression("n", type, incoming: false)) * (id(n) + 1))") }
                    add(label, runProperty(of: label, fallback: fallback), spec.name + "\u{0}" + label, terms)
                }
            default:
                rest.append(spec)
            }
        }
        // One query per dataset and label, run side by side on connections of their own when the reader can open them
        // (FalkorDB runs concurrent read queries on several threads).
        struct Job { var label: String; var run: String; var owner: (dataset: String, first: Int, count: Int); var terms: [String] }
        var jobs: [Job] = []
        for (key, g) in groups.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "\u{0}").map(String.init)
            for o in g.owners { jobs.append(Job(label: parts[0], run: parts[1], owner: o, terms: Array(g.terms[o.first..<(o.first + o.count)]))) }
        }
        let results = Locked<[Int: [GraphRecord]]>([:])
        let failure = Locked<Error?>(nil)
        let lanes = min(jobs.count, openGraph == nil ? 1 : 3)
        let next = Locked(0)
        let params = bucketParameters
        let queries = try jobs.map { j in
            // No `size(labels(n)) > 0` (it doubles the scan): a phantom of a deleted node has no run and is signed with the runless.
            "MATCH (n:\(try Self.name(j.label)))\(bucketWhere("n", true)) RETURN n.\(try Self.name(j.run)), " + j.terms.joined(separator: ", ")
        }
        DispatchQueue.concurrentPerform(iterations: lanes) { lane in
            do {
                let store = lane == 0 ? graph : try openGraph!()
                while true {
                    let i = next.withLock { n -> Int in defer { n += 1 }; return n }
                    guard i < queries.count, failure.value == nil else { return }
                    let records = try store.run(queries[i], parameters: params, readOnly: true).records
                    results.withLock { $0[i] = records }
                }
            } catch { failure.withLock { $0 = error } }
        }
        if let e = failure.value { throw e }
        for (i, job) in jobs.enumerated() {
            for r in results.value[i] ?? [] {
                let run = r[0].json.keyText
                guard inPartition(run) else { continue }
                let name = String(job.owner.dataset.split(separator: "\u{0}").first ?? "")
                b.add(name, run: run, byId: false,
                      job.owner.dataset.replacingOccurrences(of: "\u{0}", with: ":") + "=" + r.values.dropFirst().map { $0.json.encoded() }.joined(separator: ","))
            }
        }
        return rest
    }

    func inPartition(_ run: String?) -> Bool {
        guard let p = partition, p.count > 1, let run, !run.isEmpty else { return true }
        return p.contains(run: run)
    }

    func signature(_ spec: DatasetSpec, catalog: [String: DatasetSpec], into b: inout StoreSignatures.Builder) throws {
        let byId = spec.runField == nil
        guard let split = spec.splitField else {
            if case .redisZSet(let key) = spec.source {
                var all: Set<String> = []
                try redis.zrange(key) { batch in for m in batch { all.insert(StoreSignatures.entry(m.member, m.score)) } }
                b.zsets[spec.name] = all
            }
            return  // lists and fixed sets are read whole
        }
        switch spec.source {
        case .redisStream(let pattern, _, _):
            try redis.scan(match: pattern.glob, count: 1000, type: "stream") { keys in
                let keys = mine(keys, pattern, spec).filter { pattern.match($0) != nil }
                for (key, reply) in zip(keys, try redis.pipeline(keys.map { ["XINFO", "STREAM", $0] })) {
                    var info: [String: String] = [:]
                    let items = reply.array ?? []
                    var i = 0
                    while i + 1 < items.count {
                        if let k = items[i].string, ["length", "last-generated-id", "max-deleted-entry-id", "entries-added"].contains(k) {
                            info[k] = items[i + 1].string ?? items[i + 1].int.map(String.init) ?? ""
                        }
                        i += 2
                    }
                    let part = "\(info["length"] ?? "?"):\(info["last-generated-id"] ?? ""):\(info["max-deleted-entry-id"] ?? ""):\(info["entries-added"] ?? "")"
                    b.add(spec.name, run: pattern.match(key)?[split], byId: byId, key + " " + part)
                }
            }
        case .redisHash(let pattern, _):
            try redis.scan(match: pattern.glob, count: 1000, type: "hash") { keys in
                let keys = mine(keys, pattern, spec).filter { pattern.match($0) != nil }
                for (key, fields) in zip(keys, try redis.hgetall(keys)) {
                    b.add(spec.name, run: pattern.match(key)?[split], byId: byId,
                          key + " " + fields.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1}"))
                }
            }
        case .redisString(let pattern, _):
            try redis.scan(match: pattern.glob, count: 1000, type: "string") { keys in
                let keys = mine(keys, pattern, spec).filter { pattern.match($0) != nil }
                for (key, reply) in zip(keys, try redis.pipeline(keys.map { ["GET", $0] })) {
                    var h = FNV1a()
                    h.add(reply.bytes ?? [])
                    b.add(spec.name, run: pattern.match(key)?[split], byId: byId, key + " " + String(h.value, radix: 16))
                }
            }
        case .redisSet(let pattern?, _):
            try redis.scan(match: pattern.glob, count: 1000, type: "set") { keys in
                let keys = mine(keys, pattern, spec).filter { pattern.match($0) != nil }
                for (key, reply) in zip(keys, try redis.pipeline(keys.map { ["SMEMBERS", $0] })) {
                    let members = (reply.array ?? []).compactMap(\.string).sorted().joined(separator: "\u{1}")
                    b.add(spec.name, run: pattern.match(key)?[split], byId: byId, key + " " + String(FNV1a.hash(members), radix: 16))
                }
            }
        case .graphLabel(let label):
            // Count and identity always; the text and value of the properties the dataset asks to watch (each costs a scan).
            let watched = spec.watch.isEmpty ? "" : ", " + (try Self.propertySums("n", spec.watch))
            // No `size(labels(n)) > 0` here (it doubles the scan): a phantom of a deleted node has no run and is signed with the runless.
            let query = "MATCH (n:\(try Self.name(label)))\(bucketWhere("n", !byId)) "
                + "RETURN n.\(try Self.name(split)) AS run, count(n), sum(id(n))\(watched)"
            for r in try graph.run(query, parameters: bucketParameters, readOnly: true).records {
                let run = r[0].json.keyText
                guard byId || inPartition(run) else { continue }
                b.add(spec.name, run: run, byId: byId, r.values.dropFirst().map { $0.json.encoded() }.joined(separator: ","))
            }
        case .graphRelationship(let type, _, let properties):
            let runExpr = try Self.relationshipField(split, spec)
            let query = "MATCH (a)-[r:\(try Self.name(type))]->(b) WHERE size(labels(b)) > 0\(bucketPredicate("b", split.hasPrefix("to."))) "
                + "RETURN \(runExpr) AS run, count(r), sum(id(r)), sum(id(a)), sum(id(b))"
                + (properties.isEmpty ? "" : ", " + (try Self.propertySums("r", properties)))
            for r in try graph.run(query, parameters: bucketParameters, readOnly: true).records {
                let run = r[0].json.keyText
                guard byId || inPartition(run) else { continue }
                b.add(spec.name, run: run, byId: byId, r.values.dropFirst().map { $0.json.encoded() }.joined(separator: ","))
            }
        case .postgresTable(let table):
            let c = postgres.quoteIdentifier(split)
            let sql = "SELECT (\(c))::text, count(*), sum(hashtext(t::text)::bigint)::text FROM \(Self.qualified(table, postgres)) t"
                // A dataset split by id is signed whole: a changed id's run may be any partition's.
                + (byId ? "" : partitionClause(spec)) + " GROUP BY 1"
            try postgres.transaction(isolation: .repeatableRead, readOnly: true) {
                try postgres.stream(sql) { row in
                    b.add(spec.name, run: row.string(0), byId: byId, "\(row.string(1) ?? ""):\(row.string(2) ?? "")")
                }
            }
        default:
            return
        }
    }

    /// ` WHERE …` of the bucket predicate, or nothing.
    func bucketWhere(_ v: String, _ applies: Bool) -> String {
        let p = bucketPredicate(v, applies)
        return p.isEmpty ? "" : " WHERE" + p.dropFirst(4)
    }

    /// How many `type` relationships a node has, in or out, in the engine's own terms.
    func degreeExpression(_ v: String, _ type: String, incoming: Bool) throws -> String {
        let t = try Self.name(type)
        if graph.engine == "falkordb" {
            return "\(incoming ? "indegree" : "outdegree")(\(v), '\(type.replacingOccurrences(of: "'", with: ""))')"
        }
        return incoming ? "COUNT { (\(v))<-[:\(t)]-() }" : "COUNT { (\(v))-[:\(t)]->() }"
    }

    /// Per property: the summed length of its text (`toString`, so any type; 40 %
    /// cheaper than also summing its numeric value, which FalkorDB parses from text).
    static func propertySums(_ v: String, _ props: [String]) throws -> String {
        try propertySumTerms(v, props).joined(separator: ", ")
    }

    static func propertySumTerms(_ v: String, _ props: [String]) throws -> [String] {
        try props.map { p in "sum(size(toString(\(v).\(try name(p)))))" }
    }
}
