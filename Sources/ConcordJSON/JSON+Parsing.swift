import CJansson
import ConcordCore

extension JSON {
    /// Parses JSON text with jansson.
    ///
    /// Any value is accepted at the top level, and strings may contain NUL
    /// (`\u0000`). On malformed input the error carries the line and column.
    public static func parse(_ text: String) throws -> JSON {
        var t = text
        return try t.withUTF8 { try parse(UnsafeRawBufferPointer($0)) }
    }

    /// Parses JSON from raw UTF-8 bytes.
    public static func parse(_ bytes: [UInt8]) throws -> JSON {
        try bytes.withUnsafeBytes { try parse($0) }
    }

    /// Parses JSON from a buffer of UTF-8 bytes without copying it.
    public static func parse(_ buffer: UnsafeRawBufferPointer) throws -> JSON {
        var error = json_error_t()
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: CChar.self) else {
            throw ConcordError(.invalidInput, "malformed JSON at line 1, column 0: empty input",
                               context: ["line": "1", "column": "0"])
        }
        guard let root = json_loadb(base, buffer.count, concord_decode_flags(), &error) else {
            let message = withUnsafeBytes(of: &error.text) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            throw ConcordError(
                .invalidInput, "malformed JSON at line \(error.line), column \(error.column): \(message)",
                context: ["line": String(error.line), "column": String(error.column)]
            )
        }
        defer { concord_json_decref(root) }
        return convert(root)
    }

    /// Checks that `buffer` holds valid JSON without building a Swift value
    /// (jansson's parse alone: the floor the benchmark compares `parse` to).
    public static func validate(_ buffer: UnsafeRawBufferPointer) -> Bool {
        var error = json_error_t()
        guard let base = buffer.baseAddress?.assumingMemoryBound(to: CChar.self),
            let root = json_loadb(base, buffer.count, concord_decode_flags(), &error)
        else { return false }
        concord_json_decref(root)
        return true
    }

    private static func convert(_ node: UnsafeMutablePointer<json_t>) -> JSON {
        switch json_type(rawValue: UInt32(concord_json_type(node))) {
        case JSON_OBJECT:
            var object: [String: JSON] = [:]
            object.reserveCapacity(json_object_size(node))
            var iter = json_object_iter(node)
            while let it = iter {
                let keyPtr = json_object_iter_key(it)!
                let keyLength = json_object_iter_key_len(it)
                let key = keyPtr.withMemoryRebound(to: UInt8.self, capacity: keyLength) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: keyLength), as: UTF8.self)
                }
                object[key] = convert(json_object_iter_value(it)!)
                iter = json_object_iter_next(node, it)
            }
            return .object(object)
        case JSON_ARRAY:
            let n = json_array_size(node)
            var array: [JSON] = []
            array.reserveCapacity(n)
            for i in 0..<n { array.append(convert(json_array_get(node, i)!)) }
            return .array(array)
        case JSON_STRING:
            let length = json_string_length(node)
            guard let ptr = json_string_value(node) else { return .string("") }
            return .string(ptr.withMemoryRebound(to: UInt8.self, capacity: length) {
                String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
            })
        case JSON_INTEGER: return .int(Int64(json_integer_value(node)))
        case JSON_REAL: return .double(json_real_value(node))
        case JSON_TRUE: return .bool(true)
        case JSON_FALSE: return .bool(false)
        default: return .null
        }
    }
}
