import COpenSSL

/// An RSA private key that signs with RSASSA-PKCS1-v1_5 over SHA-256
/// (JWS "RS256"): the GitHub App's JSON Web Tokens. The key is read from PEM
/// (PKCS#1 "BEGIN RSA PRIVATE KEY", as GitHub hands it out, or PKCS#8).
public final class RSASigner: @unchecked Sendable {
    // @unchecked: the EVP_PKEY is only read after init (EVP_DigestSign on a fresh context per call).
    private let key: OpaquePointer

    public struct KeyError: Error, CustomStringConvertible {
        public var description: String
    }

    public init(pem: String) throws {
        let bio = pem.withCString { BIO_new_mem_buf($0, Int32(strlen($0))) }
        guard let bio else { throw KeyError(description: "cannot read the key") }
        defer { BIO_free(bio) }
        guard let k = PEM_read_bio_PrivateKey(bio, nil, nil, nil) else {
            ERR_clear_error()
            throw KeyError(description: "not a PEM private key (expected '-----BEGIN RSA PRIVATE KEY-----' or '-----BEGIN PRIVATE KEY-----')")
        }
        guard EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA else {
            EVP_PKEY_free(k)
            throw KeyError(description: "the private key is not an RSA key (a GitHub App's key is RSA)")
        }
        key = k
    }

    deinit { EVP_PKEY_free(key) }

    /// The RS256 signature of `data`.
    public func sign(_ data: [UInt8]) throws -> [UInt8] {
        guard let ctx = EVP_MD_CTX_new() else { throw KeyError(description: "out of memory") }
        defer { EVP_MD_CTX_free(ctx) }
        guard EVP_DigestSignInit(ctx, nil, EVP_sha256(), nil, key) == 1 else { throw lastError("sign init") }
        var length = 0
        guard data.withUnsafeBufferPointer({ EVP_DigestSign(ctx, nil, &length, $0.baseAddress, $0.count) }) == 1 else { throw lastError("sign") }
        var signature = [UInt8](repeating: 0, count: length)
        guard data.withUnsafeBufferPointer({ d in
            signature.withUnsafeMutableBufferPointer { EVP_DigestSign(ctx, $0.baseAddress, &length, d.baseAddress, d.count) }
        }) == 1 else { throw lastError("sign") }
        return Array(signature.prefix(length))
    }

    private func lastError(_ what: String) -> KeyError {
        let code = ERR_get_error()
        ERR_clear_error()
        return KeyError(description: "\(what) failed (OpenSSL error \(code))")
    }
}
