import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// How a TLS client decides to trust the server.
public enum TLSTrust: Sendable, Equatable {
    /// The system's CA store (`bolt+s://`, `neo4j+s://`).
    case system
    /// Only certificates signed by the CA(s) in this PEM file (`--graph-ca FILE`).
    case caFile(String)
    /// Any certificate, self-signed included, unverified (`bolt+ssc://`, `neo4j+ssc://`): encryption without authentication.
    case anyCertificate
}

/// A client certificate and its private key (PEM files), for servers that require mutual TLS.
public struct TLSIdentity: Sendable, Equatable {
    public var certificateFile: String
    public var keyFile: String
    public init(certificateFile: String, keyFile: String) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }
}

/// What the error messages suggest, per client: the CA flag, how to skip verification, the plaintext form.
public struct TLSHints: Sendable {
    public var caFlag: String
    public var insecure: String
    public var plaintext: String
    public var clientCertificate: String
    public init(caFlag: String, insecure: String, plaintext: String, clientCertificate: String) {
        self.caFlag = caFlag
        self.insecure = insecure
        self.plaintext = plaintext
        self.clientCertificate = clientCertificate
    }
    public static let graph = TLSHints(caFlag: "--graph-ca FILE", insecure: "use +ssc:// to accept a self-signed certificate unverified",
                                       plaintext: "use bolt:// or neo4j:// without +s", clientCertificate: "a client certificate")
}

/// Why a TLS connection could not be made or used.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case untrusted, hostname, notTLS, timeout, closed, io, setup, clientCertificate }
    public var kind: Kind
    public var message: String
    public var description: String { message }
}

/// A TLS client session over a connected, blocking socket (its timeouts are
/// the socket's). The handshake verifies the certificate chain (unless
/// `anyCertificate`) and that the certificate names the host (a DNS name or
/// an IP address).
public final class TLSChannel: @unchecked Sendable {
    // @unchecked: one owner drives the session (the socket that made it).
    private let ctx: OpaquePointer
    private let ssl: OpaquePointer
    public let peer: String
    /// The negotiated protocol, e.g. "TLSv1.3".
    public private(set) var version = ""
    private let hints: TLSHints

    /// OpenSSL writes to the socket with write(2): a peer that went away would raise SIGPIPE and kill the
    /// process (plaintext sockets send with MSG_NOSIGNAL). Ignored once, process-wide, before the first session.
    private static let ignoreSIGPIPE: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    public init(fd: Int32, host: String, port: Int, trust: TLSTrust, identity: TLSIdentity? = nil, hints: TLSHints = .graph) throws {
        _ = Self.ignoreSIGPIPE
        peer = "\(host):\(port)"
        self.hints = hints
        guard let c = SSL_CTX_new(TLS_client_method()) else { throw TLSError(kind: .setup, message: "OpenSSL: cannot create a TLS context: \(Self.queue())") }
        ctx = c
        _ = concord_ssl_ctx_min_tls12(ctx)
        // Read ahead: one recv for several records (not two per record: its header, then its body).
        concord_ssl_ctx_read_ahead(ctx)
        switch trust {
        case .system:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            guard SSL_CTX_set_default_verify_paths(ctx) == 1 else {
                SSL_CTX_free(ctx)
                throw TLSError(kind: .setup, message: "cannot load the system's CA certificates: \(Self.queue())")
            }
        case .caFile(let file):
            SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
            guard SSL_CTX_load_verify_locations(ctx, file, nil) == 1 else {
                SSL_CTX_free(ctx)
                throw TLSError(kind: .setup, message: "cannot read CA certificates from \(file): \(Self.queue()) (a PEM file is expected)")
            }
        case .anyCertificate:
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }
        if let identity {
            guard SSL_CTX_use_certificate_chain_file(ctx, identity.certificateFile) == 1 else {
                SSL_CTX_free(ctx)
                throw TLSError(kind: .setup, message: "cannot read the client certificate \(identity.certificateFile): \(Self.queue()) (a PEM file is expected)")
            }
            guard SSL_CTX_use_PrivateKey_file(ctx, identity.keyFile, SSL_FILETYPE_PEM) == 1 else {
                SSL_CTX_free(ctx)
                let why = Self.queue()
                if why.contains("values mismatch") {
                    throw TLSError(kind: .setup, message: "the client key \(identity.keyFile) does not match the certificate \(identity.certificateFile)")
                }
                throw TLSError(kind: .setup, message: "cannot read the client key \(identity.keyFile): \(why) (an unencrypted PEM key is expected)")
            }
            guard SSL_CTX_check_private_key(ctx) == 1 else {
                SSL_CTX_free(ctx)
                throw TLSError(kind: .setup, message: "the client key \(identity.keyFile) does not match the certificate \(identity.certificateFile)")
            }
        }
        guard let s = SSL_new(ctx) else {
            SSL_CTX_free(ctx)
            throw TLSError(kind: .setup, message: "OpenSSL: cannot create a TLS session: \(Self.queue())")
        }
        ssl = s
        SSL_set_fd(ssl, fd)
        if trust != .anyCertificate {
            let param = SSL_get0_param(ssl)
            if Self.isIPAddress(host) {
                X509_VERIFY_PARAM_set1_ip_asc(param, host)
            } else {
                SSL_set1_host(ssl, host)
            }
        }
        if !Self.isIPAddress(host) { _ = concord_ssl_set_sni(ssl, host) }
        ERR_clear_error()
        let rc = SSL_connect(ssl)
        // Every property is set here: a throw runs deinit, which frees the session and the context.
        if rc != 1 { throw handshakeError(rc, trust: trust, host: host) }
        version = String(cString: SSL_get_version(ssl))
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(ctx)
    }

    private func handshakeError(_ rc: Int32, trust: TLSTrust, host: String) -> TLSError {
        let code = SSL_get_error(ssl, rc)
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK {
            let why = String(cString: X509_verify_cert_error_string(verify))
            if verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH {
                return TLSError(kind: .hostname, message: "the TLS certificate of \(peer) is not for \(host) (\(why)); connect by a name the certificate lists")
            }
            let hint = trust == .system ? "pass \(hints.caFlag) with the CA that signed it, or \(hints.insecure)"
                : "it is not signed by the CA in the \(hints.caFlag.split(separator: " ")[0]) file"
            return TLSError(kind: .untrusted, message: "the TLS certificate of \(peer) is not trusted: \(why) (\(hint))")
        }
        let queued = Self.queue()
        if code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE {
            return TLSError(kind: .timeout, message: "no TLS handshake with \(peer): it did not answer in time; is it a plaintext port? then \(hints.plaintext)")
        }
        if let refused = clientCertificateRefusal(queued) { return refused }
        let detail = queued.isEmpty ? "the connection closed" : queued
        return TLSError(kind: .notTLS, message: "no TLS handshake with \(peer) (\(detail)): is it a plaintext port? then \(hints.plaintext)")
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var sent = 0
        while sent < bytes.count {
            ERR_clear_error()
            let n = SSL_write(ssl, bytes.baseAddress! + sent, Int32(min(bytes.count - sent, Int(Int32.max))))
            if n <= 0 {
                let e = ioError(n, "write")
                if e.kind == .io, let refused = clientCertificateRefusal(alertAfterFailedWrite()) { throw refused }
                throw e
            }
            sent += Int(n)
        }
    }

    /// After a failed write, the alert the server sent before it closed (a refused client certificate), if any.
    private func alertAfterFailedWrite() -> String {
        var byte: UInt8 = 0
        ERR_clear_error()
        _ = SSL_read(ssl, &byte, 1)
        return Self.queue()
    }

    /// Reads what is there (at least one byte, without waiting for more once something arrived); 0 when the
    /// server closed the session.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        ERR_clear_error()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if n > 0 {
            // What is left of the record already decrypted, never more: SSL_read on bytes read ahead that hold no
            // application data (a session ticket, a record in part) would block until the server sends again.
            var total = Int(n)
            while total < buffer.count, SSL_pending(ssl) > 0 {
                let more = SSL_read(ssl, buffer.baseAddress! + total, Int32(min(buffer.count - total, Int(Int32.max))))
                if more <= 0 { break }
                total += Int(more)
            }
            return total
        }
        let code = SSL_get_error(ssl, n)
        if code == SSL_ERROR_ZERO_RETURN { return 0 }
        throw ioError(n, "read")
    }

    /// Says goodbye to the session (best effort).
    public func shutdown() { _ = SSL_shutdown(ssl) }

    private func ioError(_ rc: Int32, _ op: String) -> TLSError {
        let code = SSL_get_error(ssl, rc)
        switch code {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: return TLSError(kind: .timeout, message: "\(op) timed out on \(peer)")
        case SSL_ERROR_ZERO_RETURN: return TLSError(kind: .closed, message: "\(peer) closed the TLS session")
        default:
            let q = Self.queue()
            if let refused = clientCertificateRefusal(q) { return refused }
            return TLSError(kind: .io, message: "TLS \(op) failed on \(peer): \(q.isEmpty ? "the connection closed" : q)")
        }
    }

    /// The server's alert when it wanted a client certificate and got none or one it does not trust
    /// (with TLS 1.3 it arrives after the handshake, on the first read).
    private func clientCertificateRefusal(_ queued: String) -> TLSError? {
        if queued.contains("certificate required") {
            return TLSError(kind: .clientCertificate, message: "\(peer) requires a client certificate: pass \(hints.clientCertificate)")
        }
        if queued.contains("unknown ca") || queued.contains("bad certificate") {
            return TLSError(kind: .clientCertificate, message: "\(peer) refused the client certificate (\(queued)): it is not signed by a CA the server trusts")
        }
        return nil
    }

    /// OpenSSL's queued errors as text (and the queue emptied).
    static func queue() -> String {
        var parts: [String] = []
        while case let e = ERR_get_error(), e != 0 {
            var buf = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(e, &buf, buf.count)
            let text = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            // "error:0A00010B:SSL routines::wrong version number" → "wrong version number"
            parts.append(text.split(separator: ":", omittingEmptySubsequences: false).last.map(String.init) ?? text)
        }
        return parts.joined(separator: "; ")
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || (host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil })
    }
}
