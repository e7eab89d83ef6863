import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordRepair
import Foundation

/// A plan of `count` operations applied: half replay events into the graph,
/// half confirm them in Redis, each journaled in PostgreSQL; per store
/// operations per second, beside the same writes without plan, preconditions
/// or journal (the floor).
@MainActor func repairBench(count: Int, postgresBase: String, redisBase: String, falkor: String) throws {
    let schema = "concord_bench_repair"
    let admin = try PostgresConnection(url: postgresBase)
    try admin.execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
    try admin.execute("CREATE SCHEMA \(schema)")
    let pg = try PostgresConnection(url: postgresBase + "?options=-csearch_path%3D\(schema)")
    for s in PostgresSchema.statements { try pg.execute(s) }
    let redis = try RedisConnection(url: redisBase + "/14")
    let graph = try FalkorDBStore(url: falkor + "/concord_bench_repair")
    func reset() throws {
        _ = try redis.run("FLUSHDB")
        _ = try? graph.command(["GRAPH.DELETE", graph.graph])
        _ = try GraphSchema.ensure(on: graph)
    }
    let half = count / 2
    let base = nowMilliseconds() - 3_600_000
    let events: [Event] = (0..<half).map { i in
        Event(id: "rp_\(i)", timestamp: base + Int64(i), type: "toolCall", parentId: i % 50 == 0 ? "wr_rp_\(i / 50)" : "rp_\(i - 1)",
              payload: ["step": .int(Int64(i))], metadata: EventMetadata(workflowId: "wr_rp_\(i / 50)", userId: "u_1"))
    }
    var ops: [RepairOperation] = []
    for e in events {
        ops.append(RepairOperation(findingId: "f_\(e.id)", rule: "event.missing-in-graph", store: .graph, action: "replay-event", key: e.id,
                                   params: ["event": e.json], precondition: ["absent": true], before: .null, after: .null))
        ops.append(RepairOperation(findingId: "f_\(e.id)", rule: "event.missing-in-graph", store: .redis, action: "confirm-event", key: e.id,
                                   params: ["id": .string(e.id), "score": .int(e.timestamp)], precondition: ["confirmed": false], before: .null, after: .null))
    }
    ops.sort { (Applier.phase($0), $0.key) < (Applier.phase($1), $1.key) }
    let plan = RepairPlan(planId: "plan-bench-\(getpid())", sourceAuditId: "bench", createdAt: Date(), rulesDigest: "", operations: ops)

    try reset()
    let applier = Applier(stores: RepairStores(postgres: pg, redis: redis, graph: graph), plan: plan, operator: "bench")
    applier.batchSize = 1_000
    applier.journalConnection = try PostgresConnection(url: postgresBase + "?options=-csearch_path%3D\(schema)")
    var phaseStart = DispatchTime.now().uptimeNanoseconds
    var graphSeconds = 0.0
    var sawRedis = false
    applier.afterBatch = { batch in
        // Batches run graph first; the first Redis batch starts after the last graph one.
        if !sawRedis, batch * 1_000 >= half {
            sawRedis = true
            let now = DispatchTime.now().uptimeNanoseconds
            graphSeconds = Double(now - phaseStart) / 1e9
            phaseStart = now
        }
    }
    var results: [Applier.Result] = []
    let total = try Bench.time { results = try applier.apply() }
    let redisSeconds = total - graphSeconds
    let applied = results.filter { $0.outcome == .applied }.count

    // Floor: the same writes, batched the same, without plan, preconditions or journal.
    try reset()
    let sync = SyncEngine(redis: redis, graph: graph, batchSize: 1_000)
    let graphFloor = try Bench.time {
        var i = 0
        while i < events.count { try sync.write(Array(events[i..<min(i + 1_000, events.count)]), persistedAt: base); i += 1_000 }
    }
    let redisFloor = try Bench.time {
        var i = 0
        while i < events.count {
            _ = try redis.transaction(events[i..<min(i + 1_000, events.count)].map { ["ZADD", RedisKeys.confirmed, $0.timestamp, $0.id] })
            i += 1_000
        }
    }
    Bench.printTable("Repair: a plan of \(ops.count) operations (\(applied) applied)", [
        BenchRow(name: "graph: replay-event (batches of 1,000, journaled)", records: half, seconds: graphSeconds, floorName: "sync write, same batches", floorSeconds: graphFloor),
        BenchRow(name: "redis: confirm-event (WATCH/MULTI per 1,000, journaled)", records: half, seconds: redisSeconds, floorName: "MULTI ZADD, same batches", floorSeconds: redisFloor),
        BenchRow(name: "whole plan", records: ops.count, seconds: total, floorName: "—", floorSeconds: nil),
    ])
    try admin.execute("DROP SCHEMA IF EXISTS \(schema) CASCADE")
}
