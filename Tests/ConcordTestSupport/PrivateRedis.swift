import Foundation

/// A redis-server of a test's own (Debian's, built with TLS) on random loopback
/// ports: plaintext, TLS-only, with ACL users, a replica, or a sentinel.
public final class PrivateRedis {
    public let server: PrivateServer
    public let dir: String
    public let tls: Bool

    /// `tls`: the certificates to serve (`serverCert` of them) with `--port 0` unless `plaintextToo`;
    /// `authClients`: `no`, `optional` or `yes` (mutual TLS); `extra`: more redis-server arguments.
    public init(tls certificates: TestCertificates? = nil, serverCert: String? = nil, authClients: String = "no", plaintextToo: Bool = false,
                sentinel: [String]? = nil, extra: [String] = [], ready: ((Int) -> Bool)? = nil) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("redis")).path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        self.dir = dir
        tls = certificates != nil
        let ranges: [Range<Int>] = certificates != nil && plaintextToo ? [30_000..<32_000, 30_000..<32_000] : [30_000..<32_000]
        server = try PrivateServer(executable: "/usr/bin/redis-server", portRanges: ranges, arguments: { ports in
            var args: [String] = []
            if let lines = sentinel {
                // A sentinel needs a config file it can rewrite; its lines are written once (it keeps what it learns).
                let conf = dir + "/sentinel-\(ports[0]).conf"
                if !FileManager.default.fileExists(atPath: conf) {
                    FileManager.default.createFile(atPath: conf, contents: Data(lines.map { $0 + "\n" }.joined().utf8))
                }
                args = [conf, "--sentinel", "--bind", "127.0.0.1", "--dir", dir]
            } else {
                args = ["--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"]
            }
            if let c = certificates {
                let (cert, key) = c.cert(serverCert ?? c.serverName)
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
    /// SIGSTOP / SIGCONT: a server that stalls (a replica falling behind).
    public func pause() { if let pid = server.pid { Glibc.kill(pid, SIGSTOP) } }
    public func resume() { if let pid = server.pid { Glibc.kill(pid, SIGCONT) } }

    deinit {
        server.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// A primary, one replica and three sentinels on loopback (down after 1 s), as production runs Redis:
/// `url` is the `redis+sentinel://` (or `rediss+sentinel://`) URL that names them.
public final class SentinelTopology {
    public let master = "concord"
    public private(set) var nodes: [PrivateRedis] = []
    public private(set) var sentinels: [PrivateRedis] = []
    private let certificates: TestCertificates?

    public init(tls certificates: TestCertificates? = nil) throws {
        self.certificates = certificates
        let primary = try PrivateRedis(tls: certificates)
        let replica = try PrivateRedis(tls: certificates, extra: ["--replicaof", "127.0.0.1", String(primary.port)])
        nodes = [primary, replica]
        try waitFor(60, "the replica to catch up") { self.info(replica, "replication").contains("master_link_status:up") }
        for _ in 0..<3 {
            sentinels.append(try PrivateRedis(tls: certificates, sentinel: [
                "sentinel monitor \(master) 127.0.0.1 \(primary.port) 2",
                "sentinel down-after-milliseconds \(master) 1000",
                "sentinel failover-timeout \(master) 5000",
                "sentinel parallel-syncs \(master) 1",
            ]))
        }
        try waitFor(60, "the sentinels to see the replica and each other") {
            self.sentinels.allSatisfy { s in
                let r = self.cli(s, ["SENTINEL", "master", self.master])
                return r.contains("num-slaves\n1") && r.contains("num-other-sentinels\n2")
            }
        }
    }

    public var url: String {
        "\(certificates == nil ? "redis" : "rediss")+sentinel://" + sentinels.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") + "/\(master)/0"
    }

    /// The node the sentinels name as primary now.
    public func primary() -> PrivateRedis? {
        for s in sentinels {
            let lines = cli(s, ["SENTINEL", "get-master-addr-by-name", master]).split(separator: "\n")
            if lines.count == 2, let port = Int(lines[1]) { return nodes.first { $0.port == port } }
        }
        return nil
    }

    /// Kills the primary (SIGKILL) and waits until the sentinels name another node whose role is master.
    /// `replicaBehind`: the replica's link is cut and it is stalled (SIGSTOP) for that many seconds first, so the writes of that
    /// moment are acknowledged by the primary and never replicated — what asynchronous replication loses.
    /// Returns the seconds from the kill to the new primary, and the old primary (down).
    @discardableResult
    public func killPrimary(replicaBehind: Double = 0, timeout: Double = 60) throws -> (seconds: Double, old: PrivateRedis) {
        guard let old = primary() else { throw Self.error("no primary to kill") }
        let replicas = nodes.filter { $0 !== old }
        if replicaBehind > 0 {
            // Stall the replica and cut its link from the primary's side, so it cannot reconnect: the primary goes on alone.
            replicas.forEach { $0.pause() }
            _ = cli(old, ["CLIENT", "KILL", "TYPE", "replica"])
            Thread.sleep(forTimeInterval: replicaBehind)
        }
        let start = Date()
        old.kill()
        replicas.forEach { $0.resume() }
        try waitFor(timeout, "a new primary") {
            guard let p = self.primary(), p !== old else { return false }
            return self.cli(p, ["ROLE"]).hasPrefix("master")
        }
        return (Date().timeIntervalSince(start), old)
    }

    /// Starts a killed node again (empty: no persistence) and waits until the sentinels made it a replica that caught up.
    public func rejoin(_ node: PrivateRedis, timeout: Double = 90) throws {
        try node.start()
        do {
            try waitFor(timeout, "the old primary to rejoin as a replica") {
                let replication = self.info(node, "replication")
                return replication.contains("role:slave") && replication.contains("master_link_status:up")
            }
        } catch {
            // What the node and the sentinels say, so that a timeout on a loaded machine can be told from a fault.
            let said = self.info(node, "replication").split(separator: "\n").filter { $0.hasPrefix("role") || $0.hasPrefix("master_") }
            let sentinels = sentinels.map { s in
                let tilt = self.info(s, "sentinel").split(separator: "\n").first { $0.hasPrefix("sentinel_tilt") } ?? "?"
                let flags = self.cli(s, ["SENTINEL", "replicas", self.master]).split(separator: "\n").map(String.init)
                let nodeFlags = zip(flags, flags.dropFirst()).filter { $0.0 == "flags" }.map(\.1)
                return "\(tilt), replica flags \(nodeFlags)"
            }
            throw Self.error("\(error.localizedDescription): the node says \(said); the sentinels: \(sentinels.joined(separator: "; "))")
        }
    }

    public func cli(_ node: PrivateRedis, _ args: [String]) -> String {
        var base = ["-h", "127.0.0.1", "-p", String(node.port)]
        if let c = certificates { base += ["--tls", "--cacert", c.ca] }
        return (try? String(decoding: TestStores.run("/usr/bin/redis-cli", base + args).stdout, as: UTF8.self)) ?? ""
    }

    func info(_ node: PrivateRedis, _ section: String) -> String { cli(node, ["INFO", section]).replacingOccurrences(of: "\r", with: "") }

    func waitFor(_ seconds: Double, _ what: String, _ condition: () -> Bool) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return }
            Thread.sleep(forTimeInterval: 0.1)
        }
        throw Self.error("timed out after \(Int(seconds)) s waiting for \(what)")
    }

    static func error(_ message: String) -> NSError { NSError(domain: "SentinelTopology", code: 1, userInfo: [NSLocalizedDescriptionKey: message]) }
}
