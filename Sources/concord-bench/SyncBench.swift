import ConcordCore
import ConcordFlow
import ConcordSimulator
import ConcordGraph
import ConcordModel
import ConcordRedis
import Foundation

/// Sync throughput (100,000 events queued, then drained) and queue→confirm
/// latency at a steady 1,000 events/s.
@MainActor func syncBench(redisBase: String, falkor: String) throws {
    var rows: [BenchRow] = []
    let redisURL = redisBase + "/14"
    let graphURL = falkor + "/concord_bench_sync"
    let redis = try RedisConnection(url: redisURL)
    _ = try redis.run("FLUSHDB")
    let graph = try FalkorDBStore(url: graphURL)
    _ = try? graph.command(["GRAPH.DELETE", graph.graph])
    _ = try GraphSchema.ensure(on: graph)

    let workload = Workload.generate(seed: 99, runs: 2_000, eventsPerRun: 50, baseTime: nowMilliseconds() - 60_000)
    let events = workload.runs.flatMap(\.events)
    let writer = EventWriter(redis: redis)
    func enqueue(_ events: [Event]) throws {
        var start = 0
        while start < events.count {
            try writer.publish(Array(events[start..<min(start + 5_000, events.count)]))
            start += 5_000
        }
    }
    try enqueue(events)
    let engine = SyncEngine(redis: redis, graph: graph, batchSize: 1000)
    var drained = 0
    let drainTime = try Bench.time { drained = try engine.drain() }

    // Floor: the same events written straight to a fresh graph, same batch size, no queue.
    let floorGraph = try FalkorDBStore(url: falkor + "/concord_bench_sync_floor")
    _ = try? floorGraph.command(["GRAPH.DELETE", floorGraph.graph])
    _ = try GraphSchema.ensure(on: floorGraph)
    let floorEngine = SyncEngine(redis: redis, graph: floorGraph, batchSize: 1000)
    let floor = try Bench.time {
        var s = 0
        while s < events.count {
            try floorEngine.write(Array(events[s..<min(s + 1000, events.count)]), persistedAt: nowMilliseconds())
            s += 1000
        }
    }
    rows.append(BenchRow(name: "sync --once: 100,000 queued events drained into FalkorDB (batch 1,000)", records: drained,
                         seconds: drainTime, floorName: "the same graph writes alone (no queue, no confirm)", floorSeconds: floor))
    _ = try? floorGraph.command(["GRAPH.DELETE", floorGraph.graph])

    // The same drain with 100-byte payloads: how much of the time is payload text.
    _ = try redis.run("FLUSHDB")
    _ = try? graph.command(["GRAPH.DELETE", graph.graph])
    _ = try GraphSchema.ensure(on: graph)
    let small = events.map { e -> Event in
        var e = e
        e.payload = ["text": .string(String(repeating: "x", count: 90))]
        return e
    }
    try enqueue(small)
    let smallEngine = SyncEngine(redis: redis, graph: graph, batchSize: 1000)
    var smallDrained = 0
    let smallTime = try Bench.time { smallDrained = try smallEngine.drain() }
    rows.append(BenchRow(name: "sync --once: the same 100,000 events with 100-byte payloads", records: smallDrained,
                         seconds: smallTime, floorName: "—", floorSeconds: nil))
    let payloadBytes = events.reduce(0) { $0 + $1.payload.encoded().utf8.count }
    Bench.printTable("Sync throughput (realistic payloads average \(payloadBytes / events.count) bytes)", rows)

    // Latency: a running sync, a producer at 1,000 events/s for 10 s, timestamps taken at publish.
    let live = SyncEngine(redis: try RedisConnection(url: redisURL), graph: try FalkorDBStore(url: graphURL), batchSize: 500)
    nonisolated(unsafe) var stop = false
    live.shouldStop = { stop }
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        try? live.run()
        done.signal()
    }
    live.metrics.resetLags()
    let rate = 1_000.0, seconds = 10.0
    let began = Date()
    var sent = 0
    var seq = 0
    while Date().timeIntervalSince(began) < seconds {
        // Ten events every 10 ms, one run per tick.
        let run = "lat_\(seq)"
        seq += 1
        let now = nowMilliseconds()
        var batch: [Event] = [RunWriter.startedEvent(id: "\(run)_0", run: run, userId: "u", at: now)]
        for i in 1..<10 {
            batch.append(Event(id: "\(run)_\(i)", timestamp: now, type: "message", parentId: "\(run)_\(i - 1)",
                               payload: ["text": "latency probe"], metadata: EventMetadata(workflowId: run, userId: "u")))
        }
        try writer.publish(batch)
        sent += batch.count
        let due = began.addingTimeInterval(Double(sent) / rate).timeIntervalSinceNow
        if due > 0 { Thread.sleep(forTimeInterval: due) }
    }
    // Let the sync catch up, then stop it.
    for _ in 0..<100 where live.metrics.counter("processed") < Int64(sent) { Thread.sleep(forTimeInterval: 0.05) }
    stop = true
    done.wait()
    let p50 = live.metrics.lagQuantile(0.5) ?? -1, p99 = live.metrics.lagQuantile(0.99) ?? -1
    print("\n## Sync latency at a steady \(Int(rate)) events/s for \(Int(seconds)) s\n")
    print("| events | confirmed | queue→confirm p50 | p99 | max |")
    print("|---:|---:|---:|---:|---:|")
    print("| \(sent) | \(live.metrics.counter("processed")) | \(p50) ms | \(p99) ms | \(live.metrics.lagQuantile(1.0) ?? -1) ms |")
    _ = try redis.run("FLUSHDB")
    _ = try? graph.command(["GRAPH.DELETE", graph.graph])
}
