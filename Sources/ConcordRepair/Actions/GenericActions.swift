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
                guard Self.same(now, expected, address) else { return .skipped(op, "the row changed since the plan was made") }
                _ = try s.postgres.execute("DELETE FROM \(RecordAddress.qualified(table, s.postgres)) WHERE \(s.postgres.quoteIdentifier(column))::text = $1", [value])
                return .applied(op)
            }
        }
    }

    /// A node is the same record while its properties are: its edges belong to
    /// its neighbours too, which the same plan may be repairing.
    static func same(_ a: JSON, _ b: JSON, _ address: RecordAddress) -> Bool {
        if case .postgresRow = address.place { return RecordAddress.rows(a) == RecordAddress.rows(b) }
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

    /// Deleting it again, if it is still what this put back.
    func inverse(of op: RepairOperation) -> RepairOperation? {
        op.inverse(DeleteRecordOperation().name, params: op.params, precondition: ["record": op.after])
    }

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
            let cmds = RecordAddress.redisCommands(key: key, type: type, record)
            guard try s.redis.transaction(watch: [key], build: { try s.redis.run("EXISTS", key).int == 0 ? cmds : nil }) != nil else {
                return .skipped(op, "\(key) exists now")
            }
        case .redisMember(let key, let m, let type):
            if type == "set" { try s.redis.run("SADD", key, m) } else { try s.redis.run("ZADD", key, "NX", record["score"]?.stringValue ?? "0", m) }
        case .graphNode, .graphRelationship, .postgresRow:
            try address.create(record, s)
        }
        return .applied(op)
    }
}
