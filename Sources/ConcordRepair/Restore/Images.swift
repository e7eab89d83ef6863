import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordPostgres
import Foundation

/// A record a restore or rebuild wants in a given state: its address and
/// its image, built from what the record holds now (so what the snapshot
/// or the source store does not know — a producer's extra field, an
/// undeclared column — is kept). nil: the record should not be there.
struct WantedRecord {
    let address: RecordAddress
    let build: (_ now: JSON?) throws -> JSON?
}

/// Turns wanted records into put-record operations: each record is read
/// (graph nodes in one statement per label), and only those that differ
/// from what is wanted get an operation, guarded by what was read.
enum ImagePlanner {
    struct Options {
        /// Only records absent now are written (a rebuild fills gaps; it does not overrule a store that has the record).
        var onlyAbsent = false
        /// The plan's reason for each operation (its `rule`), e.g. "restore" or "rebuild redis".
        var reason: String
    }

    static func operations(_ wanted: [WantedRecord], _ stores: RepairStores, _ options: Options, progress: ((Int, Int) -> Void)? = nil) throws -> (ops: [RepairOperation], kept: Int) {
        var ops: [RepairOperation] = []
        var kept = 0
        for start in stride(from: 0, to: wanted.count, by: 1000) {
            let chunk = Array(wanted[start..<min(start + 1000, wanted.count)])
            let now = try RecordAddress.readAll(chunk.map(\.address), stores)
            for (w, current) in zip(chunk, now) {
                if options.onlyAbsent && current != nil {
                    kept += 1
                    continue
                }
                let target = try w.build(current)
                if RecordAddress.identical(current, target, at: w.address) { continue }
                ops.append(PutRecordOperation.make(w.address, record: target, seen: current, findingId: options.reason, rule: options.reason))
            }
            progress?(min(start + chunk.count, wanted.count), wanted.count)
        }
        // Removals first, in the reverse order (a draft's history before the draft it references), then the writes in order.
        let removals = ops.filter { $0.params["record"]?.isNull == true }, writes = ops.filter { $0.params["record"]?.isNull != true }
        return (removals.reversed() + writes, kept)
    }
}

/// PostgreSQL rows as the store writes them: a record of a snapshot (times
/// in milliseconds) becomes the row text `row_to_json` gives, so it
/// compares equal to a row read back.
final class RowImages {
    let postgres: PostgresConnection
    private var timeColumns: [String: Set<String>] = [:]

    init(_ postgres: PostgresConnection) { self.postgres = postgres }

    /// Columns of `table` holding times (what a snapshot stores as milliseconds).
    func times(_ table: String) throws -> Set<String> {
        if let t = timeColumns[table] { return t }
        let r = try postgres.query("""
            SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
            AND format_type(atttypid, atttypmod) LIKE 'timestamp%'
            """, [RecordAddress.qualified(table, postgres)])
        let set = Set((0..<r.rowCount).compactMap { r[$0].string(0) })
        timeColumns[table] = set
        return set
    }

    /// The row `record` describes, over `now` (the row there now, if any: its other columns stay), as row_to_json writes it.
    func row(_ table: String, _ record: JSON, over now: JSON?) throws -> JSON {
        var o = now?.objectValue ?? [:]
        let times = try times(table)
        for (k, v) in record.objectValue ?? [:] {
            if times.contains(k), let ms = v.doubleValue { o[k] = .string(Self.utc(milliseconds: ms)) } else { o[k] = v }
        }
        let t = RecordAddress.qualified(table, postgres)
        let r = try postgres.query("SELECT row_to_json(json_populate_record(NULL::\(t), $1::json))::text", [JSON.object(o).encoded()])
        guard let text = r[0].string(0) else { throw ConcordError(.invalidInput, "a \(table) record cannot be a row: \(record.encoded())") }
        return try JSON.parse(text)
    }

    /// `1764393600123.456` → `2025-11-29T05:20:00.123456+00:00`.
    static func utc(milliseconds ms: Double) -> String {
        let micros = Int64((ms * 1000).rounded())
        var secs = micros / 1_000_000, frac = micros % 1_000_000
        if frac < 0 { secs -= 1; frac += 1_000_000 }
        var t = time_t(secs), tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), frac)
    }
}
