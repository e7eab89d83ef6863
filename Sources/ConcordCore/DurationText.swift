import Foundation

/// Durations written as text: `250ms`, `0s`, `5m`, `1h30m`, `24h`, `7d`.
public enum DurationText {
    /// Parses `text` into milliseconds.
    public static func milliseconds(_ text: String) throws -> Int64 {
        let s = text.trimmingCharacters(in: .whitespaces)
        guard !s.isEmpty else { throw ConcordError(.usage, "empty duration: expected e.g. 5m, 30s, 24h") }
        var total: Int64 = 0
        var number = ""
        var unit = ""
        func flush() throws {
            guard let n = Int64(number) else {
                throw ConcordError(.usage, "bad duration '\(text)': expected e.g. 5m, 30s, 1h30m, 250ms")
            }
            let factor: Int64
            switch unit {
            case "ms": factor = 1
            case "s": factor = 1000
            case "m": factor = 60_000
            case "h": factor = 3_600_000
            case "d": factor = 86_400_000
            default:
                throw ConcordError(.usage, "bad duration unit '\(unit)' in '\(text)': use ms, s, m, h or d")
            }
            total += n * factor
            number = ""
            unit = ""
        }
        for ch in s {
            if ch.isNumber {
                if !unit.isEmpty { try flush() }
                number.append(ch)
            } else {
                unit.append(ch)
            }
        }
        if number.isEmpty && unit.isEmpty { return total }
        if unit.isEmpty && number == "0" { return 0 }
        try flush()
        return total
    }

    /// Formats milliseconds compactly (`5m`, `1h30m`, `250ms`).
    public static func format(milliseconds ms: Int64) -> String {
        if ms == 0 { return "0s" }
        if ms % 1000 != 0 { return "\(ms)ms" }
        var s = ms / 1000
        var out = ""
        for (unit, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60), ("s", 1)] where s >= size {
            out += "\(s / size)\(unit)"
            s %= size
        }
        return out
    }
}
