import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

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
