import ConcordJSON
import NIOCore

/// One Server-Sent Events message, encoded once and written to every client
/// that receives it.
///
/// `id:` is where a client resumes (the stream entry id, or `graph:<event id>`
/// for history only the graph still holds), `event:` the event's `type`,
/// `data:` the event JSON as the producer stored it. Text that would break the
/// framing can't: line breaks inside the JSON become one `data:` line each
/// (a client joins them with "\n", which JSON reads as whitespace), and an
/// `id` or `type` holding CR, LF or NUL is sent with those replaced by spaces.
public enum SSEMessage {
    public static let graphIdPrefix = "graph:"
    /// The `event:` of a stream entry that is not a JSON object (its `data:` is the stored text).
    public static let malformedType = "malformed"

    /// The message for one event.
    public static func event(id: String, json: [UInt8]) -> ByteBuffer {
        var out: [UInt8] = []
        out.reserveCapacity(json.count + 64)
        out.append(contentsOf: "id: ".utf8)
        appendField(sanitized(Array(id.utf8)), to: &out)
        out.append(0x0A)
        if let type = eventType(of: json) {
            if !type.isEmpty {
                out.append(contentsOf: "event: ".utf8)
                appendField(sanitized(type), to: &out)
                out.append(0x0A)
            }
        } else {
            out.append(contentsOf: "event: \(malformedType)\n".utf8)
        }
        appendData(json, to: &out)
        out.append(0x0A)
        return ByteBuffer(bytes: out)
    }

    /// A comment line (heartbeats, notices); clients ignore it.
    public static func comment(_ text: String) -> ByteBuffer {
        var out: [UInt8] = Array(": ".utf8)
        appendField(sanitized(Array(text.utf8)), to: &out)
        out.append(contentsOf: [0x0A, 0x0A])
        return ByteBuffer(bytes: out)
    }

    /// A named message without an id (`reset`, `end`): it does not move the client's resume point.
    public static func notice(event: String, data: String) -> ByteBuffer {
        var out: [UInt8] = Array("event: ".utf8)
        appendField(sanitized(Array(event.utf8)), to: &out)
        out.append(0x0A)
        appendData(Array(data.utf8), to: &out)
        out.append(0x0A)
        return ByteBuffer(bytes: out)
    }

    /// The event's `type` as SSE's event name: the type string when the text is a JSON object
    /// ("" when it has none or it is not a string); nil when the text is not a JSON object.
    /// (The whole text is validated, exactly as `JSON.parse` would; only `type` is built.)
    static func eventType(of json: [UInt8]) -> [UInt8]? {
        var tape = JSONTape()
        let parsed = json.withUnsafeBytes { JSON.parse($0, projection: typeOnly, tape: &tape) }
        guard case .object(let members)? = parsed else { return nil }
        guard case .string(let type)? = members["type"] else { return [] }
        return Array(type.utf8)
    }

    private static let typeOnly = JSONProjection.members(["type": .whole])

    private static func sanitized(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { $0 == 0x0A || $0 == 0x0D || $0 == 0 ? 0x20 : $0 }
    }

    private static func appendField(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.append(contentsOf: bytes)
    }

    /// `data:` lines: one per line of `text` (CRLF, CR and LF all end a line, as SSE reads them).
    static func appendData(_ text: [UInt8], to out: inout [UInt8]) {
        var start = 0
        var i = 0
        func line(_ end: Int) {
            out.append(contentsOf: "data: ".utf8)
            out.append(contentsOf: text[start..<end])
            out.append(0x0A)
        }
        while i < text.count {
            let b = text[i]
            if b == 0x0A || b == 0x0D {
                line(i)
                if b == 0x0D, i + 1 < text.count, text[i + 1] == 0x0A { i += 1 }
                start = i + 1
            }
            i += 1
        }
        line(text.count)
    }
}
