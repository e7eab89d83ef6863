import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordTestSupport
import Foundation
import Testing

/// `concord serve` as a process on a free loopback port, over stores of the
/// test's own (a Redis database, a FalkorDB graph, the shared PostgreSQL test
/// database).
final class ServeFixture: @unchecked Sendable {
    static var concord: String { TestStores.concord }
    static var script: String { TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordServeTests/Python/sse_client.py").path }

    let redisURL: String
    let graphURL: String
    let postgresURL: String
    let schema: String
    let redis: RedisConnection
    let graph: FalkorDBStore
    let postgres: PostgresConnection
    private(set) var process: Process?
    private(set) var base = ""
    private let stderrData = Locked<Data>(Data())
    /// What the server wrote to stderr (its log) so far.
    var stderrText: String { String(decoding: stderrData.value, as: UTF8.self) }

    convenience init(db: Int) throws { try self.init(redisURL: TestStores.redisURL(db: db)) }

    init(redisURL: String) throws {
        self.redisURL = redisURL
        graphURL = TestStores.falkorURL + "/" + TestStores.unique("serve")
        redis = try TestStores.redis(redisURL)
        _ = try redis.run("FLUSHDB")
        graph = try FalkorDBStore(url: graphURL)
        _ = try GraphSchema.ensure(on: graph)
        // A schema of its own: the console's audits and repairs read and change every draft they see.
        schema = TestStores.unique("serve").lowercased()
        try PostgresConnection(url: TestStores.postgresURL).execute("CREATE SCHEMA \(schema)")
        postgresURL = TestStores.postgresURL + "?options=-csearch_path%3D\(schema)"
        postgres = try PostgresConnection(url: postgresURL)
        for s in PostgresSchema.statements { try postgres.execute(s) }
    }

    deinit {
        stop()
        _ = try? redis.run("FLUSHDB")
        _ = try? graph.command(["GRAPH.DELETE", graph.graph])
        if let admin = try? PostgresConnection(url: TestStores.postgresURL) { _ = try? admin.execute("DROP SCHEMA \(schema) CASCADE") }
    }

    var storeArguments: [String] { ["--redis", redisURL, "--graph", graphURL, "--postgres", postgresURL] }

    /// Starts `concord serve` with `arguments` and waits for the line that says where it listens.
    func start(_ arguments: [String] = [], environment: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.concord)
        p.arguments = ["serve", "--listen", "127.0.0.1:0", "--log-level", "warning"] + storeArguments + arguments
        var env = ProcessInfo.processInfo.environment
        env["CONCORD_SERVE_TOKEN"] = nil
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let line = TestStores.firstLine(of: out)
        guard let r = line.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else {
            p.terminate()
            throw NSError(domain: "ServeFixture", code: 1, userInfo: [NSLocalizedDescriptionKey:
                "concord serve did not start: \(line) \(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))"])
        }
        base = String(line[r])
        process = p
        let log = stderrData
        Thread.detachNewThread {
            while true {
                let chunk = err.fileHandleForReading.availableData
                if chunk.isEmpty { return }
                log.withLock { $0.append(chunk) }
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        Thread.detachNewThread { while !out.fileHandleForReading.availableData.isEmpty {} }
    }

    /// SIGTERM, then waits up to `timeout` seconds; returns the exit status (nil: still running, killed).
    @discardableResult
    func stop(timeout: Double = 10) -> Int32? {
        guard let p = process, p.isRunning else { return process?.terminationStatus }
        kill(p.processIdentifier, SIGTERM)
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if p.isRunning {
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return nil
        }
        return p.terminationStatus
    }

    func get(_ path: String, headers: [String] = []) throws -> (status: Int, body: String) {
        let r = try TestStores.run("/usr/bin/curl", ["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "20"]
                                   + headers.flatMap { ["-H", $0] } + [base + path])
        var text = String(decoding: r.stdout, as: UTF8.self)
        let nl = text.lastIndex(of: "\n")!
        let code = Int(text[text.index(after: nl)...]) ?? 0
        text = String(text[..<nl])
        return (code, text)
    }

    func metric(_ line: String) throws -> Int64? {
        let text = try get("/metrics").body
        for l in text.split(separator: "\n") where l.hasPrefix(line + " ") { return Int64(l.split(separator: " ").last!) }
        return nil
    }

    /// Runs the Python SSE client (httpx-sse); returns its JSON.
    func sseClient(_ arguments: [String]) throws -> JSON {
        let r = try TestStores.run(TestStores.python, [Self.script] + arguments)
        guard r.status == 0 else { throw NSError(domain: "ServeFixture", code: 2, userInfo: [NSLocalizedDescriptionKey: "sse_client.py failed: \(r.stderr)"]) }
        return try JSON.parse([UInt8](r.stdout))
    }

    /// `count` events of one run, a chain, ids `<run>_e<i>`.
    static func events(run: String, count: Int, from: Int = 0, payloadBytes: Int = 40) -> [Event] {
        (from..<(from + count)).map { (i: Int) -> Event in
            let parent = i == 0 ? run : "\(run)_e\(i - 1)"
            return Event(id: "\(run)_e\(i)", timestamp: 1_764_393_600_000 + Int64(i), type: i == 0 ? "workflowStarted" : "message",
                  parentId: parent,
                  payload: JSON.object(["i": JSON.int(Int64(i)), "text": JSON.string(String(repeating: "x", count: payloadBytes))]),
                  metadata: EventMetadata(workflowId: run, userId: "u_1"))
        }
    }

    /// Publishes `events` through the producers' write path at `perSecond`, on a thread; returns when all are written.
    static func produce(_ events: [Event], redisURL: String, perSecond: Double) throws {
        let redis = try TestStores.redis(redisURL)
        let writer = EventWriter(redis: redis)
        let start = Date()
        let chunk = max(1, Int(perSecond / 100))  // a write every 10 ms
        var i = 0
        while i < events.count {
            let batch = Array(events[i..<min(i + chunk, events.count)])
            try writer.publish(batch)
            i += batch.count
            let due = start.addingTimeInterval(Double(i) / perSecond)
            let wait = due.timeIntervalSinceNow
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        }
    }
}
