import ConcordCore
import ConcordGraph
import ConcordTestSupport
import Foundation
import Testing

/// `falkordbs://`: FalkorDB's RESP over TLS. FalkorDB's bundled server is built without TLS, so the TLS is
/// terminated in front of the real FalkorDB (as managed services do): the handshake, the verification and
/// every reply still cross a real TLS session.
@Suite struct FalkorDBTLSTests {
    @Test func queriesOverTLSAndClearRefusals() throws {
        let certs = try TestCertificates()
        let (cert, key) = certs.cert("server")
        let falkorPort = URL(string: TestStores.falkorURL.replacingOccurrences(of: "falkordb://", with: "http://"))?.port ?? 56380
        let proxy = try TestStores.startServer(TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordGraphTests/Python/tls_proxy.py").path,
                                               [cert, key, String(falkorPort)])
        defer { proxy.process.terminate() }
        let name = TestStores.unique("tlsgraph")
        let graph = try Graph.connect(url: "falkordbs://127.0.0.1:\(proxy.port)/\(name)", caFile: certs.ca)
        defer { _ = try? (graph as? FalkorDBStore)?.command(["GRAPH.DELETE", name]) }
        #expect(graph.displayURL.hasPrefix("falkordbs://"))
        let text = String(repeating: "é😀\"'\\ ", count: 20_000)
        _ = try graph.run("CREATE (:N {id: 1, t: $t})", parameters: ["t": .string(text)], readOnly: false)
        let back = try graph.run("MATCH (n:N {id: 1}) RETURN n.t", parameters: [:], readOnly: true)
        #expect(back.records.first?[0] == .string(text))

        func refusal(_ url: String, _ ca: String?) -> String {
            do { _ = try Graph.connect(url: url, connectTimeout: 1, caFile: ca); return "connected" } catch { return "\(error)" }
        }
        let untrusted = refusal("falkordbs://127.0.0.1:\(proxy.port)/\(name)", nil)
        #expect(untrusted.contains("not trusted") && untrusted.contains("--graph-ca"), "\(untrusted)")
        let plaintext = refusal("falkordbs://127.0.0.1:\(falkorPort)/\(name)", certs.ca)
        #expect(plaintext.contains("plaintext port") && plaintext.contains("falkordb://"), "\(plaintext)")
        let caWithoutTLS = refusal("falkordb://127.0.0.1:\(falkorPort)/\(name)", certs.ca)
        #expect(caWithoutTLS.contains("use falkordbs://"), "\(caWithoutTLS)")
    }
}
