import ConcordCore
import ConcordAudit
import ConcordCrypto
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation

/// Stores of the bench's own loaded with producer-shaped data (issue 12):
/// `events` events in runs of 50, 1–3 KB payloads in four producers' JSON
/// styles, the graph's copy of each payload in another style than its
/// stream's, 2.5 drafts per run. A few faults, so the audit has findings to
/// report: every 997th event never reached the graph (nor its
/// confirmation), every 1,009th has other content in the graph, every
/// 4,999th stream entry is truncated JSON.
struct ProducerStores {
    var pg: String, redis: String, graph: String
    var events: Int, runs: Int, drafts: Int
    var streamKeys: [String], statusKeys: [String]
    var graphName: String
    var storeArgs: [String] { ["--postgres", pg, "--redis", redis, "--graph", graph] }
}

/// The two shapes of producer data: `runs50` (runs of 50 events, 1–3 KB payloads, drafts with two versions) and
/// `wide` (runs of 5 to 5,000 events whose parent chains restart every 1,000 events — chains 1,000 deep —,
/// payloads from 100 B to 10 KB, drafts with 1 to 20 versions).
enum ProducerShape: String {
    case runs50, wide
    /// The length of run r.
    func length(_ r: Int) -> Int {
        switch self {
        case .runs50: 50
        case .wide: [5, 5, 10, 20, 50, 50, 100, 200, 500, 5_000][r % 10]
        }
    }
    func payloadTarget(_ rng: inout SplitMix) -> Int {
        switch self {
        case .runs50: 900 + Int(rng.next() % 2_000)
        case .wide: 100 + Int(rng.next() % 10_000)
        }
    }
    func versions(_ r: Int, _ d: Int) -> Int { self == .runs50 ? 2 : 1 + (r * 7 + d * 3) % 20 }
    /// Runs holding `events` events (the last one cut short).
    func lengths(events: Int) -> [Int] {
        var out: [Int] = [], total = 0
        while total < events {
            let n = min(length(out.count), events - total)
            out.append(n)
            total += n
        }
        return out
    }
}

@MainActor func loadProducerStores(events: Int, postgresBase: String, redisBase: String, falkor: String, reuse: Bool = false,
                                   shape: ProducerShape = .runs50) throws -> ProducerStores {
    let lengths = shape.lengths(events: events)
    let runs = lengths.count
    // Stores of their own per size and shape, so a million events loaded once can be reused beside a smaller set.
    let name = "realworld_\(events)" + (shape == .runs50 ? "" : "_\(shape.rawValue)")
    let redisDB = (events >= 1_000_000 ? 61 : 60) + (shape == .runs50 ? 0 : 2)
    let redisURL = redisBase + "/\(redisDB)"
    let graphName = "concord_bench_\(name)"
    let graphURL = falkor + "/" + graphName
    let schema = "concord_bench_\(name)"
    let admin = try PostgresConnection(url: postgresBase)
    try admin.execute("CREATE SCHEMA IF NOT EXISTS \(schema)")
    let pgURL = postgresBase + "?options=-csearch_path%3D\(schema)"
    let pg = try PostgresConnection(url: pgURL)
    let redis = try RedisConnection(url: redisURL)
    let graph = try FalkorDBStore(url: graphURL)
    let drafts = (0..<runs).reduce(0) { $0 + ($1 % 2 == 0 ? 2 : 3) }
    let marker = "concord:bench:loaded"
    func stores(_ keys: ([String], [String])) -> ProducerStores {
        ProducerStores(pg: pgURL, redis: redisURL, graph: graphURL, events: events, runs: runs, drafts: drafts,
                       streamKeys: keys.0, statusKeys: keys.1, graphName: graphName)
    }
    // The same data loaded by an earlier run is kept (loading a million events takes minutes): a marker says how much.
    if reuse, try redis.run("GET", marker).string == "\(events)" {
        print("\nreusing the \(events) producer-shaped events (\(shape.rawValue)) loaded before (set by \(marker))")
        return stores(((0..<runs).map { RedisKeys.events("wr_\($0)") }, (0..<runs).map { RedisKeys.status("wr_\($0)") }))
    }
    try admin.execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
    try admin.execute("CREATE SCHEMA \(schema)")
    for s in PostgresSchema.statements { try pg.execute(s) }
    _ = try redis.run("FLUSHDB")
    _ = try? graph.command(["GRAPH.DELETE", graph.graph])
    _ = try GraphSchema.ensure(on: graph)

    var gen = ProducerData(seed: 12)
    let base = nowMilliseconds() - 7_200_000
    var streamKeys: [String] = [], statusKeys: [String] = []
    var payloadBytes = 0
    let loadTime = try Bench.time {
        try graph.writeBatches(
            "UNWIND $rows AS row CREATE (:WorkflowRun {id: row.id, state: 'running', contentStatus: 'none', createdAt: row.t, run_bucket: row.b})",
            rows: (0..<runs).map { r in .map(["id": .string("wr_\(r)"), "t": .int(base + Int64(r)), "b": .int(Int64(RunBucket.of("wr_\(r)")))]) },
            batchSize: 5_000)
        var nodes: [GraphValue] = [], edges: [GraphValue] = []
        var commands: [[any RedisArgument]] = []
        func flush() throws {
            if !nodes.isEmpty {
                try graph.writeBatches("""
                    UNWIND $rows AS row CREATE (:Node {id: row.id, workflow_id: row.run, type: row.type, content: row.content,
                      metadata: row.metadata, timestamp: row.t, persisted_at: row.p, run_bucket: row.b})
                    """, rows: nodes, batchSize: 1_000)
                try graph.writeBatches("""
                    UNWIND $rows AS row MATCH (c:Node {id: row.id})
                    OPTIONAL MATCH (r:WorkflowRun {id: row.parent}) OPTIONAL MATCH (p:Node {id: row.parent})
                    FOREACH (_ IN CASE WHEN r IS NULL THEN [] ELSE [1] END | CREATE (r)-[:PARENT_OF]->(c))
                    FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END | CREATE (p)-[:PARENT_OF]->(c))
                    """, rows: edges, batchSize: 2_000)
            }
            if !commands.isEmpty { _ = try redis.pipeline(commands, chunkSize: 1_000) }
            nodes.removeAll(keepingCapacity: true)
            edges.removeAll(keepingCapacity: true)
            commands.removeAll(keepingCapacity: true)
        }
        var n = 0
        for r in 0..<runs {
            let run = "wr_\(r)"
            let key = RedisKeys.events(run)
            streamKeys.append(key)
            var parent = run
            for i in 0..<lengths[r] {
                defer { n += 1 }
                let id = "01J\(String(format: "%09d", r))\(String(format: "%04d", i))evt\(n % 7)"
                let ts = base + Int64(r) + Int64(i) * 10
                let type = i == 0 ? "workflowStarted" : ProducerData.types[n % ProducerData.types.count]
                // A chain restarts from the run every 1,000 events (a run of 5,000 is five chains 1,000 deep).
                if i > 0 && i % 1_000 == 0 { parent = run }
                let payload = gen.payload(n, target: shape.payloadTarget(&gen.rng))
                let event = gen.event(id: id, run: run, type: type, parent: parent, timestamp: ts, payload: payload)
                var text = ProducerData.encode(event, gen.style())
                if n % 4_999 == 4_998 { text = String(text.prefix(text.utf8.count / 2)) }  // a producer crashed mid-write
                payloadBytes += text.utf8.count
                commands.append(["XADD", key, "*", "event", text])
                if n % 997 != 996 {
                    commands.append(["ZADD", RedisKeys.confirmed, ts + 100, id])
                    let content = n % 1_009 == 1_008 ? ProducerData.Value.object([("edited", .bool(true))]) : payload
                    guard case .object(let envelope) = event, case .object(let metadata)? = envelope.first(where: { $0.0 == "metadata" })?.1 else { continue }
                    nodes.append(.map([
                        "id": .string(id), "run": .string(run), "type": .string(type), "content": .string(ProducerData.encode(content, gen.style())),
                        "metadata": .string(ProducerData.encode(.object(metadata), gen.style())), "t": .int(ts), "p": .int(ts + 50),
                        "b": .int(Int64(RunBucket.of(run))),
                    ]))
                    edges.append(.map(["id": .string(id), "parent": .string(parent)]))
                }
                parent = id
            }
            statusKeys.append(RedisKeys.status(run))
            if nodes.count >= 5_000 { try flush() }
        }
        try flush()
        var status: [[any RedisArgument]] = []
        _ = try pg.copyIn("COPY draft_content (id, workflow_run_id, content_type, content, status, metadata, created_at, updated_at) FROM STDIN") { w in
            for r in 0..<runs {
                let n = r % 2 == 0 ? 2 : 3
                for d in 0..<n {
                    let stamp = Timestamp.rfc3339(Date(timeIntervalSince1970: Double(base + Int64(d) * 1000) / 1000))
                    try w.writeRow(["dr_\(r)_\(d)", "wr_\(r)", "comment", "## Review of run \(r)\n\n" + gen.text(80), "draft",
                                    #"{"githubIssueId": \#(r), "githubRepo": "acme/widgets", "userId": "u_1", "timestamp": 0, "labels": ["ai", "draft"]}"#,
                                    stamp, stamp])
                }
                status.append(["HSET", RedisKeys.status("wr_\(r)"), "state", "running", "contentStatus", "draft", "draftId", "dr_\(r)_\(n - 1)",
                               "updatedAt", base])
            }
        }
        _ = try pg.copyIn("COPY draft_content_history (draft_id, version, status, content, changed_by) FROM STDIN") { w in
            for r in 0..<runs {
                for d in 0..<(r % 2 == 0 ? 2 : 3) {
                    for v in 1...shape.versions(r, d) { try w.writeRow(["dr_\(r)_\(d)", String(v), "draft", "version \(v): " + gen.text(40), "u_1"]) }
                }
            }
        }
        _ = try redis.pipeline(status)
    }
    _ = try redis.run("SET", marker, "\(events)")
    print("\nloaded \(events) producer-shaped events (\(shape.rawValue)) (\(payloadBytes / 1_048_576) MiB of event JSON) in \(runs) runs and \(drafts) drafts in \(String(format: "%.1f", loadTime)) s")
    return stores((streamKeys, statusKeys))
}

extension ProducerStores {
    var redisDB: Int { Int(redis.split(separator: "/").last ?? "") ?? 0 }
}

/// The native clients' raw read of what the audit reads, output to
/// /dev/null: `psql COPY … TO STDOUT` of both tables; one `redis-cli` pipe of
/// `XRANGE` / `HGETALL` / `ZRANGE` / `LRANGE` for every key; the graph as one
/// `GRAPH.RO_QUERY … --compact` per label (nodes with their parent edge, runs),
/// and again paged by id ranges (`id(n) >= a AND id(n) < b`, which FalkorDB
/// seeks; one redis-cli connection, the pages pipelined). The floor is the
/// three stores read at once — the graph the faster of its two ways — which is
/// what an audit can at best do on this machine; `inTurn` is their sum.
struct NativeFloor {
    var postgres = 0.0, redis = 0.0, graphUnpaged = 0.0, graphPaged = 0.0
    /// The three stores read at once, the graph the faster way: the floor.
    var atOnce = 0.0
    var graph: Double { min(graphUnpaged, graphPaged) }
    var inTurn: Double { postgres + redis + graph }
    var perStore: [String: Double] { ["postgres": postgres, "redis": redis, "graph": graph] }
}

func nativeFloor(_ s: ProducerStores, pgURL: String, redisPort: String, redisDB: Int, falkorHost: String, falkorPort: String) throws -> NativeFloor {
    var out = NativeFloor()
    let psql = Bench.which("psql"), cli = Bench.which("redis-cli")
    let work = FileManager.default.temporaryDirectory
    func scriptFile(_ name: String, _ text: String) throws -> URL {
        let url = work.appendingPathComponent("concord-bench-\(name)-\(getpid()).txt")
        try Data(text.utf8).write(to: url)
        return url
    }
    let graphName = s.graphName
    let postgres = { @Sendable () throws -> Void in
        for t in ["draft_content", "draft_content_history"] { _ = try Bench.timeCommand(psql, [pgURL, "-qAt", "-c", "COPY \(t) TO STDOUT"]) }
    }
    // Every key's read as RESP commands on redis-cli's stdin (raw replies to /dev/null).
    var script = ""
    for k in s.streamKeys { script += "XRANGE \(k) - +\n" }
    for k in s.statusKeys { script += "HGETALL \(k)\n" }
    script += "ZRANGE persistence:confirmed 0 -1 WITHSCORES\nLRANGE persistence:queue 0 -1\nLRANGE persistence:processing 0 -1\nLRANGE persistence:deadletter 0 -1\n"
    let redisScript = try scriptFile("floor-redis", script)
    defer { try? FileManager.default.removeItem(at: redisScript) }
    let redis = { @Sendable () throws -> Void in
        _ = try Bench.timeCommand("/bin/sh", ["-c", "'\(cli)' -p \(redisPort) -n \(redisDB) < '\(redisScript.path)' > /dev/null"])
    }
    let nodeColumns = "n.id, n.workflow_id, n.type, n.content, n.metadata, n.timestamp, n.persisted_at, n.placeholder, p.id, p.workflow_id"
    let runQuery = "MATCH (n:WorkflowRun) RETURN n.id, n.state, n.stateAt, n.contentStatus, n.publishedAt, n.createdAt"
    let graphUnpaged = { @Sendable () throws -> Void in
        for q in ["MATCH (n:Node) OPTIONAL MATCH (p)-[:PARENT_OF]->(n) RETURN \(nodeColumns)", runQuery] {
            _ = try Bench.timeCommand(cli, ["-h", falkorHost, "-p", falkorPort, "GRAPH.RO_QUERY", graphName, q, "--compact"])
        }
    }
    // Pages of about 10,000 node ids (~8 MB of producer-shaped properties), all on one connection.
    let maxText = try Bench.captureCommand(cli, ["-h", falkorHost, "-p", falkorPort, "GRAPH.RO_QUERY", s.graphName, "MATCH (n) RETURN max(id(n))", "--compact"])
    let maxId = maxText.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }.max() ?? 0
    var pages = ""
    for lo in stride(from: 0, through: maxId, by: 10_000) {
        pages += "GRAPH.RO_QUERY \(s.graphName) \"MATCH (n:Node) WHERE id(n) >= \(lo) AND id(n) < \(lo + 10_000) OPTIONAL MATCH (p)-[:PARENT_OF]->(n) RETURN \(nodeColumns)\" --compact\n"
    }
    pages += "GRAPH.RO_QUERY \(s.graphName) \"\(runQuery)\" --compact\n"
    let graphScript = try scriptFile("floor-graph", pages)
    defer { try? FileManager.default.removeItem(at: graphScript) }
    let graphPaged = { @Sendable () throws -> Void in
        _ = try Bench.timeCommand("/bin/sh", ["-c", "'\(cli)' -h \(falkorHost) -p \(falkorPort) < '\(graphScript.path)' > /dev/null"])
    }
    out.postgres = try Bench.time(postgres)
    out.redis = try Bench.time(redis)
    out.graphUnpaged = try Bench.time(graphUnpaged)
    out.graphPaged = try Bench.time(graphPaged)
    let reads: [@Sendable () throws -> Void] = [postgres, redis, out.graphPaged <= out.graphUnpaged ? graphPaged : graphUnpaged]
    out.atOnce = Bench.time {
        DispatchQueue.concurrentPerform(iterations: reads.count) { i in _ = try? reads[i]() }
    }
    return out
}

/// Issue 12 and 16: the live audit, the snapshot and the audit from it on
/// producer-shaped data, beside the native clients' floor, in one run.
@MainActor func realWorldBench(events: Int, postgresBase: String, redisBase: String, falkor: String, falkorHost: String, falkorPort: String,
                               shape: ProducerShape = .runs50) throws {
    let s = try loadProducerStores(events: events, postgresBase: postgresBase, redisBase: redisBase, falkor: falkor,
                                   reuse: CommandLine.arguments.contains("--reuse"), shape: shape)
    if CommandLine.arguments.contains("--load-only") { return }
    let redisPort = URL(string: redisBase)?.port.map(String.init) ?? "56379"
    let native = try nativeFloor(s, pgURL: s.pg, redisPort: redisPort, redisDB: s.redisDB, falkorHost: falkorHost, falkorPort: falkorPort)
    let floor = native.perStore
    let floorTotal = native.atOnce
    let concord = Bench.concord
    let work = try Bench.workDirectory("realworld")
    defer { try? FileManager.default.removeItem(at: work) }

    let liveJSON = work.appendingPathComponent("live.json").path
    let (liveTime, liveRSS) = try Bench.timeCommandRSS(concord, ["audit", "--format", "json", "--output-dir", work.path, "--json-output", liveJSON,
                                                                "--fail-on", "never"] + s.storeArgs)
    let live = try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: liveJSON))))

    let snapDir = work.appendingPathComponent("snapshot").path
    let (snapTime, snapRSS) = try Bench.timeCommandRSS(concord, ["snapshot", "--output-dir", snapDir] + s.storeArgs)
    let fromSnapJSON = work.appendingPathComponent("snap.json").path
    func auditSnapshot() throws -> (seconds: Double, rssMiB: Double) {
        try Bench.timeCommandRSS(concord, ["audit", "--snapshot", snapDir, "--format", "json", "--output-dir", work.path,
                                           "--json-output", fromSnapJSON, "--fail-on", "never"])
    }
    var (fromSnapTime, fromSnapRSS) = try auditSnapshot()
    let fromSnap = try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: fromSnapJSON))))

    // Concord's peak RSS is measured above: the comparisons run after it.
    // A straightforward Python audit of the same stores (scripts/bench/python_audit.py: redis-py, psycopg, dicts).
    let python = FileManager.default.currentDirectoryPath + "/.local/venv/bin/python"
    let pyOut = work.appendingPathComponent("python.json").path
    let graphTarget = "\(falkorHost):\(falkorPort)/\(s.graphName)"
    // Python holds every parsed event in dicts (~25 KB each): past 200,000 events it would not fit beside the stores.
    let runPython = s.events <= 200_000
    let pyTime = runPython ? try Bench.time {
        _ = try Bench.timeCommand("/bin/sh", ["-c", "'\(python)' scripts/bench/python_audit.py --postgres '\(s.pg)' --redis '\(s.redis)' --graph '\(graphTarget)' > '\(pyOut)'"])
    } : .nan
    let py = runPython ? try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: pyOut)))) : JSON.object([:])

    func storeSeconds(_ report: JSON, _ store: String) -> Double { report["stores"]?[store]?["seconds"]?.doubleValue ?? 0 }

    // DuckDB over the same files: sha256 checked (OpenSSL), read_json, the 20 rules as SQL (scripts/bench/duckdb_audit.py).
    let snapshot = try Snapshot(directory: URL(fileURLWithPath: snapDir))
    let duckOut = work.appendingPathComponent("duckdb.json").path
    var duckTime = Double.nan
    var duck = JSON.object([:])
    // Alternated, Concord, DuckDB, Concord, DuckDB, over the same page cache; each counted at its faster run.
    var snapRuns = [fromSnapTime], duckRuns: [Double] = []
    for round in 0..<2 {
        do {
            duckRuns.append(try Bench.time {
                _ = try Bench.timeCommand("/bin/sh", ["-c", "'\(python)' scripts/bench/duckdb_audit.py '\(snapDir)' --now \(snapshot.createdAtMs ?? 0) --grace 300000 > '\(duckOut)'"])
            })
            duck = try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: duckOut))))
        } catch {
            print("\nDuckDB did not finish: \(error)")
            break
        }
        if round == 0 {
            let again = try auditSnapshot()
            snapRuns.append(again.seconds)
            fromSnapRSS = max(fromSnapRSS, again.rssMiB)
        }
    }
    fromSnapTime = snapRuns.min() ?? fromSnapTime
    duckTime = duckRuns.min() ?? .nan
    print("\naudit --snapshot runs: \(snapRuns.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s; DuckDB runs: \(duckRuns.map { String(format: "%.2f", $0) }.joined(separator: ", ")) s (alternated)")
    let duckFindings = Set((duck["findings"]?.arrayValue ?? []).compactMap { f in f[0]?.stringValue.flatMap { r in f[1]?.stringValue.map { r + " " + $0 } } })
    func findingSet(_ report: JSON) -> Set<String> {
        Set((report["findings"]?.arrayValue ?? []).compactMap { f in f["rule"]?.stringValue.flatMap { r in f["key"]?.stringValue.map { r + " " + $0 } } })
    }
    let concordFindings = findingSet(fromSnap)
    let pyFindings = Set((py["findings"]?.arrayValue ?? []).compactMap { f in f[0]?.stringValue.flatMap { r in f[1]?.stringValue.map { r + " " + $0 } } })

    var rows = [
        BenchRow(name: "native clients' raw read, the three stores at once (floor)", records: s.events, seconds: floorTotal, floorName: "—", floorSeconds: nil),
        BenchRow(name: "native clients' raw read, one store after another", records: s.events, seconds: native.inTurn, floorName: "—", floorSeconds: nil),
        BenchRow(name: "concord audit (live, whole command)", records: s.events, seconds: liveTime, floorName: "native floor", floorSeconds: floorTotal),
        BenchRow(name: "concord snapshot (whole command)", records: s.events, seconds: snapTime, floorName: "native floor", floorSeconds: floorTotal),
        BenchRow(name: "concord audit --snapshot (whole command)", records: s.events, seconds: fromSnapTime, floorName: "DuckDB", floorSeconds: duckTime),
        BenchRow(name: "DuckDB: sha256 + one typed read_json + the 20 rules as SQL", records: s.events, seconds: duckTime, floorName: "—", floorSeconds: nil),
    ]
    if runPython {
        rows.insert(BenchRow(name: "Python audit (redis-py+hiredis, psycopg, graph by id ranges; whole)", records: s.events, seconds: pyTime, floorName: "native floor", floorSeconds: floorTotal), at: 2)
    }
    Bench.printTable("Producer-shaped data (\(shape.rawValue)): \(s.events) events, \(s.runs) runs, \(s.drafts) drafts", rows)
    print("\nnative floor: postgres \(String(format: "%.2f", native.postgres)) s, redis \(String(format: "%.2f", native.redis)) s, graph \(String(format: "%.2f", native.graphPaged)) s paged / \(String(format: "%.2f", native.graphUnpaged)) s as one query; at once \(String(format: "%.2f", native.atOnce)) s, in turn \(String(format: "%.2f", native.inTurn)) s")
    print("\n| store | native floor s | live audit read s |\n|---|---:|---:|")
    for st in ["postgres", "redis", "graph"] {
        print("| \(st) | \(String(format: "%.2f", floor[st] ?? 0)) | \(String(format: "%.2f", storeSeconds(live, st))) |")
    }
    let liveRead = storeSeconds(live, "redis") > storeSeconds(live, "graph") ? storeSeconds(live, "redis") : storeSeconds(live, "graph")
    func mark(_ ok: Bool) -> String { ok ? "met" : "NOT met" }
    print("\n| target | measured | |\n|---|---:|---|")
    print("| live audit ≤ 1.5× the native floor | \(String(format: "%.2f×", liveTime / floorTotal)) | \(mark(liveTime <= 1.5 * floorTotal)) |")
    if runPython {
        print("| live audit ≥ 4× faster than the Python audit | \(String(format: "%.2f×", pyTime / liveTime)) | \(mark(pyTime >= 4 * liveTime)) |")
    }
    print("| audit --snapshot ≥ 2× faster than DuckDB | \(String(format: "%.2f×", duckTime / fromSnapTime)) | \(mark(duckTime >= 2 * fromSnapTime)) |")
    print("| snapshot written ≤ 1.2× the live audit's read | \(String(format: "%.2f×", snapTime / liveRead)) | \(mark(snapTime <= 1.2 * liveRead)) |")
    print("| peak RSS ≤ 1 GiB (live audit) | \(Int(liveRSS)) MiB | \(mark(liveRSS <= 1024)) |")
    print("| peak RSS ≤ 1 GiB (audit --snapshot) | \(Int(fromSnapRSS)) MiB | \(mark(fromSnapRSS <= 1024)) |")
    print("\nDuckDB: \(duck["verify"]?.doubleValue.map { String(format: "%.2f", $0) } ?? "?") s checksums, \(duck["load"]?.doubleValue.map { String(format: "%.2f", $0) } ?? "?") s read_json, "
          + "\(duck["rules"]?.doubleValue.map { String(format: "%.2f", $0) } ?? "?") s rules; findings: \(duckFindings.count), "
          + (duckFindings == concordFindings ? "the same as Concord's" : "DIFFERENT from Concord's (\(duckFindings.subtracting(concordFindings).count) only DuckDB, \(concordFindings.subtracting(duckFindings).count) only Concord)"))
    if runPython { print("Python: \(["postgres", "redis", "graph", "rules"].map { "\($0) \(py[$0]?.doubleValue.map { String(format: "%.2f", $0) } ?? "?") s" }.joined(separator: ", ")); findings: \(pyFindings.count), "
          + (pyFindings == findingSet(live) ? "the same as the live audit's" : "DIFFERENT from the live audit's (\(pyFindings.subtracting(findingSet(live)).count) only Python, \(findingSet(live).subtracting(pyFindings).count) only Concord)")) }
    print("\npeak RSS: live audit \(Int(liveRSS)) MiB, snapshot \(Int(snapRSS)) MiB, audit --snapshot \(Int(fromSnapRSS)) MiB")
    print("findings: live \(live["summary"]?["findings"]?.encoded() ?? "?"), from snapshot \(fromSnap["summary"]?["findings"]?.encoded() ?? "?")")
    print("live audit timings: \(live["timings"]?.encoded() ?? "")")
    print("snapshot audit timings: \(fromSnap["timings"]?.encoded() ?? "")")
    print("snapshot size: \(snapshotBytes(snapDir) / 1_048_576) MiB")
}
