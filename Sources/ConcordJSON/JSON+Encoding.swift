extension JSON {
    /// The canonical encoding: compact, object keys sorted by their UTF-8
    /// bytes, numbers in their shortest round-trip form, non-ASCII text as
    /// UTF-8, control characters escaped. NaN and infinities become `null`.
    public func encoded() -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        encode(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the canonical encoding to `out`.
    public func encode(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let b): out.append(contentsOf: b ? Array("true".utf8) : Array("false".utf8))
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d):
            if d.isFinite {
                // Swift prints the shortest text that reads back as the same double.
                let text = d.description
                out.append(contentsOf: text.utf8)
            } else {
                out.append(contentsOf: "null".utf8)
            }
        case .string(let s): JSON.encodeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.encode(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            let keys = o.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, k) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.encodeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                o[k]!.encode(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends the canonical encoding of this object with `key`'s value
    /// taken as the already-encoded `bytes`, and without the key `omit`:
    /// what `encode(into:)` writes for the same content, without encoding
    /// that value twice. Not an object: the plain encoding.
    public func encode(into out: inout [UInt8], encoded bytes: [UInt8], forKey key: String, omitting omit: String? = nil) {
        guard case .object(let o) = self else { return encode(into: &out) }
        out.append(UInt8(ascii: "{"))
        var first = true
        for k in o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) where k != omit {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            JSON.encodeString(k, into: &out)
            out.append(UInt8(ascii: ":"))
            if k == key { out.append(contentsOf: bytes) } else { o[k]!.encode(into: &out) }
        }
        out.append(UInt8(ascii: "}"))
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func encodeString(_ s: String, into out: inout [UInt8]) {
        var s = s
        s.withUTF8 { encodeString($0, into: &out) }
    }

    static func encodeString(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return out.append(UInt8(ascii: "\"")) }
        // Written through a 4 KiB buffer: runs that need no escape copied at once (found eight bytes at a time),
        // escapes written in place.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 4096) { buffer in
            let buf = buffer.baseAddress!
            var used = 0
            func flush() {
                out.append(contentsOf: UnsafeBufferPointer(start: buf, count: used))
                used = 0
            }
            func copy(_ from: Int, _ count: Int) {
                guard count > 0 else { return }
                if count > 4096 - used {
                    flush()
                    if count > 4096 { return out.append(contentsOf: UnsafeBufferPointer(start: base + from, count: count)) }
                }
                (buf + used).update(from: base + from, count: count)
                used += count
            }
            let raw = UnsafeRawPointer(base)
            let n = bytes.count
            var run = 0
            var i = 0
            while i < n {
                if n - i >= 8 {
                    let w = raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                    let ctrl = (w &- 0x2020_2020_2020_2020) & ~w & 0x8080_8080_8080_8080
                    let q = w ^ 0x2222_2222_2222_2222, bs = w ^ 0x5C5C_5C5C_5C5C_5C5C, del = w ^ 0x7F7F_7F7F_7F7F_7F7F
                    let quote = (q &- 0x0101_0101_0101_0101) & ~q & 0x8080_8080_8080_8080
                    let slash = (bs &- 0x0101_0101_0101_0101) & ~bs & 0x8080_8080_8080_8080
                    let delete = (del &- 0x0101_0101_0101_0101) & ~del & 0x8080_8080_8080_8080
                    let special = ctrl | quote | slash | delete
                    if special == 0 { i += 8; continue }
                    i += special.trailingZeroBitCount >> 3  // the first byte to escape (the lowest flag is exact)
                }
                let b = base[i]
                i += 1
                guard b < 0x20 || b == 0x22 || b == 0x5C || b == 0x7F else { continue }
                copy(run, i - 1 - run)
                run = i
                if 4096 - used < 6 { flush() }
                buf[used] = 0x5C
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): buf[used + 1] = b; used += 2
                case 0x0A: buf[used + 1] = UInt8(ascii: "n"); used += 2
                case 0x0D: buf[used + 1] = UInt8(ascii: "r"); used += 2
                case 0x09: buf[used + 1] = UInt8(ascii: "t"); used += 2
                case 0x08: buf[used + 1] = UInt8(ascii: "b"); used += 2
                case 0x0C: buf[used + 1] = UInt8(ascii: "f"); used += 2
                default:
                    buf[used + 1] = UInt8(ascii: "u"); buf[used + 2] = 0x30; buf[used + 3] = 0x30
                    buf[used + 4] = hex[Int(b >> 4)]; buf[used + 5] = hex[Int(b & 0xF)]
                    used += 6
                }
            }
            copy(run, n - run)
            flush()
        }
        out.append(UInt8(ascii: "\""))
    }

}
