/// One RESP2 reply, with every type hiredis can return.
public enum RedisReply: Sendable, Hashable {
    case null
    case integer(Int64)
    /// A bulk string: binary-safe bytes.
    case bulk([UInt8])
    /// A status reply such as `OK` or `QUEUED`.
    case status(String)
    /// An error reply; `message` starts with its prefix (`ERR`, `WRONGTYPE`…).
    case error(String)
    case array([RedisReply])
}

extension RedisReply {
    /// The reply as text: bulk (decoded as UTF-8) or status.
    public var string: String? {
        switch self {
        case .bulk(let b): return String(decoding: b, as: UTF8.self)
        case .status(let s): return s
        default: return nil
        }
    }

    /// The bytes of a bulk reply.
    public var bytes: [UInt8]? { if case .bulk(let b) = self { return b }; return nil }

    /// An integer reply, or a bulk string that holds an integer.
    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .bulk(let b): return Int64(String(decoding: b, as: UTF8.self))
        default: return nil
        }
    }

    public var array: [RedisReply]? { if case .array(let a) = self { return a }; return nil }
    public var isNull: Bool { if case .null = self { return true }; return false }
    public var errorMessage: String? { if case .error(let e) = self { return e }; return nil }
}

/// A value that can be a command argument: converted to bytes, binary-safe.
public protocol RedisArgument: Sendable {
    func appendRedisBytes(to buffer: inout [UInt8])
}

extension String: RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}
extension Substring: RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: utf8) }
}
extension Array: RedisArgument where Element == UInt8 {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: self) }
}
extension Int: RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: String(self).utf8) }
}
extension Int64: RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: String(self).utf8) }
}
extension Double: RedisArgument {
    public func appendRedisBytes(to buffer: inout [UInt8]) { buffer.append(contentsOf: String(self).utf8) }
}
