import Foundation

/// Wall-clock milliseconds since the epoch.
public func nowMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

/// Times as the stores, reports and files carry them: epoch milliseconds and RFC 3339 text.
public enum Timestamp {
    /// `date` in milliseconds since the epoch.
    public static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// RFC 3339 in UTC with milliseconds: `2026-11-29T08:11:43.123Z` (proleptic
    /// Gregorian, as `parse` reads it, so every time in years 0–9999 round-trips).
    public static func rfc3339(_ date: Date) -> String {
        let ms = milliseconds(date)
        let msOfDay = ((ms % 86_400_000) + 86_400_000) % 86_400_000
        let days = (ms - msOfDay) / 86_400_000
        // Civil from days (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ v: Int64, _ n: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, n - s.count)) + s }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(msOfDay / 3_600_000, 2)):\(pad(msOfDay / 60_000 % 60, 2)):"
            + "\(pad(msOfDay / 1000 % 60, 2)).\(pad(msOfDay % 1000, 3))Z"
    }

    /// RFC 3339 text (`2026-11-29T08:11:43Z`, `…43.123456+02:00`, `t`/`z` and a space
    /// separator accepted), read without ICU — whose parser was found (by the fuzzer)
    /// to die with SIGFPE on a long fraction. Fractions beyond milliseconds are cut;
    /// nil when the text is not such a time.
    public static func parse(_ text: String) -> Date? {
        microseconds(Array(text.utf8), form: .rfc3339).map { us in
            Date(timeIntervalSince1970: Double(us >= 0 ? us / 1000 : (us - 999) / 1000) / 1000)
        }
    }

    /// The text forms `microseconds(_:form:)` reads.
    public enum Form: Sendable {
        /// `2026-11-29T08:11:43.123Z`: an offset (`Z` or `±HH:MM`) is required.
        case rfc3339
        /// PostgreSQL's ISO output, `2026-11-29 05:42:26.123456+00`: the offset may be
        /// `±HH`, `±HH:MM` or absent (a `timestamp` without time zone is UTC).
        case postgres
    }

    /// Epoch microseconds of a date-time text (fractions beyond microseconds are cut), or nil.
    public static func microseconds(_ b: [UInt8], form: Form) -> Int64? {
        func num(_ at: Int, _ n: Int) -> Int? {
            guard at + n <= b.count else { return nil }
            var v = 0
            for c in b[at..<(at + n)] {
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard b.count >= 19, let year = num(0, 4), b[4] == UInt8(ascii: "-"), let month = num(5, 2), b[7] == UInt8(ascii: "-"),
            let day = num(8, 2), [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(b[10]),
            let hour = num(11, 2), b[13] == UInt8(ascii: ":"), let minute = num(14, 2), b[16] == UInt8(ascii: ":"), let second = num(17, 2),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
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
            guard digits > 0 else { return nil }
            for _ in min(digits, 6)..<6 { micros *= 10 }
        }
        var offset = 0
        if i < b.count, form == .rfc3339, b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
            guard let oh = num(i + 1, 2), oh < 24 else { return nil }
            var om = 0
            if i + 3 < b.count, b[i + 3] == UInt8(ascii: ":") {
                guard let m = num(i + 4, 2), m < 60 else { return nil }
                om = m
                i += 6
            } else {
                guard form == .postgres else { return nil }
                i += 3
            }
            offset = sign * (oh * 3600 + om * 60)
        } else if form == .rfc3339 {
            return nil
        }
        guard i == b.count else { return nil }
        let seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Int64(seconds) * 1_000_000 + Int64(micros)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    public static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
