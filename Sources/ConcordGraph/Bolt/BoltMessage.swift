import ConcordCore

/// Bolt message tags and the framing that carries them.
enum BoltMessage {
    static let hello: UInt8 = 0x01
    static let goodbye: UInt8 = 0x02
    static let reset: UInt8 = 0x0F
    static let run: UInt8 = 0x10
    static let begin: UInt8 = 0x11
    static let commit: UInt8 = 0x12
    static let rollback: UInt8 = 0x13
    static let discard: UInt8 = 0x2F
    static let pull: UInt8 = 0x3F
    static let logon: UInt8 = 0x6A
    static let route: UInt8 = 0x66
    static let success: UInt8 = 0x70
    static let record: UInt8 = 0x71
    static let ignored: UInt8 = 0x7E
    static let failure: UInt8 = 0x7F

    static let maxChunk = 0xFFFF

    /// Frames one message: chunks of at most 65,535 bytes, then a 0x0000 end marker.
    static func frame(_ message: PackStreamValue) throws -> [UInt8] {
        var writer = PackStreamWriter()
        try writer.write(message)
        let body = writer.bytes
        var out: [UInt8] = []
        out.reserveCapacity(body.count + 2 * (body.count / maxChunk + 2))
        var start = 0
        while start < body.count {
            let n = min(maxChunk, body.count - start)
            out.append(UInt8(n >> 8))
            out.append(UInt8(n & 0xFF))
            out.append(contentsOf: body[start..<(start + n)])
            start += n
        }
        out += [0, 0]
        return out
    }

    /// The largest message this client takes (a server's record rarely comes near it).
    static let maxMessage = 256 << 20

    /// Reads one whole message — its chunks up to the 0x0000 end marker —
    /// skipping NOOP keep-alives; more than `maxMessage` bytes is refused.
    static func readMessage(from source: some ByteSource, maxBytes: Int = maxMessage) throws -> [UInt8] {
        var body: [UInt8] = []
        while true {
            let header = try source.read(2)
            let size = Int(header[header.startIndex]) << 8 | Int(header[header.startIndex + 1])
            if size == 0 {
                if body.isEmpty { continue }  // NOOP keep-alive
                return body
            }
            guard body.count + size <= maxBytes else {
                throw ConcordError(.protocolViolation, "a Bolt message longer than \(maxBytes) bytes", store: "graph")
            }
            body.append(contentsOf: try source.read(size))
        }
    }

    /// A server response from a message's bytes.
    static func response(_ body: [UInt8]) throws -> BoltResponse {
        var reader = PackStreamReader(body)
        guard case .structure(let tag, let fields) = try reader.read() else {
            throw ConcordError(.protocolViolation, "unexpected Bolt response: not a structure", store: "graph")
        }
        switch tag {
        case success: return .success(fields.first ?? .map([]))
        case record: return .record(fields.first?.list ?? [])
        case ignored: return .ignored
        case failure: return .failure(BoltFailure(fields.first ?? .map([])))
        default: throw ConcordError(.protocolViolation, "unknown Bolt response 0x\(String(tag, radix: 16))", store: "graph")
        }
    }

    /// The map of extra fields with the given entries, nil values left out.
    static func map(_ entries: [(String, PackStreamValue?)]) -> PackStreamValue {
        .map(entries.compactMap { k, v in v.map { PackStreamEntry(k, $0) } })
    }
}

/// A server response.
enum BoltResponse {
    case success(PackStreamValue)
    case record([PackStreamValue])
    case ignored
    case failure(BoltFailure)
}

/// A FAILURE's metadata, in either shape: `code`/`message` (up to 5.6) or
/// `neo4j_code`/`gql_status`/`description` (5.7 and later).
struct BoltFailure {
    var code: String
    var message: String
    var gqlStatus: String?

    init(_ meta: PackStreamValue) {
        code = meta["code"]?.string ?? meta["neo4j_code"]?.string ?? "Neo.DatabaseError.General.UnknownError"
        message = meta["message"]?.string ?? meta["description"]?.string ?? "unknown error"
        gqlStatus = meta["gql_status"]?.string
    }

    func error(query: String?) -> ConcordError {
        let isAuth = code.hasPrefix("Neo.ClientError.Security.")
        var context: [String: String] = [:]
        if let gqlStatus { context["gqlStatus"] = gqlStatus }
        return ConcordError(isAuth ? .authentication : .server, "Neo4j error: \(message)", store: "graph",
                            serverCode: code, query: query, context: context)
    }
}

/// The client's reading of Bolt from the wire, for tests and fuzzing: the
/// same framing and decoding `BoltConnection` uses, over bytes in memory.
public enum BoltWire {
    /// The responses in a stream of framed messages, each described; throws on the first broken one.
    public static func responses(in bytes: [UInt8], maxMessage: Int = 256 << 20) throws -> [String] {
        let source = MemorySource(bytes)
        var out: [String] = []
        while !source.isAtEnd { out.append("\(try BoltMessage.response(try BoltMessage.readMessage(from: source, maxBytes: maxMessage)))") }
        return out
    }

    /// The message bodies (chunks joined) in a stream of framed messages.
    public static func messages(in bytes: [UInt8], maxMessage: Int = 256 << 20) throws -> [[UInt8]] {
        let source = MemorySource(bytes)
        var out: [[UInt8]] = []
        while !source.isAtEnd { out.append(try BoltMessage.readMessage(from: source, maxBytes: maxMessage)) }
        return out
    }
}
