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
    /// producer that does not set it, or whose run changed). Reads each label
    /// by ranges of node ids (a range seek: `ORDER BY id(n) LIMIT` sorted every
    /// node after the cursor, and `UNWIND … MATCH (n) WHERE id(n) = row.k`
    /// scanned the whole label for every row — a million nodes never finished),
    /// notes the runs with a node to correct, and writes them a thousand runs
    /// at a time through the run index (`Node.workflow_id`, `WorkflowRun.id`:
    /// an index seek per run). What is written stays written: a run stopped
    /// halfway and started again finds only what is left. `progress` gets the
    /// label and the nodes checked so far, about every 100,000. Returns how many
    /// nodes of each label lacked a bucket or had a stale one.
    public static func backfillBuckets(on store: any GraphStore, progress: ((String, Int) -> Void)? = nil) throws -> [String: Int] {
        var fixed: [String: Int] = [:]
        // The writes find each run's nodes through the run index: on a graph it was just created on, wait until it is built.
        try store.awaitIndexes(timeout: 600)
        for (label, prop) in bucketed {
            fixed[label] = 0
            let stats = try store.run("MATCH (n:\(label)) RETURN count(n), min(id(n)), max(id(n))", readOnly: true).records.first
            guard let count = stats?[0].intValue, count > 0, let low = stats?[1].intValue, let high = stats?[2].intValue else { continue }
            // Ranges of about 20,000 nodes of this label.
            let span = max(1, Int64(Double(high - low + 1) * 20_000 / Double(count)))
            var stale: [String: Int64] = [:]
            var checked = 0, reported = 0
            func write() throws {
                guard !stale.isEmpty else { return }
                // Counted as written (a run's nodes in a range not read yet are set with it, and found right when read).
                fixed[label, default: 0] += Int(try store.writeBatches("""
                    UNWIND $rows AS r MATCH (n:\(label)) WHERE n.\(prop) = r.run AND (n.\(RunBucket.property) IS NULL OR n.\(RunBucket.property) <> r.b)
                    SET n.\(RunBucket.property) = r.b
                    """, rows: stale.map { .map(["run": .string($0.key), "b": .int($0.value)]) }, batchSize: 1_000)["properties-set"])
                stale.removeAll(keepingCapacity: true)
            }
            var after = low - 1
            while after < high {
                let until = after + span
                let rows = try store.run("""
                    MATCH (n:\(label)) WHERE id(n) > $after AND id(n) <= $until AND size(labels(n)) > 0 RETURN n.\(prop), n.\(RunBucket.property)
                    """, parameters: ["after": .int(after), "until": .int(until)], readOnly: true).records
                for r in rows {
                    checked += 1
                    guard let run = r[0].stringValue else { continue }
                    let b = Int64(RunBucket.of(run))
                    if r[1].intValue != b { stale[run] = b }
                }
                if stale.count >= 1_000 { try write() }
                if checked - reported >= 100_000 {
                    reported = checked
                    progress?(label, checked)
                }
                after = until
            }
            try write()
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
    /// Polls `db.indexes()` until no index is under construction.
    public func awaitIndexes(timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let building = try run("CALL db.indexes() YIELD label, properties, status RETURN label, properties, status", readOnly: true).records
                .filter { $0[2].stringValue != "OPERATIONAL" }
            if building.isEmpty { return }
            guard Date() < deadline else {
                throw ConcordError(.server, "graph indexes still being built after \(Int(timeout)) s: "
                                   + building.map { ":\($0[0].stringValue ?? "?")(\($0[1].json.encoded())) \($0[2].stringValue ?? "?")" }.joined(separator: ", "),
                                   store: "graph")
            }
            usleep(100_000)
        }
    }

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
    /// Neo4j builds indexes in the background too; `db.awaitIndexes` waits for them. A server without the
    /// procedure (the tests' gateway over FalkorDB) builds them as it creates them.
    public func awaitIndexes(timeout: Double) throws {
        do {
            try run("CALL db.awaitIndexes($t)", parameters: ["t": .int(Int64(timeout))])
        } catch let e as ConcordError where e.serverCode == "Neo.ClientError.Procedure.ProcedureNotFound" || e.message.contains("db.awaitIndexes") {
            return
        }
    }

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
