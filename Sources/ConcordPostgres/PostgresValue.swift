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
/// (the server's own precision).
///
/// Connections set `DateStyle=ISO` and `TimeZone=UTC`, so values look like
/// `2026-11-29 05:42:26.123456+00` (fraction and offset minutes optional).
func parseTimestamptzMicros(_ s: String) -> Int64? {
    let b = Array(s.utf8)
    func num(_ from: Int, _ count: Int) -> Int? {
        guard from + count <= b.count else { return nil }
        var v = 0
        for i in from..<(from + count) {
            let c = b[i]
            guard c >= 48 && c <= 57 else { return nil }
            v = v * 10 + Int(c - 48)
        }
        return v
    }
    guard b.count >= 19, let year = num(0, 4), let month = num(5, 2), let day = num(8, 2),
        let hour = num(11, 2), let minute = num(14, 2), let second = num(17, 2)
    else { return nil }
    var i = 19
    var micros = 0
    if i < b.count, b[i] == UInt8(ascii: ".") {
        i += 1
        var digits = 0
        while i < b.count, b[i] >= 48, b[i] <= 57 {
            if digits < 6 { micros = micros * 10 + Int(b[i] - 48) }
            digits += 1
            i += 1
        }
        if digits < 6 { for _ in digits..<6 { micros *= 10 } }
    }
    var offsetSeconds = 0
    if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
        let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
        guard let oh = num(i + 1, 2) else { return nil }
        var om = 0
        if i + 3 < b.count, b[i + 3] == UInt8(ascii: ":"), let m = num(i + 4, 2) { om = m }
        offsetSeconds = sign * (oh * 3600 + om * 60)
    }
    let days = Timestamp.daysFromCivil(year, month, day)
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
    return Int64(seconds) * 1_000_000 + Int64(micros)
}
