import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation

/// The console's pages with a million events in the stores (issue 31): the overview, a run's page and the
/// trends, each asked 30 times by curl (its own `time_total`), beside `GET /healthz` (the server's floor:
/// three trivial store reads) in the same run.
func consoleBench(events: Int = 1_000_000, redisBase: String, falkor: String, postgres: String) throws {
    let redisURL = redisBase + "/14"
    let redis = try RedisConnection(url: redisURL)
    _ = try redis.run("FLUSHDB")
    let graphName = "concord_bench_console"
    let graph = try FalkorDBStore(url: falkor + "/" + graphName)
    _ = try? graph.command(["GRAPH.DELETE", graphName])
    _ = try GraphSchema.ensure(on: graph)
    defer { _ = try? graph.command(["GRAPH.DELETE", graphName]); _ = try? redis.run("FLUSHDB") }
    let perRun = 50, runs = events / perRun
    let base: Int64 = 1_764_393_600_000
    func event(_ i: Int) -> String {
        let run = i / perRun, k = i % perRun
        let parent = k == 0 ? "wr_c\(run)" : "c_\(i - 1)"
        return #"{"id":"c_\#(i)","timestamp":\#(base + Int64(i)),"type":"message","parentId":"\#(parent)","payload":{"i":\#(i),"text":"console bench"},"metadata":{"workflowId":"wr_c\#(run)","userId":"u_c"}}"#
    }
    // Redis: every event in its run's stream and confirmed; 10,000 waiting in the queue.
    let tLoad = try Bench.time {
        var start = 0
        while start < events {
            let end = min(start + 20_000, events)
            var cmds: [[any RedisArgument]] = []
            for i in start..<end { cmds.append(["XADD", "workflow:wr_c\(i / perRun):events", "*", "event", event(i)]) }
            var z: [any RedisArgument] = ["ZADD", RedisKeys.confirmed]
            for i in start..<end { z += [base + Int64(i), "c_\(i)"] }
            cmds.append(z)
            _ = try redis.pipeline(cmds)
            start = end
        }
        _ = try redis.pipeline(stride(from: 0, to: 10_000, by: 1_000).map { s in ["RPUSH", RedisKeys.queue] + (s..<s + 1_000).map { event(events + $0) as any RedisArgument } })
        // The graph: the runs and their event nodes, parent edges, in batches.
        var rows: [GraphValue] = []
        func flush() throws {
            guard !rows.isEmpty else { return }
            try graph.run("""
                UNWIND $rows AS row MERGE (r:WorkflowRun {id: row.run})
                CREATE (n:Node {id: row.id, workflow_id: row.run, type: 'message', timestamp: row.ts, persisted_at: row.ts, content: '{}'})
                """, parameters: ["rows": .list(rows)])
            rows = []
        }
        for i in 0..<events {
            rows.append(.map(["id": .string("c_\(i)"), "run": .string("wr_c\(i / perRun)"), "ts": .int(base + Int64(i))]))
            if rows.count == 20_000 { try flush() }
        }
        try flush()
    }
    print("\n(console bench: \(events) events in \(runs) runs loaded into Redis and the graph in \(String(format: "%.0f", tLoad)) s)")
    let token = "bench-console-token"
    setenv("CONCORD_SERVE_TOKEN", token, 1)
    let server = try ServeProcess(arguments: ["--redis", redisURL, "--graph", falkor + "/" + graphName, "--postgres", postgres])
    defer { server.stop() }
    let curl = Bench.which("curl")
    func times(_ path: String, n: Int = 30) throws -> [Double] {
        (try (0..<n).map { _ in
            let out = try Bench.captureCommand(curl, ["-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-H", "Authorization: Bearer \(token)",
                                                     "http://127.0.0.1:\(server.port)\(path)"])
            let parts = out.split(separator: " ")
            guard parts.first == "200", let t = Double(parts.last ?? "") else { throw ConcordError(.usage, "GET \(path) answered \(out)") }
            return t * 1000
        }).sorted()
    }
    let floor = try times("/healthz")
    var rows: [(String, [Double])] = [("GET /healthz (three trivial store reads: the floor)", floor)]
    rows.append(("GET /console/ (the overview)", try times("/console/")))
    rows.append(("GET /console/runs/wr_c\(runs / 2) (a run of \(perRun) events)", try times("/console/runs/wr_c\(runs / 2)")))
    rows.append(("GET /console/trends", try times("/console/trends")))
    print("\n## The console with \(events) events in the stores (30 requests each, curl's time_total)\n")
    print("| page | median ms | p95 ms | max ms | median vs the floor |")
    print("|---|---:|---:|---:|---:|")
    let floorMedian = floor[floor.count / 2]
    for (name, t) in rows {
        let median = t[t.count / 2], p95 = t[Int(Double(t.count) * 0.95) - 1]
        print("| \(name) | \(String(format: "%.1f", median)) | \(String(format: "%.1f", p95)) | \(String(format: "%.1f", t.last!)) | \(String(format: "%.2f×", median / floorMedian)) |")
    }
}
