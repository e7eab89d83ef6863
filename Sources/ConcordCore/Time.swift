import Foundation

/// Wall-clock milliseconds since the epoch.
public func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

/// Times as the stores, reports and files carry them: epoch milliseconds and RFC 3339 text.
public enum Timestamp {
    /// `date` in milliseconds since the epoch.
    public static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// RFC 3339 in UTC with milliseconds: `2026-11-29T08:11:43.123Z`.
    public static func rfc3339(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: date)
    }

    /// RFC 3339 text, with or without fractional seconds; nil when it is not.
    public static func parse(_ text: String) -> Date? {
        let f = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            f.formatOptions = options
            if let d = f.date(from: text) { return d }
        }
        return nil
    }
}
