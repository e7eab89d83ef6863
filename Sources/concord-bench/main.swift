import ConcordCore
import ConcordGraph
import ConcordJSON
import ConcordPostgres
import ConcordRedis
import Foundation

// make bench: store clients (issue 2) and graph store (issue 3), each beside
// the raw floor of the same work measured in the same run.
//   concord-bench [foundation|hash|graph|sync|bolt|audit|scale|repair|realworld|serve|github|console|redis-tls|all] [--records N]

let env = ProcessInfo.processInfo.environment
let postgresURL = env["CONCORD_POSTGRES_URL"] ?? "postgresql://postgres@127.0.0.1:55432/concord"
let redisURL = env["CONCORD_REDIS_URL"] ?? "redis://127.0.0.1:56379/0"
let falkorHost = "127.0.0.1", falkorPort = "56380"
let args = CommandLine.arguments.dropFirst()
let which = args.first(where: { !$0.hasPrefix("--") }) ?? "all"
let records: Int = {
    if let i = args.firstIndex(of: "--records"), let n = Int(args[args.index(after: i)]) { return n }
    return 1_000_000
}()

func eventJSON(_ i: Int) -> String {
    #"{"id":"01JD\#(String(format: "%022d", i))","timestamp":\#(1_764_393_600_000 + i),"type":"toolCall","parentId":"01JD\#(String(format: "%022d", max(0, i - 1)))","payload":{"tool":"search","args":{"q":"naïve café \#(i)","limit":10},"ok":true},"metadata":{"workflowId":"wr_\#(i / 50)","userId":"u_7","source":"agent","version":"1"}}"#
}

@MainActor func foundationBench() throws {
    var rows: [BenchRow] = []
    let events = (0..<records).map(eventJSON)

    // PostgreSQL: COPY out, and single-row streaming, beside psql's COPY.
    let pg = try PostgresConnection(url: postgresURL)
    try pg.execute("DROP TABLE IF EXISTS bench_events; CREATE TABLE bench_events (id int8, run text, doc jsonb)")
    let load = try Bench.time {
        try pg.copyIn("COPY bench_events FROM STDIN") { w in
            for (i, e) in events.enumerated() { try w.writeRow([String(i), "wr_\(i / 50)", e]) }
        }
    }
    rows.append(BenchRow(name: "PostgreSQL COPY FROM STDIN (load)", records: records, seconds: load, floorName: "—", floorSeconds: nil))
    var bytes = 0
    let copyOut = try Bench.time { try pg.copyOut("COPY bench_events TO STDOUT") { bytes += $0.count } }
    let psqlFloor = try Bench.timeCommand(Bench.which("psql"), [postgresURL, "-qAt", "-c", "COPY bench_events TO STDOUT"])
    rows.append(BenchRow(name: "PostgreSQL COPY TO STDOUT", records: records, seconds: copyOut,
                         floorName: "psql COPY TO STDOUT >/dev/null", floorSeconds: psqlFloor))
    var streamed = 0
    let stream = try Bench.time { try pg.stream("SELECT id, run, doc FROM bench_events") { _ in streamed += 1 } }
    rows.append(BenchRow(name: "PostgreSQL single-row stream (SELECT)", records: streamed, seconds: stream,
                         floorName: "psql COPY TO STDOUT >/dev/null", floorSeconds: psqlFloor))
    try pg.execute("DROP TABLE bench_events")

    // Redis: LRANGE in pipelined batches, beside redis-cli reading the whole list.
    let redis = try RedisConnection(url: redisURL)
    let key = "concord:bench:list"
    _ = try redis.run("DEL", key)
    let push = try Bench.time {
        var start = 0
        while start < events.count {
            let end = min(start + 10_000, events.count)
            let cmds: [[any RedisArgument]] = stride(from: start, to: end, by: 1_000).map { s in
                ["RPUSH", key] + events[s..<min(s + 1_000, end)].map { $0 as any RedisArgument }
            }
            _ = try redis.pipeline(cmds)
            start = end
        }
    }
    rows.append(BenchRow(name: "Redis RPUSH (pipelined load)", records: records, seconds: push, floorName: "—", floorSeconds: nil))
    var read = 0
    let lrange = try Bench.time {
        let window = 10_000
        var start = 0
        while true {
            // Eight windows per round trip.
            let cmds: [[any RedisArgument]] = (0..<8).map { k in ["LRANGE", key, start + k * window, start + (k + 1) * window - 1] }
            let replies = try redis.pipeline(cmds)
            var got = 0
            for r in replies { got += r.array?.count ?? 0 }
            read += got
            start += 8 * window
            if got < 8 * window { break }
        }
    }
    let endpoint = try Endpoint(parsing: redisURL, defaultPorts: ["redis": 6379])
    let cliFloor = try Bench.timeCommand(Bench.which("redis-cli"),
                                         ["-h", endpoint.host, "-p", String(endpoint.port), "-n", endpoint.path.isEmpty ? "0" : endpoint.path,
                                          "--no-raw", "LRANGE", key, "0", "-1"])
    rows.append(BenchRow(name: "Redis LRANGE, pipelined batches of 8×10,000", records: read, seconds: lrange,
                         floorName: "redis-cli --no-raw LRANGE 0 -1 >/dev/null", floorSeconds: cliFloor))
    _ = try redis.run("DEL", key)

    // JSON: jansson into Swift values, beside jansson alone and Foundation.
    let utf8 = events.map { Array($0.utf8) }
    let validate = Bench.time { for b in utf8 { _ = b.withUnsafeBytes { JSON.validate($0) } } }
    var parsed = 0
    let parse = try Bench.time { for b in utf8 { if case .object = try JSON.parse(b) { parsed += 1 } } }
    let foundation = try Bench.time {
        for b in utf8 { _ = try JSONSerialization.jsonObject(with: Data(b)) }
    }
    rows.append(BenchRow(name: "JSON.parse (jansson → Swift values)", records: parsed, seconds: parse,
                         floorName: "jansson parse alone", floorSeconds: validate))
    rows.append(BenchRow(name: "Foundation JSONSerialization (comparison)", records: records, seconds: foundation,
                         floorName: "jansson parse alone", floorSeconds: validate))
    var encodedBytes = 0
    let values = try utf8.prefix(200_000).map { try JSON.parse($0) }
    let encode = Bench.time { for v in values { encodedBytes += v.encoded().utf8.count } }
    rows.append(BenchRow(name: "JSON canonical encode (200,000 events)", records: values.count, seconds: encode, floorName: "—", floorSeconds: nil))
    Bench.printTable("Store clients and JSON (\(records) records; peak RSS \(String(format: "%.0f", Bench.peakRSSMiB())) MiB)", rows)
}

@MainActor func graphBench() throws {
    var rows: [BenchRow] = []
    let graphName = "concord_bench"
    let g = try FalkorDBStore(url: "falkordb://\(falkorHost):\(falkorPort)/\(graphName)")
    _ = try? g.command(["GRAPH.DELETE", graphName])
    _ = try g.ensureIndex(label: "Node", property: "id")
    _ = try g.ensureIndex(label: "WorkflowRun", property: "id")

    // Write 100,000 events as nodes + PARENT_OF in UNWIND batches (chains of 50 per run).
    let writes = 100_000
    let runs = writes / 50
    try g.writeBatches("UNWIND $rows AS row CREATE (:WorkflowRun {id: row.id, state: 'running'})",
                       rows: (0..<runs).map { .map(["id": .string("wr_\($0)")]) }, batchSize: 5_000)
    let eventRows: [GraphValue] = (0..<writes).map { i in
        let run = i / 50
        return .map([
            "id": .string("ev_\(i)"), "workflowId": .string("wr_\(run)"), "type": "toolCall",
            "content": .string(#"{"tool":"search","q":"café \#(i)"}"#), "timestamp": .int(1_764_393_600_000 + Int64(i)),
            "parentId": .string(i % 50 == 0 ? "wr_\(run)" : "ev_\(i - 1)"), "first": .bool(i % 50 == 0),
        ])
    }
    // Parents come first within a batch; MERGE makes the write idempotent.
    let write = """
        UNWIND $rows AS row
        MERGE (n:Node {id: row.id})
        SET n.workflow_id = row.workflowId, n.type = row.type, n.content = row.content, n.timestamp = row.timestamp
        WITH n, row
        OPTIONAL MATCH (r:WorkflowRun {id: row.parentId})
        OPTIONAL MATCH (p:Node {id: row.parentId})
        FOREACH (_ IN CASE WHEN r IS NULL THEN [] ELSE [1] END | MERGE (r)-[:PARENT_OF]->(n))
        FOREACH (_ IN CASE WHEN p IS NULL THEN [] ELSE [1] END | MERGE (p)-[:PARENT_OF]->(n))
        """
    var created: Int64 = 0
    let writeTime = try Bench.time { created = try g.writeBatches(write, rows: eventRows, batchSize: 2_000)["relationships-created"] }
    rows.append(BenchRow(name: "FalkorDB write events (MERGE node + PARENT_OF, UNWIND 2,000)", records: Int(created),
                         seconds: writeTime, floorName: "—", floorSeconds: nil))

    // Read 1,000,000 nodes back: keyset pages through the store, beside redis-cli reading it all at once.
    let readCount = records
    try g.run("UNWIND range(1, $n) AS i CREATE (:Big {id: 'big_' + toString(i), timestamp: i, type: 'toolCall'})",
              parameters: ["n": .int(Int64(readCount))])
    var read = 0
    let readTime = try Bench.time {
        read = try g.streamKeyset(
            "MATCH (n:Big) WHERE id(n) > $after RETURN id(n) AS k, n.id, n.timestamp, n.type ORDER BY k LIMIT $limit",
            start: -1, pageSize: 50_000, key: { $0[0] }) { _ in }
    }
    let floor = try Bench.timeCommand(Bench.which("redis-cli"), [
        "-h", falkorHost, "-p", falkorPort, "GRAPH.RO_QUERY", graphName,
        "MATCH (n:Big) RETURN id(n) AS k, n.id, n.timestamp, n.type", "--compact",
    ])
    rows.append(BenchRow(name: "FalkorDB read nodes (keyset pages of 50,000)", records: read, seconds: readTime,
                         floorName: "redis-cli GRAPH.RO_QUERY (one reply) >/dev/null", floorSeconds: floor))
    _ = try? g.command(["GRAPH.DELETE", graphName])
    Bench.printTable("Graph store (FalkorDB over RESP; peak RSS \(String(format: "%.0f", Bench.peakRSSMiB())) MiB)", rows)
}

do {
    if which == "foundation" || which == "all" { try foundationBench() }
    if which == "hash" || which == "all" { try hashBench() }
    if which == "graph" || which == "all" { try graphBench() }
    if which == "repair" || which == "all" {
        try repairBench(count: 100_000, postgresBase: postgresURL, redisBase: "redis://127.0.0.1:56379", falkor: "falkordb://\(falkorHost):\(falkorPort)")
    }
    if which == "audit" || which == "all" {
        try auditBench(runs: records / 50, postgresBase: postgresURL, redisBase: "redis://127.0.0.1:56379", falkor: "falkordb://\(falkorHost):\(falkorPort)")
    }
    if which == "scale" || which == "all" {
        try scaleBench(runs: records / 50, postgresBase: postgresURL, redisBase: "redis://127.0.0.1:56379", falkor: "falkordb://\(falkorHost):\(falkorPort)")
    }
    if which == "realworld" || which == "all" {
        // --shape runs50 (default) or wide; `all` runs both.
        let arguments = CommandLine.arguments
        let named = arguments.firstIndex(of: "--shape").flatMap { arguments.indices.contains($0 + 1) ? ProducerShape(rawValue: arguments[$0 + 1]) : nil }
        for shape in named.map({ [$0] }) ?? (which == "all" ? [.runs50, .wide] : [.runs50]) {
            try realWorldBench(events: min(records, 1_000_000), postgresBase: postgresURL, redisBase: "redis://127.0.0.1:56379",
                               falkor: "falkordb://\(falkorHost):\(falkorPort)", falkorHost: falkorHost, falkorPort: falkorPort, shape: shape)
        }
    }
    if which == "serve" || which == "all" {
        try serveBench(redisBase: "redis://127.0.0.1:56379", falkor: "falkordb://\(falkorHost):\(falkorPort)", postgres: postgresURL)
    }
    if which == "console" || which == "all" {
        try consoleBench(events: args.contains("--records") ? records : 1_000_000, redisBase: "redis://127.0.0.1:56379",
                         falkor: "falkordb://\(falkorHost):\(falkorPort)", postgres: postgresURL)
    }
    if which == "github" || which == "all" { try githubBench(drafts: args.contains("--records") ? records : 10_000) }
    if which == "redis-tls" || which == "all" {
        try redisTLSBench(runs: min(records, 100_000) / 50, postgresBase: postgresURL, falkor: "falkordb://\(falkorHost):\(falkorPort)")
    }
    if which == "sync" || which == "all" { try syncBench(redisBase: "redis://127.0.0.1:56379", falkor: "falkordb://\(falkorHost):\(falkorPort)") }
    if which == "bolt" || which == "all" {
        try boltBench(runs: min(records, 100_000) / 50, redisBase: "redis://127.0.0.1:56379", falkor: "falkordb://\(falkorHost):\(falkorPort)")
    }
} catch {
    FileHandle.standardError.write(Data("concord-bench: \(error)\n".utf8))
    exit(3)
}
