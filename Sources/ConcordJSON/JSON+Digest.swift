import CJansson
import ConcordCore

/// A 64-bit digest of a JSON value's content: equal for values that are
/// equal as JSON whatever their formatting or key order, `1` and `1.0`
/// alike. For comparing, not security.
///
/// Computed bottom-up: a scalar hashes its type and value, an array its
/// elements' digests in order, an object the sum of its members' hashes (a
/// member: its key's bytes and its value's digest), so key order needs no
/// sorting and a parser can digest a document in the pass that reads it.
/// Words are mixed eight bytes at a time (rotate, xor, one multiply by an
/// odd constant), with murmur's finalizer at the end of each value. Digests
/// are compared within one process; none is stored.
public struct JSONDigest {
    var state: UInt64 = 0xcbf2_9ce4_8422_2325
    var h: UInt64 {
        var z = state
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }

    @inline(__always) mutating func word(_ w: UInt64) {
        state = ((state << 23 | state >> 41) ^ w) &* 0x9FB2_1C65_1E98_DF25
    }
    @inline(__always) mutating func byte(_ b: UInt8) { word(UInt64(b) | 0x100) }
    mutating func bytes(_ p: UnsafeBufferPointer<UInt8>) {
        word(UInt64(p.count))
        guard let base = p.baseAddress else { return }
        let raw = UnsafeRawPointer(base)
        var i = 0
        while p.count - i >= 8 {
            word(raw.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i += 8
        }
        if i < p.count {
            var tail: UInt64 = 0
            for k in i..<p.count { tail |= UInt64(base[k]) << (8 * UInt64(k - i)) }
            word(tail)
        }
    }
    mutating func double(_ d: Double) {
        if d.rounded() == d, abs(d) < 9.2e18 { byte(3); word(UInt64(bitPattern: Int64(d))) } else { byte(4); word(d.bitPattern) }
    }

    // The digests of the kinds of value, each from a fresh state.
    static let null: UInt64 = { var d = JSONDigest(); d.byte(0); return d.h }()
    static let falseValue: UInt64 = { var d = JSONDigest(); d.byte(1); return d.h }()
    static let trueValue: UInt64 = { var d = JSONDigest(); d.byte(2); return d.h }()
    @inline(__always) static func int(_ i: Int64) -> UInt64 { var d = JSONDigest(); d.byte(3); d.word(UInt64(bitPattern: i)); return d.h }
    @inline(__always) static func double(_ x: Double) -> UInt64 { var d = JSONDigest(); d.double(x); return d.h }
    @inline(__always) static func string(_ p: UnsafeBufferPointer<UInt8>) -> UInt64 { var d = JSONDigest(); d.byte(5); d.bytes(p); return d.h }
    /// An object member's share of its object's sum.
    @inline(__always) static func member(_ key: UnsafeBufferPointer<UInt8>, _ value: UInt64) -> UInt64 {
        var d = JSONDigest(); d.bytes(key); d.word(value); return d.h
    }
    @inline(__always) static func object(count: Int, sum: UInt64) -> UInt64 {
        var d = JSONDigest(); d.byte(7); d.word(UInt64(count)); d.word(sum); return d.h
    }
    /// An array: start with `arrayStart()`, `word` each element's digest, end with `arrayEnd(count:)`.
    @inline(__always) static func arrayStart() -> JSONDigest { var d = JSONDigest(); d.byte(6); return d }
    @inline(__always) mutating func arrayEnd(count: Int) -> UInt64 { word(UInt64(count)); return h }
}

extension JSON {
    /// The content digest of this value.
    public var digest: UInt64 {
        switch self {
        case .null: return JSONDigest.null
        case .bool(let b): return b ? JSONDigest.trueValue : JSONDigest.falseValue
        case .int(let i): return JSONDigest.int(i)
        case .double(let x): return JSONDigest.double(x)
        case .string(var s): return s.withUTF8 { JSONDigest.string($0) }
        case .array(let a):
            var d = JSONDigest.arrayStart()
            for v in a { d.word(v.digest) }
            return d.arrayEnd(count: a.count)
        case .object(let o):
            var sum: UInt64 = 0
            for (k, v) in o {
                var key = k
                sum &+= key.withUTF8 { JSONDigest.member($0, v.digest) }
            }
            return JSONDigest.object(count: o.count, sum: sum)
        }
    }

    /// The content digest of JSON text, computed on one scan of it without
    /// building values (`JSONTape`); nil when the text is not JSON. `tape` is
    /// scratch space a caller may reuse between calls.
    public static func digest(ofText text: String, tape: inout JSONTape) -> UInt64? {
        var t = text
        return t.withUTF8 { tape.digest(of: UnsafeRawBufferPointer($0)) }
    }

    public static func digest(ofText text: String) -> UInt64? {
        var tape = JSONTape()
        return digest(ofText: text, tape: &tape)
    }

    /// The same digest computed on jansson's parse: the reference the tape is tested against.
    public static func janssonDigest(ofText text: String) -> UInt64? {
        var t = text
        return t.withUTF8 { buf -> UInt64? in
            var error = json_error_t()
            guard let base = UnsafeRawPointer(buf.baseAddress)?.assumingMemoryBound(to: CChar.self),
                let root = json_loadb(base, buf.count, concord_decode_flags(), &error)
            else { return nil }
            defer { concord_json_decref(root) }
            return digest(root)
        }
    }

    private static func digest(_ node: UnsafeMutablePointer<json_t>) -> UInt64 {
        switch json_type(rawValue: UInt32(concord_json_type(node))) {
        case JSON_OBJECT:
            var sum: UInt64 = 0
            var iter = json_object_iter(node)
            while let it = iter {
                let key = UnsafeRawPointer(json_object_iter_key(it)!).assumingMemoryBound(to: UInt8.self)
                sum &+= JSONDigest.member(UnsafeBufferPointer(start: key, count: json_object_iter_key_len(it)), digest(json_object_iter_value(it)!))
                iter = json_object_iter_next(node, it)
            }
            return JSONDigest.object(count: json_object_size(node), sum: sum)
        case JSON_ARRAY:
            let n = json_array_size(node)
            var d = JSONDigest.arrayStart()
            for i in 0..<n { d.word(digest(json_array_get(node, i)!)) }
            return d.arrayEnd(count: n)
        case JSON_STRING:
            let length = json_string_length(node)
            guard let p = json_string_value(node) else { return JSONDigest.string(UnsafeBufferPointer(start: nil, count: 0)) }
            return JSONDigest.string(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: length))
        case JSON_INTEGER: return JSONDigest.int(Int64(json_integer_value(node)))
        case JSON_REAL: return JSONDigest.double(json_real_value(node))
        case JSON_TRUE: return JSONDigest.trueValue
        case JSON_FALSE: return JSONDigest.falseValue
        default: return JSONDigest.null
        }
    }
}
