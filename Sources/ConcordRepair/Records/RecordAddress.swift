import ConcordAudit
import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordPostgres
import ConcordRedis
import Foundation

// A record's address in its store and its whole image: what the generic
// actions, restores, rebuilds and undos read, compare and write back.

/// One record of a dataset in its store, located by the dataset's first `lookup.id` field.
public struct RecordAddress: Sendable {
    public enum Place: Sendable {
        case redisKey(String, type: String)
        case redisMember(key: String, member: String, type: String)
        case graphNode(label: String, property: String, value: String)
        case graphRelationship(type: String, side: String, property: String, value: String)
        case postgresRow(table: String, column: String, value: String)
    }
    let place: Place
    let dataset: String

    var json: JSON {
        switch place {
        case .redisKey(let k, let t): ["redisKey": .string(k), "type": .string(t)]
        case .redisMember(let k, let m, let t): ["redisKey": .string(k), "member": .string(m), "type": .string(t)]
        case .graphNode(let l, let p, let v): ["label": .string(l), "property": .string(p), "value": .string(v)]
        case .graphRelationship(let t, let s, let p, let v): ["relationship": .string(t), "side": .string(s), "property": .string(p), "value": .string(v)]
        case .postgresRow(let t, let c, let v): ["table": .string(t), "column": .string(c), "value": .string(v)]
        }
    }

    init(place: Place, dataset: String) {
        self.place = place
        self.dataset = dataset
    }

    /// The address an operation carries in its parameters.
    init?(_ op: RepairOperation) {
        self.init(json: op.params["address"] ?? .null, dataset: op.params["dataset"]?.stringValue ?? "")
    }

    init?(json j: JSON, dataset: String) {
        self.dataset = dataset
        func s(_ k: String) -> String? { j[k]?.stringValue }
        if let k = s("redisKey"), let t = s("type") {
            place = s("member").map { .redisMember(key: k, member: $0, type: t) } ?? .redisKey(k, type: t)
        } else if let l = s("label"), let p = s("property"), let v = s("value") {
            place = .graphNode(label: l, property: p, value: v)
        } else if let r = s("relationship"), let side = s("side"), let p = s("property"), let v = s("value") {
            place = .graphRelationship(type: r, side: side, property: p, value: v)
        } else if let t = s("table"), let c = s("column"), let v = s("value") {
            place = .postgresRow(table: t, column: c, value: v)
        } else {
            return nil
        }
    }

    var store: RepairStore {
        switch place {
        case .redisKey, .redisMember: .redis
        case .graphNode, .graphRelationship: .graph
        case .postgresRow: .postgres
        }
    }

    /// Locates the record of `spec` whose lookup.id field is `key`; throws a reason when it cannot.
    static func locate(_ spec: DatasetSpec, key: String, stores: RepairStores) throws -> RecordAddress {
        guard let field = spec.lookup["id"]?.first else {
            throw ConcordError(.usage, "dataset \(spec.name) declares no lookup.id, so its records cannot be located")
        }
        switch spec.source {
        case .redisHash(let p, _), .redisString(let p, _), .redisSet(let p?, _), .redisStream(let p, _, _):
            let type: String
            switch spec.source {
            case .redisHash: type = "hash"
            case .redisString: type = "string"
            case .redisSet: type = "set"
            default: type = "stream"
            }
            if p.captures == [field] { return RecordAddress(place: .redisKey(p.key(key), type: type), dataset: spec.name) }
            var found: [String] = []
            try stores.redis.scan(match: p.glob(fixing: [field: key]), count: 1000, type: type) { keys in
                found += keys.filter { p.match($0)?[field] == key }
            }
            guard found.count == 1 else { throw ConcordError(.usage, "\(found.count) keys of \(p) have \(field) = \(key); expected one") }
            return RecordAddress(place: .redisKey(found[0], type: type), dataset: spec.name)
        case .redisSet(nil, let k?):
            return RecordAddress(place: .redisMember(key: k, member: key, type: "set"), dataset: spec.name)
        case .redisZSet(let k):
            return RecordAddress(place: .redisMember(key: k, member: key, type: "zset"), dataset: spec.name)
        case .redisSet(nil, nil), .redisList:
            throw ConcordError(.usage, "dataset \(spec.name) is a list: its elements are moved by requeue or dead-letter, not located by key")
        case .graphLabel(let label):
            return RecordAddress(place: .graphNode(label: label, property: field, value: key), dataset: spec.name)
        case .graphRelationship(let type, _, _):
            let parts = field.split(separator: ".").map(String.init)
            guard parts.count == 2 else { throw ConcordError(.usage, "dataset \(spec.name): a relationship is located by from.<property> or to.<property>") }
            return RecordAddress(place: .graphRelationship(type: type, side: parts[0], property: parts[1], value: key), dataset: spec.name)
        case .postgresTable(let table):
            return RecordAddress(place: .postgresRow(table: table, column: field, value: key), dataset: spec.name)
        case .githubPublications:
            throw ConcordError(.usage, "dataset \(spec.name) is GitHub's: its records are repaired by the publication actions (adopt-publication, republish, delete-github-comment, update-github-content)")
        }
    }

    static func name(_ s: String) throws -> String {
        guard !s.isEmpty, !s.contains("`") else { throw ConcordError(.usage, "bad graph name '\(s)'") }
        return "`\(s)`"
    }

    static func qualified(_ table: String, _ pg: PostgresConnection) -> String {
        table.split(separator: ".").map { pg.quoteIdentifier(String($0)) }.joined(separator: ".")
    }

    /// The whole record as it is now (the before-image), or nil when it is absent.
    func read(_ s: RepairStores) throws -> JSON? {
        switch place {
        case .redisKey(let k, let type):
            switch type {
            case "hash":
                let h = try s.redis.hgetall(k)
                return h.isEmpty ? nil : .object(h.mapValues(JSON.string))
            case "string":
                return try s.redis.run("GET", k).bytes.map { .string(String(decoding: $0, as: UTF8.self)) }
            case "set":
                let members = (try s.redis.run("SMEMBERS", k).array ?? []).compactMap(\.string).sorted()
                return members.isEmpty ? nil : .array(members.map(JSON.string))
            case "list":
                let items = try s.list(k)
                return items.isEmpty ? nil : .array(items.map(JSON.string))
            case "zset":
                let flat = (try s.redis.run("ZRANGE", k, "0", "-1", "WITHSCORES").array ?? []).compactMap(\.string)
                guard !flat.isEmpty else { return nil }
                return .array(stride(from: 0, to: flat.count - 1, by: 2).map { ["member": .string(flat[$0]), "score": .string(flat[$0 + 1])] })
            default:
                let entries = try RedisConnection.streamEntries(try s.redis.run("XRANGE", k, "-", "+"))
                return entries.isEmpty ? nil : .array(entries.map { e in
                    ["id": .string(e.id), "fields": .object(Dictionary(e.fields.map { ($0.0, JSON.string(String(decoding: $0.1, as: UTF8.self))) }, uniquingKeysWith: { a, _ in a }))]
                })
            }
        case .redisMember(let k, let m, let type):
            if type == "set" { return try s.redis.run("SISMEMBER", k, m).int == 1 ? .string(m) : nil }
            return try s.redis.run("ZSCORE", k, m).string.map { ["member": .string(m), "score": .string($0)] }
        case .graphNode(let label, let prop, let value):
            return try Self.nodeImages(label: label, property: prop, values: [value], s)[value]
        case .graphRelationship(let type, let side, let prop, let value):
            let rows = try s.graph.run("""
                MATCH (a)-[r:\(try Self.name(type))]->(b) WHERE \(side == "from" ? "a" : "b").\(try Self.name(prop)) = $v
                RETURN labels(a)[0], a.\(try Self.name(prop)), labels(b)[0], b.\(try Self.name(prop)), properties(r) ORDER BY id(r)
                """, parameters: ["v": .string(value)], readOnly: true).records
            guard !rows.isEmpty else { return nil }
            return .array(rows.map { ["fromLabel": $0[0].json, "from": $0[1].json, "toLabel": $0[2].json, "to": $0[3].json, "properties": $0[4].json] })
        case .postgresRow(let table, let column, let value):
            let r = try s.postgres.query("SELECT row_to_json(t)::text FROM \(Self.qualified(table, s.postgres)) t WHERE \(s.postgres.quoteIdentifier(column))::text = $1",
                                         [value])
            guard r.rowCount > 0 else { return nil }
            return .array(try (0..<r.rowCount).compactMap { try r[$0].json(0) })
        }
    }
}

extension RecordAddress {
    /// The catalog's event node with `id` (every copy, placeholder or not).
    static func node(_ id: String, dataset: String? = nil) -> RecordAddress {
        RecordAddress(place: .graphNode(label: "Node", property: "id", value: id), dataset: dataset ?? DatasetRole.graphEvents.conventionalName)
    }
    /// The catalog's run node with `id`.
    static func run(_ id: String, dataset: String? = nil) -> RecordAddress {
        RecordAddress(place: .graphNode(label: "WorkflowRun", property: "id", value: id), dataset: dataset ?? DatasetRole.graphRuns.conventionalName)
    }
}

// MARK: Reading many images

extension RecordAddress {
    /// The images of graph nodes with `property` in `values`, by value
    /// (absent values are not in the result): each copy's properties and
    /// its edges (type, direction, the other end's label and key, the
    /// relationship's properties), one statement for them all.
    static func nodeImages(label: String, property prop: String, values: [String], edges withEdges: Bool = true, _ s: RepairStores) throws -> [String: JSON] {
        let query = withEdges ? """
            MATCH (n:\(try name(label))) WHERE n.\(try name(prop)) IN $vs
            OPTIONAL MATCH (n)-[r]->(o) WITH n, collect(CASE WHEN r IS NULL THEN NULL ELSE [type(r), 'out', labels(o)[0], o.\(try name(prop)), r] END) AS outs
            OPTIONAL MATCH (i)-[q]->(n) WITH n, outs, collect(CASE WHEN q IS NULL THEN NULL ELSE [type(q), 'in', labels(i)[0], i.\(try name(prop)), q] END) AS ins
            RETURN n.\(try name(prop)), n, outs + ins ORDER BY id(n)
            """ : "MATCH (n:\(try name(label))) WHERE n.\(try name(prop)) IN $vs RETURN n.\(try name(prop)), n, [] ORDER BY id(n)"
        let rows = try s.graph.run(query, parameters: ["vs": .list(values.map(GraphValue.string))], readOnly: true).records
        var out: [String: [JSON]] = [:]
        for r in rows {
            guard let key = r[0].stringValue else { continue }
            var props: JSON = .null
            if case .node(let node) = r[1] { props = .object(node.properties.mapValues(\.json)) }
            let edges: [JSON] = (r[2].listValue ?? []).compactMap { e in
                guard let parts = e.listValue, parts.count == 5 else { return nil }
                var relProps: JSON = [:]
                if case .relationship(let rel) = parts[4] { relProps = .object(rel.properties.mapValues(\.json)) }
                return [parts[0].json, parts[1].json, parts[2].json, parts[3].json, relProps]
            }.sorted { $0.encoded() < $1.encoded() }
            out[key, default: []].append(["properties": props, "edges": .array(edges)])
        }
        return out.mapValues { .array($0) }
    }

    /// The images of `addresses` (nil: absent), graph nodes read in one statement per label.
    static func readAll(_ addresses: [RecordAddress], edges: Bool = true, _ s: RepairStores) throws -> [JSON?] {
        var groups: [String: (label: String, prop: String, values: Set<String>)] = [:]
        for a in addresses {
            if case .graphNode(let l, let p, let v) = a.place { groups["\(l)\u{0}\(p)", default: (l, p, [])].values.insert(v) }
        }
        var found: [String: [String: JSON]] = [:]
        for (k, g) in groups {
            let values = Array(g.values)
            var images: [String: JSON] = [:]
            for start in stride(from: 0, to: values.count, by: 1000) {
                images.merge(try nodeImages(label: g.label, property: g.prop, values: Array(values[start..<min(start + 1000, values.count)]), edges: edges, s)) { a, _ in a }
            }
            found[k] = images
        }
        // Sorted-set members (a rebuild's confirmations: a million of them) by pipelined ZSCORE.
        let members = addresses.indices.filter { if case .redisMember(_, _, "zset") = addresses[$0].place { return true }; return false }
        var scores: [Int: JSON?] = [:]
        for chunk in members.chunked(5000) {
            let replies = try s.redis.pipeline(chunk.map { i -> [any RedisArgument] in
                guard case .redisMember(let k, let m, _) = addresses[i].place else { return [] }
                return ["ZSCORE", k, m]
            })
            for (i, r) in zip(chunk, replies) {
                guard case .redisMember(_, let m, _) = addresses[i].place else { continue }
                scores[i] = r.string.map { ["member": .string(m), "score": .string($0)] }
            }
        }
        return try addresses.enumerated().map { i, a in
            if case .graphNode(let l, let p, let v) = a.place { return found["\(l)\u{0}\(p)"]?[v] }
            if let score = scores[i] { return score }
            return try a.read(s)
        }
    }
}

// MARK: Writing a whole image

extension RecordAddress {
    /// The Redis commands that build `record` at a key that does not exist (the caller DELs first when replacing).
    static func redisCommands(key: String, type: String, _ record: JSON) -> [[any RedisArgument]] {
        func pairs(_ o: [String: JSON]) -> [any RedisArgument] { o.sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value.stringValue ?? $0.value.encoded()] as [any RedisArgument] } }
        switch type {
        case "hash": return record.objectValue.map { $0.isEmpty ? [] : [["HSET", key] + pairs($0)] } ?? []
        case "string": return record.stringValue.map { [["SET", key, $0]] } ?? []
        case "set":
            let m = (record.arrayValue ?? []).compactMap(\.stringValue)
            return m.isEmpty ? [] : [["SADD", key] + m]
        case "list":
            let items = (record.arrayValue ?? []).compactMap(\.stringValue)
            return stride(from: 0, to: items.count, by: 1000).map { ["RPUSH", key] + items[$0..<min($0 + 1000, items.count)].map { $0 as any RedisArgument } }
        case "zset":
            return (record.arrayValue ?? []).map { ["ZADD", key, $0["score"]?.stringValue ?? "0", $0["member"]?.stringValue ?? ""] }
        default:
            return (record.arrayValue ?? []).map { e in ["XADD", key, e["id"]?.stringValue ?? "*"] + pairs(e["fields"]?.objectValue ?? [:]) }
        }
    }

    /// Creates `record` in the graph or PostgreSQL where it is absent: each
    /// node copy with its properties, then its edges to the neighbours that
    /// are there (a neighbour restored later adds the edge from its own image).
    func create(_ record: JSON, _ s: RepairStores) throws {
        switch place {
        case .graphNode(let label, _, _):
            for node in record.arrayValue ?? [] {
                var props: [String: GraphValue] = [:]
                for (k, v) in node["properties"]?.objectValue ?? [:] { props[k] = GraphValue(v) }
                let created = try s.graph.run("CREATE (n:\(try Self.name(label))) SET n = $props RETURN id(n)", parameters: ["props": .map(props)])
                guard let nid = created.records.first?[0].intValue else { continue }
                try addEdges(nid, node, s)
            }
        case .graphRelationship(let type, _, let prop, _):
            for r in record.arrayValue ?? [] {
                var props: [String: GraphValue] = [:]
                for (k, v) in r["properties"]?.objectValue ?? [:] { props[k] = GraphValue(v) }
                try s.graph.run("""
                    MATCH (a:\(try Self.name(r["fromLabel"]?.stringValue ?? ""))) WHERE a.\(try Self.name(prop)) = $from
                    MATCH (b:\(try Self.name(r["toLabel"]?.stringValue ?? ""))) WHERE b.\(try Self.name(prop)) = $to
                    CREATE (a)-[r:\(try Self.name(type))]->(b) SET r = $props
                    """, parameters: ["from": GraphValue(r["from"] ?? .null), "to": GraphValue(r["to"] ?? .null), "props": .map(props)])
            }
        case .postgresRow(let table, _, _):
            let t = Self.qualified(table, s.postgres)
            for row in record.arrayValue ?? [] {
                _ = try s.postgres.execute("INSERT INTO \(t) SELECT * FROM json_populate_record(NULL::\(t), $1::json)", [row.encoded()])
            }
        case .redisKey, .redisMember:
            break
        }
    }

    /// Gives the node with internal id `nid` the edges of its image `node` that its neighbours allow
    /// (a neighbour that is not there gets the edge when it is put back itself; an edge it has already is not doubled).
    func addEdges(_ nid: Int64, _ node: JSON, _ s: RepairStores) throws {
        guard case .graphNode(_, let prop, _) = place else { return }
        let edges = node["edges"]?.arrayValue ?? []
        var done: [String: Int] = [:]
        for edge in edges {
            guard let parts = edge.arrayValue, parts.count == 5, let type = parts[0].stringValue, let dir = parts[1].stringValue,
                let otherLabel = parts[2].stringValue
            else { continue }
            // The n-th copy of one edge in the image is created while the node has fewer than n of them.
            done[edge.encoded(), default: 0] += 1
            var relProps: [String: GraphValue] = [:]
            for (k, v) in parts[4].objectValue ?? [:] { relProps[k] = GraphValue(v) }
            let pattern = dir == "out" ? "(n)-[r:\(try Self.name(type))]->(o)" : "(o)-[r:\(try Self.name(type))]->(n)"
            try s.graph.run("""
                MATCH (n) WHERE id(n) = $nid MATCH (o:\(try Self.name(otherLabel))) WHERE o.\(try Self.name(prop)) = $oid
                OPTIONAL MATCH \(pattern.replacingOccurrences(of: "[r:", with: "[x:"))
                WITH n, o, count(x) AS have WHERE have < $want
                CREATE \(pattern) SET r = $props
                """, parameters: ["nid": .int(nid), "oid": GraphValue(parts[3]), "props": .map(relProps), "want": .int(Int64(done[edge.encoded()]!))])
        }
    }

    /// Removes every graph copy or PostgreSQL row at this address.
    func remove(_ s: RepairStores) throws {
        switch place {
        case .graphNode(let label, let prop, let value):
            try s.graph.run("MATCH (n:\(try Self.name(label))) WHERE n.\(try Self.name(prop)) = $v DETACH DELETE n", parameters: ["v": .string(value)])
        case .graphRelationship(let type, let side, let prop, let value):
            try s.graph.run("MATCH (a)-[r:\(try Self.name(type))]->(b) WHERE \(side == "from" ? "a" : "b").\(try Self.name(prop)) = $v DELETE r",
                            parameters: ["v": .string(value)])
        case .postgresRow(let table, let column, let value):
            _ = try s.postgres.execute("DELETE FROM \(Self.qualified(table, s.postgres)) WHERE \(s.postgres.quoteIdentifier(column))::text = $1", [value])
        case .redisKey, .redisMember:
            break
        }
    }

    /// A PostgreSQL image's rows as a multiset (a table has no row order; the reads have no ORDER BY to agree on).
    static func rows(_ j: JSON?) -> [String]? { j.map { ($0.arrayValue ?? [$0]).map { $0.encoded() }.sorted() } }

    /// Two images are the same record: equal, with a PostgreSQL record's rows compared as a multiset and a node's edges compared
    /// as a multiset (their order is the store's) — nil is absent.
    static func identical(_ a: JSON?, _ b: JSON?, at address: RecordAddress? = nil) -> Bool {
        if case .postgresRow? = address?.place { return rows(a) == rows(b) }
        func norm(_ j: JSON?) -> JSON? {
            guard let j, let copies = j.arrayValue, copies.allSatisfy({ $0["properties"] != nil && $0["edges"] != nil }) else { return j }
            return .array(copies.map { ["properties": $0["properties"] ?? .null, "edges": .array(($0["edges"]?.arrayValue ?? []).sorted { $0.encoded() < $1.encoded() })] }
                .sorted { $0.encoded() < $1.encoded() })
        }
        return norm(a) == norm(b)
    }
}
