import COpenSSL

/// A running SHA-256 in OpenSSL's libcrypto (SHA-NI where the CPU has it:
/// well over 1 GB/s). The one module that imports OpenSSL; everything else
/// hashes through `ConcordCore.SHA256`, which is built on this.
public final class SHA256Context: @unchecked Sendable {
    // @unchecked: a context belongs to one owner (ConcordCore.SHA256 copies it before sharing).
    private let ctx: OpaquePointer

    public init() {
        guard let c = EVP_MD_CTX_new() else { fatalError("OpenSSL: out of memory for a digest context") }
        ctx = c
        guard EVP_DigestInit_ex(ctx, EVP_sha256(), nil) == 1 else { fatalError("OpenSSL: SHA-256 is not available") }
    }

    private init(copying other: SHA256Context) {
        guard let c = EVP_MD_CTX_new(), EVP_MD_CTX_copy_ex(c, other.ctx) == 1 else { fatalError("OpenSSL: cannot copy a digest context") }
        ctx = c
    }

    deinit { EVP_MD_CTX_free(ctx) }

    /// An independent context in the same state.
    public func copy() -> SHA256Context { SHA256Context(copying: self) }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(ctx, base, bytes.count)
    }

    /// The 32-byte digest; the context starts over afterwards.
    public func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var n: UInt32 = 0
        out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(ctx, $0.baseAddress, &n) }
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
        return out
    }

    /// The digest of `bytes` in one call (no context kept).
    public static func digest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var n: UInt32 = 0
        out.withUnsafeMutableBufferPointer { o in
            _ = EVP_Digest(bytes.baseAddress ?? UnsafeRawPointer(o.baseAddress!), bytes.count, o.baseAddress, &n, EVP_sha256(), nil)
        }
        return out
    }
}
