import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// `neo4j://` routing against a cluster of Bolt gateways over one FalkorDB
/// graph: the cluster file says who the writer is (the others refuse writes
/// with NotALeader, before running them), and a test can move the writer or
/// kill a member.
@Suite(.serialized) struct BoltRoutingTests {
    final class Cluster {
        let graph = TestStores.unique("routing")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("cluster") + ".json")
        var members: [BoltGateway] = []
        let resp: FalkorDBStore

        init(_ n: Int, ttl: Int = 300, tls: (cert: String, key: String)? = nil) throws {
            resp = try FalkorDBStore(url: TestStores.falkorURL + "/" + graph)
            try resp.run("RETURN 1")
            try Data("{}".utf8).write(to: file)
            for _ in 0..<n { members.append(try BoltGateway(graph: graph, tls: tls, cluster: file.path)) }
            try setWriter(0, ttl: ttl)
        }

        func setWriter(_ i: Int, ttl: Int = 300) throws {
            let doc: JSON = ["writer": .string(members[i].address), "members": .array(members.map { .string($0.address) }), "ttl": .int(Int64(ttl))]
            try Data(doc.encoded().utf8).write(to: file, options: .atomic)
        }

        deinit {
            for m in members { m.stop() }
            _ = try? resp.command(["GRAPH.DELETE", graph])
            try? FileManager.default.removeItem(at: file)
        }
    }

    func count(_ c: Cluster, _ label: String) throws -> Int64 {
        try c.resp.run("MATCH (n:\(label)) RETURN count(n)").records.first?[0].intValue ?? -1
    }

    @Test func readsGoToReadersAndWritesToTheWriter() throws {
        let c = try Cluster(3)
        // Asked through a member that is not the writer.
        let store = try BoltStore(url: "neo4j://neo4j:pw@\(c.members[1].address)", ioTimeout: 20)
        defer { store.close() }
        let table = try #require(store.routingTable)
        #expect(table.writers == [c.members[0].address])
        #expect(Set(table.readers) == Set(c.members.map(\.address)))
        try store.run("CREATE (:Routed {i: 1})")
        #expect(store.lastServer == c.members[0].address)
        #expect(store.bookmark?.hasPrefix("FB:") == true)
        var readers = Set<String>()
        for _ in 0..<6 {
            #expect(try store.run("MATCH (n:Routed) RETURN count(n)", readOnly: true).records.first?[0].intValue == 1)
            readers.insert(store.lastServer)
        }
        #expect(readers.count > 1, "reads spread over the readers: \(readers)")
        try store.transaction(readOnly: false) { tx in try tx.run("CREATE (:Routed {i: 2})", parameters: [:]) }
        #expect(store.lastServer == c.members[0].address)
        #expect(try count(c, "Routed") == 2)
    }

    @Test func aRouterAndAReaderThatDieAreSurvived() throws {
        let c = try Cluster(3, ttl: 1)
        let store = try BoltStore(url: "neo4j://neo4j:pw@\(c.members[1].address)", ioTimeout: 20)
        defer { store.close() }
        try store.run("CREATE (:Survive {i: 1})")
        // The router the URL names dies; the table expires; every read still answers, from the living.
        c.members[1].stop()
        Thread.sleep(forTimeInterval: 1.2)
        for _ in 0..<6 {
            #expect(try store.run("MATCH (n:Survive) RETURN count(n)", readOnly: true).records.first?[0].intValue == 1)
            #expect(store.lastServer != c.members[1].address)
        }
        #expect(store.routingTable?.routers.contains(c.members[1].address) != true)
        try store.run("CREATE (:Survive {i: 2})")
        #expect(try count(c, "Survive") == 2)
    }

    @Test func aReplacedWriterIsFollowedWithoutWritingTwice() throws {
        let c = try Cluster(3)
        let store = try BoltStore(url: "neo4j://neo4j:pw@\(c.members[0].address)", ioTimeout: 20)
        defer { store.close() }
        try store.run("CREATE (:Moved {i: 1})")
        #expect(store.lastServer == c.members[0].address)
        // The cluster elects another writer; the client's table still names the old one (TTL 300 s).
        try c.setWriter(2)
        try store.run("CREATE (:Moved {i: 2})")
        #expect(store.lastServer == c.members[2].address)
        #expect(store.routingTable?.writers == [c.members[2].address])
        // A transaction that meets NotALeader is run again, whole, on the new writer.
        try c.setWriter(1)
        try store.transaction(readOnly: false) { tx in
            try tx.run("CREATE (:Moved {i: 3})", parameters: [:])
            try tx.run("CREATE (:Moved {i: 4})", parameters: [:])
        }
        #expect(store.lastServer == c.members[1].address)
        #expect(try c.resp.run("MATCH (n:Moved) RETURN n.i ORDER BY n.i").records.compactMap { $0[0].intValue } == [1, 2, 3, 4])
        // The official driver follows the same cluster through the same members.
        let run = try TestStores.run(TestStores.python, [BoltConversationTests.client, "handshake", "neo4j://\(c.members[0].address)", "neo4j", "pw"])
        #expect(run.status == 0, "\(run.stderr)")
    }

    @Test func aClusterWithNoRouterLeftIsAClearError() throws {
        let c = try Cluster(2)
        let url = "neo4j://neo4j:pw@\(c.members[1].address)"
        let store = try BoltStore(url: url, ioTimeout: 20)
        defer { store.close() }
        for m in c.members { m.stop() }
        Thread.sleep(forTimeInterval: 0.2)
        do {
            try store.run("MATCH (n) RETURN count(n)", readOnly: true)
            Issue.record("a read with every member gone succeeded")
        } catch let e as ConcordError {
            #expect(e.code == .connection && e.message.contains("no router of neo4j://neo4j:***@") && e.message.contains("answered with a routing table"), "\(e.message)")
        }
        #expect(throws: ConcordError.self) { try BoltStore(url: url, connectTimeout: 2) }
    }

    @Test func routingOverTLS() throws {
        let certs = try TestCertificates()
        let c = try Cluster(2, tls: certs.cert("server"))
        let store = try BoltStore(url: "neo4j+s://neo4j:pw@\(c.members[1].address)", ioTimeout: 20, caFile: certs.ca)
        defer { store.close() }
        try store.run("CREATE (:Secure {i: 1})")
        #expect(store.lastServer == c.members[0].address && store.tlsVersion?.hasPrefix("TLSv1.") == true)
        #expect(try store.run("MATCH (n:Secure) RETURN count(n)", readOnly: true).records.first?[0].intValue == 1)
        // concord doctor says how the graph is reached: encrypted, and who writes, reads and routes.
        let concord = TestStores.concord
        let doctor = try TestStores.run(concord, ["doctor", "--postgres", TestStores.postgresURL, "--redis", TestStores.redisURL,
                                                  "--graph", "neo4j+s://neo4j:pw@\(c.members[1].address)", "--graph-ca", certs.ca])
        let text = String(decoding: doctor.stdout, as: UTF8.self)
        #expect(text.contains("encrypted, TLSv1.") && text.contains("writer \(c.members[0].address)"), "\(text) \(doctor.stderr)")
    }
}
