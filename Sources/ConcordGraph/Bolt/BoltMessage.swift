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
