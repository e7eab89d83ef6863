import Foundation

/// Events shaped the way other producers write them (issue 12): payloads of
/// 1–3 KB with nested objects and arrays, unicode and escapes, JSON not in
/// canonical form (spaces, keys in varying order, `\u` escapes, `\/`, pretty
/// printing), extra fields. Written with a JSON emitter of its own, not
/// Concord's encoder, from a seeded generator (the same data every run).
struct ProducerData {
    /// A JSON value with its object keys in the order they are written.
    indirect enum Value {
        case null, bool(Bool), int(Int64), double(Double), string(String)
        case array([Value]), object([(String, Value)])
    }

    /// How one producer formats its JSON.
    struct Style {
        var spaced = false          // ", " and ": "
        var pretty = false          // newlines and two-space indents
        var asciiOnly = false       // every non-ASCII character as \uXXXX (surrogate pairs above the BMP)
        var escapeSlash = false     // "/" as "\/"
    }

    var rng: SplitMix

    init(seed: UInt64) { rng = SplitMix(seed: seed) }

    static let words = ["naïve", "café", "Zürich", "日本語", "данные", "emoji 🚀", "tab\there", "quote \"x\"", "back\\slash", "path/to/file",
                        "line\nbreak", "résumé", "σ-algebra", "😀 party", "deploy", "search", "review", "merge", "lint", "build"]
    static let types = ["toolCall", "toolResult", "message", "thought", "stepStarted", "stepFinished"]

    mutating func text(_ n: Int) -> String {
        var parts: [String] = []
        for _ in 0..<n { parts.append(Self.words[Int(rng.next() % UInt64(Self.words.count))]) }
        return parts.joined(separator: " ")
    }

    /// A payload of roughly `target` bytes: a tool call with arguments and a result list.
    mutating func payload(_ i: Int, target: Int) -> Value {
        var items: [Value] = []
        var size = 120
        var k = 0
        while size < target {
            let snippet = text(6 + Int(rng.next() % 10))
            items.append(.object(shuffled([
                ("title", .string("result \(k) of \(i): " + text(3))),
                ("url", .string("https://example.com/docs/\(i)/\(k)?q=a&b=c")),
                ("snippet", .string(snippet)),
                ("score", .double(Double(rng.next() % 10_000) / 10_000 + 0.5)),
                ("tags", .array([.string(text(1)), .string(text(1)), .int(Int64(k))])),
                ("meta", .object([("lang", .string(["en", "de", "ja", "ru"][k % 4])), ("cached", .bool(k % 3 == 0)), ("ttl", k % 5 == 0 ? .null : .int(3600))])),
            ])))
            size += 190 + snippet.utf8.count
            k += 1
        }
        return .object(shuffled([
            ("tool", .string(["search", "readFile", "runTests", "comment"][i % 4])),
            ("arguments", .object([("query", .string(text(4))), ("limit", .int(Int64(items.count))), ("filters", .array([.string("lang:en"), .string("since:2026-01-01")]))])),
            ("result", .object([("items", .array(items)), ("total", .int(Int64(items.count * 7))), ("truncated", .bool(i % 2 == 0))])),
            ("usage", .object([("inputTokens", .int(Int64(rng.next() % 5000))), ("outputTokens", .int(Int64(rng.next() % 900))), ("cost", .double(0.0125))])),
        ]))
    }

    mutating func shuffled(_ members: [(String, Value)]) -> [(String, Value)] {
        var m = members
        for i in stride(from: m.count - 1, to: 0, by: -1) { m.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
        return m
    }

    /// The event envelope of the data model, in a varying key order, with an extra field now and then.
    mutating func event(id: String, run: String, type: String, parent: String, timestamp: Int64, payload: Value) -> Value {
        var metadata: [(String, Value)] = [("workflowId", .string(run)), ("userId", .string("u_\(rng.next() % 40)")),
                                           ("source", .string("agent")), ("version", .string("1"))]
        if rng.next() % 3 == 0 { metadata.append(("traceId", .string(String(rng.next(), radix: 16)))) }
        var envelope: [(String, Value)] = [("id", .string(id)), ("timestamp", .int(timestamp)), ("type", .string(type)),
                                           ("parentId", .string(parent)), ("payload", payload), ("metadata", .object(shuffled(metadata)))]
        if rng.next() % 4 == 0 { envelope.append(("producer", .object([("name", .string("py-agent")), ("pid", .int(Int64(rng.next() % 65536)))]))) }
        return .object(shuffled(envelope))
    }

    /// One of four producers' styles.
    mutating func style() -> Style {
        switch rng.next() % 4 {
        case 0: return Style()
        case 1: return Style(spaced: true)                         // Python's json.dumps
        case 2: return Style(spaced: true, asciiOnly: true, escapeSlash: true)
        default: return Style(pretty: true, asciiOnly: rng.next() % 2 == 0)
        }
    }

    static func encode(_ v: Value, _ style: Style) -> String {
        var out = ""
        out.reserveCapacity(2048)
        write(v, style, 0, &out)
        return out
    }

    private static func write(_ v: Value, _ s: Style, _ depth: Int, _ out: inout String) {
        let comma = s.pretty ? "," : (s.spaced ? ", " : ",")
        let colon = s.spaced || s.pretty ? ": " : ":"
        func newline(_ d: Int) { if s.pretty { out += "\n" + String(repeating: "  ", count: d) } }
        switch v {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += String(d)
        case .string(let str): writeString(str, s, &out)
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += comma }
                newline(depth + 1)
                write(e, s, depth + 1, &out)
            }
            if !a.isEmpty { newline(depth) }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, (k, e)) in o.enumerated() {
                if i > 0 { out += comma }
                newline(depth + 1)
                writeString(k, s, &out)
                out += colon
                write(e, s, depth + 1, &out)
            }
            if !o.isEmpty { newline(depth) }
            out += "}"
        }
    }

    private static func writeString(_ str: String, _ s: Style, _ out: inout String) {
        out += "\""
        for u in str.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "/" where s.escapeSlash: out += "\\/"
            default:
                if u.value < 0x20 || (s.asciiOnly && u.value > 0x7E) {
                    if u.value > 0xFFFF {
                        let v = u.value - 0x10000
                        out += String(format: "\\u%04x\\u%04X", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                    } else {
                        out += String(format: "\\u%04x", u.value)
                    }
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        out += "\""
    }
}

/// A small seeded generator (SplitMix64): the same data every run.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
