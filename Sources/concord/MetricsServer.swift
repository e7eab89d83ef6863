import Foundation

/// Serves Prometheus text on 127.0.0.1:PORT (any path), one request at a time,
/// on a thread of its own.
final class MetricsServer: @unchecked Sendable {
    // @unchecked: `fd` is set once in init and only read afterwards.
    private let fd: Int32
    let port: Int

    init(port: Int, render: @escaping @Sendable () -> String) throws {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw POSIXError(.EIO) }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(s, 16) == 0 else {
            close(s)
            throw NSError(domain: "concord", code: 2, userInfo: [NSLocalizedDescriptionKey: "cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))"])
        }
        fd = s
        self.port = port
        let listener = s
        Thread.detachNewThread {
            while true {
                let c = accept(listener, nil, nil)
                if c < 0 { if errno == EINTR { continue }; return }
                var buf = [UInt8](repeating: 0, count: 4096)
                _ = recv(c, &buf, buf.count, 0)
                let body = Array(render().utf8)
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
                let out = Array(head.utf8) + body
                _ = out.withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                close(c)
            }
        }
    }
}
