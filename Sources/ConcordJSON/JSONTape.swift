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
    public enum Kind: UInt8 {
        case null, `false`, `true`, int, double, string, array, object
        /// A container a projection wanted only the digest of (`b`), or only to know it is there.
        case digested, present
    }

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

    /// Scans `text` (which must stay alive while the tape is used); false
    /// when it is not JSON. With a projection, only what it needs is kept on
    /// the tape (the rest is still read and checked).
    public mutating func scan(_ text: UnsafeRawBufferPointer, projection: JSONProjection = .whole) -> Bool {
        tokens.removeAll(keepingCapacity: true)
        self.text = text
        guard let base = text.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return false }
        var s = Scanner(p: base, n: text.count, members: members)
        defer { members = s.members }
        return s.run(&tokens, projection)
    }

    /// The content digest of JSON text, in the pass that reads it (no
    /// tokens); nil when it is not JSON.
    public mutating func digest(of text: UnsafeRawBufferPointer) -> UInt64? {
        Scanner.digestOfText(text.baseAddress?.assumingMemoryBound(to: UInt8.self), text.count, members: &members)
    }

    /// The digest pass's stack of object members (reused).
    var members: [Scanner.Member] = []

    struct Scanner {
        let p: UnsafePointer<UInt8>
        let n: Int
        var i = 0
        /// Members of the objects being digested, innermost last.
        var members: [Member]
        var bytes: [UInt8] = []

        struct Member {
            var start: Int, end: Int, escaped: Bool
            var keyHash: UInt64
            var share: UInt64
        }

        init(p: UnsafePointer<UInt8>, n: Int, members: [Member]) {
            self.p = p
            self.n = n
            self.members = members
            self.members.removeAll(keepingCapacity: true)
        }

        @inline(__always) mutating func ws() {
            while i < n {
                let c = p[i]
                guard c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 else { return }
                i += 1
            }
        }

        mutating func run(_ t: inout [Token], _ projection: JSONProjection) -> Bool {
            ws()
            guard value(&t, depth: 1, projection) else { return false }
            ws()
            return i == n
        }

        /// A value's tokens, as far as `projection` needs: a container wanted
        /// for its digest or presence is one token, an object's unwanted members none.
        mutating func value(_ t: inout [Token], depth: Int, _ projection: JSONProjection = .whole) -> Bool {
            guard depth <= JSONTape.maxDepth, i < n else { return false }
            if case .jsonDigest = projection, p[i] == UInt8(ascii: "\"") {
                // The string's text digested as JSON, in place of the string.
                guard let s = lexString() else { return false }
                var text: [UInt8] = []
                if s.escaped { JSONTape.decode(p, s.start, s.end, into: &text) }
                var stack: [Member] = []
                let d: UInt64? = s.escaped
                    ? text.withUnsafeBufferPointer { Scanner.digestOfText($0.baseAddress, $0.count, members: &stack) }
                    : Scanner.digestOfText(p + s.start, s.end - s.start, members: &stack)
                if let d {
                    t.append(Token(kind: .digested, escaped: false, a: 0, b: Int64(bitPattern: d)))
                } else {
                    t.append(Token(kind: .null, escaped: false, a: 0, b: 0))  // json() of text that is not JSON is null
                }
                return true
            }
            if case .whole = projection {} else if case .jsonDigest = projection {} else if p[i] == UInt8(ascii: "{") || p[i] == UInt8(ascii: "[") {
                switch projection {
                case .digest, .presence:
                    guard let d = digest(depth: depth, hashing: projection == .digest) else { return false }
                    t.append(Token(kind: projection == .digest ? .digested : .present, escaped: false, a: 0, b: Int64(bitPattern: d)))
                    return true
                case .members(let wanted) where p[i] == UInt8(ascii: "{"):
                    return object(&t, depth: depth, wanted)
                default: break
                }
            }
            switch p[i] {
            case UInt8(ascii: "{"):
                let at = t.count
                t.append(Token(kind: .object, escaped: false, a: 0, b: 0))
                var count = 0
                guard object({ s, key in
                    t.append(Token(kind: .string, escaped: key.escaped, a: key.start, b: Int64(key.end)))
                    count += 1
                    return s.value(&t, depth: depth + 1)
                }) else { return false }
                t[at].a = count
                t[at].b = Int64(t.count)
                return true
            case UInt8(ascii: "["):
                let at = t.count
                t.append(Token(kind: .array, escaped: false, a: 0, b: 0))
                var count = 0
                guard array({ s in
                    count += 1
                    return s.value(&t, depth: depth + 1)
                }) else { return false }
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
            guard lexLiteral(word) else { return false }
            t.append(Token(kind: kind, escaped: false, a: 0, b: 0))
            return true
        }

        mutating func lexLiteral(_ word: StaticString) -> Bool {
            let w = word.utf8Start, len = word.utf8CodeUnitCount
            guard n - i >= len, memcmp(p + i, w, len) == 0 else { return false }
            i += len
            // jansson reads a keyword as a run of letters: "truex" is not "true".
            if i < n, (p[i] | 0x20) >= UInt8(ascii: "a"), (p[i] | 0x20) <= UInt8(ascii: "z") { return false }
            skipUngotNUL()
            return true
        }

        /// An object keeping only the members `wanted` names (each as it needs); `i` at its `{`.
        mutating func object(_ t: inout [Token], depth: Int, _ wanted: [String: JSONProjection]) -> Bool {
            let at = t.count
            t.append(Token(kind: .object, escaped: false, a: 0, b: 0))
            var count = 0
            guard object({ s, key in
                guard let sub = s.member(key, wanted) else { return s.digest(depth: depth + 1, hashing: false) != nil }
                t.append(Token(kind: .string, escaped: key.escaped, a: key.start, b: Int64(key.end)))
                count += 1
                return s.value(&t, depth: depth + 1, sub)
            }) else { return false }
            t[at].a = count
            t[at].b = Int64(t.count)
            return true
        }

        /// Reads an object, `i` at its `{`: each key (a string, without NUL
        /// once decoded, as jansson requires) and its colon, then `member`
        /// reads the value. False when it is not JSON.
        @inline(__always) mutating func object(_ member: (inout Scanner, (start: Int, end: Int, escaped: Bool)) -> Bool) -> Bool {
            i += 1
            ws()
            if i < n, p[i] == UInt8(ascii: "}") { i += 1; return true }
            while true {
                guard i < n, p[i] == UInt8(ascii: "\""), let key = lexString() else { return false }
                if key.escaped, JSONTape.keyHasNUL(Token(kind: .string, escaped: true, a: key.start, b: Int64(key.end)), p) { return false }
                ws()
                guard i < n, p[i] == UInt8(ascii: ":") else { return false }
                i += 1
                ws()
                guard member(&self, key) else { return false }
                ws()
                guard i < n else { return false }
                if p[i] == UInt8(ascii: ",") { i += 1; ws(); continue }
                guard p[i] == UInt8(ascii: "}") else { return false }
                i += 1
                return true
            }
        }

        /// Reads an array, `i` at its `[`: `element` reads each element. False when it is not JSON.
        @inline(__always) mutating func array(_ element: (inout Scanner) -> Bool) -> Bool {
            i += 1
            ws()
            if i < n, p[i] == UInt8(ascii: "]") { i += 1; return true }
            while true {
                guard element(&self) else { return false }
                ws()
                guard i < n else { return false }
                if p[i] == UInt8(ascii: ",") { i += 1; ws(); continue }
                guard p[i] == UInt8(ascii: "]") else { return false }
                i += 1
                return true
            }
        }

        /// The projection of the member named by the key at `key`, if wanted:
        /// an ASCII key matched on its bytes, any other as Swift compares
        /// strings (canonical equivalence), as a parsed object's lookup would.
        func member(_ key: (start: Int, end: Int, escaped: Bool), _ wanted: [String: JSONProjection]) -> JSONProjection? {
            let bytes = UnsafeBufferPointer(start: p + key.start, count: key.end - key.start)
            if !key.escaped, bytes.allSatisfy({ $0 < 0x80 }) {
                for (name, sub) in wanted where name.utf8.count == bytes.count && name.utf8.elementsEqual(bytes) { return sub }
                return nil
            }
            var decoded: [UInt8] = []
            JSONTape.decode(p, key.start, key.end, into: &decoded)
            return wanted[String(decoding: decoded, as: UTF8.self)]
        }

        /// Reads and checks one value, returning its content digest (see
        /// `JSONDigest`); with `hashing` false only reads and checks it. nil when it is not JSON.
        mutating func digest(depth: Int, hashing: Bool = true) -> UInt64? {
            guard depth <= JSONTape.maxDepth, i < n else { return nil }
            switch p[i] {
            case UInt8(ascii: "{"):
                let from = members.count
                defer { members.removeSubrange(from...) }
                var sum: UInt64 = 0
                guard object({ s, key in
                    guard let v = s.digest(depth: depth + 1, hashing: hashing) else { return false }
                    guard hashing else { return true }
                    // A repeated key: only its last value counts (as in jansson's object).
                    let (keyHash, share) = s.withKey(key) { (JSONDigest.string($0), JSONDigest.member($0, v)) }
                    for m in from..<s.members.count where s.members[m].keyHash == keyHash && s.sameKey(s.members[m], key) {
                        sum &-= s.members[m].share
                        s.members[m].share = share
                        sum &+= share
                        return true
                    }
                    s.members.append(Member(start: key.start, end: key.end, escaped: key.escaped, keyHash: keyHash, share: share))
                    sum &+= share
                    return true
                }) else { return nil }
                return hashing ? JSONDigest.object(count: members.count - from, sum: sum) : 0
            case UInt8(ascii: "["):
                var d = JSONDigest.arrayStart()
                var count = 0
                guard array({ s in
                    guard let v = s.digest(depth: depth + 1, hashing: hashing) else { return false }
                    d.word(v)
                    count += 1
                    return true
                }) else { return nil }
                return d.arrayEnd(count: count)
            case UInt8(ascii: "\""):
                guard let s = lexString() else { return nil }
                return hashing ? withKey(s) { JSONDigest.string($0) } : 0
            case UInt8(ascii: "t"): return lexLiteral("true") ? JSONDigest.trueValue : nil
            case UInt8(ascii: "f"): return lexLiteral("false") ? JSONDigest.falseValue : nil
            case UInt8(ascii: "n"): return lexLiteral("null") ? JSONDigest.null : nil
            default:
                guard let t = lexNumber() else { return nil }
                return t.kind == .int ? JSONDigest.int(t.b) : JSONDigest.double(Double(bitPattern: UInt64(bitPattern: t.b)))
            }
        }

        /// The digest of a whole text as JSON; nil when it is not JSON.
        /// `members`: the digest pass's stack, reused.
        static func digestOfText(_ base: UnsafePointer<UInt8>?, _ count: Int, members: inout [Member]) -> UInt64? {
            guard let base else { return nil }
            var s = Scanner(p: base, n: count, members: members)
            defer { members = s.members }
            s.ws()
            guard let d = s.digest(depth: 1) else { return nil }
            s.ws()
            return s.i == s.n ? d : nil
        }

        /// A string's decoded bytes, handed to `body`.
        @inline(__always) mutating func withKey<R>(_ s: (start: Int, end: Int, escaped: Bool), _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
            if !s.escaped { return body(UnsafeBufferPointer(start: p + s.start, count: s.end - s.start)) }
            bytes.removeAll(keepingCapacity: true)
            JSONTape.decode(p, s.start, s.end, into: &bytes)
            return bytes.withUnsafeBufferPointer(body)
        }

        func sameKey(_ m: Member, _ k: (start: Int, end: Int, escaped: Bool)) -> Bool {
            if !m.escaped && !k.escaped {
                return m.end - m.start == k.end - k.start && memcmp(p + m.start, p + k.start, k.end - k.start) == 0
            }
            var a: [UInt8] = [], b: [UInt8] = []
            JSONTape.decode(p, m.start, m.end, into: &a)
            JSONTape.decode(p, k.start, k.end, into: &b)
            return a == b
        }

        /// jansson's quirk, kept so both parsers accept the same texts: the
        /// byte after a number or keyword is read and put back, and a NUL put
        /// back is lost (its stream buffer ends at NUL) — `[1\0]` and `true\0` parse.
        @inline(__always) mutating func skipUngotNUL() {
            if i < n, p[i] == 0 { i += 1 }
        }

        @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }

        mutating func number(_ t: inout [Token]) -> Bool {
            guard let token = lexNumber() else { return false }
            t.append(token)
            return true
        }

        mutating func lexNumber() -> Token? {
            let start = i
            var negative = false
            if p[i] == UInt8(ascii: "-") { negative = true; i += 1 }
            guard i < n, Self.isDigit(p[i]) else { return nil }
            if p[i] == UInt8(ascii: "0") {
                i += 1
                if i < n, Self.isDigit(p[i]) { return nil }
            } else {
                while i < n, Self.isDigit(p[i]) { i += 1 }
            }
            var real = false
            if i < n, p[i] == UInt8(ascii: ".") {
                i += 1
                guard i < n, Self.isDigit(p[i]) else { return nil }
                while i < n, Self.isDigit(p[i]) { i += 1 }
                real = true
            }
            if i < n, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
                i += 1
                if i < n, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
                guard i < n, Self.isDigit(p[i]) else { return nil }
                while i < n, Self.isDigit(p[i]) { i += 1 }
                real = true
            }
            if !real {
                // An integer that fits 64 bits (jansson: "too big integer" otherwise).
                var v: UInt64 = 0
                for k in (negative ? start + 1 : start)..<i {
                    let (m, o1) = v.multipliedReportingOverflow(by: 10)
                    let (s, o2) = m.addingReportingOverflow(UInt64(p[k] &- 0x30))
                    if o1 || o2 { return nil }
                    v = s
                }
                if negative {
                    guard v <= UInt64(Int64.max) + 1 else { return nil }
                    skipUngotNUL()
                    return Token(kind: .int, escaped: false, a: 0, b: v == UInt64(Int64.max) + 1 ? .min : -Int64(v))
                }
                guard v <= UInt64(Int64.max) else { return nil }
                skipUngotNUL()
                return Token(kind: .int, escaped: false, a: 0, b: Int64(v))
            }
            // strtod on a NUL-terminated copy, as jansson does; an overflow to infinity is an error there.
            let len = i - start
            let d: Double = withUnsafeTemporaryAllocation(of: CChar.self, capacity: len + 1) { buf in
                UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: p + start, byteCount: len)
                buf[len] = 0
                return strtod(buf.baseAddress!, nil)
            }
            guard d.isFinite else { return nil }
            skipUngotNUL()
            return Token(kind: .double, escaped: false, a: 0, b: Int64(bitPattern: d.bitPattern))
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
            guard let s = lexString() else { return false }
            t.append(Token(kind: .string, escaped: s.escaped, a: s.start, b: Int64(s.end)))
            return true
        }

        /// A string's byte range (escapes undecoded); `i` at its opening quote, then after the closing one.
        mutating func lexString() -> (start: Int, end: Int, escaped: Bool)? {
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
                    let special = high | ctrl | quote | slash
                    if special != 0 {
                        // Straight to the first byte that needs a look (the lowest flag is exact).
                        i += special.trailingZeroBitCount >> 3
                        break
                    }
                    i += 8
                }
                guard i < n else { return nil }
                let c = p[i]
                if c == UInt8(ascii: "\"") {
                    i += 1
                    return (start, i - 1, escaped)
                }
                if c < 0x20 { return nil }
                if c == UInt8(ascii: "\\") {
                    escaped = true
                    i += 1
                    guard i < n else { return nil }
                    let e = p[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        guard let v = u4() else { return nil }
                        if v >= 0xD800 && v <= 0xDBFF {
                            guard n - i >= 2, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u") else { return nil }
                            i += 2
                            guard let w = u4(), w >= 0xDC00 && w <= 0xDFFF else { return nil }
                        } else if v >= 0xDC00 && v <= 0xDFFF {
                            return nil
                        }
                        continue
                    default: return nil
                    }
                }
                if c < 0x80 { i += 1; continue }
                // Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
                guard Self.utf8(p, &i, n) else { return nil }
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
            // The bytes up to the next backslash, copied at once.
            guard let bs = memchr(p + k, 0x5C, to - k) else {
                out.append(contentsOf: UnsafeBufferPointer(start: p + k, count: to - k))
                return
            }
            let at = UnsafeRawPointer(p).distance(to: UnsafeRawPointer(bs))
            if at > k { out.append(contentsOf: UnsafeBufferPointer(start: p + k, count: at - k)) }
            k = at
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
        case .digested: return .object([JSONProjection.markerKey: .string(String(UInt64(bitPattern: t.b), radix: 16))])
        case .present: return .object([JSONProjection.markerKey: .null])
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

    /// The content digest of the value at token `at` (see `JSONDigest`).
    public func digest(at: Int) -> UInt64 {
        let t = tokens[at]
        switch t.kind {
        case .null: return JSONDigest.null
        case .false: return JSONDigest.falseValue
        case .true: return JSONDigest.trueValue
        case .int: return JSONDigest.int(t.b)
        case .double: return JSONDigest.double(Double(bitPattern: UInt64(bitPattern: t.b)))
        case .digested, .present: return UInt64(bitPattern: t.b)
        case .string: return withBytes(of: t) { JSONDigest.string($0) }
        case .array:
            var d = JSONDigest.arrayStart()
            var k = at + 1
            while k < Int(t.b) { d.word(digest(at: k)); k = end(k) }
            return d.arrayEnd(count: t.a)
        case .object:
            // A repeated key: only its last value counts (as in jansson's object).
            var shares: [(key: [UInt8], share: UInt64)] = []
            var sum: UInt64 = 0
            var k = at + 1
            while k < Int(t.b) {
                let keyToken = tokens[k]
                let share = withBytes(of: keyToken) { JSONDigest.member($0, digest(at: k + 1)) }
                let key = withBytes(of: keyToken) { Array($0) }
                if let r = shares.firstIndex(where: { $0.key == key }) {
                    sum &-= shares[r].share
                    shares[r].share = share
                } else {
                    shares.append((key, share))
                }
                sum &+= share
                k = end(k + 1)
            }
            return JSONDigest.object(count: shares.count, sum: sum)
        }
    }
}

extension JSONTape {
    /// Appends the canonical encoding of the value at token `at` (a tape
    /// scanned whole): what `JSON.encode(into:)` writes for the parsed value
    /// — keys in byte order, a repeated key's last value — without building it.
    public func canonical(at: Int, into out: inout [UInt8]) {
        var keys: [UInt8] = []
        canonical(at, into: &out, &keys)
    }

    private func canonical(_ at: Int, into out: inout [UInt8], _ scratch: inout [UInt8]) {
        let t = tokens[at]
        let base = text.baseAddress!.assumingMemoryBound(to: UInt8.self)
        switch t.kind {
        case .null, .digested, .present: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .false: out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        case .true: out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        case .int: out.append(contentsOf: String(t.b).utf8)
        case .double: JSON.double(Double(bitPattern: UInt64(bitPattern: t.b))).encode(into: &out)
        case .string:
            if t.escaped {
                scratch.removeAll(keepingCapacity: true)
                JSONTape.decode(base, t.a, Int(t.b), into: &scratch)
                scratch.withUnsafeBufferPointer { JSON.encodeString($0, into: &out) }
            } else {
                JSON.encodeString(UnsafeBufferPointer(start: base + t.a, count: Int(t.b) - t.a), into: &out)
            }
        case .array:
            out.append(UInt8(ascii: "["))
            var k = at + 1
            var first = true
            while k < Int(t.b) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                canonical(k, into: &out, &scratch)
                k = end(k)
            }
            out.append(UInt8(ascii: "]"))
        case .object:
            var members: [(key: [UInt8], at: Int)] = []
            members.reserveCapacity(t.a)
            var k = at + 1
            while k < Int(t.b) {
                members.append((withBytes(of: tokens[k]) { Array($0) }, k))
                k = end(k + 1)
            }
            // Stable: of equal keys the later stays last, and only it is written.
            members.sort { $0.key.lexicographicallyPrecedes($1.key) || ($0.key == $1.key && $0.at < $1.at) }
            out.append(UInt8(ascii: "{"))
            var first = true
            for (j, m) in members.enumerated() where j + 1 == members.count || members[j + 1].key != m.key {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                m.key.withUnsafeBufferPointer { JSON.encodeString($0, into: &out) }
                out.append(UInt8(ascii: ":"))
                canonical(m.at + 1, into: &out, &scratch)
            }
            out.append(UInt8(ascii: "}"))
        }
    }
}
