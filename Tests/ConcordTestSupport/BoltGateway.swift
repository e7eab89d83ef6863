import Foundation

/// The Bolt gateway (Tests/ConcordGraphTests/Python/bolt_gateway.py): a Bolt 5
/// server running each query on a FalkorDB graph over RESP, the tests' Neo4j.
public final class BoltGateway: @unchecked Sendable {
    // @unchecked: its state is the child process, which `stop` signals and waits for.
    public let process: Process
    public let port: Int

    /// Serves `graph` of the FalkorDB at `falkordb` (host:port); `tls` a certificate chain and key,
    /// `route` the addresses its routing table names, `role` what it plays in that cluster; or `cluster`,
    /// a JSON file naming the writer and the members, read at every ROUTE and write.
    public init(falkordb: String = "127.0.0.1:56380", graph: String, tls: (cert: String, key: String)? = nil,
                route: [String] = [], role: String = "all", cluster: String? = nil, port: Int = 0) throws {
        let script = TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordGraphTests/Python/bolt_gateway.py")
        var args = ["--falkordb", falkordb, "--graph", graph, "--role", role, "--port", String(port)]
        if let tls { args += ["--tls", tls.cert, tls.key] }
        if !route.isEmpty { args += ["--route"] + route }
        if let cluster { args += ["--cluster", cluster] }
        let err: Pipe
        (process, self.port, err) = try TestStores.startServer(script.path, args)
        // It serves until stopped: what it writes to stderr is drained, so it never blocks on a full pipe.
        let handle = err.fileHandleForReading
        Thread.detachNewThread { _ = handle.readDataToEndOfFile() }
    }

    /// The address it listens on.
    public var address: String { "127.0.0.1:\(port)" }

    /// Stops it (SIGKILL: a server that dies, not one that says goodbye).
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// A cluster of Bolt gateways over one FalkorDB graph, reached as Neo4j in
/// production is: `neo4j+s://` (routing, TLS with a CA made for the test).
/// The first member is the writer; Concord is pointed at another, so every
/// write is routed.
public final class GatewayCluster: @unchecked Sendable {
    // @unchecked: the members are fixed at init; setWriter rewrites a file atomically.
    public private(set) var members: [BoltGateway] = []
    public let certificates: TestCertificates
    public let file: URL

    public init(graph: String, members n: Int = 2, falkordb: String = "127.0.0.1:56380") throws {
        certificates = try TestCertificates()
        file = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("cluster") + ".json")
        try Data("{}".utf8).write(to: file)
        for _ in 0..<n { members.append(try BoltGateway(falkordb: falkordb, graph: graph, tls: certificates.cert("server"), cluster: file.path)) }
        try setWriter(0)
    }

    /// Makes member `i` the writer (the others answer writes with NotALeader).
    public func setWriter(_ i: Int, ttl: Int = 300, transientCommits: Int = 0) throws {
        let members = self.members.map { "\"\($0.address)\"" }.joined(separator: ",")
        try Data("{\"writer\": \"\(self.members[i].address)\", \"members\": [\(members)], \"ttl\": \(ttl), \"transientCommits\": \(transientCommits)}".utf8)
            .write(to: file, options: .atomic)
    }

    /// The URL Concord is given: the last member, a router that is not the writer.
    public var url: String { "neo4j+s://neo4j:pw@\(members[members.count - 1].address)" }
    public var caFile: String { certificates.ca }
    /// `--graph URL --graph-ca FILE`.
    public var arguments: [String] { ["--graph", url, "--graph-ca", caFile] }

    public func stop() { for m in members { m.stop() } }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: file)
    }
}
