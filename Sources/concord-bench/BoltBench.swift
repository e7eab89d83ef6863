import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordRedis
import ConcordSimulator
import Foundation

/// The sync and the live audit over `neo4j+s://` (Bolt, routed, TLS) through the
/// test's Bolt gateway, beside the same work over `falkordb://` in the same run.
/// The gateway (Python, on FalkorDB) reports the time it spent, so the share of
/// Concord's Bolt client — framing, PackStream, TLS, routing — is visible.
/// CPU seconds (user + system) of this process, or of its finished children.
func cpuSeconds(children: Bool) -> Double {
    var u = rusage()
    getrusage(__rusage_who_t(children ? RUSAGE_CHILDREN.rawValue : RUSAGE_SELF.rawValue), &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

@MainActor func boltBench(runs: Int, redisBase: String, falkor: String) throws {
    let work = try Bench.workDirectory("bolt")
    defer { try? FileManager.default.removeItem(at: work) }
    // A self-signed certificate for 127.0.0.1 serves as its own CA (--graph-ca).
    let cert = work.appendingPathComponent("cert.pem").path, key = work.appendingPathComponent("key.pem").path
    _ = try Bench.timeCommand(Bench.which("openssl"), ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
                                                       "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
    let graphName = "concord_bench_bolt"
    let direct = try FalkorDBStore(url: falkor + "/" + graphName)
    _ = try? direct.command(["GRAPH.DELETE", graphName])
    _ = try GraphSchema.ensure(on: direct)

    // The gateway, a cluster of one (writer, reader, router).
    let gateway = Process()
    gateway.executableURL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath + "/.local/venv/bin/python")
    let falkorHostPort = falkor.replacingOccurrences(of: "falkordb://", with: "")
    gateway.arguments = ["Tests/ConcordGraphTests/Python/bolt_gateway.py", "--falkordb", falkorHostPort, "--graph", graphName, "--tls", cert, key]
    let out = Pipe()
    gateway.standardOutput = out
    try gateway.run()
    defer { kill(gateway.processIdentifier, SIGKILL); gateway.waitUntilExit() }
    var line = Data()
    while !line.contains(0x0A) { let c = out.fileHandleForReading.availableData; if c.isEmpty { break }; line.append(c) }
    guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw ConcordError(.connection, "the Bolt gateway did not start (make services installs its Python packages)")
    }
    let boltURL = "neo4j+s://neo4j:bench@127.0.0.1:\(port)"
    func gatewayStats() throws -> (falkordb: Double, handling: Double, statements: Int64) {
        let r = try BoltStore(url: boltURL, caFile: cert).run("CALL gateway.stats()").records.first
        return (r?[0].doubleValue ?? 0, r?[1].doubleValue ?? 0, r?[2].intValue ?? 0)
    }

    let workload = Workload.generate(seed: 7, runs: runs, eventsPerRun: 50, baseTime: nowMilliseconds() - 3_600_000)
    let events = workload.runs.flatMap(\.events)
    var rows: [BenchRow] = []
    var notes: [String] = []
    var cpu: [Double] = []  // Concord's CPU seconds: sync, audit over falkordb://, then over Bolt
    for (name, url) in [("falkordb://", falkor + "/" + graphName), ("neo4j+s:// via gateway", boltURL)] {
        let redis = try RedisConnection(url: redisBase + "/15")
        _ = try redis.run("FLUSHDB")
        _ = try? direct.command(["GRAPH.DELETE", graphName])
        _ = try GraphSchema.ensure(on: direct)
        let writer = EventWriter(redis: redis)
        for start in stride(from: 0, to: events.count, by: 5_000) { try writer.publish(Array(events[start..<min(start + 5_000, events.count)])) }
        let graph = try Graph.connect(url: url, caFile: url.hasPrefix("neo4j") ? cert : nil)
        let engine = SyncEngine(redis: redis, graph: graph, batchSize: 1000)
        let before = url.hasPrefix("neo4j") ? try gatewayStats() : (0, 0, 0)
        let cpu0 = cpuSeconds(children: false)
        let sync = try Bench.time { _ = try engine.drain() }
        cpu.append(cpuSeconds(children: false) - cpu0)
        let afterSync = url.hasPrefix("neo4j") ? try gatewayStats() : (0, 0, 0)
        let args = ["audit", "--format", "json", "--output-dir", work.path, "--fail-on", "never", "--redis", redisBase + "/15", "--graph", url]
            + (url.hasPrefix("neo4j") ? ["--graph-ca", cert] : [])
        let child0 = cpuSeconds(children: true)
        let audit = try Bench.timeCommand(Bench.concord, args)
        cpu.append(cpuSeconds(children: true) - child0)
        let afterAudit = url.hasPrefix("neo4j") ? try gatewayStats() : (0, 0, 0)
        rows.append(BenchRow(name: "sync \(events.count) events, \(name)", records: events.count, seconds: sync, floorName: "—", floorSeconds: nil))
        rows.append(BenchRow(name: "concord audit (live), \(name)", records: events.count, seconds: audit, floorName: "—", floorSeconds: nil))
        if url.hasPrefix("neo4j") {
            let s = (afterSync.0 - before.0, afterSync.1 - before.1, afterSync.2 - before.2)
            let a = (afterAudit.0 - afterSync.0, afterAudit.1 - afterSync.1, afterAudit.2 - afterSync.2)
            notes.append(String(format: "gateway during the sync: %.2f s handling %lld statements, of which %.2f s waiting on FalkorDB", s.1, s.2, s.0))
            notes.append(String(format: "gateway during the audit: %.2f s handling %lld statements, of which %.2f s waiting on FalkorDB", a.1, a.2, a.0))
            notes.append(String(format: "Concord's CPU (user + system): sync %.2f s over falkordb://, %.2f s over Bolt; audit %.2f s over falkordb://, %.2f s over Bolt "
                                + "— the Bolt client's own cost (framing, PackStream, TLS, routing) is the difference; the rest of the wall time is waiting on the gateway",
                                cpu[0], cpu[2], cpu[1], cpu[3]))
        }
    }
    _ = try? direct.command(["GRAPH.DELETE", graphName])
    Bench.printTable("The graph over Bolt (neo4j+s://, routed, TLS) through the test gateway, beside falkordb://", rows)
    for n in notes { print("- " + n) }
}
