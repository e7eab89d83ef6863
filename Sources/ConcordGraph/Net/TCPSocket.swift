import ConcordCore
import ConcordCrypto
import Foundation

/// A blocking TCP socket with connect and I/O timeouts and a read buffer,
/// shared by the Bolt client and the FalkorDB RESP connection.
final class TCPSocket {
    private var fd: Int32 = -1
    /// The TLS session over the socket, once `startTLS` made one.
    private(set) var tls: TLSChannel?
    private var buffer: [UInt8] = []
    private var readIndex = 0
    let host: String
    let port: Int

    init(host: String, port: Int, connectTimeout: Double, ioTimeout: Double) throws {
        self.host = host
        self.port = port
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else {
            throw ConcordError(.connection, "cannot resolve \(host): \(String(cString: gai_strerror(rc)))", store: "graph")
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
            var tv = timeval(tv_sec: Int(ioTimeout), tv_usec: Int((ioTimeout - Double(Int(ioTimeout))) * 1e6))
            setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            fd = s
            break
        }
        guard fd >= 0 else {
            throw ConcordError(.connection, "cannot connect to \(host):\(port): \(lastError). Is the server running?", store: "graph")
        }
        buffer.reserveCapacity(1 << 16)
    }

    deinit { close() }

    var isOpen: Bool { fd >= 0 }

    func close() {
        tls?.shutdown()
        tls = nil
        if fd >= 0 { Glibc.close(fd); fd = -1 }
    }

    /// Runs the TLS handshake on the connected socket; every byte after it is encrypted.
    /// `serverName`: the name the certificate must carry (the URL's host as written).
    func startTLS(trust: TLSTrust, serverName: String) throws {
        guard fd >= 0 else { throw closedError() }
        do {
            tls = try TLSChannel(fd: fd, host: serverName, port: port, trust: trust)
        } catch let e as TLSError {
            close()
            throw ConcordError(.connection, e.message, store: "graph", context: ["tls": "\(e.kind)"])
        }
    }

    func write(_ bytes: [UInt8]) throws {
        guard fd >= 0 else { throw closedError() }
        if let tls {
            do { try bytes.withUnsafeBytes { try tls.write($0) } } catch let e as TLSError { throw tlsError(e) }
            return
        }
        var sent = 0
        try bytes.withUnsafeBytes { raw in
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ioError("write", errno)
                }
                sent += n
            }
        }
    }

    /// Reads exactly `count` bytes.
    func read(_ count: Int) throws -> ArraySlice<UInt8> {
        while buffer.count - readIndex < count { try fill() }
        defer { readIndex += count }
        return buffer[readIndex..<(readIndex + count)]
    }

    /// Reads up to the next CRLF and returns the line without it.
    func readLine() throws -> ArraySlice<UInt8> {
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
                throw ConcordError(.connection, "\(host):\(port) closed the connection", store: "graph")
            }
            return
        }
        let n = buffer.withUnsafeMutableBytes { raw in recv(fd, raw.baseAddress! + old, 1 << 16, 0) }
        if n <= 0 {
            buffer.removeSubrange(old...)
            if n < 0 && errno == EINTR { return }
            let e = errno
            close()
            if n == 0 { throw ConcordError(.connection, "\(host):\(port) closed the connection", store: "graph") }
            throw ioError("read", e)
        }
        buffer.removeSubrange((old + n)...)
    }

    private func ioError(_ op: String, _ code: Int32) -> ConcordError {
        close()
        if code == EAGAIN || code == EWOULDBLOCK {
            return ConcordError(.connection, "\(op) timed out on \(host):\(port)", store: "graph")
        }
        return ConcordError(.connection, "\(op) failed on \(host):\(port): \(String(cString: strerror(code)))", store: "graph")
    }

    private func tlsError(_ e: TLSError) -> ConcordError {
        close()
        return ConcordError(.connection, e.message, store: "graph")
    }

    private func closedError() -> ConcordError {
        ConcordError(.connection, "the connection to \(host):\(port) is closed", store: "graph")
    }
}
