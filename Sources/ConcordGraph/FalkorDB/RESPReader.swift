import ConcordCore
import ConcordNet
import ConcordRedis

/// Parses one RESP2 reply from a byte source, with bounds a hostile or
/// broken server cannot push past: a bulk string at most 512 MiB (Redis's
/// own `proto-max-bulk-len`), an array at most 2^24 elements (nothing is
/// reserved ahead of the elements that actually arrive), nesting at most 256.
public enum RESPReader {
    public static let maxBulk = 512 << 20
    public static let maxElements = 1 << 24
    public static let maxDepth = 256

    /// One reply from `bytes`; throws if they hold less (or a broken reply).
    public static func parse(_ bytes: [UInt8]) throws -> (reply: RedisReply, complete: Bool) {
        let source = MemorySource(bytes)
        let reply = try read(from: source)
        return (reply, source.isAtEnd)
    }

    static func read(from s: some ByteSource, depth: Int = 0) throws -> RedisReply {
        let line = try s.readLine()
        guard let kind = line.first else { throw violation("an empty line where a reply starts") }
        let rest = line.dropFirst()
        func number() throws -> Int {
            guard rest.count <= 20, let n = Int(String(decoding: rest, as: UTF8.self)) else {
                throw violation("'\(String(decoding: rest.prefix(40), as: UTF8.self))' is not a length")
            }
            return n
        }
        switch kind {
        case UInt8(ascii: "+"): return .status(String(decoding: rest, as: UTF8.self))
        case UInt8(ascii: "-"): return .error(String(decoding: rest, as: UTF8.self))
        case UInt8(ascii: ":"):
            guard let n = Int64(String(decoding: rest, as: UTF8.self)) else { throw violation("'\(String(decoding: rest.prefix(40), as: UTF8.self))' is not an integer") }
            return .integer(n)
        case UInt8(ascii: "$"):
            let n = try number()
            if n == -1 { return .null }
            guard n >= 0, n <= maxBulk else { throw violation("a bulk string of \(n) bytes (more than \(maxBulk))") }
            let body = try s.read(n + 2)
            guard body[body.startIndex + n] == 0x0D, body[body.startIndex + n + 1] == 0x0A else { throw violation("a bulk string not ended by CRLF") }
            return .bulk(Array(body.prefix(n)))
        case UInt8(ascii: "*"):
            let n = try number()
            if n == -1 { return .null }
            guard n >= 0, n <= maxElements else { throw violation("an array of \(n) elements (more than \(maxElements))") }
            guard depth < maxDepth else { throw violation("replies nested deeper than \(maxDepth)") }
            var items: [RedisReply] = []
            items.reserveCapacity(min(n, 1024))
            for _ in 0..<n { items.append(try read(from: s, depth: depth + 1)) }
            return .array(items)
        default:
            throw violation("unknown reply type byte 0x\(String(kind, radix: 16))")
        }
    }

    static func violation(_ what: String) -> ConcordError {
        ConcordError(.protocolViolation, "unexpected RESP data: \(what)", store: "graph")
    }
}
