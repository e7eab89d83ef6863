import ConcordJSON
import Foundation

/// A snapshot line of a Redis element dataset (stream entries, list elements) may carry the element's
/// stored text verbatim: the value of its field (`event`), as the line's last member, with
/// `"#verbatim": "<field>"` before it. The writer uses this form when the text is JSON holding no line
/// break and no NUL (what most producers write: compact, Python's spacing, ASCII escapes), so the text is
/// written once, as it is, and read back byte for byte as the record's `raw` — not once canonical and once
/// again escaped as a string. Texts with line breaks (pretty-printed) keep the canonical value beside an
/// escaped `raw`; texts that are not JSON keep `raw` alone.
///
/// No field can be named `#verbatim` (dataset fields are identifiers), and the marker never reaches a rule:
/// every reader resolves it into `raw`.
public enum SnapshotLine {
    public static let verbatimKey = "#verbatim"

    /// Whether `text` (already known to be JSON) can be written verbatim inside one line.
    public static func fitsOnOneLine(_ text: [UInt8]) -> Bool {
        text.withUnsafeBytes { b in
            b.isEmpty || (memchr(b.baseAddress!, 0x0A, b.count) == nil && memchr(b.baseAddress!, 0x0D, b.count) == nil
                && memchr(b.baseAddress!, 0, b.count) == nil)
        }
    }

    /// Writes a verbatim line (without its newline): `base`'s members, the marker, then `"field":` and `text`.
    public static func write(base: [String: JSON], field: String, text: [UInt8], into out: inout [UInt8]) {
        var o = base
        o.removeValue(forKey: field)
        o.removeValue(forKey: "raw")
        o[verbatimKey] = .string(field)
        JSON.object(o).encode(into: &out)
        out.removeLast()  // the object's "}": the element's text is its last member
        out.append(UInt8(ascii: ","))
        JSON.string(field).encode(into: &out)
        out.append(UInt8(ascii: ":"))
        out.append(contentsOf: text)
        out.append(UInt8(ascii: "}"))
    }

    /// The verbatim text of `field` in `line`: from after the first `,"field":` to the line's last `}`.
    /// (Before it come only the base's scalar members and the marker, written canonically: a `"` inside
    /// their strings is always escaped, so the first such sequence is the member.)
    public static func verbatimText(_ line: UnsafeRawBufferPointer, field: String) -> [UInt8]? {
        var pattern: [UInt8] = [UInt8(ascii: ",")]
        JSON.string(field).encode(into: &pattern)
        pattern.append(UInt8(ascii: ":"))
        guard let base = line.baseAddress, line.count > pattern.count else { return nil }
        var at = 0, found: Int?
        while found == nil, at + pattern.count <= line.count, let comma = memchr(base + at, 0x2C, line.count - at) {
            let i = base.distance(to: UnsafeRawPointer(comma))
            if i + pattern.count <= line.count, pattern.withUnsafeBytes({ memcmp(base + i, $0.baseAddress!, $0.count) }) == 0 { found = i }
            at = i + 1
        }
        guard let hit = found else { return nil }
        let start = hit + pattern.count
        var end = line.count
        while end > start, line[end - 1] != UInt8(ascii: "}") { end -= 1 }
        guard end > start else { return nil }
        return Array(line[start..<(end - 1)])
    }

    /// `record`, parsed from `line`, with a verbatim element's text as `raw` and the marker gone.
    public static func resolved(_ record: JSON, line: UnsafeRawBufferPointer) -> JSON {
        guard case .object(var o) = record, case .string(let field)? = o[verbatimKey] else { return record }
        o.removeValue(forKey: verbatimKey)
        if let text = verbatimText(line, field: field) { o["raw"] = .string(String(decoding: text, as: UTF8.self)) }
        return .object(o)
    }
}
