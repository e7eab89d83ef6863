import ConcordCore
import ConcordCrypto
import Foundation

/// A blocking TCP socket with connect and I/O timeouts, a read buffer and an
/// optional TLS session: the transport of the Bolt client, the FalkorDB RESP
/// connection and Redis over TLS (`rediss://`). Errors name `store`.
public final class TCPSocket {
    private var fd: Int32 = -1
    /// The TLS session over the socket, once `startTLS` made one.
    public private(set) var tls: TLSChannel?
    private var buffer: [UInt8] = []
    private var readIndex = 0
    public let host: String
    public let port: Int
    /// The store the errors name ("graph", "redis").
    public let store: String
    private let connectTimeout: Double
    private let ioTimeout: Double

    public init(host: String, port: Int, connectTimeout: Double, ioTimeout: Double, store: String = "graph") throws {
        self.host = host
        self.port = port
        self.store = store
        self.connectTimeout = connectTimeout
        self.ioTimeout = ioTimeout
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ConcordError(.connection, "cannot resolve \(host): \(String(cString: gai_strerror(rc)))", store: store)
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let ai = cursor {
            cursor = ai.pointee.ai_next
            let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
            if s < 0 { lastError = String(cString: strerror(errno)); continue }
            // Non-blocking connect bounded by poll, then back to blocking I/O.
            let flags = fcntl(s, F_GETFL, 0)
            _ = fcntl(s, F_SETFL, flags | O_NONBLOCK)
            var ok = Glibc.connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0
            if !ok && errno == EINPROGRESS {
                var pfd = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&pfd, 1, Int32(connectTimeout * 1000))
                if ready == 1 {
                    var err: Int32 = 0
                    var len = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len)
                    ok = err == 0
                    if !ok { lastError = String(cString: strerror(err)) }
                } else {
                    lastError = ready == 0 ? "timed out after \(connectTimeout)s" : String(cString: strerror(errno))
                }
            } else if !ok {
                lastError = String(cString: strerror(errno))
            }
            if !ok { Glibc.close(s); continue }
            _ = fcntl(s, F_SETFL, flags)
            var one: Int32 = 1
            setsockopt(s, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            fd = s
            setTimeouts(ioTimeout)
            break
        }
        guard fd >= 0 else {
            throw ConcordError(.connection, "cannot connect to \(host):\(port): \(lastError). Is the server running?", store: store)
        }
        buffer.reserveCapacity(1 << 16)
    }

    deinit { close() }

    private func setTimeouts(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    public var isOpen: Bool { fd >= 0 }

    public func close() {
        tls?.shutdown()
        tls = nil
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// Runs the TLS handshake on the connected socket; every byte after it is encrypted.
    /// `serverName`: the name the certificate must carry (the URL's host as written);
    /// `identity`: the client certificate for mutual TLS; `hints`: the flags the messages suggest.
    public func startTLS(trust: TLSTrust, serverName: String, identity: TLSIdentity? = nil, hints: TLSHints = .graph) throws {
        guard fd >= 0 else { throw closedError() }
        // The handshake is bounded by the connect timeout (a plaintext server may never answer a ClientHello).
        setTimeouts(connectTimeout)
        defer { if fd >= 0 { setTimeouts(ioTimeout) } }
        do {
            tls = try TLSChannel(fd: fd, host: serverName, port: port, trust: trust, identity: identity, hints: hints)
        } catch let e as TLSError {
            close()
            throw ConcordError(.connection, e.message, store: store, context: ["tls": "\(e.kind)"])
        }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Writes all of `bytes` (the caller's buffer, no copy).
    public func write(_ raw: UnsafeRawBufferPointer) throws {
        guard fd >= 0 else { throw closedError() }
        if let tls {
            do { try tls.write(raw) } catch let e as TLSError { throw tlsError(e) }
            return
        }
        var sent = 0
        while sent < raw.count {
            let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw ioError("write", errno)
            }
            sent += n
        }
    }

    /// Reads what has arrived (at least one byte) into `buffer`, bypassing the line buffer
    /// (for a caller with its own parser). A closed connection is an error.
    public func receive(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard fd >= 0 else { throw closedError() }
        if let tls {
            let n: Int
            do { n = try tls.read(into: buffer) } catch let e as TLSError { throw tlsError(e) }
            if n == 0 {
                close()
                throw ConcordError(.connection, "\(host):\(port) closed the connection", store: store)
            }
            return n
        }
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return n }
            if n < 0 && errno == EINTR { continue }
            let e = errno
            close()
            if n == 0 { throw ConcordError(.connection, "\(host):\(port) closed the connection", store: store) }
            throw ioError("read", e)
        }
    }

    /// Reads exactly `count` bytes.
    public func read(_ count: Int) throws -> ArraySlice<UInt8> {
        while buffer.count - readIndex < count { try fill() }
        defer { readIndex += count }
        return buffer[readIndex..<(readIndex + count)]
    }

    /// Reads up to the next CRLF and returns the line without it.
    public func readLine() throws -> ArraySlice<UInt8> {
        var scanFrom = readIndex
        while true {
            if let end = crlf(in: buffer, from: scanFrom) {
                defer { readIndex = end + 2 }
                return buffer[readIndex..<end]
            }
            // Keep the scan where it was (less the CR that may start a CRLF split across reads).
            let consumed = max(0, buffer.count - 1) - readIndex
            try fill()
            scanFrom = readIndex + max(0, consumed)
        }
    }

    private func fill() throws {
        guard fd >= 0 else { throw closedError() }
        if readIndex > 0 {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: 1 << 16))
        if let tls {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { raw in try tls.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[old...])) }
            } catch let e as TLSError {
                buffer.removeSubrange(old...)
                throw tlsError(e)
            }
            buffer.removeSubrange((old + n)...)
            if n == 0 {
                close()
                throw ConcordError(.connection, "\(host):\(port) closed the connection", store: store)
            }
            return
        }
        let n = buffer.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress! + old, 1 << 16, 0) }
        if n <= 0 {
            buffer.removeSubrange(old...)
            if n < 0 && errno == EINTR { return }
            let e = errno
            close()
            if n == 0 { throw ConcordError(.connection, "\(host):\(port) closed the connection", store: store) }
            throw ioError("read", e)
        }
        buffer.removeSubrange((old + n)...)
    }

    private func ioError(_ op: String, _ code: Int32) -> ConcordError {
        close()
        if code == EAGAIN || code == EWOULDBLOCK {
            return ConcordError(.connection, "\(op) timed out on \(host):\(port)", store: store)
        }
        return ConcordError(.connection, "\(op) failed on \(host):\(port): \(String(cString: strerror(code)))", store: store)
    }

    private func tlsError(_ e: TLSError) -> ConcordError {
        close()
        return ConcordError(.connection, e.message, store: store)
    }

    private func closedError() -> ConcordError {
        ConcordError(.connection, "the connection to \(host):\(port) is closed", store: store)
    }
}

/// The index of the next CRLF in `bytes` at or after `from`, or nil.
public func crlf(in bytes: [UInt8], from: Int) -> Int? {
    var i = from
    while i + 1 < bytes.count {
        if bytes[i] == 0x0D && bytes[i + 1] == 0x0A { return i }
        i += 1
    }
    return nil
}
