import CJansson
import ConcordCore

/// A 64-bit digest of a JSON value's content (FNV-1a over a typed walk, object
/// keys in byte order): equal for values that are equal as JSON whatever their
/// formatting or key order, `1` and `1.0` alike. For comparing, not security.
public struct JSONDigest {
    var fnv = FNV1a()
    var h: UInt64 { fnv.value }

    @inline(__always) mutating func byte(_ b: UInt8) { fnv.add(b) }
    @inline(__always) mutating func word(_ w: UInt64) { for i in 0..<8 { byte(UInt8(truncatingIfNeeded: w >> (8 * UInt64(i)))) } }
    mutating func bytes(_ p: UnsafeBufferPointer<UInt8>) {
        word(UInt64(p.count))
        for b in p { byte(b) }
    }
    mutating func double(_ d: Double) {
        if d.rounded() == d, abs(d) < 9.2e18 { byte(3); word(UInt64(bitPattern: Int64(d))) } else { byte(4); word(d.bitPattern) }
    }
}

extension JSON {
    /// The content digest of this value.
    public var digest: UInt64 {
        var d = JSONDigest()
        digest(into: &d)
        return d.h
    }

    func digest(into d: inout JSONDigest) {
        switch self {
        case .null: d.byte(0)
        case .bool(let b): d.byte(b ? 2 : 1)
        case .int(let i): d.byte(3); d.word(UInt64(bitPattern: i))
        case .double(let x): d.double(x)
        case .string(var s): d.byte(5); s.withUTF8 { d.bytes($0) }
        case .array(let a):
            d.byte(6); d.word(UInt64(a.count))
            for v in a { v.digest(into: &d) }
        case .object(let o):
            d.byte(7); d.word(UInt64(o.count))
            for k in o.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                var key = k
                key.withUTF8 { d.bytes($0) }
                o[k]!.digest(into: &d)
            }
        }
    }

    /// The content digest of JSON text, computed on one scan of it without
    /// building values (`JSONTape`); nil when the text is not JSON. `tape` is
    /// scratch space a caller may reuse between calls.
    public static func digest(ofText text: String, tape: inout JSONTape) -> UInt64? {
        var t = text
        return t.withUTF8 { buf in
            guard tape.scan(UnsafeRawBufferPointer(buf)) else { return nil }
            return tape.digest(at: 0)
        }
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
            var d = JSONDigest()
            digest(root, into: &d)
            return d.h
        }
    }

    private static func digest(_ node: UnsafeMutablePointer<json_t>, into d: inout JSONDigest) {
        switch json_type(rawValue: UInt32(concord_json_type(node))) {
        case JSON_OBJECT:
            d.byte(7); d.word(UInt64(json_object_size(node)))
            var entries: [(key: UnsafeBufferPointer<UInt8>, value: UnsafeMutablePointer<json_t>)] = []
            var iter = json_object_iter(node)
            while let it = iter {
                let length = json_object_iter_key_len(it)
                let key = UnsafeRawPointer(json_object_iter_key(it)!).assumingMemoryBound(to: UInt8.self)
                entries.append((UnsafeBufferPointer(start: key, count: length), json_object_iter_value(it)!))
                iter = json_object_iter_next(node, it)
            }
            entries.sort { $0.key.lexicographicallyPrecedes($1.key) }
            for e in entries { d.bytes(e.key); digest(e.value, into: &d) }
        case JSON_ARRAY:
            let n = json_array_size(node)
            d.byte(6); d.word(UInt64(n))
            for i in 0..<n { digest(json_array_get(node, i)!, into: &d) }
        case JSON_STRING:
            d.byte(5)
            let length = json_string_length(node)
            if let p = json_string_value(node) {
                d.bytes(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: length))
            } else {
                d.word(0)
            }
        case JSON_INTEGER: d.byte(3); d.word(UInt64(bitPattern: Int64(json_integer_value(node))))
        case JSON_REAL: d.double(json_real_value(node))
        case JSON_TRUE: d.byte(2)
        case JSON_FALSE: d.byte(1)
        default: d.byte(0)
        }
    }
}
