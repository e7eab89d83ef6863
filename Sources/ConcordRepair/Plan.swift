import ConcordCore
import ConcordCrypto
import ConcordJSON
import Foundation

/// One step of a repair plan.
public struct RepairOperation: Sendable, Hashable {
    public var id: String
    public var findingId: String
    public var rule: String
    /// Where it writes (or `manual`: a step for a person).
    public var store: RepairStore
    /// Its kind: one of `RepairRegistry.operations` (checked when a plan is read).
    public var action: String
    public var key: String
    public var params: JSON
    /// What the record must still look like for the operation to run.
    public var precondition: JSON
    /// For review: the record now and after the operation.
    public var before: JSON
    public var after: JSON
    /// Set by the applier, journaled, never in a plan file: the whole image of
    /// each record the operation wrote, read right before and right after the
    /// write (`[{dataset, address, before, after}]`), which its undo restores.
    public var images: JSON = .null

    public var json: JSON {
        var o: [String: JSON] = ["id": .string(id), "findingId": .string(findingId), "rule": .string(rule), "store": .string(store.rawValue), "action": .string(action),
                                 "key": .string(key), "params": params, "precondition": precondition, "before": before, "after": after]
        if !images.isNull { o["images"] = images }
        return .object(o)
    }

    public init(json j: JSON) throws {
        func s(_ k: String) throws -> String {
            guard let v = j[k]?.stringValue else { throw ConcordError(.invalidInput, "plan operation without \(k)") }
            return v
        }
        id = try s("id"); findingId = try s("findingId"); rule = try s("rule"); action = try s("action"); key = try s("key")
        let storeName = try s("store")
        guard let store = RepairStore(rawValue: storeName) else {
            throw ConcordError(.invalidInput, "plan operation \(id) writes to an unknown store '\(storeName)' (\(RepairStore.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        self.store = store
        guard RepairRegistry.operations[action] != nil else {
            throw ConcordError(.invalidInput, "plan operation \(id) has an unknown action '\(action)' (docs/interface.md lists the operations)")
        }
        params = j["params"] ?? .null; precondition = j["precondition"] ?? .null; before = j["before"] ?? .null; after = j["after"] ?? .null
        images = j["images"] ?? .null
    }

    /// An operation that undoes this one: same finding, rule, store and key; what this one
    /// wrote is its before (and, unless told otherwise, its precondition), what this one saw its after.
    func inverse(_ action: String, params: JSON, precondition: JSON? = nil, after: JSON? = nil, store: RepairStore? = nil) -> RepairOperation {
        RepairOperation(findingId: findingId, rule: rule, store: store ?? self.store, action: action, key: key, params: params,
                        precondition: precondition ?? self.after, before: self.after, after: after ?? before)
    }

    public init(findingId: String, rule: String, store: RepairStore, action: String, key: String, params: JSON, precondition: JSON, before: JSON, after: JSON) {
        self.findingId = findingId
        self.rule = rule
        self.store = store
        self.action = action
        self.key = key
        self.params = params
        self.precondition = precondition
        self.before = before
        self.after = after
        id = String(SHA256.hex("\(findingId)|\(action)|\(key)").prefix(16))
    }
}

/// A repair plan (`concord.plan/1`): operations for an admin to review, then apply.
public struct RepairPlan: Sendable {
    public static let format = "concord.plan/1"

    public var planId: String
    public var sourceAuditId: String
    public var createdAt: Date
    public var rulesDigest: String
    public var operations: [RepairOperation]
    /// Run as listed (`"order": "as-listed"`), not by phase: an undo, whose operations run in exactly the reverse
    /// order of the plan it undoes. Absent in the file for a plan run by phase (the checksums of such plans are as before).
    public var ordered = false

    public init(planId: String, sourceAuditId: String, createdAt: Date, rulesDigest: String, operations: [RepairOperation]) {
        self.planId = planId
        self.sourceAuditId = sourceAuditId
        self.createdAt = createdAt
        self.rulesDigest = rulesDigest
        self.operations = operations
    }

    /// The operations by the store they write, each in plan order (what a review shows store by store).
    public var byStore: [RepairStore: [RepairOperation]] { Dictionary(grouping: operations, by: \.store) }

    /// How many operations each store has (the plan file's `summary`, the journal's counts).
    public var storeCounts: JSON { .object(Dictionary(grouping: operations, by: \.store.rawValue).mapValues { .int(Int64($0.count)) }) }

    /// "graph 3, redis 1, postgres 0, github 0, manual 2": every store, in the order they are applied.
    public var storeSummary: String { RepairStore.allCases.map { "\($0.rawValue) \(byStore[$0]?.count ?? 0)" }.joined(separator: ", ") }

    /// The content the checksum covers (everything but the checksum).
    var content: JSON {
        let c: JSON = ["format": .string(Self.format), "planId": .string(planId), "sourceAuditId": .string(sourceAuditId),
         "createdAt": .string(Timestamp.rfc3339(createdAt)), "rulesDigest": .string(rulesDigest),
         "operations": .array(operations.map(\.json)),
         "summary": storeCounts]
        guard ordered, case .object(var o) = c else { return c }
        o["order"] = "as-listed"
        return .object(o)
    }

    public var checksum: String { SHA256.hex(content.encoded()) }

    /// The file's text: the content plus `sha256` of its canonical encoding.
    public func encoded() -> String {
        guard case .object(var o) = content else { return "" }
        o["sha256"] = .string(checksum)
        return JSON.object(o).encoded() + "\n"
    }

    /// Reads a plan file, refusing an unknown format or a checksum that does not match.
    public init(file: String) throws {
        guard let data = FileManager.default.contents(atPath: file) else { throw ConcordError(.usage, "cannot read plan \(file)") }
        try self.init(bytes: [UInt8](data), source: file)
    }

    /// Reads a plan from its bytes (`source` names it in errors).
    public init(bytes: [UInt8], source file: String) throws {
        let j: JSON
        do { j = try JSON.parse(bytes) } catch let e as ConcordError { throw e.wrapped(in: "plan \(file)", code: .invalidInput, context: ["file": file]) }
        guard j["format"]?.stringValue == Self.format else {
            throw ConcordError(.invalidInput, "plan \(file) has format \(j["format"]?.description ?? "(none)"); this concord reads \(Self.format)")
        }
        guard let stated = j["sha256"]?.stringValue, case .object(var o) = j else {
            throw ConcordError(.invalidInput, "plan \(file) has no sha256; refusing it")
        }
        o.removeValue(forKey: "sha256")
        let actual = SHA256.hex(JSON.object(o).encoded())
        guard actual == stated else {
            throw ConcordError(.invalidInput, "plan \(file) fails its checksum (stated \(stated.prefix(12))…, content \(actual.prefix(12))…): it was changed after it was made; refusing it")
        }
        planId = j["planId"]?.stringValue ?? ""
        sourceAuditId = j["sourceAuditId"]?.stringValue ?? ""
        rulesDigest = j["rulesDigest"]?.stringValue ?? ""
        guard let created = Timestamp.parse(j["createdAt"]?.stringValue ?? "") else {
            throw ConcordError(.invalidInput, "plan \(file) has no valid createdAt (RFC 3339); refusing it")
        }
        createdAt = created
        operations = try (j["operations"]?.arrayValue ?? []).map(RepairOperation.init(json:))
        switch j["order"]?.stringValue {
        case nil: ordered = false
        case "as-listed": ordered = true
        case let other?: throw ConcordError(.invalidInput, "plan \(file) has order '\(other)'; this concord knows only 'as-listed'")
        }
        var ids = Set<String>()
        for op in operations where !ids.insert(op.id).inserted {
            throw ConcordError(.invalidInput, "plan \(file) has two operations with id \(op.id); refusing it")
        }
    }
}
