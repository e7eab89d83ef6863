import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordModel
import ConcordRedis
import ConcordSimulator
import Foundation

/// Redis over TLS beside plaintext, the same server (its plaintext port and its TLS port), alternated in
/// one run: the client's raw read, the sync's drain, and the live audit as a release `concord` child.
/// Target: TLS costs at most 15 %.
@MainActor func redisTLSBench(runs: Int, postgresBase: String, falkor: String) throws {
    let ca = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".local/tls/ca.pem").path
    let tlsPort = ProcessInfo.processInfo.environment["CONCORD_REDIS_TLS_PORT"] ?? "56381"
    func url(_ tls: Bool, _ db: Int) -> String { tls ? "rediss://localhost:\(tlsPort)/\(db)" : "redis://127.0.0.1:56379/\(db)" }
    func connect(_ tls: Bool, _ db: Int) throws -> RedisConnection {
        try RedisConnection(url: url(tls, db), tls: tls ? RedisTLS(caFile: ca) : RedisTLS())
    }
    var rows: [BenchRow] = []
    func pair(_ name: String, records: Int, rounds: Int = 2, _ body: (Bool) throws -> Double) rethrows {
        var plain: [Double] = [], tls: [Double] = []
        for _ in 0..<rounds {
            plain.append(try body(false))
            tls.append(try body(true))
        }
        let p = plain.min()!, t = tls.min()!
        rows.append(BenchRow(name: "\(name), plaintext (best of \(rounds))", records: records, seconds: p, floorName: "—", floorSeconds: nil))
        rows.append(BenchRow(name: "\(name), TLS 1.3 (best of \(rounds)); runs \(tls.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s",
                             records: records, seconds: t, floorName: "plaintext", floorSeconds: p))
    }

    // 1. The client: 1,000,000 events (≈330 B) read back with pipelined LRANGE pages.
    let setup = try connect(false, 14)
    let key = "concord:bench:tls"
    _ = try setup.run("DEL", key)
    var i = 0
    while i < 1_000_000 {
        _ = try setup.pipeline(stride(from: i, to: min(i + 10_000, 1_000_000), by: 1_000).map { s in
            ["RPUSH", key] + (s..<min(s + 1_000, 1_000_000)).map { eventJSON($0) as any RedisArgument }
        })
        i += 10_000
    }
    try pair("LRANGE 1,000,000 events in pages of 10,000", records: 1_000_000) { tls in
        let r = try connect(tls, 14)
        var n = 0
        let t = try Bench.time { n = try r.lrange(key, batch: 10_000) { _ in } }
        guard n == 1_000_000 else { throw ConcordError(.protocolViolation, "LRANGE read \(n) of 1,000,000 entries") }
        return t
    }
    _ = try setup.run("DEL", key)

    // 2. The sync: 100,000 queued events drained into the graph.
    let workload = Workload.generate(seed: 7, runs: 2_000, eventsPerRun: 50, baseTime: nowMilliseconds() - 60_000)
    let events = workload.runs.flatMap(\.events)
    try pair("sync: 100,000 queued events drained into FalkorDB", records: events.count) { tls in
        let redis = try connect(tls, 14)
        _ = try redis.run("FLUSHDB")
        let graph = try FalkorDBStore(url: falkor + "/concord_bench_tls_sync")
        _ = try? graph.command(["GRAPH.DELETE", graph.graph])
        _ = try GraphSchema.ensure(on: graph)
        let writer = EventWriter(redis: redis)
        var s = 0
        while s < events.count { try writer.publish(Array(events[s..<min(s + 5_000, events.count)])); s += 5_000 }
        let engine = SyncEngine(redis: redis, graph: graph, batchSize: 1000)
        let t = try Bench.time { _ = try engine.drain() }
        _ = try? graph.command(["GRAPH.DELETE", graph.graph])
        return t
    }

    // 3. The live audit (release concord, a child process) of `runs` runs of 50 events.
    let (pgURL, _, graphURL, n, _) = try loadAuditStores(runs: runs, postgresBase: postgresBase, redisBase: "redis://127.0.0.1:56379", falkor: falkor,
                                                        name: "tls", redisDB: 13)
    let work = try Bench.workDirectory("tls")
    defer { try? FileManager.default.removeItem(at: work) }
    var findings: Set<String> = []
    try pair("concord audit (live, whole command) of \(n) events", records: n) { tls in
        let redisArgs = tls ? ["--redis", url(true, 13), "--redis-ca", ca] : ["--redis", url(false, 13)]
        let out = work.appendingPathComponent(tls ? "tls.json" : "plain.json").path
        let t = try Bench.timeCommand(Bench.concord, ["audit", "--format", "json", "--output-dir", work.path, "--json-output", out, "--fail-on", "never",
                                                      "--postgres", pgURL, "--graph", graphURL] + redisArgs)
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        findings.insert(text.range(of: #""findings":\{[^}]*\}"#, options: .regularExpression).map { String(text[$0]) } ?? "?")
        return t
    }
    Bench.printTable("Redis over TLS beside plaintext (the same server; target: TLS ≤ 1.15×)", rows)
    print("the audits' finding counts, plaintext and TLS: \(findings.count == 1 ? "identical" : "DIFFER: \(findings)")")
}
