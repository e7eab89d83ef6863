import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation

/// Stores of the bench's own, loaded with `runs` runs of 50 events and 2.5
/// drafts per run (events through the sync's graph write). Returns their URLs.
@MainActor func loadAuditStores(runs: Int, postgresBase: String, redisBase: String, falkor: String, name: String = "audit", redisDB: Int = 15)
    throws -> (pg: String, redis: String, graph: String, events: Int, drafts: Int)
{
    let eventsPerRun = 50
    let redisURL = redisBase + "/\(redisDB)"
    let graphURL = falkor + "/concord_bench_\(name)"
    let schema = "concord_bench_\(name)"
    let admin = try PostgresConnection(url: postgresBase)
    try admin.execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
    try admin.execute("CREATE SCHEMA \(schema)")
    let pgURL = postgresBase + "?options=-csearch_path%3D\(schema)"
    let pg = try PostgresConnection(url: pgURL)
    for s in PostgresSchema.statements { try pg.execute(s) }
    let redis = try RedisConnection(url: redisURL)
    _ = try redis.run("FLUSHDB")
    let graph = try FalkorDBStore(url: graphURL)
    _ = try? graph.command(["GRAPH.DELETE", graph.graph])
    _ = try GraphSchema.ensure(on: graph)

    // Load: events through the sync's own graph write, streams/confirmations/status pipelined, drafts by COPY.
    let base = nowMilliseconds() - 7_200_000
    let filler = String(repeating: "lorem ipsum dolor sit amet ", count: 6)
    let loadTime = try Bench.time {
        let engine = SyncEngine(redis: redis, graph: graph, batchSize: 2_000)
        var batch: [Event] = []
        var commands: [[any RedisArgument]] = []
        for r in 0..<runs {
            let run = "wr_\(r)"
            var parent = run
            for i in 0..<eventsPerRun {
                let id = "ev_\(r)_\(i)"
                let ts = base + Int64(r) + Int64(i) * 10
                let e = Event(id: id, timestamp: ts, type: i == 0 ? "workflowStarted" : "toolCall", parentId: parent,
                              payload: ["step": .int(Int64(i)), "text": .string(filler)], metadata: EventMetadata(workflowId: run, userId: "u_1"))
                batch.append(e)
                commands.append(["XADD", RedisKeys.events(run), "*", "event", e.encoded])
                commands.append(["ZADD", RedisKeys.confirmed, ts + 100, id])
                parent = id
            }
            if batch.count >= 10_000 {
                try engine.write(batch, persistedAt: base + 7_000_000)
                _ = try redis.pipeline(commands)
                batch.removeAll(keepingCapacity: true)
                commands.removeAll(keepingCapacity: true)
            }
        }
        if !batch.isEmpty {
            try engine.write(batch, persistedAt: base + 7_000_000)
            _ = try redis.pipeline(commands)
        }
        // 2.5 drafts per run (all still drafts), two history versions each; Redis shows the newest.
        var status: [[any RedisArgument]] = []
        _ = try pg.copyIn("COPY draft_content (id, workflow_run_id, content_type, content, status, metadata, created_at, updated_at) FROM STDIN") { w in
            for r in 0..<runs {
                let n = r % 2 == 0 ? 2 : 3
                for d in 0..<n {
                    let t = Date(timeIntervalSince1970: Double(base + Int64(d) * 1000) / 1000)
                    let stamp = Timestamp.rfc3339(t)
                    try w.writeRow(["dr_\(r)_\(d)", "wr_\(r)", "comment", "draft \(d) of run \(r)", "draft",
                               #"{"githubIssueId":1,"githubRepo":"acme/widgets","userId":"u_1","timestamp":0}"#, stamp, stamp])
                }
                status.append(["HSET", RedisKeys.status("wr_\(r)"), "state", "running", "contentStatus", "draft", "draftId", "dr_\(r)_\(n - 1)",
                               "updatedAt", base])
            }
        }
        _ = try pg.copyIn("COPY draft_content_history (draft_id, version, status, content, changed_by) FROM STDIN") { w in
            for r in 0..<runs {
                for d in 0..<(r % 2 == 0 ? 2 : 3) {
                    for v in 1...2 { try w.writeRow(["dr_\(r)_\(d)", String(v), "draft", "v\(v)", "u_1"]) }
                }
            }
        }
        _ = try redis.pipeline(status)
    }
    let events = runs * eventsPerRun
    let drafts = (0..<runs).reduce(0) { $0 + ($1 % 2 == 0 ? 2 : 3) }
    print("\nloaded \(events) events in \(runs) runs and \(drafts) drafts in \(String(format: "%.1f", loadTime)) s")

    return (pgURL, redisURL, graphURL, events, drafts)
}

/// The audit at scale: `runs` runs of 50 events (1,000,000 by default) and
/// 2.5 drafts per run, loaded into stores of the bench's own; then, each as a
/// child process of the release `concord`: snapshot, audit from the
/// snapshot, live audit; beside the raw-read floor (the same data read by the
/// same clients with nothing done to it, the three stores at once).
@MainActor func auditBench(runs: Int, postgresBase: String, redisBase: String, falkor: String) throws {
    let (pgURL, redisURL, graphURL, events, drafts) = try loadAuditStores(runs: runs, postgresBase: postgresBase, redisBase: redisBase, falkor: falkor)
    // Floor: the same data read by the same clients, nothing done with it, the three stores at once.
    let floor = try rawReadFloor(pgURL: pgURL, redisURL: redisURL, graphURL: graphURL)

    let concord = Bench.concord
    let work = try Bench.workDirectory("audit")
    defer { try? FileManager.default.removeItem(at: work) }
    let storeArgs = ["--postgres", pgURL, "--redis", redisURL, "--graph", graphURL]
    let snapDir = work.appendingPathComponent("snapshot").path

    let snapTime = try Bench.timeCommand(concord, ["snapshot", "--output-dir", snapDir] + storeArgs)
    let snapRSS = childPeakRSSMiB()
    let manifest = try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: snapDir + "/manifest.json"))))

    let fromSnapJSON = work.appendingPathComponent("snap.json").path
    let fromSnapTime = try Bench.timeCommand(concord, ["audit", "--snapshot", snapDir, "--format", "json", "--output-dir", work.path,
                                                       "--json-output", fromSnapJSON, "--fail-on", "never"])
    let fromSnapRSS = childPeakRSSMiB()
    let fromSnap = try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: fromSnapJSON))))

    let liveJSON = work.appendingPathComponent("live.json").path
    let liveTime = try Bench.timeCommand(concord, ["audit", "--format", "json", "--output-dir", work.path, "--json-output", liveJSON,
                                                   "--fail-on", "never"] + storeArgs)
    let liveRSS = childPeakRSSMiB()
    let live = try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: liveJSON))))

    func storeSeconds(_ report: JSON, _ store: String) -> Double { report["stores"]?[store]?["seconds"]?.doubleValue ?? 0 }
    let evaluate = fromSnap["timings"]?["evaluate"]?.doubleValue ?? 0
    let rows = [
        BenchRow(name: "raw read, 3 stores at once (floor)", records: events, seconds: floor.total, floorName: "—", floorSeconds: nil),
        BenchRow(name: "concord snapshot (whole command)", records: events, seconds: snapTime, floorName: "raw read", floorSeconds: floor.total),
        BenchRow(name: "concord audit (live, whole command)", records: events, seconds: liveTime, floorName: "raw read", floorSeconds: floor.total),
        BenchRow(name: "concord audit --snapshot (whole command)", records: events, seconds: fromSnapTime, floorName: "—", floorSeconds: nil),
        BenchRow(name: "  of which rule evaluation (after parsing)", records: events, seconds: evaluate, floorName: "—", floorSeconds: nil),
    ]
    Bench.printTable("Audit: \(events) events, \(runs) runs, \(drafts) drafts", rows)
    print("\n| store | raw read floor s | snapshot read s | live audit read s |\n|---|---:|---:|---:|")
    for s in ["postgres", "redis", "graph"] {
        print("| \(s) | \(String(format: "%.2f", floor.perStore[s] ?? 0)) | \(String(format: "%.2f", manifestSeconds(manifest, s) ?? 0)) | \(String(format: "%.2f", storeSeconds(live, s))) |")
    }
    print("\npeak RSS: snapshot \(Int(snapRSS)) MiB, audit from snapshot \(Int(fromSnapRSS)) MiB, live audit \(Int(liveRSS)) MiB (children, getrusage)")
    print("findings: live \(live["summary"]?["findings"]?.encoded() ?? "?"), from snapshot \(fromSnap["summary"]?["findings"]?.encoded() ?? "?")")
    print("live audit timings: \(live["timings"]?.encoded() ?? "")")
    print("snapshot audit timings: \(fromSnap["timings"]?.encoded() ?? "")")
    print("snapshot size: \(snapshotBytes(snapDir) / 1_048_576) MiB")
}

/// Seconds a store took in a snapshot, as its manifest records them.
func manifestSeconds(_ manifest: JSON, _ store: String) -> Double? {
    manifest["stores"]?[store]?["seconds"]?.doubleValue
}

func snapshotBytes(_ dir: String) -> Int {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).reduce(0) {
        $0 + (((try? FileManager.default.attributesOfItem(atPath: dir + "/" + $1))?[.size] as? Int) ?? 0)
    }
}

/// The largest peak RSS of any child process waited for so far, in MiB.
func childPeakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_CHILDREN.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

/// Reads what the audit reads, with the same clients, discarding it: PostgreSQL
/// COPY out of both tables, Redis SCAN + pipelined XRANGE + ZRANGE + HGETALL,
/// the graph's keyset pages of nodes, runs and edges. The three at once.
func rawReadFloor(pgURL: String, redisURL: String, graphURL: String) throws -> (total: Double, perStore: [String: Double]) {
    let times = Locked<[String: Double]>([:])
    let failure = Locked<Error?>(nil)
    let total = Bench.time {
        DispatchQueue.concurrentPerform(iterations: 3) { i in
            do {
                switch i {
                case 0:
                    let pg = try PostgresConnection(url: pgURL)
                    let s = try Bench.time {
                        for t in ["draft_content", "draft_content_history"] { try pg.copyOut("COPY \(t) TO STDOUT") { _ in } }
                    }
                    times.withLock { $0["postgres"] = s }
                case 1:
                    let r = try RedisConnection(url: redisURL)
                    let s = try Bench.time {
                        try r.scan(match: "workflow:*:events", count: 1000, type: "stream") { keys in
                            var i = 0
                            while i < keys.count {
                                let chunk = keys[i..<min(i + 200, keys.count)]
                                _ = try r.pipeline(chunk.map { ["XRANGE", $0, "-", "+", "COUNT", 10_000] })
                                i += chunk.count
                            }
                        }
                        try r.zrange(RedisKeys.confirmed) { _ in }
                        try r.scan(match: "workflow:*:status", count: 1000, type: "hash") { keys in _ = try r.hgetall(keys) }
                    }
                    times.withLock { $0["redis"] = s }
                default:
                    let g = try FalkorDBStore(url: graphURL)
                    let s = try Bench.time {
                        try g.streamKeyset("MATCH (n:Node) WHERE id(n) > $after WITH n ORDER BY id(n) LIMIT $limit RETURN id(n) AS k, n.id, n.workflow_id, n.type, n.content, n.metadata, n.timestamp, n.persisted_at, n.placeholder",
                                           start: -1, pageSize: 10_000, key: { $0[0] }) { _ in }
                        try g.streamKeyset("MATCH (n:WorkflowRun) WHERE id(n) > $after WITH n ORDER BY id(n) LIMIT $limit RETURN id(n) AS k, n.id, n.state, n.stateAt, n.contentStatus, n.publishedAt, n.createdAt",
                                           start: -1, pageSize: 10_000, key: { $0[0] }) { _ in }
                        // Edges paged by their target node, as the audit reads them (see LiveReader.readRelationships).
                        var after: Int64 = -1
                        while true {
                            var nodes = 0
                            var last = after
                            try g.stream("MATCH (b) WHERE id(b) > $after WITH b ORDER BY id(b) LIMIT $limit OPTIONAL MATCH (a)-[r:PARENT_OF]->(b) RETURN id(b) AS k, labels(a), labels(b), a.id, b.id, a.workflow_id, b.workflow_id, a.placeholder, b.placeholder, a.persisted_at, b.persisted_at, id(r)",
                                         parameters: ["after": .int(after), "limit": 10_000], readOnly: true, fetchSize: 10_000) { r in
                                let k = r[0].intValue ?? after
                                if k != last { nodes += 1; last = max(last, k) }
                            }
                            if nodes < 10_000 { break }
                            after = last
                        }
                    }
                    times.withLock { $0["graph"] = s }
                }
            } catch { failure.withLock { $0 = error } }
        }
    }
    if let e = failure.value { throw e }
    return (total, times.value)
}
