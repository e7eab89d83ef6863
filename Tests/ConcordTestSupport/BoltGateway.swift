import Foundation

/// The Bolt gateway (Tests/ConcordGraphTests/Python/bolt_gateway.py): a Bolt 5
/// server running each query on a FalkorDB graph over RESP, the tests' Neo4j.
public final class BoltGateway {
    public let process = Process()
    public let port: Int
    private let stderr = Pipe()

    /// Serves `graph` of the FalkorDB at `falkordb` (host:port); `tls` a certificate chain and key,
    /// `route` the addresses its routing table names, `role` what it plays in that cluster; or `cluster`,
    /// a JSON file naming the writer and the members, read at every ROUTE and write.
    public init(falkordb: String = "127.0.0.1:56380", graph: String, tls: (cert: String, key: String)? = nil,
                route: [String] = [], role: String = "all", cluster: String? = nil, port: Int = 0) throws {
        let script = TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordGraphTests/Python/bolt_gateway.py")
        process.executableURL = URL(fileURLWithPath: TestStores.python)
        var args = [script.path, "--falkordb", falkordb, "--graph", graph, "--role", role, "--port", String(port)]
        if let tls { args += ["--tls", tls.cert, tls.key] }
        if !route.isEmpty { args += ["--route"] + route }
        if let cluster { args += ["--cluster", cluster] }
        process.arguments = args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = stderr
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let p = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw NSError(domain: "BoltGateway", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "the Bolt gateway did not start: \(String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))"])
        }
        self.port = p
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
