import ConcordCore
import ConcordCrypto
import ConcordGraph
import ConcordJSON
import ConcordRedis
import Foundation

/// Makes one record equal to a whole image (`params.record`; null: the
/// record is removed), if it still holds what the plan saw
/// (`precondition.record`; null: it was absent). What restores, rebuilds
/// and undos write: the inverse is the same operation with the two images
/// swapped. A graph node is compared by its properties for the precondition
/// (its edges belong to its neighbours too) and rewritten whole, edges included.
struct PutRecordOperation: SingleOperationKind {
    let store: RepairStore
    var name: String { "put-record" }
    /// First in its store: a node a rebuild puts back is there before the replays that name it as a parent.
    var order: Int { 0 }
    init(_ store: RepairStore = .redis) { self.store = store }

    /// A put of `record` at `address`, guarded by `seen` (what the record holds now).
    static func make(_ address: RecordAddress, record: JSON?, seen: JSON?, findingId: String, rule: String) -> RepairOperation {
        var op = RepairOperation(findingId: findingId, rule: rule, store: address.store, action: "put-record", key: address.key,
                        params: ["dataset": .string(address.dataset), "address": address.json, "record": record ?? .null],
                        precondition: ["record": seen ?? .null], before: seen ?? .null, after: record ?? .null)
        // A draft and its history share a key: the dataset tells their operations apart.
        op.id = String(SHA256.hex("\(findingId)|put-record|\(address.dataset)|\(address.key)").prefix(16))
        return op
    }

    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let address = RecordAddress(op), let target = op.params["record"], let seenJSON = op.precondition["record"] else {
            return .skipped(op, "bad parameters")
        }
        let want: JSON? = target.isNull ? nil : target
        let seen: JSON? = seenJSON.isNull ? nil : seenJSON
        let s = c.stores
        /// nil: go ahead; else the outcome without a write.
        func settle(_ now: JSON?) -> Applier.Result? {
            if RecordAddress.identical(now, want, at: address) { return .applied(op, "already so") }
            switch (now, seen) {
            case (nil, nil): return nil
            case (nil, _): return .skipped(op, "the record is gone since the plan was made")
            case (_, nil): return .skipped(op, "a record is there now; the plan saw none")
            case (let n?, let b?): return DeleteRecordOperation.same(n, b, address) ? nil : .skipped(op, "the record changed since the plan was made")
            }
        }
        switch address.place {
        case .redisKey(let key, let type):
            return try watchedWrite(op, c, watch: [key]) {
                if let r = settle(try address.read(s)) { return .settled(r.outcome, r.reason ?? "") }
                return .write([["DEL", key]] + (want.map { RecordAddress.redisCommands(key: key, type: type, $0) } ?? []))
            }
        case .redisMember(let key, let m, let type):
            return try watchedWrite(op, c, watch: [key]) {
                if let r = settle(try address.read(s)) { return .settled(r.outcome, r.reason ?? "") }
                if type == "set" { return .write([want == nil ? ["SREM", key, m] : ["SADD", key, m]]) }
                return .write([want.map { ["ZADD", key, $0["score"]?.stringValue ?? "0", m] } ?? ["ZREM", key, m]])
            }
        case .graphNode(let label, let prop, let value):
            // No transaction spans statements here: the node copies are rewritten in place, one statement at a
            // time, so an interrupted put leaves copies each as the plan saw them or as it wants them — which a
            // re-run recognises as its own and finishes.
            let now = try address.read(s)
            if RecordAddress.identical(now, want, at: address) { return .applied(op, "already so") }
            let mine = Set(((seen?.arrayValue ?? []) + (want?.arrayValue ?? [])).map { ($0["properties"] ?? .null).encoded() })
            let resumable = (now?.arrayValue ?? []).allSatisfy { mine.contains(($0["properties"] ?? .null).encoded()) }
            if now == nil, seen != nil { return .skipped(op, "the record is gone since the plan was made") }
            if now != nil, !resumable { return settle(now) ?? .skipped(op, "the record changed since the plan was made") }
            let ids = try s.graph.run("MATCH (n:\(try RecordAddress.name(label))) WHERE n.\(try RecordAddress.name(prop)) = $v RETURN id(n) ORDER BY id(n)",
                                      parameters: ["v": .string(value)]).records.compactMap { $0[0].intValue }
            let copies = want?.arrayValue ?? []
            for (i, nid) in ids.enumerated() {
                guard i < copies.count else {
                    try s.graph.run("MATCH (n) WHERE id(n) = $nid DETACH DELETE n", parameters: ["nid": .int(nid)])
                    continue
                }
                var props: [String: GraphValue] = [:]
                for (k, v) in copies[i]["properties"]?.objectValue ?? [:] { props[k] = GraphValue(v) }
                try s.graph.run("MATCH (n) WHERE id(n) = $nid SET n = $props", parameters: ["nid": .int(nid), "props": .map(props)])
                try s.graph.run("MATCH (n)-[r]-() WHERE id(n) = $nid DELETE r", parameters: ["nid": .int(nid)])
                try address.addEdges(nid, copies[i], s)
            }
            if copies.count > ids.count { try address.create(.array(Array(copies[ids.count...])), s) }
            let after = try address.read(s)
            let done = want.map { w in after.map { DeleteRecordOperation.same($0, w, address) } ?? false } ?? (after == nil)
            return done ? .applied(op) : .failed(op, "after the write the record is not the image (written concurrently?): \(after?.encoded() ?? "absent") vs \(want?.encoded() ?? "absent")")
        case .graphRelationship:
            if let r = settle(try address.read(s)) { return r }
            try address.remove(s)
            if let want { try address.create(want, s) }
            // Edges to a neighbour that is not there yet come when it is put back itself: compared without them.
            let now = try address.read(s)
            let done = want.map { w in now.map { DeleteRecordOperation.same($0, w, address) } ?? false } ?? (now == nil)
            return done ? .applied(op) : .failed(op, "after the write the record is not the image (written concurrently?): \(now?.encoded() ?? "absent") vs \(want?.encoded() ?? "absent")")
        case .postgresRow(let table, let column, let value):
            return try s.postgres.transaction {
                let rows = try s.postgres.query("""
                    SELECT row_to_json(t)::text FROM \(RecordAddress.qualified(table, s.postgres)) t WHERE \(s.postgres.quoteIdentifier(column))::text = $1 FOR UPDATE
                    """, [value])
                let now: JSON? = rows.rowCount == 0 ? nil : .array(try (0..<rows.rowCount).compactMap { try rows[$0].json(0) })
                if let r = settle(now) { return r }
                try address.remove(s)
                if let want { try address.create(want, s) }
                return .applied(op)
            }
        }
    }

    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard case .object(var params) = op.params, let seen = op.precondition["record"] else { return nil }
        params["record"] = seen
        return op.inverse(name, params: .object(params), precondition: ["record": op.params["record"] ?? .null])
    }
}

extension RecordAddress {
    /// The key an operation on this record names: the Redis key (and member), the graph or row key.
    var key: String {
        switch place {
        case .redisKey(let k, _): k
        case .redisMember(let k, let m, _): "\(k) \(m)"
        case .graphNode(_, _, let v), .graphRelationship(_, _, _, let v), .postgresRow(_, _, let v): v
        }
    }
}
