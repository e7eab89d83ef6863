import CLibPQ
import ConcordCore
import ConcordJSON

/// The rows of one result, owning the libpq result until it is released.
public final class PostgresResult: @unchecked Sendable {
    // @unchecked: the PGresult is immutable once received; libpq allows
    // reading it from any thread, and it is freed only in deinit.
    let handle: OpaquePointer
    public let rowCount: Int
    public let columnCount: Int

    init(_ handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columnCount = Int(PQnfields(handle))
    }
    deinit { PQclear(handle) }

    /// Column names, in order.
    public var columns: [String] {
        (0..<columnCount).map { String(cString: PQfname(handle, Int32($0))) }
    }

    /// The index of the column named `name`.
    public func column(named name: String) -> Int? {
        let i = Int(PQfnumber(handle, name))
        return i >= 0 ? i : nil
    }

    /// The number of rows the command affected (UPDATE, DELETE, INSERT, COPY).
    public var affectedRows: Int { Int(String(cString: PQcmdTuples(handle))) ?? 0 }

    public subscript(row: Int) -> PostgresRow { PostgresRow(result: self, index: row) }

    public var rows: [PostgresRow] { (0..<rowCount).map { self[$0] } }
}

/// One row of a result. Columns are read by index, typed.
public struct PostgresRow: Sendable {
    let result: PostgresResult
    let index: Int

    public func isNull(_ column: Int) -> Bool { PQgetisnull(result.handle, Int32(index), Int32(column)) == 1 }

    /// The column's text form (binary-safe length), nil for NULL.
    public func string(_ column: Int) -> String? {
        if isNull(column) { return nil }
        let length = Int(PQgetlength(result.handle, Int32(index), Int32(column)))
        guard let p = PQgetvalue(result.handle, Int32(index), Int32(column)) else { return nil }
        return p.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    public func int(_ column: Int) -> Int64? { string(column).flatMap { Int64($0) } }
    public func double(_ column: Int) -> Double? { string(column).flatMap { Double($0) } }
    public func bool(_ column: Int) -> Bool? {
        switch string(column) {
        case "t", "true": return true
        case "f", "false": return false
        default: return nil
        }
    }
    /// A `json`/`jsonb` column parsed.
    public func json(_ column: Int) throws -> JSON? {
        guard let s = string(column) else { return nil }
        return try JSON.parse(s)
    }
    /// A `timestamptz` column as epoch milliseconds.
    public func timestamp(_ column: Int) -> Int64? { string(column).flatMap(parseTimestamptz) }

    /// The column's type OID.
    public func typeOID(_ column: Int) -> UInt32 { UInt32(PQftype(result.handle, Int32(column))) }

    /// The whole row as a JSON object keyed by column name: integers and
    /// floats as numbers, booleans, `json`/`jsonb` parsed, `timestamptz` and
    /// `timestamp` as epoch milliseconds (a double carrying the microseconds
    /// when there are any), NULL as null, anything else as text.
    public func jsonObject() -> JSON {
        var o: [String: JSON] = [:]
        for c in 0..<result.columnCount {
            let name = String(cString: PQfname(result.handle, Int32(c)))
            guard let text = string(c) else { o[name] = .null; continue }
            switch typeOID(c) {
            case 20, 21, 23, 26: o[name] = Int64(text).map(JSON.int) ?? .string(text)
            case 700, 701, 1700: o[name] = Double(text).map(JSON.double) ?? .string(text)
            case 16: o[name] = .bool(text == "t")
            case 114, 3802: o[name] = (try? JSON.parse(text)) ?? .string(text)
            case 1184, 1114:
                // Milliseconds; with the server's microseconds as a fraction, so two rows a few µs apart still order.
                guard let us = parseTimestamptzMicros(text) else { o[name] = .string(text); continue }
                o[name] = us % 1000 == 0 ? .int(us / 1000) : .double(Double(us) / 1000)
            default: o[name] = .string(text)
            }
        }
        return .object(o)
    }

    /// Reads a column by name (slower than by index).
    public func string(_ name: String) -> String? { result.column(named: name).flatMap { string($0) } }
}
