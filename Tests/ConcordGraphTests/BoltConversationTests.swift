import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// A scripted Bolt peer (Python, on the official driver's codec) serving one
/// connection; `finish()` says whether the client went through the whole script.
final class BoltPeer {
    let process: Process
    let port: Int
    private let stderr: Pipe

    /// `tls`: serve over TLS with this certificate (chain) and key.
    init(script: String, tls: (cert: String, key: String)? = nil) throws {
        let dir = TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordGraphTests")
        (process, port, stderr) = try TestStores.startServer(dir.appendingPathComponent("Python/bolt_peer.py").path,
                                                             [dir.appendingPathComponent("BoltScripts/\(script).script").path] + (tls.map { ["--tls", $0.cert, $0.key] } ?? []))
    }

    /// Waits for the peer to exit; returns nil when the script completed, else its complaint.
    func finish() -> String? {
        let deadline = Date().addingTimeInterval(30)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning { process.terminate(); return "peer still waiting for the client" }
        if process.terminationStatus == 0 { return nil }
        return String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }
}

/// Each conversation is first completed by the official Python driver against
/// the peer (so the script is a real conversation), then by the Swift client.
@Suite(.serialized) struct BoltConversationTests {
    static let client = TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordGraphTests/Python/bolt_client.py").path

    func officialDriver(_ scenario: String, credentials: (String, String)?) throws -> JSON {
        let peer = try BoltPeer(script: scenario)
        var args = [Self.client, scenario, "bolt://127.0.0.1:\(peer.port)"]
        if let (u, p) = credentials { args += [u, p] }
        let run = try TestStores.run(TestStores.python, args)
        let complaint = peer.finish()
        #expect(complaint == nil, "official driver vs script \(scenario): \(complaint ?? "")")
        #expect(run.status == 0, "official driver failed \(scenario): \(run.stderr)")
        return try JSON.parse(String(decoding: run.stdout, as: UTF8.self))
    }

    func swiftClient<T>(_ scenario: String, credentials: String? = "neo4j:secret", _ body: (BoltStore) throws -> T) throws -> T {
        let peer = try BoltPeer(script: scenario)
        let auth = credentials.map { "\($0)@" } ?? ""
        let result: T
        do {
            let store = try BoltStore(url: "bolt://\(auth)127.0.0.1:\(peer.port)", ioTimeout: 20)
            result = try body(store)
            store.close()
        } catch {
            _ = peer.finish()
            throw error
        }
        let complaint = peer.finish()
        #expect(complaint == nil, "Swift client vs script \(scenario): \(complaint ?? "")")
        return result
    }

    @Test func handshakeAndQuery() throws {
        let official = try officialDriver("handshake", credentials: ("neo4j", "secret"))
        #expect(official["rows"] == [[1]])
        let rows = try swiftClient("handshake") { store in
            #expect(store.protocolVersion == "5.4")
            return try store.run("RETURN 1 AS x").records.map(\.values)
        }
        #expect(rows == [[.int(1)]])
    }

    @Test func aReadOnlyQueryCarriesReadMode() throws {
        let official = try officialDriver("read-mode", credentials: ("neo4j", "secret"))
        #expect(official["rows"] == [[1]])
        let rows = try swiftClient("read-mode") { store in try store.run("RETURN 1 AS x", readOnly: true).records.map(\.values) }
        #expect(rows == [[.int(1)]])
    }

    /// `concord setup` on Neo4j 5: constraints and indexes with IF NOT EXISTS, one existing, one blocked by duplicates.
    @Test func setupOnNeo4j5() throws {
        let outcomes = try swiftClient("setup-neo4j") { store in try GraphSchema.ensure(on: store) }
        #expect(outcomes.map { o -> String in
            switch o.status { case .existed: "existed"; case .created: "created"; case .blocked: "blocked" }
        } == ["existed", "blocked", "created"], "\(outcomes)")
        if case .blocked(let why) = outcomes[1].status {
            #expect(why.contains("1 WorkflowRun.id value(s) occur more than once") && why.contains("concord setup again"))
        }
    }

    @Test func aCommittedWritesBookmarkGoesWithTheNextRead() throws {
        let official = try officialDriver("bookmarks", credentials: ("neo4j", "secret"))
        #expect(official["rows"] == [[1]])
        let rows = try swiftClient("bookmarks") { store -> [[GraphValue]] in
            try store.transaction(readOnly: false) { tx in try tx.run("CREATE (:T {v: $v})", parameters: ["v": .int(1)]) }
            #expect(store.bookmark == "FB:neo4j:bm-1")
            return try store.run("MATCH (n:T) RETURN count(n) AS c", readOnly: true).records.map(\.values)
        }
        #expect(rows == [[.int(1)]])
    }

    @Test func fallsBackToBolt44() throws {
        let official = try officialDriver("bolt44", credentials: ("neo4j", "secret"))
        #expect(official["rows"] == [[1]])
        let (rows, version) = try swiftClient("bolt44") { store in
            (try store.run("RETURN 1 AS x").records.map(\.values), store.protocolVersion)
        }
        #expect(rows == [[.int(1)]])
        #expect(version == "4.4")
    }

    @Test func abandonedResultIsDiscarded() throws {
        let official = try officialDriver("discard", credentials: ("neo4j", "secret"))
        #expect(official["first"] == 1)
        #expect(official["rows"] == [[1]])
        struct Enough: Error {}
        let rows = try swiftClient("discard") { store in
            var seen = 0
            #expect(throws: Enough.self) {
                try store.stream("UNWIND range(1, 10000) AS i RETURN i", fetchSize: 1000) { _ in
                    seen += 1
                    if seen == 10 { throw Enough() }
                }
            }
            #expect(seen == 10)
            return try store.run("RETURN 1 AS x").records.map(\.values)
        }
        #expect(rows == [[.int(1)]])
    }

    @Test func authenticationFailure() throws {
        let official = try officialDriver("auth-failure", credentials: ("neo4j", "wrong"))
        #expect(official["error"] == "Neo.ClientError.Security.Unauthorized")
        let peer = try BoltPeer(script: "auth-failure")
        do {
            _ = try BoltStore(url: "bolt://neo4j:wrong@127.0.0.1:\(peer.port)", ioTimeout: 20)
            Issue.record("authentication failure not reported")
        } catch let e as ConcordError {
            #expect(e.code == .authentication)
            #expect(e.serverCode == "Neo.ClientError.Security.Unauthorized")
            #expect(!"\(e)".contains("wrong"))
        }
        #expect(peer.finish() == nil)
    }

    @Test func tenThousandRecordsOverSeveralPulls() throws {
        let official = try officialDriver("stream", credentials: ("neo4j", "secret"))
        #expect(official["rows"] == 10_000)
        let (count, sum, version) = try swiftClient("stream") { store in
            var count = 0
            var sum: Int64 = 0
            try store.stream("UNWIND range(1, 10000) AS i RETURN i", fetchSize: 1000) { r in
                count += 1
                sum += r[0].intValue ?? 0
            }
            return (count, sum, store.protocolVersion)
        }
        #expect(count == 10_000)
        #expect(sum == 10_000 * 10_001 / 2)
        #expect(version == "5.0")
    }

    @Test func failureThenResetThenSuccess() throws {
        let official = try officialDriver("failure-reset", credentials: nil)
        #expect(official["error"] == "Neo.ClientError.Statement.SyntaxError")
        #expect(official["rows"] == [[2]])
        let rows = try swiftClient("failure-reset", credentials: nil) { store in
            do {
                try store.run("RETURN nosuchfunction(1)")
                Issue.record("FAILURE not reported")
            } catch let e as ConcordError {
                #expect(e.serverCode == "Neo.ClientError.Statement.SyntaxError")
                #expect(e.context["gqlStatus"] == "42N01")
                #expect(e.message.contains("nosuchfunction"))
            }
            return try store.run("RETURN 2 AS y").records.map(\.values)
        }
        #expect(rows == [[.int(2)]])
    }

    @Test func commitAndRollback() throws {
        #expect(try officialDriver("commit", credentials: ("neo4j", "secret"))["done"] == "commit")
        #expect(try officialDriver("rollback", credentials: ("neo4j", "secret"))["done"] == "rollback")
        let created = try swiftClient("commit") { store in
            try store.transaction(readOnly: false) { tx in
                try tx.run("CREATE (n:T {v: $v})", parameters: ["v": 1]).summary["nodes-created"]
            }
        }
        #expect(created == 1)
        struct Abandon: Error {}
        try swiftClient("rollback") { store in
            #expect(throws: Abandon.self) {
                try store.transaction(readOnly: false) { tx in
                    try tx.run("CREATE (n:T {v: $v})", parameters: ["v": 1])
                    throw Abandon()
                }
            }
        }
    }
}
