import ConcordCore
import ConcordJSON
import Foundation

/// A value that can be sent as a query parameter, in PostgreSQL's text format.
///
/// Parameters always travel separately from the query text (`$1`, `$2`…);
/// nothing is ever spliced into SQL.
public protocol PostgresParameter: Sendable {
    /// The text form the server parses, or nil for SQL NULL.
    var postgresText: String? { get }
}

extension String: PostgresParameter { public var postgresText: String? { self } }
extension Substring: PostgresParameter { public var postgresText: String? { String(self) } }
extension Int: PostgresParameter { public var postgresText: String? { String(self) } }
extension Int64: PostgresParameter { public var postgresText: String? { String(self) } }
extension Int32: PostgresParameter { public var postgresText: String? { String(self) } }
extension Double: PostgresParameter { public var postgresText: String? { String(self) } }
extension Bool: PostgresParameter { public var postgresText: String? { self ? "true" : "false" } }
extension JSON: PostgresParameter { public var postgresText: String? { encoded() } }
extension Optional: PostgresParameter where Wrapped: PostgresParameter {
    public var postgresText: String? { self.flatMap { $0.postgresText } }
}

/// A `timestamptz` given as milliseconds since the Unix epoch.
public struct PostgresTimestamp: PostgresParameter, Hashable {
    public var milliseconds: Int64
    public init(milliseconds: Int64) { self.milliseconds = milliseconds }
    public var postgresText: String? {
        // to_timestamp-free form the server parses in any DateStyle: ISO 8601 with offset.
        let seconds = Double(milliseconds) / 1000
        return PostgresTimestamp.formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
    nonisolated(unsafe) private static let formatter: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}

/// Parses the server's ISO text form of a `timestamptz` into epoch milliseconds.
func parseTimestamptz(_ s: String) -> Int64? {
    parseTimestamptzMicros(s).map { $0 >= 0 ? $0 / 1000 : ($0 - 999) / 1000 }
}

/// Parses the server's ISO text form of a `timestamptz` into epoch microseconds
/// (the server's own precision). Connections set `DateStyle=ISO` and
/// `TimeZone=UTC`, so values look like `2026-11-29 05:42:26.123456+00`.
func parseTimestamptzMicros(_ s: String) -> Int64? {
    Timestamp.microseconds(Array(s.utf8), form: .postgres)
}
