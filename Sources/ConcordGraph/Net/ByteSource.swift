import ConcordCore
import ConcordNet

/// Where a wire protocol's bytes come from: a socket, or (for tests and
/// fuzzing) bytes in memory. The protocol readers (RESP, Bolt framing) read
/// through it, so the same code meets the network and hostile input.
protocol ByteSource: AnyObject {
    /// Exactly `count` bytes.
    func read(_ count: Int) throws -> ArraySlice<UInt8>
    /// Up to the next CRLF, without it.
    func readLine() throws -> ArraySlice<UInt8>
}

extension TCPSocket: ByteSource {}

/// Bytes in memory as a source; running out is a protocol violation ("ends early").
public final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var position = 0
    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isAtEnd: Bool { position >= bytes.count }

    func read(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - position else { throw Self.early(position) }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    func readLine() throws -> ArraySlice<UInt8> {
        guard let end = crlf(in: bytes, from: position) else { throw Self.early(position) }
        defer { position = end + 2 }
        return bytes[position..<end]
    }

    static func early(_ at: Int) -> ConcordError {
        ConcordError(.protocolViolation, "the data ends early (at byte \(at))", store: "graph")
    }
}
