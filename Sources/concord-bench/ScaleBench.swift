import ConcordCore
import ConcordFlow
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Audits that keep up (issue 11): on the audit bench's data, the full audit
/// (plain, and with the state saved), each of 4 partitions, and an
/// incremental audit after 1 % of the runs received new events, a draft
/// change or a fault; time and peak RSS of each child, the findings compared.
@MainActor func scaleBench(runs: Int, postgresBase: String, redisBase: String, falkor: String) throws {
    let (pgURL, redisURL, graphURL, events, drafts) = try loadAuditStores(runs: runs, postgresBase: postgresBase, redisBase: redisBase, falkor: falkor,
                                                                          name: "scale", redisDB: 14)
    print("\nscale: \(events) events in \(runs) runs, \(drafts) drafts")
    let concord = Bench.concord
    let work = try Bench.workDirectory("scale")
    defer { try? FileManager.default.removeItem(at: work) }
    let storeArgs = ["--postgres", pgURL, "--redis", redisURL, "--graph", graphURL]
    let state = work.appendingPathComponent("state.json").path
    // Evaluated a day later than the data (nothing is settling), the same moment for every audit of one state of the stores.
    let t0 = nowMilliseconds() + 86_400_000
    func audit(_ name: String, _ extra: [String], now: Int64) throws -> (Measured, JSON) {
        let out = work.appendingPathComponent(name + ".json").path
        let m = try Measured.run(concord, ["audit", "--format", "json", "--output-dir", work.path, "--json-output", out, "--fail-on", "never",
                                           "--no-recheck", "--now", String(now)] + extra + storeArgs)
        return (m, try JSON.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: out)))))
    }
    func ids(_ r: JSON) -> Set<String> { Set((r["findings"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }) }

    let (plain, plainReport) = try audit("plain", [], now: t0)
    let (full, _) = try audit("full", ["--full", "--state", state], now: t0)
    var parts: [(Measured, JSON)] = []
    for i in 0..<4 { parts.append(try audit("part\(i)", ["--partition", "\(i)/4"], now: t0)) }
    let union = parts.reduce(into: Set<String>()) { $0.formUnion(ids($1.1)) }

    // 1 % of the runs change: new events (stream, graph, confirmation), a draft edited, a node deleted.
    let redis = try RedisConnection(url: redisURL), graph = try FalkorDBStore(url: graphURL), pg = try PostgresConnection(url: pgURL)
    let touched = stride(from: 0, to: runs, by: 100).map { $0 }
    let base = nowMilliseconds() - 3_600_000
    var batch: [Event] = []
    var commands: [[any RedisArgument]] = []
    for r in touched {
        for i in 0..<5 {
            let id = "ev_\(r)_new\(i)"
            let e = Event(id: id, timestamp: base + Int64(i), type: "toolCall", parentId: i == 0 ? "ev_\(r)_49" : "ev_\(r)_new\(i - 1)",
                          payload: ["step": .int(Int64(50 + i)), "text": "added later"], metadata: EventMetadata(workflowId: "wr_\(r)", userId: "u_1"))
            batch.append(e)
            commands.append(["XADD", RedisKeys.events("wr_\(r)"), "*", "event", e.encoded])
            commands.append(["ZADD", RedisKeys.confirmed, base + 100, id])
        }
    }
    try SyncEngine(redis: redis, graph: graph, batchSize: 2_000).write(batch, persistedAt: base + 200)
    _ = try redis.pipeline(commands)
    for r in touched.prefix(touched.count / 2) {
        _ = try pg.execute("UPDATE draft_content SET content = content || ' (edited)', updated_at = now() WHERE id = $1", ["dr_\(r)_0"])
    }
    for r in touched.suffix(5) { try graph.run("MATCH (n:Node {id: $id}) DETACH DELETE n", parameters: ["id": .string("ev_\(r)_20")]) }

    let t1 = t0 + 3_600_000
    let (inc, incReport) = try audit("incremental", ["--incremental", "--state", state], now: t1)
    let (after, afterReport) = try audit("after", [], now: t1)
    let same = ids(incReport) == ids(afterReport)

    let rows = [
        ScaleRow(name: "full audit", m: plain, note: "\(plainReport["summary"]?["findings"]?.intValue ?? 0) findings"),
        ScaleRow(name: "full audit --full --state (signatures + state saved)", m: full, note: "+\(String(format: "%.0f", (full.seconds / plain.seconds - 1) * 100)) % for the state"),
    ] + parts.enumerated().map { i, p in
        ScaleRow(name: "partition \(i)/4", m: p.0, note: "\(String(format: "%.2f", p.0.seconds / plain.seconds))× time, \(String(format: "%.2f", p.0.peakMiB / plain.peakMiB))× RSS of the full audit")
    } + [
        ScaleRow(name: "full audit after 1 % of runs changed", m: after, note: "\(afterReport["summary"]?["findings"]?.intValue ?? 0) findings"),
        ScaleRow(name: "incremental audit after 1 % of runs changed", m: inc,
                 note: "\(incReport["incremental"]?["reaudited"]?.intValue ?? 0) of \(incReport["incremental"]?["runs"]?.intValue ?? 0) runs read, \(String(format: "%.1f", inc.seconds / after.seconds * 100)) % of the full audit's time"),
    ]
    print("\n| audit | seconds | peak RSS MiB | |\n|---|---:|---:|---|")
    for r in rows { print("| \(r.name) | \(String(format: "%.2f", r.m.seconds)) | \(Int(r.m.peakMiB)) | \(r.note) |") }
    let maxPart = parts.map(\.0.peakMiB).max() ?? 0
    print("\ntargets:")
    print("  incremental ≤ 5 % of the full audit's time: \(String(format: "%.1f", inc.seconds / after.seconds * 100)) % — \(inc.seconds <= after.seconds * 0.05 ? "met" : "NOT met")")
    print("  incremental findings identical to a full audit at the same moment: \(same ? "yes" : "NO")")
    print("  union of the 4 partitions == full report: \(union == ids(plainReport) ? "yes" : "NO")")
    print("  partition peak RSS ≤ full/4 + 100 MiB (\(Int(plain.peakMiB / 4 + 100)) MiB): largest \(Int(maxPart)) MiB — \(maxPart <= plain.peakMiB / 4 + 100 ? "met" : "NOT met")")
    print("incremental timings: \(incReport["timings"]?.encoded() ?? "")")
    print("incremental: \(incReport["incremental"]?.encoded() ?? "")")
    print("partition 0 timings: \(parts[0].1["timings"]?.encoded() ?? ""), full timings: \(plainReport["timings"]?.encoded() ?? "")")
    func seconds(_ r: JSON) -> String { ["postgres", "redis", "graph"].map { "\($0) \(r["stores"]?[$0]?["seconds"]?.encoded() ?? "?") s" }.joined(separator: ", ") }
    print("read per store: full \(seconds(plainReport)); partition 0 \(seconds(parts[0].1))")
}

struct ScaleRow {
    var name: String
    var m: Measured
    var note: String
}

/// A child process's wall time and peak RSS (its own, from wait4).
struct Measured {
    var seconds: Double
    var peakMiB: Double

    static func run(_ executable: String, _ args: [String]) throws -> Measured {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + args).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let start = DispatchTime.now().uptimeNanoseconds
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw ConcordError(.usage, "cannot start \(executable): \(rc)") }
        var status: Int32 = 0
        var usage = rusage()
        _ = wait4(pid, &status, 0, &usage)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        guard status == 0 else { throw ConcordError(.usage, "\(executable) \(args.joined(separator: " ")) failed (status \(status))") }
        return Measured(seconds: seconds, peakMiB: Double(usage.ru_maxrss) / 1024)
    }
}
