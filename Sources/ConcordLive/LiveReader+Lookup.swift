import ConcordAudit
import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordPostgres
import ConcordRedis
import Foundation

extension LiveReader {
    /// Point lookups for the recheck: every record of `specs` that belongs to
    /// one of `runs` or has one of `ids`, by each dataset's `lookup` fields.
    /// Lists (the queues) are read whole, in one MULTI so an entry moving
    /// from one to the other is not seen twice.
    public func lookup(_ specs: [DatasetSpec], runs: Set<String>, ids: Set<String>, into sink: any RecordSink) throws {
        let redis = primaryRedis ?? self.redis
        let runList = runs.sorted(), idList = ids.sorted()
        // Only the conditions that can match: an empty `IN []` beside an indexed one can cost the index.
        let idFieldsOf = { (spec: DatasetSpec) in idList.isEmpty ? [] : spec.lookup["id"] ?? [] }
        let runFieldsOf = { (spec: DatasetSpec) in runList.isEmpty ? [] : spec.lookup["run"] ?? [] }
        var lists: [(DatasetSpec, String, String)] = []
        let github = specs.filter { $0.store == "github" }
        if !github.isEmpty, self.github != nil { _ = try readGitHub(github, sink, drafts: ids, runs: runs) }
        for spec in specs where spec.store != "github" {
            var n = 0
            func emit(_ r: JSON) throws { try sink.append(r, to: spec.name); n += 1 }
            let runFields = runFieldsOf(spec), idFields = idFieldsOf(spec)
            switch spec.source {
            case .redisStream(let pattern, let field, let name):
                for key in try keys(pattern, spec, runs: runList, ids: idList, type: "stream") {
                    var seq = 0
                    let captures = pattern.match(key) ?? [:]
                    try redis.xrange(key, batch: pageSize) { entries in
                        for e in entries { try sink.append(Self.streamRecord(key, captures, e, seq, field, name), to: spec.name); n += 1; seq += 1 }
                    }
                }
            case .redisHash(let pattern, let name):
                let keys = try keys(pattern, spec, runs: runList, ids: idList, type: "hash")
                for (key, fields) in zip(keys, try redis.hgetall(keys)) where !fields.isEmpty {
                    try emit(Self.hashRecord(key, pattern, fields, as: name))
                }
            case .redisString(let pattern, let name):
                try readStrings(try keys(pattern, spec, runs: runList, ids: idList, type: "string"), pattern, name, emit)
            case .redisSet(let pattern?, _):
                try readSets(try keys(pattern, spec, runs: runList, ids: idList, type: "set"), pattern, emit)
            case .redisSet(nil, let key?):
                guard !idFields.isEmpty, !idList.isEmpty else { break }
                let replies = try redis.pipeline(idList.map { ["SISMEMBER", key, $0] })
                for (id, r) in zip(idList, replies) where r.int == 1 { try emit(["key": .string(key), "member": .string(id)]) }
            case .redisSet(nil, nil):
                break
            case .redisZSet(let key):
                guard !idFields.isEmpty, !idList.isEmpty else { break }
                let replies = try redis.pipeline(idList.map { ["ZSCORE", key, $0] })
                for (id, r) in zip(idList, replies) {
                    if let s = r.string, let score = Double(s) { try emit(Self.zsetRecord(key, id, score)) }
                }
            case .redisList(let key, let name):
                lists.append((spec, key, name))
                continue
            case .graphLabel(let label):
                let conds = try idFields.map { "n.\(try Self.name($0)) IN $ids" } + runFields.map { "n.\(try Self.name($0)) IN $runs" }
                guard !conds.isEmpty else { break }
                let props = spec.fields.sorted()
                try graph.stream("MATCH (n:\(try Self.name(label))) WHERE size(labels(n)) > 0 AND (\(conds.joined(separator: " OR "))) RETURN id(n) AS k, \(try Self.propertyColumns(props))",
                                 parameters: ["ids": .list(idList.map(GraphValue.string)), "runs": .list(runList.map(GraphValue.string))],
                                 readOnly: true, fetchSize: pageSize) { try emit(Self.nodeRecord(props, $0)) }
            case .graphRelationship(let type, let endpoints, let properties):
                // One query per field, each starting from an endpoint label's index when the dataset names it;
                // a relationship two fields match is read once.
                var seen: Set<Int64> = []
                let params: [String: GraphValue] = ["ids": .list(idList.map(GraphValue.string)), "runs": .list(runList.map(GraphValue.string))]
                for (path, param) in idFields.map({ ($0, "ids") }) + runFields.map({ ($0, "runs") }) {
                    for match in try Self.relationshipMatches(spec, type, path, param) {
                        try graph.stream("\(match) RETURN id(r) AS k, \(try Self.endpointColumns(endpoints, properties))", parameters: params,
                                         readOnly: true, fetchSize: pageSize) { record in
                            if let k = record[0].intValue, !seen.insert(k).inserted { return }
                            try emit(Self.edgeRecord(type, endpoints, properties, record))
                        }
                    }
                }
            case .githubPublications:
                break  // read above
            case .postgresTable(let table):
                var params: [String] = []
                var conds: [String] = []
                for (fields, values) in [(idFields, idList), (runFields, runList)] where !fields.isEmpty {
                    params.append(Self.textArray(values))
                    conds += fields.map { "\(postgres.quoteIdentifier($0))::text = ANY($\(params.count)::text[])" }
                }
                guard !conds.isEmpty else { break }
                try postgres.stream("SELECT * FROM \(Self.qualified(table, postgres)) WHERE \(conds.joined(separator: " OR "))", params) {
                    try emit($0.jsonObject())
                }
            }
            try sink.finished(spec.name, records: n)
        }
        if !lists.isEmpty {
            let replies = try redis.transaction(lists.map { ["LRANGE", $0.1, 0, -1] }) ?? []
            for ((spec, key, name), reply) in zip(lists, replies) {
                let items = reply.array ?? []
                for (i, item) in items.enumerated() {
                    try sink.append(Self.listRecord(key, i, item.bytes, as: name), to: spec.name)
                }
                try sink.finished(spec.name, records: items.count)
            }
        }
    }

    /// The runs of the records of `specs` (split by run) whose lookup id is one
    /// of `ids`: where records with these ids live, without reading them.
    public func runsHolding(_ specs: [DatasetSpec], ids: Set<String>) throws -> Set<String> {
        try holders(specs, ids: ids).runs
    }

    /// Which of `ids` records of `specs` (split by run) carry as a lookup id,
    /// and the runs of those records.
    public func holders(_ specs: [DatasetSpec], ids: Set<String>) throws -> (ids: Set<String>, runs: Set<String>) {
        var found: Set<String> = [], runs: Set<String> = []
        let idList = ids.sorted()
        guard !idList.isEmpty else { return ([], []) }
        for spec in specs {
            guard let run = spec.runField else { continue }
            for field in spec.lookup["id"] ?? [] {
                switch spec.source {
                case .graphLabel(let label):
                    let q = "MATCH (n:\(try Self.name(label))) WHERE n.\(try Self.name(field)) IN $ids AND size(labels(n)) > 0 RETURN n.\(try Self.name(field)), n.\(try Self.name(run))"
                    for r in try graph.run(q, parameters: ["ids": .list(idList.map(GraphValue.string))], readOnly: true).records {
                        if let v = r[0].json.keyText { found.insert(v) }
                        if let v = r[1].json.keyText { runs.insert(v) }
                    }
                case .graphRelationship(let type, _, _):
                    for match in try Self.relationshipMatches(spec, type, field, "ids") {
                        let columns = "\(try Self.relationshipField(field, spec)), \(try Self.relationshipField(run, spec))"
                        for r in try graph.run("\(match) RETURN DISTINCT \(columns)", parameters: ["ids": .list(idList.map(GraphValue.string))], readOnly: true).records {
                            if let v = r[0].json.keyText { found.insert(v) }
                            if let v = r[1].json.keyText { runs.insert(v) }
                        }
                    }
                case .postgresTable(let table):
                    let f = postgres.quoteIdentifier(field)
                    let q = "SELECT DISTINCT \(f)::text, \(postgres.quoteIdentifier(run))::text FROM \(Self.qualified(table, postgres)) WHERE \(f)::text = ANY($1::text[])"
                    try postgres.stream(q, [Self.textArray(idList)]) { row in
                        if let v = row.string(0) { found.insert(v) }
                        if let v = row.string(1) { runs.insert(v) }
                    }
                default:
                    continue  // a Redis key's id is one of its captures: found with its run
                }
            }
        }
        return (found, runs)
    }

    /// `MATCH … WHERE` clauses finding the `type` relationships whose `path`
    /// (from.p, to.p or a relationship property) is in `$param`: from each of
    /// the endpoint's declared labels (so its index is used), else unlabelled.
    static func relationshipMatches(_ spec: DatasetSpec, _ type: String, _ path: String, _ param: String) throws -> [String] {
        let t = try name(type), field = try relationshipField(path, spec)
        let labels = path.hasPrefix("from.") ? spec.fromLabels : path.hasPrefix("to.") ? spec.toLabels : []
        guard !labels.isEmpty else { return ["MATCH (a)-[r:\(t)]->(b) WHERE \(field) IN $\(param)"] }
        let v = field.prefix(1)
        return try labels.map { "MATCH (\(v):\(try name($0))) WHERE \(field) IN $\(param) MATCH (a)-[r:\(t)]->(b)" }
    }

    /// A relationship record's field in Cypher over `(a)-[r]->(b)`: `from.p` is `a.p`, `to.p` is `b.p`, `p` is `r.p`.
    static func relationshipField(_ path: String, _ spec: DatasetSpec) throws -> String {
        let parts = path.split(separator: ".").map(String.init)
        if parts.count == 1 { return "r.\(try name(parts[0]))" }
        guard parts.count == 2, parts[0] == "from" || parts[0] == "to" else {
            throw ConcordError(.usage, "dataset \(spec.name): field '\(path)' must be from.<property>, to.<property> or a relationship property")
        }
        return "\(parts[0] == "from" ? "a" : "b").\(try name(parts[1]))"
    }

    /// The records of `specs` (split by run) that belong to no run: read by every audit that reads by run.
    public func runless(_ specs: [DatasetSpec], into sink: any RecordSink) throws {
        for spec in specs {
            guard let run = spec.runField else { continue }
            var n = 0
            switch spec.source {
            case .graphLabel(let label):
                let props = spec.fields.sorted()
                try graph.stream("MATCH (n:\(try Self.name(label))) WHERE n.\(try Self.name(run)) IS NULL AND size(labels(n)) > 0 RETURN id(n) AS k, \(try Self.propertyColumns(props))",
                                 parameters: [:], readOnly: true, fetchSize: pageSize) { try sink.append(Self.nodeRecord(props, $0), to: spec.name); n += 1 }
            case .graphRelationship(let type, let endpoints, let properties):
                try graph.stream("MATCH (a)-[r:\(try Self.name(type))]->(b) WHERE \(try Self.relationshipField(run, spec)) IS NULL RETURN id(r) AS k, \(try Self.endpointColumns(endpoints, properties))",
                                 parameters: [:], readOnly: true, fetchSize: pageSize) { try sink.append(Self.edgeRecord(type, endpoints, properties, $0), to: spec.name); n += 1 }
            case .postgresTable(let table):
                try postgres.stream("SELECT * FROM \(Self.qualified(table, postgres)) WHERE \(postgres.quoteIdentifier(run)) IS NULL") {
                    try sink.append($0.jsonObject(), to: spec.name); n += 1
                }
            default:
                continue
            }
            try sink.finished(spec.name, records: n)
        }
    }

    /// The keys of `pattern` whose lookup captures hold one of the values:
    /// built directly when the capture is the pattern's only one, else found
    /// by SCAN with the other captures left open.
    func keys(_ pattern: KeyPattern, _ spec: DatasetSpec, runs: [String], ids: [String], type: String) throws -> [String] {
        let redis = primaryRedis ?? self.redis
        var out: [String] = []
        var seen: Set<String> = []
        for (field, values) in (spec.lookup["run"] ?? []).map({ ($0, runs) }) + (spec.lookup["id"] ?? []).map({ ($0, ids) }) {
            for value in values {
                if pattern.captures == [field] {
                    let key = pattern.key(value)
                    if seen.insert(key).inserted { out.append(key) }
                    continue
                }
                try redis.scan(match: pattern.glob(fixing: [field: value]), count: 1000, type: type) { found in
                    for key in found where pattern.match(key)?[field] == value && seen.insert(key).inserted { out.append(key) }
                }
            }
        }
        return out
    }

    /// About how many records each run holds: the lengths of its streams (`XLEN`, pipelined) in the datasets whose
    /// key names the run — what a recheck of the run reads most of. Runs no such stream names are absent.
    public func runSizes(_ specs: [DatasetSpec], runs: [String]) throws -> [String: Int] {
        let redis = primaryRedis ?? self.redis
        var keys: [(run: String, key: String)] = []
        for spec in specs {
            guard case .redisStream(let pattern, _, _) = spec.source, let field = spec.lookup["run"]?.first, pattern.captures == [field] else { continue }
            keys += runs.map { ($0, pattern.key($0)) }
        }
        var out: [String: Int] = [:]
        for (k, reply) in zip(keys, try redis.pipeline(keys.map { ["XLEN", $0.key] })) { out[k.run, default: 0] += Int(reply.int ?? 0) }
        return out
    }

    /// A PostgreSQL text[] literal.
    static func textArray(_ items: [String]) -> String {
        "{" + items.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ",") + "}"
    }
}
