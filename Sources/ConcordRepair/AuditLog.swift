import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordPostgres
import Foundation

/// The audit log (`concord_audit_log`): one entry per plan written, applied
/// or undone — what, which plan and its digest, from which audit or plan,
/// who, on which host, with which command line (passwords masked), and how
/// it ended. `concord journal` lists it with each applied operation's outcome.
public struct AuditLogEntry: Sendable {
    public var at: Date
    public var command: String
    public var planId: String
    public var planDigest: String
    public var source: String?
    public var `operator`: String
    public var host: String
    public var commandLine: String
    public var outcome: String
    public var counts: JSON

    public init(command: String, plan: RepairPlan, source: String?, operator who: String, outcome: String, counts: JSON = .null,
                commandLine: [String] = CommandLine.arguments) {
        at = Date()
        self.command = command
        planId = plan.planId
        planDigest = plan.checksum
        self.source = source
        self.operator = who
        host = ProcessInfo.processInfo.hostName
        self.commandLine = commandLine.map(Redaction.mask).joined(separator: " ")
        self.outcome = outcome
        self.counts = counts
    }

    public var json: JSON {
        ["at": .string(Timestamp.rfc3339(at)), "command": .string(command), "planId": .string(planId), "planDigest": .string(planDigest),
         "source": source.map(JSON.string) ?? .null, "operator": .string(`operator`), "host": .string(host),
         "commandLine": .string(commandLine), "outcome": .string(outcome), "counts": counts]
    }
}

public enum AuditLog {
    /// Appends an entry (creating the table if this database has none yet).
    public static func record(_ e: AuditLogEntry, on pg: PostgresConnection) throws {
        for statement in PostgresSchema.journal { try pg.execute(statement) }
        try pg.execute("""
            INSERT INTO concord_audit_log (command, plan_id, plan_digest, source, operator, host, command_line, outcome, counts)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            """, [e.command, e.planId, e.planDigest, e.source, e.operator, e.host, e.commandLine, e.outcome, e.counts.isNull ? nil : e.counts.encoded()])
    }

    /// The entries, oldest first: of one plan (written, applied, undone — and the undo plans of it), since a time.
    public static func entries(on pg: PostgresConnection, plan: String? = nil, since: Date? = nil) throws -> [AuditLogEntry] {
        let exists = try pg.query("SELECT to_regclass('concord_audit_log') IS NOT NULL")
        guard exists[0].bool(0) == true else { return [] }
        var conds: [String] = [], params: [String?] = []
        if let plan { params.append(plan); conds.append("(plan_id = $\(params.count) OR source = $\(params.count))") }
        if let since { params.append(Timestamp.rfc3339(since)); conds.append("at >= $\(params.count)::timestamptz") }
        let r = try pg.query("""
            SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), command, plan_id, plan_digest, source, operator, host, command_line, outcome, counts
            FROM concord_audit_log \(conds.isEmpty ? "" : "WHERE " + conds.joined(separator: " AND ")) ORDER BY at, id
            """, params)
        return r.rows.map { row in
            var e = AuditLogEntry(raw: row.string(1) ?? "")
            e.at = row.string(0).flatMap(Timestamp.parse) ?? Date(timeIntervalSince1970: 0)
            e.planId = row.string(2) ?? ""
            e.planDigest = row.string(3) ?? ""
            e.source = row.string(4)
            e.operator = row.string(5) ?? ""
            e.host = row.string(6) ?? ""
            e.commandLine = row.string(7) ?? ""
            e.outcome = row.string(8) ?? ""
            e.counts = row.string(9).flatMap { try? JSON.parse(Array($0.utf8)) } ?? .null
            return e
        }
    }

    /// Each journaled operation of a plan: position, operation id, store, action, outcome, reason, when, by whom.
    public static func operations(on pg: PostgresConnection, plan: String) throws -> [JSON] {
        let exists = try pg.query("SELECT to_regclass('concord_repair_journal') IS NOT NULL")
        guard exists[0].bool(0) == true else { return [] }
        let r = try pg.query("""
            SELECT position, operation_id, store, action, outcome, reason, operator, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
            FROM concord_repair_journal WHERE plan_id = $1 ORDER BY position NULLS LAST, operation_id
            """, [plan])
        return r.rows.map { row in
            ["position": row.int(0).map(JSON.int) ?? .null, "operation": .string(row.string(1) ?? ""), "store": .string(row.string(2) ?? ""),
             "action": .string(row.string(3) ?? ""), "outcome": .string(row.string(4) ?? ""), "reason": row.string(5).map(JSON.string) ?? .null,
             "operator": .string(row.string(6) ?? ""), "at": .string(row.string(7) ?? "")]
        }
    }
}

extension AuditLogEntry {
    /// An empty entry to fill from a row.
    init(raw command: String) {
        at = Date(timeIntervalSince1970: 0)
        self.command = command
        planId = ""
        planDigest = ""
        source = nil
        self.operator = ""
        host = ""
        commandLine = ""
        outcome = ""
        counts = .null
    }
}
