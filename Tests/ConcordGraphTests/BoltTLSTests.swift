import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// Certificates made at test time with the `openssl` command: a throwaway CA,
/// a server certificate it signs for 127.0.0.1 and localhost, one it signs
/// for another name only, and a self-signed one.
final class TestCertificates {
    let dir: URL
    var ca: String { dir.appendingPathComponent("ca.pem").path }
    func cert(_ name: String) -> (cert: String, key: String) {
        (dir.appendingPathComponent("\(name).pem").path, dir.appendingPathComponent("\(name).key").path)
    }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("certs"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let openssl = "/usr/bin/openssl"
        func run(_ args: [String]) throws {
            let r = try TestStores.run(openssl, args, directory: dir)
            guard r.status == 0 else { throw ConcordError(.usage, "openssl \(args.joined(separator: " ")): \(r.stderr)") }
        }
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Concord Test CA"])
        for (name, san) in [("server", "IP:127.0.0.1,DNS:localhost"), ("elsewhere", "DNS:other.example")] {
            try run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
            try Data("subjectAltName=\(san)\n".utf8).write(to: dir.appendingPathComponent("\(name).ext"))
            try run(["x509", "-req", "-in", "\(name).csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "\(name).pem",
                     "-days", "2", "-extfile", "\(name).ext"])
        }
        try run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "selfsigned.key", "-out", "selfsigned.pem", "-days", "2",
                 "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
    }

    deinit { try? FileManager.default.removeItem(at: dir) }
}

/// `bolt+s://` (verified against the system's CAs or `--graph-ca`) and
/// `bolt+ssc://` (any certificate) against a scripted Bolt peer behind TLS —
/// the official driver completes the conversation over TLS first — and a clear
/// error for an untrusted certificate, a certificate for another host, and a
/// server that does not speak TLS.
@Suite(.serialized) struct BoltTLSTests {
    static let client = BoltConversationTests.client

    func expectError(_ url: String, caFile: String? = nil, peerTLS: (cert: String, key: String)?, contains parts: [String]) throws {
        let peer = try BoltPeer(script: "handshake", tls: peerTLS)
        defer { _ = peer.finish() }
        do {
            let store = try BoltStore(url: url.replacingOccurrences(of: "PORT", with: "\(peer.port)"), connectTimeout: 5, ioTimeout: 10, caFile: caFile)
            store.close()
            Issue.record("\(url) connected; expected an error with \(parts)")
        } catch let e as ConcordError {
            #expect(e.code == .connection, "\(e)")
            for p in parts { #expect(e.message.contains(p), "\(e.message) lacks \(p)") }
        }
        peer.process.terminate()
    }

    @Test func verifiedAgainstTheTestCA() throws {
        let certs = try TestCertificates()
        // The official driver, verifying against the same CA, completes the script over TLS.
        let official = try BoltPeer(script: "handshake", tls: certs.cert("server"))
        let run = try TestStores.run(TestStores.python, [Self.client, "handshake", "bolt://127.0.0.1:\(official.port)", "neo4j", "secret"],
                                     environment: ["BOLT_CA": certs.ca])
        #expect(official.finish() == nil && run.status == 0, "official driver over TLS: \(run.stderr)")
        // The Swift client, by IP address and by name (SNI and the name checked).
        for host in ["127.0.0.1", "localhost"] {
            let peer = try BoltPeer(script: "handshake", tls: certs.cert("server"))
            let store = try BoltStore(url: "bolt+s://neo4j:secret@\(host):\(peer.port)", ioTimeout: 20, caFile: certs.ca)
            #expect(store.tlsVersion?.hasPrefix("TLSv1.") == true)
            let rows = try store.run("RETURN 1 AS x").records
            #expect(rows.first?[0].intValue == 1)
            store.close()
            #expect(peer.finish() == nil, "bolt+s://\(host)")
        }
    }

    @Test func selfSignedIsAcceptedOnlyBySsc() throws {
        let certs = try TestCertificates()
        let peer = try BoltPeer(script: "handshake", tls: certs.cert("selfsigned"))
        let store = try BoltStore(url: "bolt+ssc://neo4j:secret@127.0.0.1:\(peer.port)", ioTimeout: 20)
        #expect(try store.run("RETURN 1 AS x").records.first?[0].intValue == 1)
        store.close()
        #expect(peer.finish() == nil)
        // Verified, against the system's CAs: refused, saying why and what to do.
        try expectError("bolt+s://neo4j:secret@127.0.0.1:PORT", peerTLS: certs.cert("selfsigned"),
                        contains: ["TLS certificate of 127.0.0.1", "not trusted", "self-signed", "--graph-ca"])
        // Against a CA that did not sign it: refused too.
        try expectError("neo4j+s://neo4j:secret@127.0.0.1:PORT", caFile: certs.ca, peerTLS: certs.cert("selfsigned"),
                        contains: ["not trusted", "not signed by the CA"])
    }

    @Test func aCertificateForAnotherHostIsRefused() throws {
        let certs = try TestCertificates()
        try expectError("bolt+s://neo4j:secret@127.0.0.1:PORT", caFile: certs.ca, peerTLS: certs.cert("elsewhere"),
                        contains: ["is not for 127.0.0.1", "mismatch"])
        try expectError("bolt+s://neo4j:secret@localhost:PORT", caFile: certs.ca, peerTLS: certs.cert("elsewhere"),
                        contains: ["is not for localhost", "mismatch"])
    }

    @Test func aPlaintextServerIsNamedAsSuch() throws {
        try expectError("bolt+s://neo4j:secret@127.0.0.1:PORT", peerTLS: nil, contains: ["no TLS handshake with 127.0.0.1", "plaintext port"])
        // And a CA file for a plaintext URL is a usage error, not silently ignored.
        #expect(throws: ConcordError.self) { try BoltStore(url: "bolt://127.0.0.1:1", caFile: "/tmp/ca.pem") }
    }
}
