@testable import ConcordAudit
import Testing

/// The engine's string table: one number per distinct byte string, stable,
/// across growth of its hash table and its chunks.
@Suite struct StringInternerTests {
    @Test func internsByBytesAcrossGrowth() {
        let t = StringInterner()
        var texts = ["", "a", "é", "e\u{301}", String(repeating: "x", count: 3 << 20), "日本語 😀", "\u{0}"]
        for i in 0..<50_000 { texts.append("ev_\(i)_\(i % 7 == 0 ? "ü" : "u")") }
        var numbers: [Int] = []
        for var s in texts { numbers.append(s.withUTF8 { t.intern($0) }) }
        #expect(numbers == Array(0..<texts.count))
        #expect(t.count == texts.count)
        // Again: the same numbers, nothing added.
        for (n, var s) in texts.enumerated() {
            #expect(s.withUTF8 { t.intern($0) } == n)
            #expect(s.withUTF8 { t.find($0) } == n)
            if n < 10 || n % 997 == 0 { #expect(t.string(n) == s) }
        }
        #expect(t.count == texts.count)
        // Canonically equivalent but different bytes: different strings, as the stores see them.
        #expect(t.string(2) == "é" && t.string(3).unicodeScalars.count == 2)
        var missing = "not there"
        #expect(missing.withUTF8 { t.find($0) } == nil)
    }
}
