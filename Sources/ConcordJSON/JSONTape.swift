import Foundation

/// One validating pass over JSON text into a flat list of tokens (a tape),
/// from which only what is needed is then built, digested or skipped: the
/// read path's parser for records whose rules read a few fields of large
/// documents (issue 12). It accepts exactly what `JSON.parse` (jansson, any
/// value at the top level, `\u0000` allowed) accepts — strict UTF-8, the JSON
/// number grammar, integers that fit 64 bits, finite reals, paired
/// surrogates, no NUL in keys, at most 2,048 levels, even jansson's
/// lost NUL after a number or keyword — so a record reads the
/// same whichever parser took it; the tests hold the two equal on
/// producer-shaped data and on mutations of it.
///
/// Strings stay as byte ranges of the text until a value is built; numbers
/// are converted during the scan (reals by `strtod`, as jansson does).
public struct JSONTape {
    public enum Kind: UInt8 { case null, `false`, `true`, int, double, string, array, object }

    /// A token: scalars carry their value (`b`), strings their byte range
    /// (`a..<b`, escapes undecoded), containers their member count (`a`) and
    /// the index of the token after their end (`b`). An object's members are
    /// key (a string token) then value.
    public struct Token {
        public var kind: Kind
        public var escaped: Bool
        public var a: Int
        public var b: Int64
    }

    public private(set) var tokens: [Token] = []
    /// The text the tokens point into (valid while the caller's buffer is).
    public private(set) var text: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    var scratch: [UInt8] = []

    public init() { tokens.reserveCapacity(512) }

    static let maxDepth = 2048

    /// Scans `text` (which must stay alive while the tape is used); false when it is not JSON.
    public mutating func scan(_ text: UnsafeRawBufferPointer) -> Bool {
        tokens.removeAll(keepingCapacity: true)
        self.text = text
        guard let base = text.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        var s = Scanner(p: base, n: text.count)
        let ok = s.run(&tokens)
        return ok
    }

    struct Scanner {
        let p: UnsafePointer<UInt8>
        let n: Int
        var i = 0

        @inline(__always) mutating func ws() {
            while i < n {
                let c = p[i]
                guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
                i += 1
            }
        }

        mutating func run(_ t: inout [Token]) -> Bool {
            ws()
            guard value(&t, depth: 1) else { return false }
            ws()
            return i == n
        }

        mutating func value(_ t: inout [Token], depth: Int) -> Bool {
            guard depth <= JSONTape.maxDepth, i < n else { return false }
            switch p[i] {
            case UInt8(ascii: "{"):
                i += 1
                let at = t.count
                t.append(Token(kind: .object, escaped: false, a: 0, b: 0))
                var count = 0
                ws()
                if i < n, p[i] == UInt8(ascii: "}") {
                    i += 1
                } else {
                    while true {
                        guard i < n, p[i] == UInt8(ascii: "\"") else { return false }
                        let keyAt = t.count
                        guard string(&t) else { return false }
                        if t[keyAt].escaped, JSONTape.keyHasNUL(t[keyAt], p) { return false }  // jansson: "NUL byte in object key not supported"
                        ws()
                        guard i < n, p[i] == UInt8(ascii: ":") else { return false }
                        i += 1
                        ws()
                        guard value(&t, depth: depth + 1) else { return false }
                        count += 1
                        ws()
                        guard i < n else { return false }
                        if p[i] == UInt8(ascii: ",") { i += 1; ws(); continue }
                        guard p[i] == UInt8(ascii: "}") else { return false }
                        i += 1
                        break
                    }
                }
                t[at].a = count
                t[at].b = Int64(t.count)
                return true
            case UInt8(ascii: "["):
                i += 1
                let at = t.count
                t.append(Token(kind: .array, escaped: false, a: 0, b: 0))
                var count = 0
                ws()
                if i < n, p[i] == UInt8(ascii: "]") {
                    i += 1
                } else {
                    while true {
                        guard value(&t, depth: depth + 1) else { return false }
                        count += 1
                        ws()
                        guard i < n else { return false }
                        if p[i] == UInt8(ascii: ",") { i += 1; ws(); continue }
                        guard p[i] == UInt8(ascii: "]") else { return false }
                        i += 1
                        break
                    }
                }
                t[at].a = count
                t[at].b = Int64(t.count)
                return true
            case UInt8(ascii: "\""): return string(&t)
            case UInt8(ascii: "t"): return literal("true", .true, &t)
            case UInt8(ascii: "f"): return literal("false", .false, &t)
            case UInt8(ascii: "n"): return literal("null", .null, &t)
            default: return number(&t)
            }
        }

        mutating func literal(_ word: StaticString, _ kind: Kind, _ t: inout [Token]) -> Bool {
            let w = word.utf8Start, len = word.utf8CodeUnitCount
            guard n - i >= len, memcmp(p + i, w, len) == 0 else { return false }
            i += len
            // jansson reads a keyword as a run of letters: "truex" is not "true".
            if i < n, (p[i] | 0x20) >= UInt8(ascii: "a"), (p[i] | 0x20) <= UInt8(ascii: "z") { return false }
            t.append(Token(kind: kind, escaped: false, a: 0, b: 0))
            skipUngotNUL()
            return true
        }

        /// jansson's quirk, kept so both parsers accept the same texts: the
        /// byte after a number or keyword is read and put back, and a NUL put
        /// back is lost (its stream buffer ends at NUL) — `[1\0]` and `true\0` parse.
        @inline(__always) mutating func skipUngotNUL() {
            if i < n, p[i] == 0 { i += 1 }
        }

        @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }

        mutating func number(_ t: inout [Token]) -> Bool {
            let start = i
            var negative = false
            if p[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            guard i < n, Self.isDigit(p[i]) else { return false }
            if p[i] == UInt8(ascii: "0") {
                i += 1
                if i < n, Self.isDigit(p[i]) { return false }
            } else {
                while i < n, Self.isDigit(p[i]) { i += 1 }
            }
            var real = false
            if i < n, p[i] == UInt8(ascii: ".") {
                i += 1
                guard i < n, Self.isDigit(p[i]) else { return false }
                while i < n, Self.isDigit(p[i]) { i += 1 }
                real = true
            }
            if i < n, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
                i += 1
                if i < n, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
                guard i < n, Self.isDigit(p[i]) else { return false }
                while i < n, Self.isDigit(p[i]) { i += 1 }
                real = true
            }
            if !real {
                // An integer that fits 64 bits (jansson: "too big integer" otherwise).
                var v: UInt64 = 0
                for k in (negative ? start + 1 : start)..<i {
                    let (m, o1) = v.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(UInt64(p[k] &- 0x30))
                    if o1 || o2 { return false }
                    v = s
                }
                if negative {
                    guard v <= UInt64(Int64.max) + 1 else { return false }
                    t.append(Token(kind: .int, escaped: false, a: 0, b: v == UInt64(Int64.max) + 1 ? .min : -Int64(v)))
                } else {
                    guard v <= UInt64(Int64.max) else { return false }
                    t.append(Token(kind: .int, escaped: false, a: 0, b: Int64(v)))
                }
                skipUngotNUL()
                return true
            }
            // strtod on a NUL-terminated copy, as jansson does; an overflow to infinity is an error there.
            let len = i - start
            let d: Double = withUnsafeTemporaryAllocation(of: CChar.self, capacity: len + 1) { buf in
                UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: p + start, byteCount: len)
                buf[len] = 0
                return strtod(buf.baseAddress!, nil)
            }
            guard d.isFinite else { return false }
            t.append(Token(kind: .double, escaped: false, a: 0, b: Int64(bitPattern: d.bitPattern)))
            skipUngotNUL()
            return true
        }

        @inline(__always) static func hex(_ c: UInt8) -> UInt32? {
            switch c {
            case 0x30...0x39: return UInt32(c - 0x30)
            case 0x41...0x46: return UInt32(c - 0x41 + 10)
            case 0x61...0x66: return UInt32(c - 0x61 + 10)
            default: return nil
            }
        }

        mutating func u4() -> UInt32? {
            guard n - i >= 4, let a = Self.hex(p[i]), let b = Self.hex(p[i + 1]), let c = Self.hex(p[i + 2]), let d = Self.hex(p[i + 3]) else { return nil }
            i += 4
            return a << 12 | b << 8 | c << 4 | d
        }

        /// A string token; `i` at its opening quote.
        mutating func string(_ t: inout [Token]) -> Bool {
            i += 1
            let start = i
            var escaped = false
            while true {
                // Plain ASCII runs, eight bytes at a time while no quote, backslash, control or non-ASCII byte is among them.
                while n - i >= 8 {
                    let w = UnsafeRawPointer(p + i).loadUnaligned(as: UInt64.self)
                    let high = w & 0x8080_8080_8080_8080
                    let ctrl = (w &- 0x2020_2020_2020_2020) & ~w & 0x8080_8080_8080_8080
                    let q = w ^ 0x2222_2222_2222_2222, bs = w ^ 0x5C5C_5C5C_5C5C_5C5C
                    let quote = (q &- 0x0101_0101_0101_0101) & ~q & 0x8080_8080_8080_8080
                    let slash = (bs &- 0x0101_0101_0101_0101) & ~bs & 0x8080_8080_8080_8080
                    if high | ctrl | quote | slash != 0 { break }
                    i += 8
                }
                guard i < n else { return false }
                let c = p[i]
                if c == UInt8(ascii: "\"") {
                    t.append(Token(kind: .string, escaped: escaped, a: start, b: Int64(i)))
                    i += 1
                    return true
                }
                if c < 0x20 { return false }
                if c == UInt8(ascii: "\\") {
                    escaped = true
                    i += 1
                    guard i < n else { return false }
                    let e = p[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        guard let v = u4() else { return false }
                        if v >= 0xD800 && v <= 0xDBFF {
                            guard n - i >= 2, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u") else { return false }
                            i += 2
                            guard let w = u4(), w >= 0xDC00 && w <= 0xDFFF else { return false }
                        } else if v >= 0xDC00 && v <= 0xDFFF {
                            return false
                        }
                        continue
                    default: return false
                    }
                }
                if c < 0x80 { i += 1; continue }
                // Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
                guard Self.utf8(p, &i, n) else { return false }
            }
        }

        @inline(__always) static func utf8(_ p: UnsafePointer<UInt8>, _ i: inout Int, _ n: Int) -> Bool {
            let c = p[i]
            @inline(__always) func cont(_ k: Int) -> Bool { i + k < n && p[i + k] & 0xC0 == 0x80 }
            switch c {
            case 0xC2...0xDF:
                guard cont(1) else { return false }
                i += 2
            case 0xE0...0xEF:
                guard cont(1), cont(2) else { return false }
                let b = p[i + 1]
                if c == 0xE0 && b < 0xA0 { return false }  // overlong
                if c == 0xED && b >= 0xA0 { return false }  // surrogate
                i += 3
            case 0xF0...0xF4:
                guard cont(1), cont(2), cont(3) else { return false }
                let b = p[i + 1]
                if c == 0xF0 && b < 0x90 { return false }  // overlong
                if c == 0xF4 && b >= 0x90 { return false }  // above U+10FFFF
                i += 4
            default: return false
            }
            return true
        }
    }

    /// Whether an escaped key decodes to text holding NUL (only `\u0000` can put one there).
    static func keyHasNUL(_ t: Token, _ p: UnsafePointer<UInt8>) -> Bool {
        var k = t.a
        let end = Int(t.b)
        while k + 6 <= end {
            if p[k] == UInt8(ascii: "\\") {
                if p[k + 1] == UInt8(ascii: "u"), p[k + 2] == 0x30, p[k + 3] == 0x30, p[k + 4] == 0x30, p[k + 5] == 0x30 { return true }
                k += 2
            } else {
                k += 1
            }
        }
        return false
    }
}

extension JSONTape {
    /// The bytes of string token `t`, escapes decoded, handed to `body`.
    @inline(__always)
    func withBytes<R>(of t: Token, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        let base = text.baseAddress!.assumingMemoryBound(to: UInt8.self)
        if !t.escaped { return body(UnsafeBufferPointer(start: base + t.a, count: Int(t.b) - t.a)) }
        var out: [UInt8] = []
        JSONTape.decode(base, t.a, Int(t.b), into: &out)
        return out.withUnsafeBufferPointer(body)
    }

    /// Decodes an escaped string's bytes (already validated by the scan).
    static func decode(_ p: UnsafePointer<UInt8>, _ from: Int, _ to: Int, into out: inout [UInt8]) {
        out.reserveCapacity(to - from)
        var k = from
        func u4(_ at: Int) -> UInt32 {
            var v: UInt32 = 0
            for j in at..<at + 4 { v = v << 4 | Scanner.hex(p[j])! }
            return v
        }
        while k < to {
            let c = p[k]
            guard c == UInt8(ascii: "\\") else { out.append(c); k += 1; continue }
            let e = p[k + 1]
            k += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = u4(k)
                k += 4
                if v >= 0xD800 && v <= 0xDBFF {
                    let w = u4(k + 2)
                    k += 6
                    v = ((v - 0xD800) << 10) + (w - 0xDC00) + 0x10000
                }
                switch v {
                case 0..<0x80: out.append(UInt8(v))
                case 0x80..<0x800: out.append(UInt8(0xC0 | v >> 6)); out.append(UInt8(0x80 | v & 0x3F))
                case 0x800..<0x10000:
                    out.append(UInt8(0xE0 | v >> 12)); out.append(UInt8(0x80 | v >> 6 & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
                default:
                    out.append(UInt8(0xF0 | v >> 18)); out.append(UInt8(0x80 | v >> 12 & 0x3F))
                    out.append(UInt8(0x80 | v >> 6 & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
                }
            default: out.append(e)  // " \ /
            }
        }
    }

    func string(_ t: Token) -> String {
        withBytes(of: t) { String(decoding: $0, as: UTF8.self) }
    }

    /// Index of the token after the value at `at`.
    @inline(__always) func end(_ at: Int) -> Int {
        let t = tokens[at]
        return t.kind == .array || t.kind == .object ? Int(t.b) : at + 1
    }

    /// The whole value at token `at` as JSON.
    public func value(at: Int) -> JSON {
        let t = tokens[at]
        switch t.kind {
        case .null: return .null
        case .false: return .bool(false)
        case .true: return .bool(true)
        case .int: return .int(t.b)
        case .double: return .double(Double(bitPattern: UInt64(bitPattern: t.b)))
        case .string: return .string(string(t))
        case .array:
            var a: [JSON] = []
            a.reserveCapacity(t.a)
            var k = at + 1
            while k < Int(t.b) { a.append(value(at: k)); k = end(k) }
            return .array(a)
        case .object:
            var o: [String: JSON] = [:]
            o.reserveCapacity(t.a)
            var k = at + 1
            while k < Int(t.b) {
                o[string(tokens[k])] = value(at: k + 1)
                k = end(k + 1)
            }
            return .object(o)
        }
    }

    /// The content digest of the value at token `at`: the same as
    /// `JSON.digest(ofText:)` of its text (keys in byte order, a repeated key's last value).
    public func digest(at: Int) -> UInt64 {
        var d = JSONDigest()
        digest(at, into: &d)
        return d.h
    }

    func digest(_ at: Int, into d: inout JSONDigest) {
        let t = tokens[at]
        switch t.kind {
        case .null: d.byte(0)
        case .false: d.byte(1)
        case .true: d.byte(2)
        case .int: d.byte(3); d.word(UInt64(bitPattern: t.b))
        case .double: d.double(Double(bitPattern: UInt64(bitPattern: t.b)))
        case .string: d.byte(5); withBytes(of: t) { d.bytes($0) }
        case .array:
            d.byte(6); d.word(UInt64(t.a))
            var k = at + 1
            while k < Int(t.b) { digest(k, into: &d); k = end(k) }
        case .object:
            // Members by key bytes; of a repeated key only the last counts (as in jansson's object).
            var members: [(key: Int, value: Int)] = []
            members.reserveCapacity(t.a)
            var k = at + 1
            while k < Int(t.b) { members.append((k, k + 1)); k = end(k + 1) }
            let base = text.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let anyEscaped = members.contains { tokens[$0.key].escaped }
            if anyEscaped {
                let keys = members.map { m in withBytes(of: tokens[m.key]) { Array($0) } }
                var order = Array(members.indices)
                order.sort { a, b in
                    keys[a].lexicographicallyPrecedes(keys[b]) || (keys[a] == keys[b] && a < b)
                }
                var kept: [Int] = []
                for (j, m) in order.enumerated() where j + 1 == order.count || keys[order[j + 1]] != keys[m] { kept.append(m) }
                d.byte(7); d.word(UInt64(kept.count))
                for m in kept { keys[m].withUnsafeBufferPointer { d.bytes($0) }; digest(members[m].value, into: &d) }
                return
            }
            @inline(__always) func cmp(_ x: Token, _ y: Token) -> Int32 {
                let lx = Int(x.b) - x.a, ly = Int(y.b) - y.a
                let c = memcmp(base + x.a, base + y.a, min(lx, ly))
                return c != 0 ? c : (lx < ly ? -1 : (lx == ly ? 0 : 1))
            }
            members.sort { a, b in
                let c = cmp(tokens[a.key], tokens[b.key])
                return c < 0 || (c == 0 && a.key < b.key)
            }
            var count = 0
            for j in members.indices where j + 1 == members.count || cmp(tokens[members[j].key], tokens[members[j + 1].key]) != 0 { count += 1 }
            d.byte(7); d.word(UInt64(count))
            for j in members.indices where j + 1 == members.count || cmp(tokens[members[j].key], tokens[members[j + 1].key]) != 0 {
                let key = tokens[members[j].key]
                d.bytes(UnsafeBufferPointer(start: base + key.a, count: Int(key.b) - key.a))
                digest(members[j].value, into: &d)
            }
        }
    }
}
