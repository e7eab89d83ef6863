import ConcordCore

/// Writes rows for `COPY … FROM STDIN` in PostgreSQL's text format, buffered.
public struct PostgresCopyWriter {
    let connection: PostgresConnection
    private var buffer: [UInt8] = []
    private let flushSize = 256 * 1024

    init(connection: PostgresConnection) {
        self.connection = connection
        buffer.reserveCapacity(flushSize + 4096)
    }

    /// Appends one row; nil is SQL NULL. Values are escaped for the text format.
    public mutating func writeRow(_ values: [String?]) throws {
        for (i, v) in values.enumerated() {
            if i > 0 { buffer.append(0x09) }
            guard let v else { buffer.append(contentsOf: [0x5C, UInt8(ascii: "N")]); continue }
            for b in v.utf8 {
                switch b {
                case 0x5C: buffer.append(contentsOf: [0x5C, 0x5C])
                case 0x09: buffer.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                case 0x0A: buffer.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: buffer.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x00:
                    throw ConcordError(.invalidInput, "COPY value in column \(i + 1) contains a NUL byte, which PostgreSQL text cannot store",
                                       store: "postgres")
                default: buffer.append(b)
                }
            }
        }
        buffer.append(0x0A)
        if buffer.count >= flushSize { try flush() }
    }

    mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try connection.putCopyData($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}
