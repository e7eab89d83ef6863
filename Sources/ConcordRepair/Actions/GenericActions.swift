import ConcordAudit
import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordPostgres
import ConcordRedis
import Foundation

// The generic actions a user's own rule can call, on any dataset: the
// record is located through the dataset's `lookup.id` field, the
// precondition is the record as the plan read it, and the before-image is
// kept so the operation can be undone.

/// One record of a dataset in its store, located by the dataset's first `lookup.id` field.
struct RecordAddress: Sendable {
    enum Place: Sendable {
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
            let rows = try s.graph.run("""
                MATCH (n:\(try Self.name(label))) WHERE size(labels(n)) > 0 AND n.\(try Self.name(prop)) = $v
                OPTIONAL MATCH (n)-[r]->(o) WITH n, collect(CASE WHEN r IS NULL THEN NULL ELSE [type(r), 'out', labels(o)[0], o.\(try Self.name(prop)), r] END) AS outs
                OPTIONAL MATCH (i)-[q]->(n) WITH n, outs, collect(CASE WHEN q IS NULL THEN NULL ELSE [type(q), 'in', labels(i)[0], i.\(try Self.name(prop)), q] END) AS ins
                RETURN n, outs + ins ORDER BY id(n)
                """, parameters: ["v": .string(value)], readOnly: true).records
            guard !rows.isEmpty else { return nil }
            return .array(rows.map { r in
                var props: JSON = .null
                if case .node(let node) = r[0] { props = .object(node.properties.mapValues(\.json)) }
                // Each edge: type, direction, the other end's label and key, the relationship's properties.
                let edges: [JSON] = (r[1].listValue ?? []).compactMap { e in
                    guard let parts = e.listValue, parts.count == 5 else { return nil }
                    var relProps: JSON = [:]
                    if case .relationship(let rel) = parts[4] { relProps = .object(rel.properties.mapValues(\.json)) }
                    return [parts[0].json, parts[1].json, parts[2].json, parts[3].json, relProps]
                }.sorted { $0.encoded() < $1.encoded() }
                return ["properties": props, "edges": .array(edges)]
            })
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

extension PlanContext {
    /// The dataset a generic action writes: `repair.dataset`, declared in the rules.
    func dataset(_ f: FindingInput) throws -> DatasetSpec {
        let name = repair["dataset"]?.stringValue ?? f.evidence["dataset"]?.stringValue ?? ""
        guard let spec = rules.datasets[name] else { throw ConcordError(.usage, "rule \(f.rule): repair dataset '\(name)' is not declared") }
        return spec
    }
}

/// `set-field`: for a compare rule, the record of `repair.dataset` takes the
/// other side's values in `repair.fields` (the winner is the other side).
struct SetFieldAction: RepairAction {
    let name = "set-field"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        let spec = try c.dataset(f)
        let fields = (c.repair["fields"]?.arrayValue ?? []).compactMap(\.stringValue)
        let e = f.evidence
        let side: String
        if e["leftDataset"]?.stringValue == spec.name { side = "left" } else if e["rightDataset"]?.stringValue == spec.name { side = "right" } else {
            return [c.manual(f, "set-field needs a compare finding with \(spec.name) on one side")]
        }
        let target = e[side] ?? .null, winner = e[side == "left" ? "right" : "left"] ?? .null
        guard let key = target["key"]?.textValue, !(target["key"]?.isNull ?? true) else { return [c.manual(f, "the finding does not say which \(spec.name) record it is about")] }
        let address: RecordAddress
        do { address = try RecordAddress.locate(spec, key: key, stores: c.stores) } catch let err as ConcordError { return [c.manual(f, err.message)] }
        // The precondition: the fields as the audit read them; the record now, for review and undo.
        var seen: [String: JSON] = [:], wanted: [String: JSON] = [:]
        for field in fields {
            seen[field] = target[field] ?? .null
            wanted[field] = winner[field] ?? .null
        }
        guard let current = try address.read(c.stores) else { return [c.manual(f, "the \(spec.name) record \(key) is gone")] }
        return [c.op(f, SetFieldOperation(address.store), key,
                     params: ["dataset": .string(spec.name), "address": address.json, "fields": .object(wanted)],
                     pre: .object(seen), before: .object(seen.merging(["record": current]) { a, _ in a }), after: .object(wanted))]
    }
}

/// `delete-record`: the finding's record of `repair.dataset` (default: the finding's dataset) is removed; its before-image kept.
struct DeleteRecordAction: RepairAction {
    let name = "delete-record"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        let spec = try c.dataset(f)
        let address: RecordAddress
        do { address = try RecordAddress.locate(spec, key: f.key, stores: c.stores) } catch let err as ConcordError { return [c.manual(f, err.message)] }
        guard let current = try address.read(c.stores) else { return [] }  // already gone: nothing to do
        let fields = (c.repair["fields"]?.arrayValue ?? []).compactMap(\.stringValue)
        if !fields.isEmpty {
            // Only these fields go (an orphan hash field, a stray property or column): a set-field to absent,
            // guarded by their current values and undone by writing them back.
            guard case .object(let now) = (current.arrayValue?.first?["properties"] ?? current.arrayValue?.first ?? current) else {
                return [c.manual(f, "\(spec.name) records have no fields to remove")]
            }
            var seen: [String: JSON] = [:], gone: [String: JSON] = [:]
            for field in fields {
                seen[field] = now[field] ?? .null
                gone[field] = .null
            }
            guard seen.values.contains(where: { !$0.isNull }) else { return [] }  // none of them is there
            return [c.op(f, SetFieldOperation(address.store), f.key,
                         params: ["dataset": .string(spec.name), "address": address.json, "fields": .object(gone)],
                         pre: .object(seen), before: .object(seen.merging(["record": current]) { a, _ in a }), after: .object(gone))]
        }
        return [c.op(f, DeleteRecordOperation(address.store), f.key, params: ["dataset": .string(spec.name), "address": address.json],
                     pre: ["record": current], before: current, after: .null)]
    }
}

/// Writes fields of one record, if they still hold what the audit read.
struct SetFieldOperation: SingleOperationKind {
    let store: RepairStore
    var name: String { "set-field" }
    var order: Int { 10 }
    init(_ store: RepairStore = .redis) { self.store = store }

    /// A field value as text for Redis and PostgreSQL: strings as they are, everything else as JSON.
    static func text(_ v: JSON) -> String? {
        if v.isNull { return nil }
        return v.stringValue ?? v.encoded()
    }

    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let address = RecordAddress(op),
            let wanted = op.params["fields"]?.objectValue, let seen = op.precondition.objectValue
        else { return .skipped(op, "bad parameters") }
        let s = c.stores
        switch address.place {
        case .redisKey(let key, let type):
            return try watchedWrite(op, c, watch: [key]) {
                let now: [String: String]
                if type == "string" {
                    now = (try s.redis.run("GET", key).string).map { ["value": $0] } ?? [:]
                } else {
                    now = try s.redis.hgetall(key)
                }
                if wanted.allSatisfy({ now[$0.key] == Self.text($0.value) }) { return .settled(.applied, "already so") }
                for (field, old) in seen where now[field] != Self.text(old) {
                    return .settled(.skipped, "\(key) \(field) is now \(now[field] ?? "(absent)"); the audit read \(Self.text(old) ?? "(absent)")")
                }
                if type == "string" {
                    guard let v = wanted["value"].flatMap(Self.text) else { return .settled(.skipped, "a string key has only 'value'") }
                    return .write([["SET", key, v]])
                }
                return .write(wanted.sorted { $0.key < $1.key }.map { field, v in Self.text(v).map { ["HSET", key, field, $0] } ?? ["HDEL", key, field] })
            }
        case .graphNode(let label, let prop, let value):
            var conds = ["n.\(try RecordAddress.name(prop)) = $v"], sets: [String] = []
            var params: [String: GraphValue] = ["v": .string(value)]
            for (i, (field, old)) in seen.sorted(by: { $0.key < $1.key }).enumerated() {
                if old.isNull { conds.append("n.\(try RecordAddress.name(field)) IS NULL") } else {
                    conds.append("n.\(try RecordAddress.name(field)) = $o\(i)")
                    params["o\(i)"] = GraphValue(old)
                }
            }
            for (i, (field, v)) in wanted.sorted(by: { $0.key < $1.key }).enumerated() {
                sets.append("n.\(try RecordAddress.name(field)) = $w\(i)")
                params["w\(i)"] = GraphValue(v)
            }
            let n = try s.graph.run("MATCH (n:\(try RecordAddress.name(label))) WHERE \(conds.joined(separator: " AND ")) SET \(sets.joined(separator: ", ")) RETURN count(n)",
                                    parameters: params).records.first?[0].intValue ?? 0
            if n > 0 { return .applied(op) }
            return try address.read(s).map { current in
                let already = wanted.allSatisfy { k, v in (current.arrayValue?.first?["properties"]?[k] ?? .null) == v }
                return already ? .applied(op, "already so") : .skipped(op, "the node's fields changed since the audit")
            } ?? .skipped(op, "the node is gone")
        case .postgresRow(let table, let column, let value):
            var params: [String?] = [value]
            var sets: [String] = [], conds = ["\(s.postgres.quoteIdentifier(column))::text = $1"]
            for (field, old) in seen.sorted(by: { $0.key < $1.key }) {
                params.append(Self.text(old))
                conds.append("\(s.postgres.quoteIdentifier(field)) IS NOT DISTINCT FROM $\(params.count)")
            }
            for (field, v) in wanted.sorted(by: { $0.key < $1.key }) {
                params.append(Self.text(v))
                sets.append("\(s.postgres.quoteIdentifier(field)) = $\(params.count)")
            }
            let n = try s.postgres.execute("UPDATE \(RecordAddress.qualified(table, s.postgres)) SET \(sets.joined(separator: ", ")) WHERE \(conds.joined(separator: " AND "))",
                                           params.map { $0 as any PostgresParameter })
            return n > 0 ? .applied(op) : .skipped(op, "the \(table) row \(value) changed since the audit (or is gone)")
        default:
            return .skipped(op, "set-field does not write \(address.dataset) records")
        }
    }

    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard case .object(var before) = op.before else { return nil }
        before.removeValue(forKey: "record")
        var params = op.params.objectValue ?? [:]
        params["fields"] = .object(before)
        return op.inverse(name, params: .object(params), after: .object(before))
    }
}

/// Removes one record if it is still exactly the before-image; `restore-record` puts it back.
struct DeleteRecordOperation: SingleOperationKind {
    let store: RepairStore
    var name: String { "delete-record" }
    var order: Int { 90 }
    init(_ store: RepairStore = .redis) { self.store = store }

    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let address = RecordAddress(op),
            let expected = op.precondition["record"]
        else { return .skipped(op, "bad parameters") }
        let s = c.stores
        func check() throws -> Applier.Result? {
            guard let now = try address.read(s) else { return .skipped(op, "the record is gone already; nothing was deleted") }
            return Self.same(now, expected, address) ? nil : .skipped(op, "the record changed since the plan was made")
        }
        switch address.place {
        case .redisKey(let key, _), .redisMember(let key, _, _):
            return try watchedWrite(op, c, watch: [key]) {
                if let r = try check() { return .settled(r.outcome, r.reason ?? "") }
                if case .redisMember(_, let m, let type) = address.place { return .write([[type == "set" ? "SREM" : "ZREM", key, m]]) }
                return .write([["DEL", key]])
            }
        case .graphNode(let label, let prop, let value):
            if let r = try check() { return r }
            try s.graph.run("MATCH (n:\(try RecordAddress.name(label))) WHERE n.\(try RecordAddress.name(prop)) = $v DETACH DELETE n", parameters: ["v": .string(value)])
            return try address.read(s) == nil ? .applied(op) : .skipped(op, "the node is still there")
        case .graphRelationship(let type, let side, let prop, let value):
            if let r = try check() { return r }
            try s.graph.run("MATCH (a)-[r:\(try RecordAddress.name(type))]->(b) WHERE \(side == "from" ? "a" : "b").\(try RecordAddress.name(prop)) = $v DELETE r",
                            parameters: ["v": .string(value)])
            return try address.read(s) == nil ? .applied(op) : .skipped(op, "the relationship is still there")
        case .postgresRow(let table, let column, let value):
            return try s.postgres.transaction {
                let rows = try s.postgres.query("SELECT row_to_json(t)::text FROM \(RecordAddress.qualified(table, s.postgres)) t WHERE \(s.postgres.quoteIdentifier(column))::text = $1 FOR UPDATE",
                                                [value])
                let now: JSON? = rows.rowCount == 0 ? nil : .array(try (0..<rows.rowCount).compactMap { try rows[$0].json(0) })
                guard let now else { return .skipped(op, "the row is gone already; nothing was deleted") }
                guard now == expected else { return .skipped(op, "the row changed since the plan was made") }
                _ = try s.postgres.execute("DELETE FROM \(RecordAddress.qualified(table, s.postgres)) WHERE \(s.postgres.quoteIdentifier(column))::text = $1", [value])
                return .applied(op)
            }
        }
    }

    /// A node is the same record while its properties are: its edges belong to
    /// its neighbours too, which the same plan may be repairing.
    static func same(_ a: JSON, _ b: JSON, _ address: RecordAddress) -> Bool {
        guard case .graphNode = address.place else { return a == b }
        return (a.arrayValue ?? []).map { $0["properties"] ?? .null } == (b.arrayValue ?? []).map { $0["properties"] ?? .null }
    }

    func inverse(of op: RepairOperation) -> RepairOperation? {
        op.inverse(RestoreRecordOperation().name, params: op.params, precondition: ["absent": true])
    }
}

/// Puts a deleted record back from its before-image (the inverse of delete-record), if it is still absent.
struct RestoreRecordOperation: SingleOperationKind {
    let store: RepairStore
    var name: String { "restore-record" }
    var order: Int { 0 }
    init(_ store: RepairStore = .redis) { self.store = store }

    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let address = RecordAddress(op) else {
            return .skipped(op, "bad parameters")
        }
        let record = op.after
        let s = c.stores
        if let now = try address.read(s) {
            return DeleteRecordOperation.same(now, record, address) ? .applied(op, "already there") : .skipped(op, "a different record is there now")
        }
        switch address.place {
        case .redisKey(let key, let type):
            let cmds: [[any RedisArgument]]
            switch type {
            case "hash": cmds = [["HSET", key] + (record.objectValue ?? [:]).sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value.stringValue ?? ""] as [any RedisArgument] }]
            case "string": cmds = [["SET", key, record.stringValue ?? "", "NX"]]
            case "set": cmds = [["SADD", key] + (record.arrayValue ?? []).compactMap(\.stringValue)]
            default:
                cmds = (record.arrayValue ?? []).map { e in
                    ["XADD", key, e["id"]?.stringValue ?? "*"] + (e["fields"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.flatMap { [$0.key, $0.value.stringValue ?? ""] as [any RedisArgument] }
                }
            }
            guard try s.redis.transaction(watch: [key], build: { try s.redis.run("EXISTS", key).int == 0 ? cmds : nil }) != nil else {
                return .skipped(op, "\(key) exists now")
            }
        case .redisMember(let key, let m, let type):
            if type == "set" { try s.redis.run("SADD", key, m) } else { try s.redis.run("ZADD", key, "NX", record["score"]?.stringValue ?? "0", m) }
        case .graphNode(let label, _, _):
            for node in record.arrayValue ?? [] {
                var props: [String: GraphValue] = [:]
                for (k, v) in node["properties"]?.objectValue ?? [:] { props[k] = GraphValue(v) }
                let created = try s.graph.run("CREATE (n:\(try RecordAddress.name(label))) SET n = $props RETURN id(n)", parameters: ["props": .map(props)])
                guard let nid = created.records.first?[0].intValue else { continue }
                for edge in node["edges"]?.arrayValue ?? [] {
                    guard let parts = edge.arrayValue, parts.count == 5, let type = parts[0].stringValue, let dir = parts[1].stringValue,
                        let otherLabel = parts[2].stringValue, case .graphNode(_, let prop, _) = address.place
                    else { continue }
                    var relProps: [String: GraphValue] = [:]
                    for (k, v) in parts[4].objectValue ?? [:] { relProps[k] = GraphValue(v) }
                    // A neighbour that is not there (yet) gets the edge when it is restored itself.
                    let pattern = dir == "out" ? "(n)-[r:\(try RecordAddress.name(type))]->(o)" : "(o)-[r:\(try RecordAddress.name(type))]->(n)"
                    try s.graph.run("""
                        MATCH (n) WHERE id(n) = $nid MATCH (o:\(try RecordAddress.name(otherLabel))) WHERE o.\(try RecordAddress.name(prop)) = $oid
                        AND NOT \(pattern.replacingOccurrences(of: "[r:", with: "[:"))
                        CREATE \(pattern) SET r = $props
                        """, parameters: ["nid": .int(nid), "oid": GraphValue(parts[3]), "props": .map(relProps)])
                }
            }
        case .graphRelationship(let type, _, let prop, _):
            for r in record.arrayValue ?? [] {
                var props: [String: GraphValue] = [:]
                for (k, v) in r["properties"]?.objectValue ?? [:] { props[k] = GraphValue(v) }
                try s.graph.run("""
                    MATCH (a:\(try RecordAddress.name(r["fromLabel"]?.stringValue ?? ""))) WHERE a.\(try RecordAddress.name(prop)) = $from
                    MATCH (b:\(try RecordAddress.name(r["toLabel"]?.stringValue ?? ""))) WHERE b.\(try RecordAddress.name(prop)) = $to
                    CREATE (a)-[r:\(try RecordAddress.name(type))]->(b) SET r = $props
                    """, parameters: ["from": GraphValue(r["from"] ?? .null), "to": GraphValue(r["to"] ?? .null), "props": .map(props)])
            }
        case .postgresRow(let table, _, _):
            for row in record.arrayValue ?? [] {
                let t = RecordAddress.qualified(table, s.postgres)
                _ = try s.postgres.execute("INSERT INTO \(t) SELECT * FROM json_populate_record(NULL::\(t), $1::json)", [row.encoded()])
            }
        }
        return .applied(op)
    }
}
