
/// SHA-256 (FIPS 180-4), streaming: snapshot and archive checksums, plan
/// checksums, rule digests, run buckets. Computed by OpenSSL's libcrypto
/// (`ConcordCrypto`); a value type whose copies hash independently.
public struct SHA256: Sendable {
    private var context = SHA256Context()

    public init() {}

    private mutating func unique() {
        if !isKnownUniquelyReferenced(&context) { context = context.copy() }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        unique()
        context.update(bytes)
    }

    public mutating func update(_ text: String) {
        var t = text
        t.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes the hash and returns the 32-byte digest.
    public mutating func finalize() -> [UInt8] {
        unique()
        return context.finalize()
    }

    /// Finishes the hash and returns it as lowercase hex.
    public mutating func hexDigest() -> String { Self.hexString(finalize()) }

    /// The digest of `text`'s UTF-8 bytes in one call.
    public static func digest(_ text: String) -> [UInt8] {
        var t = text
        return t.withUTF8 { SHA256Context.digest(UnsafeRawBufferPointer($0)) }
    }

    /// The hex digest of `text`'s UTF-8 bytes.
    public static func hex(_ text: String) -> String { hexString(digest(text)) }

    /// The hex digest of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String { hexString(bytes.withUnsafeBytes { SHA256Context.digest($0) }) }

    static func hexString(_ d: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(d.count * 2)
        for b in d { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
