import Foundation

/// A redis-server of a test's own (Debian's, built with TLS) on random loopback
/// ports: plaintext, TLS-only, with ACL users, a replica, or a sentinel.
public final class PrivateRedis {
    public let server: PrivateServer
    public let dir: String
    public let tls: Bool

    /// `tls`: the certificates to serve (`serverCert` of them) with `--port 0` unless `plaintextToo`;
    /// `authClients`: `no`, `optional` or `yes` (mutual TLS); `extra`: more redis-server arguments.
    public init(tls certificates: TestCertificates? = nil, serverCert: String = "server", authClients: String = "no", plaintextToo: Bool = false,
                sentinel: Bool = false, extra: [String] = [], ready: ((Int) -> Bool)? = nil) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("redis")).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        self.dir = dir
        tls = certificates != nil
        let ranges: [Range<Int>] = certificates != nil && plaintextToo ? [30_000..<32_000, 30_000..<32_000] : [30_000..<32_000]
        server = try PrivateServer(executable: "/usr/bin/redis-server", portRanges: ranges, arguments: { ports in
            var args: [String] = []
            if sentinel {
                // A sentinel needs a config file it can rewrite.
                let conf = dir + "/sentinel-\(ports[0]).conf"
                if !FileManager.default.fileExists(atPath: conf) { FileManager.default.createFile(atPath: conf, contents: Data()) }
                args = [conf, "--sentinel"]
            }
            args += ["--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"]
            if let c = certificates {
                let (cert, key) = c.cert(serverCert)
                args += ["--port", plaintextToo ? String(ports[1]) : "0", "--tls-port", String(ports[0]), "--tls-cert-file", cert, "--tls-key-file", key,
                         "--tls-ca-cert-file", c.ca, "--tls-auth-clients", authClients, "--tls-replication", "yes"]
            } else {
                args += ["--port", String(ports[0])]
            }
            return args + extra
        }, ready: { ports in ready?(ports[0]) ?? PrivateServer.listening(ports[0]) })
    }

    /// The TLS port with TLS, else the plaintext port.
    public var port: Int { server.ports[0] }
    /// The plaintext port beside the TLS one (`plaintextToo`).
    public var plaintextPort: Int? { server.ports.count > 1 ? server.ports[1] : nil }
    public func url(_ db: Int = 0, host: String = "127.0.0.1", user: String? = nil, password: String? = nil) -> String {
        let auth = password.map { "\(user ?? ""):\($0)@" } ?? ""
        return "\(tls ? "rediss" : "redis")://\(auth)\(host):\(port)/\(db)"
    }

    public func start() throws { try server.start() }
    /// SIGKILL: an outage, not a shutdown.
    public func kill() { server.stop() }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
