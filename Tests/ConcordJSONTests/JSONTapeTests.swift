import ConcordCore
import ConcordJSON
import Foundation
import Testing

/// The tape parser against jansson: the same texts accepted, the same
/// values, the same digests, and projections equal to the parsed value cut
/// down the same way.
@Suite struct JSONTapeTests {
    /// Checks one text both ways; returns whether it is JSON.
    @discardableResult
    static func agree(_ bytes: [UInt8], _ comment: String = "", sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let reference = try? JSON.parse(bytes)
        var tape = JSONTape()
        let ok = bytes.withUnsafeBytes { tape.scan($0) }
        #expect(ok == (reference != nil), "accepts: tape \(ok), jansson \(reference != nil) for \(comment) \(String(decoding: bytes.prefix(200), as: UTF8.self).debugDescription)",
                sourceLocation: sourceLocation)
        // The projected scans and the one-pass digest read the rest of the text by other code: they accept the same.
        let text = String(decoding: bytes, as: UTF8.self)
        let reference2 = String(validating: bytes, as: UTF8.self) != nil ? reference : nil
        for p in projections {
            let projected = bytes.withUnsafeBytes { JSON.parse($0, projection: p, tape: &tape) }
            #expect((projected != nil) == (reference != nil), "projected \(p) accepts \(projected != nil) for \(comment)", sourceLocation: sourceLocation)
            if let projected, let reference { #expect(projected == cut(reference, p), "projected \(p) of \(comment)", sourceLocation: sourceLocation) }
        }
        let onePass = bytes.withUnsafeBytes { tape.digest(of: $0) }
        #expect((onePass != nil) == (reference != nil), "one-pass digest accepts \(onePass != nil) for \(comment)", sourceLocation: sourceLocation)
        if reference2 != nil { #expect(onePass == JSON.janssonDigest(ofText: text), "one-pass digest of \(comment)", sourceLocation: sourceLocation) }
        guard ok, let reference else { return false }
        bytes.withUnsafeBytes { buf in
            _ = tape.scan(buf)
            #expect(tape.value(at: 0) == reference, "value of \(comment)", sourceLocation: sourceLocation)
            var canonical: [UInt8] = []
            tape.canonical(at: 0, into: &canonical)
            #expect(String(decoding: canonical, as: UTF8.self) == reference.encoded(), "canonical form of \(comment)", sourceLocation: sourceLocation)
            let text = String(decoding: bytes, as: UTF8.self)
            #expect(tape.digest(at: 0) == JSON.janssonDigest(ofText: text), "digest of \(comment)", sourceLocation: sourceLocation)
        }
        return true
    }

    static let projections: [JSONProjection] = [
        .digest, .presence, .members([:]),
        .members(["id": .whole, "payload": .digest, "metadata": .members(["workflowId": .whole, "missing": .whole])]),
        .members(["payload": .presence, "type": .digest, "timestamp": .whole, "extra": .members(["k0": .digest, "é0": .whole])]),
    ]

    @Test func edgeCasesAreAcceptedAndRefusedAsJanssonDoes() {
        let cases: [String] = [
            "", " ", "null", "true", "false", "nul", "truex", "true1", "True", "[true false]", "[1,]", "[,1]", "{,}", "{\"a\":1,}", "{\"a\" 1}", "{1:2}",
            "0", "-0", "01", "-01", "1.", ".5", "1.5", "1e5", "1E+5", "1e-5", "1e", "1e+", "-", "--1", "+1", "1x", "0x10",
            "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551616",
            "1e308", "1e309", "-1e309", "1e-400", "123456789012345678901234567890.5", "0.1", "2.5e-324",
            "\"\"", "\"a\\\"b\"", "\"\\/\"", "\"\\x\"", "\"\\u00e9\"", "\"\\u00E9\"", "\"\\u00g9\"", "\"\\u123\"", "\"\\ud83d\\ude00\"",
            "\"\\ud83d\"", "\"\\ud83dx\"", "\"\\ud83d\\u0041\"", "\"\\ude00\"", "\"\\u0000\"", "{\"\\u0000\":1}", "{\"a\\u0000b\":1}", "{\"\\\\u0000\":1}",
            "\"tab\there\"", "\"new\nline\"", "\"\u{7F}\"", "\"unterminated", "[1, 2", "{\"a\": {\"b\": [1, {\"c\": null}]}}",
            "{\"a\":1,\"a\":2}", "{\"b\":1,\"a\":2,\"b\":3}", " \t\r\n[1]\n ", "[1] x", "[1]]", "{}", "[]", "[[]]", "{\"\":\"\"}",
            "\"é\"", "\"日本語\"", "\"😀\"", "{\"é\":1,\"e\":2}", "[1.0, 1, -0.0, 1e2, 100]",
        ]
        for c in cases { Self.agree(Array(c.utf8), c) }
        // Bytes that are not UTF-8, or are but not allowed: overlong, surrogates, above U+10FFFF, stray continuation.
        let raw: [[UInt8]] = [
            [0x22, 0xC0, 0x80, 0x22], [0x22, 0xC1, 0xBF, 0x22], [0x22, 0xC2, 0x80, 0x22], [0x22, 0xE0, 0x80, 0x80, 0x22], [0x22, 0xE0, 0xA0, 0x80, 0x22],
            [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xED, 0x9F, 0xBF, 0x22], [0x22, 0xF0, 0x8F, 0xBF, 0xBF, 0x22], [0x22, 0xF0, 0x90, 0x80, 0x80, 0x22],
            [0x22, 0xF4, 0x8F, 0xBF, 0xBF, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], [0x22, 0x80, 0x22],
            [0x22, 0xE2, 0x82, 0x22], [0x22, 0xFF, 0x22], [0x22, 0x00, 0x22], [0x5B, 0x00, 0x5D], [0x31, 0x00], [0x31, 0x00, 0x00], [0x5B, 0x31, 0x00, 0x5D], [0x5B, 0x74, 0x72, 0x75, 0x65, 0x00, 0x5D], [0x5B, 0x31, 0x5D, 0x00],
            [0x5B, 0x22, 0x61, 0x22, 0x00, 0x5D], [0x5B, 0x2D, 0x00, 0x31, 0x5D], [0x31, 0x2E, 0x35, 0x00], [0x31, 0x00, 0x20], [0xEF, 0xBB, 0xBF, 0x31],
            [0x22, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0xC3, 0xA9, 0x22], [0x22, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x1F, 0x22],
        ]
        for r in raw { Self.agree(r, "bytes \(r)") }
    }

    @Test func nestingDepthLimitIsJanssons() {
        for depth in [2046, 2047, 2048, 2049, 2050] {
            Self.agree(Array((String(repeating: "[", count: depth) + String(repeating: "]", count: depth)).utf8), "\(depth) empty arrays")
            Self.agree(Array((String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)).utf8), "\(depth) arrays around 1")
            Self.agree(Array((String(repeating: "{\"a\":", count: depth) + "1" + String(repeating: "}", count: depth)).utf8), "\(depth) objects")
        }
    }

    /// Producer-shaped documents and thousands of mutations of them: every
    /// one accepted or refused alike, and equal when accepted.
    @Test func producerShapedDocumentsAndTheirMutations() {
        var rng = SystemRandomNumberGenerator()
        let seed = UInt64.random(in: 0...UInt64.max, using: &rng)
        var g = DocumentGenerator(seed: seed)
        var accepted = 0, refused = 0
        for n in 0..<300 {
            let doc = g.document()
            let text = g.render(doc)
            let valid = Self.agree(Array(text.utf8), "document \(n) of seed \(seed)")
            #expect(valid, "document \(n) of seed \(seed) is JSON")
            for m in 0..<20 {
                let mutated = g.mutate(Array(text.utf8))
                if Self.agree(mutated, "mutation \(m) of document \(n), seed \(seed)") { accepted += 1 } else { refused += 1 }
            }
        }
        // The mutations reach both sides of the line.
        #expect(accepted > 100 && refused > 100, "accepted \(accepted), refused \(refused)")
    }

    /// A projection is the parsed value cut down: members kept, containers
    /// for digest/presence as markers (the digest the full value's).
    @Test func projectionsEqualTheParsedValueCutDown() throws {
        var g = DocumentGenerator(seed: UInt64.random(in: 0...UInt64.max))
        let projections: [JSONProjection] = [
            .whole, .digest, .presence, .members([:]),
            .members(["id": .whole, "payload": .digest, "metadata": .members(["workflowId": .whole, "missing": .whole])]),
            .members(["payload": .presence, "type": .digest, "timestamp": .whole]),
            .members(["payload": .members(["result": .members(["items": .whole])]), "parentId": .presence]),
        ]
        var tape = JSONTape()
        for _ in 0..<200 {
            let text = g.render(g.document())
            let full = try JSON.parse(text)
            for p in projections {
                var t = text
                let projected = t.withUTF8 { JSON.parse(UnsafeRawBufferPointer($0), projection: p, tape: &tape) }
                #expect(projected == Self.cut(full, p), "\(p) of \(text.prefix(300))")
            }
        }
        // Not JSON: nil, as parse throws.
        var bad = "{\"id\": \"x\", \"payload\": {\"a\": [1, 2}"
        #expect(bad.withUTF8 { JSON.parse(UnsafeRawBufferPointer($0), projection: .members(["id": .whole]), tape: &tape) } == nil)
        // A marker cannot come from a document: a key with NUL is refused.
        #expect((try? JSON.parse(#"{"\u0000projected": "1"}"#)) == nil)
    }

    static func cut(_ v: JSON, _ p: JSONProjection) -> JSON {
        let container: Bool
        switch v { case .array, .object: container = true; default: container = false }
        switch p {
        case .whole: return v
        case .digest: return container ? .object([JSONProjection.markerKey: .string(String(v.digest, radix: 16))]) : v
        case .presence: return container ? .object([JSONProjection.markerKey: .null]) : v
        case .jsonDigest:
            guard case .string(let text) = v else { return v }
            return JSON.digest(ofText: text).map { .object([JSONProjection.markerKey: .string(String($0, radix: 16))]) } ?? .null
        case .members(let m):
            guard case .object(let o) = v else { return v }
            var out: [String: JSON] = [:]
            for (k, sub) in m { if let x = o[k] { out[k] = cut(x, sub) } }
            return .object(out)
        }
    }

    /// A string of JSON text read only as digest(json(…)): digested in the
    /// scan, equal to digesting the parsed string's text; null when it is not JSON.
    @Test func jsonTextInAStringIsDigestedInTheScan() throws {
        var g = DocumentGenerator(seed: UInt64.random(in: 0...UInt64.max))
        var tape = JSONTape()
        let p = JSONProjection.members(["content": .jsonDigest, "id": .whole])
        for n in 0..<300 {
            let inner = g.render(g.document())
            let contents: [JSON] = [.string(inner), .string(String(inner.dropLast())), .int(3), .null, .string(""), .string(" [1, 2] ")]
            let content = contents[n % contents.count]
            let text = JSON.object(["id": .string("e\(n)"), "content": content]).encoded()
            let full = try JSON.parse(text)
            var t = text
            let projected = t.withUTF8 { JSON.parse(UnsafeRawBufferPointer($0), projection: p, tape: &tape) }
            #expect(projected == Self.cut(full, p), "\(text.prefix(200))")
        }
    }

    @Test func digestOfTextIsJanssonsOnProducerShapedText() {
        var g = DocumentGenerator(seed: 7)
        for _ in 0..<200 {
            let text = g.render(g.document())
            #expect(JSON.digest(ofText: text) == JSON.janssonDigest(ofText: text))
            #expect(JSON.digest(ofText: text) == (try? JSON.parse(text))?.digest)
        }
    }
}

/// Random documents in the styles other producers write (spaces, pretty
/// printing, `\u` escapes, `\/`, keys in any order, repeated keys), and
/// byte-level mutations of them.
struct DocumentGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func pick<T>(_ xs: [T]) -> T { xs[Int(next() % UInt64(xs.count))] }

    static let strings = ["", "id", "naïve café", "日本語", "😀🚀", "quote \" and \\ backslash", "line\nbreak\ttab", "path/to", "\u{1}\u{1F}", "\u{7F}",
                          "e\u{301}", "\u{0}nul", "ascii only text that is long enough for the word loop", "مرحبا", "x"]

    indirect enum Doc { case scalar(String), array([Doc]), object([(String, Doc)]) }

    mutating func document(depth: Int = 0) -> Doc {
        let envelope: [(String, Doc)] = [
            ("id", .scalar(quote(pick(["01JD\(next() % 1000)", "évt-\(next() % 9)", ""])))), ("timestamp", .scalar(pick(["1764393600000", "-1", "0", "1.5e3", "9007199254740993"]))),
            ("type", .scalar(quote(pick(["toolCall", "message"])))), ("parentId", .scalar(quote("p"))),
            ("payload", value(depth: 1)), ("metadata", .object([("workflowId", .scalar(quote("wr_1"))), ("userId", .scalar("null"))])),
        ]
        var members = envelope
        if next() % 3 == 0 { members.append(("id", .scalar(quote("repeated")))) }
        if next() % 4 == 0 { members.append(("extra", value(depth: 2))) }
        for i in stride(from: members.count - 1, to: 0, by: -1) { members.swapAt(i, Int(next() % UInt64(i + 1))) }
        return .object(members)
    }

    mutating func value(depth: Int) -> Doc {
        switch next() % (depth > 4 ? 3 : 6) {
        case 0: return .scalar(quote(pick(Self.strings)))
        case 1: return .scalar(pick(["0", "-0", "42", "-17", "3.25", "1e-7", "6.02E23", "true", "false", "null", "9223372036854775807", "0.1"]))
        case 2: return .scalar(quote(String(repeating: pick(Self.strings), count: Int(next() % 40))))
        case 3: return .array((0..<Int(next() % 6)).map { _ in value(depth: depth + 1) })
        default:
            return .object((0..<Int(next() % 7)).map { i in (pick(["k\(i)", "é\(i)", "a/b", "\"q\"", "", "k0"]), value(depth: depth + 1)) })
        }
    }

    func quote(_ s: String) -> String { "\u{1}" + s }  // rendered as a string in the chosen style

    mutating func render(_ d: Doc) -> String {
        let style = next() % 4
        var out = ""
        render(d, style, 0, &out)
        return out
    }

    func render(_ d: Doc, _ style: UInt64, _ indent: Int, _ out: inout String) {
        let comma = style == 1 ? ", " : ",", colon = style == 0 ? ":" : ": "
        let nl = style == 3 ? "\n" + String(repeating: " ", count: indent * 2 + 2) : ""
        switch d {
        case .scalar(let s):
            if s.hasPrefix("\u{1}") { out += encode(String(s.dropFirst()), style) } else { out += s }
        case .array(let a):
            out += "["
            for (i, e) in a.enumerated() { out += (i > 0 ? comma : "") + nl; render(e, style, indent + 1, &out) }
            out += "]"
        case .object(let o):
            out += "{"
            for (i, (k, v)) in o.enumerated() { out += (i > 0 ? comma : "") + nl + encode(k, style) + colon; render(v, style, indent + 1, &out) }
            out += style == 3 ? "\n}" : "}"
        }
    }

    func encode(_ s: String, _ style: UInt64) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "/" where style == 2: out += "\\/"
            default:
                if u.value < 0x20 || (style == 2 && u.value > 0x7E) {
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
        return out + "\""
    }

    /// One to three byte-level changes: a byte replaced by a meaningful one, removed, duplicated, or the text cut.
    mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var b = bytes
        for _ in 0..<(1 + Int(next() % 3)) where !b.isEmpty {
            let at = Int(next() % UInt64(b.count))
            switch next() % 5 {
            case 0: b[at] = pick(Array("{}[]\",:\\ 0-.eE\u{0}".utf8) + [0x80, 0xC3, 0xED, 0xF4, 0xFF, 0x1F, 0x7F])
            case 1: b.remove(at: at)
            case 2: b.insert(b[at], at: at)
            case 3: b = Array(b[..<at])
            default: b.insert(contentsOf: pick([Array("\\u0000".utf8), Array("\\ud800".utf8), Array("\\u00e9".utf8), Array(" ".utf8), [0xE2, 0x82, 0xAC]]), at: at)
            }
        }
        return b
    }
}

/// The canonical string encoding against a plain byte-by-byte reference, on
/// every ASCII byte and on long texts whose escapes fall on the writer's
/// buffer boundaries.
@Suite struct CanonicalStringTests {
    static func reference(_ s: String) -> String {
        var out = "\""
        for b in s.utf8 {
            switch b {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0..<0x20, 0x7F: out += String(format: "\\u%04x", b)
            default: out.unicodeScalars.append(Unicode.Scalar(b))  // ASCII here; UTF-8 below is passed through
            }
        }
        return out + "\""
    }

    @Test func matchesTheReference() {
        let every = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)
        #expect(JSON.string(every).encoded() == Self.reference(every))
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<50 {
            let length = Int.random(in: 4000...20000, using: &rng)
            let text = String(decoding: (0..<length).map { _ in
                Bool.random(using: &rng) ? UInt8.random(in: 0x20...0x7E, using: &rng) : [0x22, 0x5C, 0x0A, 0x01, 0x7F, 0x41][Int.random(in: 0..<6, using: &rng)]
            }, as: UTF8.self)
            #expect(JSON.string(text).encoded() == Self.reference(text))
        }
        let unicode = "naïve 日本語 😀 \"q\" \\ \u{1}"
        #expect(JSON.string(unicode).encoded() == "\"naïve 日本語 😀 \\\"q\\\" \\\\ \\u0001\"")
    }
}
