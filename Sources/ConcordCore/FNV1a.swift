/// FNV-1a, 64-bit: a fast, stable hash for partitioning and comparing (not for security).
public struct FNV1a: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325

    public init() {}

    @inline(__always) public mutating func add(_ byte: UInt8) { value = (value ^ UInt64(byte)) &* 0x100_0000_01b3 }

    public mutating func add<S: Sequence>(_ bytes: S) where S.Element == UInt8 { for b in bytes { add(b) } }

    /// The hash of a string's UTF-8 bytes.
    public static func hash(_ s: String) -> UInt64 {
        var h = FNV1a()
        h.add(s.utf8)
        return h.value
    }
}
