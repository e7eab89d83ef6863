import Foundation

/// Certificates made at test time with the `openssl` command: a throwaway CA,
/// a server certificate it signs for 127.0.0.1 and localhost, one it signs
/// for another name only, a client certificate it signs (mutual TLS), and a self-signed one.
public final class TestCertificates {
    public let dir: URL
    /// The name of the server certificate in `dir` ("server"; "redis" for the local services' own).
    public let serverName: String
    private let owned: Bool

    /// The certificates scripts/services.sh made for the test Redis's TLS port (.local/tls: ca.pem signs redis.pem).
    public static var local: TestCertificates { TestCertificates(existing: TestStores.repositoryRoot.appendingPathComponent(".local/tls"), serverName: "redis") }

    private init(existing: URL, serverName: String) {
        dir = existing
        self.serverName = serverName
        owned = false
    }
    public var ca: String { dir.appendingPathComponent("ca.pem").path }
    public func cert(_ name: String) -> (cert: String, key: String) {
        (dir.appendingPathComponent("\(name).pem").path, dir.appendingPathComponent("\(name).key").path)
    }

    public init() throws {
        serverName = "server"
        owned = true
        dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("certs"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let openssl = "/usr/bin/openssl"
        func run(_ args: [String]) throws {
            let r = try TestStores.run(openssl, args, directory: dir)
            guard r.status == 0 else { throw NSError(domain: "TestCertificates", code: 1, userInfo: [NSLocalizedDescriptionKey: "openssl \(args.joined(separator: " ")): \(r.stderr)"]) }
        }
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Concord Test CA"])
        for (name, san) in [("server", "IP:127.0.0.1,DNS:localhost"), ("elsewhere", "DNS:other.example"), ("client", "DNS:concord-client")] {
            try run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
            try Data("subjectAltName=\(san)\n".utf8).write(to: dir.appendingPathComponent("\(name).ext"))
            try run(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "\(name).pem",
                     "-days", "2", "-extfile", "\(name).ext"])
        }
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "selfsigned.key", "-out", "selfsigned.pem", "-days", "2",
                 "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
    }

    deinit { if owned { try? FileManager.default.removeItem(at: dir) } }
}

