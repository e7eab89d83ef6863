import ConcordCrypto
import Foundation
import ConcordCore

/// What setting up one index or constraint did.
public struct SchemaOutcome: Sendable, Hashable, CustomStringConvertible {
    public enum Status: Sendable, Hashable {
        case created
        case existed
        /// Could not be created; the reason says what blocks it (duplicates, most often).
        case blocked(String)
    }
    public var kind: String  // "unique" or "index"
    public var label: String
    public var property: String
    public var status: Status

    public init(kind: String, label: String, property: String, status: Status) {
        self.kind = kind
        self.label = label
        self.property = property
        self.status = status
    }

    public var description: String {
        let what = "\(kind) :\(label)(\(property))"
        switch status {
        case .created: return "\(what): created"
        case .existed: return "\(what): already there"
        case .blocked(let reason): return "\(what): NOT created — \(reason)"
        }
    }

    public var isBlocked: Bool { if case .blocked = status { return true }; return false }
}

/// The indexes and constraints the data model names (DATA-MODEL.md).
public enum GraphSchema {
    public static let unique: [(label: String, property: String)] = [("Node", "id"), ("WorkflowRun", "id")]
    public static let indexes: [(label: String, property: String)] = [("Node", "workflow_id")]

    /// Creates what is missing, idempotently. A uniqueness constraint that
    /// existing duplicates block is reported (the data is left alone) and an
    /// index is put in its place; once a repair has merged the duplicates,
    /// running this again completes.
    public static func ensure(on store: any GraphStore) throws -> [SchemaOutcome] {
        var out: [SchemaOutcome] = []
        for (label, property) in unique { out.append(try store.ensureUnique(label: label, property: property)) }
        for (label, property) in indexes { out.append(try store.ensureIndex(label: label, property: property)) }
        return out
    }

    /// The property each label's `run_bucket` is computed from (`RunBucket`).
    public static let bucketed: [(label: String, runProperty: String)] = [("Node", "workflow_id"), ("WorkflowRun", "id")]

    /// Sets `run_bucket` where it is missing or wrong (nodes written by a
    /// producer that does not set it, or whose run changed): reads each
    /// node's id and run, writes the corrected ones in batches. Returns how
    /// many nodes were corrected per label. `progress` gets (label, read so far).
    public static func backfillBuckets(on store: any GraphStore, progress: ((String, Int) -> Void)? = nil) throws -> [String: Int] {
        var fixed: [String: Int] = [:]
        for (label, prop) in bucketed {
            var rows: [GraphValue] = []
            var n = 0
            try store.streamKeyset(
                "MATCH (n:\(label)) WHERE id(n) > $after AND size(labels(n)) > 0 WITH n ORDER BY id(n) LIMIT $limit RETURN id(n) AS k, n.\(prop) AS run, n.\(RunBucket.property) AS b",
                start: .int(-1), key: { $0[0] }
            ) { r in
                n += 1
                if n % 100_000 == 0 { progress?(label, n) }
                guard let run = r[1].stringValue else { return }
                let b = Int64(RunBucket.of(run))
                if r[2].intValue != b { rows.append(.map(["k": r[0], "b": .int(b)])) }
            }
            try store.writeBatches("UNWIND $rows AS row MATCH (n:\(label)) WHERE id(n) = row.k SET n.\(RunBucket.property) = row.b",
                                   rows: rows, batchSize: 5000)
            fixed[label] = rows.count
        }
        return fixed
    }

    /// Checks that a schema name can be written into Cypher text unquoted.
    static func validate(_ name: String) throws {
        guard CypherLiteral.isIdentifier(name) else {
            throw ConcordError(.usage, "'\(name)' is not a valid label or property name", store: "graph")
        }
    }

    /// How many values of `label.property` occur more than once.
    static func duplicateCount(_ store: any GraphStore, _ label: String, _ property: String) throws -> Int64 {
        let r = try store.run(
            "MATCH (n:\(label)) WHERE n.\(property) IS NOT NULL WITH n.\(property) AS k, count(*) AS c WHERE c > 1 RETURN count(k) AS d",
            readOnly: true)
        return r.records.first?[0].intValue ?? 0
    }
}

extension FalkorDBStore {
    public func ensureIndex(label: String, property: String) throws -> SchemaOutcome {
        try GraphSchema.validate(label)
        try GraphSchema.validate(property)
        let existing = try run("CALL db.indexes() YIELD label, properties RETURN label, properties", readOnly: true)
        let has = existing.records.contains { r in
            r[0].stringValue == label && (r[1].listValue ?? []).contains(.string(property))
        }
        if has { return SchemaOutcome(kind: "index", label: label, property: property, status: .existed) }
        try run("CREATE INDEX FOR (n:\(label)) ON (n.\(property))")
        return SchemaOutcome(kind: "index", label: label, property: property, status: .created)
    }

    public func ensureUnique(label: String, property: String) throws -> SchemaOutcome {
        // FalkorDB needs an exact-match index under a unique constraint.
        _ = try ensureIndex(label: label, property: property)
        func status() throws -> String? {
            let r = try run("CALL db.constraints() YIELD type, label, properties, status RETURN type, label, properties, status",
                            readOnly: true)
            return r.records.first { rec in
                rec[0].stringValue == "UNIQUE" && rec[1].stringValue == label && rec[2].listValue == [.string(property)]
            }?[3].stringValue
        }
        var current = try status()
        if current == "OPERATIONAL" { return SchemaOutcome(kind: "unique", label: label, property: property, status: .existed) }
        if current == "FAILED" { try dropConstraint(label, property) }
        if current != "UNDER CONSTRUCTION" && current != "PENDING" {
            let reply = try command(["GRAPH.CONSTRAINT", "CREATE", graph, "UNIQUE", "NODE", label, "PROPERTIES", 1, property])
            if let e = reply.errorMessage {
                throw ConcordError(.server, "creating the unique constraint on :\(label)(\(property)) failed: \(e)", store: "graph")
            }
        }
        // Constraints are built in the background; wait for the verdict.
        for _ in 0..<600 {
            current = try status()
            if current == "OPERATIONAL" || current == "FAILED" || current == nil { break }
            usleep(50_000)
        }
        if current == "OPERATIONAL" { return SchemaOutcome(kind: "unique", label: label, property: property, status: .created) }
        try dropConstraint(label, property)
        let dups = try GraphSchema.duplicateCount(self, label, property)
        return SchemaOutcome(kind: "unique", label: label, property: property, status: .blocked(
            "\(dups) \(label).\(property) value(s) occur more than once; the index stands in for now. "
                + "Repair the duplicates (concord plan/apply), then run concord setup again"))
    }

    public func dropUnique(label: String, property: String) throws -> Bool {
        try GraphSchema.validate(label)
        try GraphSchema.validate(property)
        let reply = try command(["GRAPH.CONSTRAINT", "DROP", graph, "UNIQUE", "NODE", label, "PROPERTIES", 1, property])
        return reply.errorMessage == nil
    }

    private func dropConstraint(_ label: String, _ property: String) throws {
        _ = try command(["GRAPH.CONSTRAINT", "DROP", graph, "UNIQUE", "NODE", label, "PROPERTIES", 1, property])
    }
}

extension BoltStore {
    public func ensureIndex(label: String, property: String) throws -> SchemaOutcome {
        try GraphSchema.validate(label)
        try GraphSchema.validate(property)
        let name = "concord_\(label)_\(property)".lowercased()
        let existing = try run("SHOW INDEXES YIELD name RETURN name", readOnly: true).records.compactMap { $0[0].stringValue }
        if existing.contains(name) || existing.contains(name + "_unique") {
            return SchemaOutcome(kind: "index", label: label, property: property, status: .existed)
        }
        try run("CREATE INDEX \(name) IF NOT EXISTS FOR (n:\(label)) ON (n.\(property))")
        return SchemaOutcome(kind: "index", label: label, property: property, status: .created)
    }

    public func dropUnique(label: String, property: String) throws -> Bool {
        try GraphSchema.validate(label)
        try GraphSchema.validate(property)
        let name = "concord_\(label)_\(property)_unique".lowercased()
        let existing = try run("SHOW CONSTRAINTS YIELD name RETURN name", readOnly: true).records.compactMap { $0[0].stringValue }
        guard existing.contains(name) else { return false }
        try run("DROP CONSTRAINT \(name) IF EXISTS")
        _ = try ensureIndex(label: label, property: property)
        return true
    }

    public func ensureUnique(label: String, property: String) throws -> SchemaOutcome {
        try GraphSchema.validate(label)
        try GraphSchema.validate(property)
        let name = "concord_\(label)_\(property)_unique".lowercased()
        let existing = try run("SHOW CONSTRAINTS YIELD name RETURN name", readOnly: true).records.compactMap { $0[0].stringValue }
        if existing.contains(name) { return SchemaOutcome(kind: "unique", label: label, property: property, status: .existed) }
        // A plain index on the same property would conflict with the constraint's own index.
        let indexName = "concord_\(label)_\(property)".lowercased()
        do {
            try run("DROP INDEX \(indexName) IF EXISTS")
            try run("CREATE CONSTRAINT \(name) IF NOT EXISTS FOR (n:\(label)) REQUIRE n.\(property) IS UNIQUE")
            return SchemaOutcome(kind: "unique", label: label, property: property, status: .created)
        } catch let e as ConcordError where e.serverCode?.contains("Schema") == true {
            _ = try ensureIndex(label: label, property: property)
            let dups = try GraphSchema.duplicateCount(self, label, property)
            return SchemaOutcome(kind: "unique", label: label, property: property, status: .blocked(
                "\(dups) \(label).\(property) value(s) occur more than once (\(e.message)); the index stands in for now. "
                    + "Repair the duplicates, then run concord setup again"))
        }
    }
}
