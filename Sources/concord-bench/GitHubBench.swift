import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordGitHub
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation
import Logging

/// GitHub: drafts published per minute against the local GitHub (at the default pacing, and unpaced beside
/// the client posting alone), and the audit's GitHub read of 10,000 published drafts — cold (every page a
/// 200) and again (every page a 304 from its ETag): requests, 304s, time.
@MainActor func githubBench(drafts: Int = 10_000, paced: Int = 60) throws {
    // The local GitHub, with a rate limit no bench reaches (GitHub's own: 5,000 an hour for a token).
    let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    let python = root.appendingPathComponent(".local/venv/bin/python").path
    let server = Process()
    server.executableURL = URL(fileURLWithPath: python)
    server.arguments = [root.appendingPathComponent("Tests/ConcordGitHubTests/Python/github_server.py").path, "--token", "ghp_bench", "--rate-limit", "100000000"]
    let out = Pipe()
    server.standardOutput = out
    server.standardError = FileHandle.nullDevice
    try server.run()
    defer { server.terminate(); server.waitUntilExit() }
    var first = Data()
    while !first.contains(0x0A) { let d = out.fileHandleForReading.availableData; if d.isEmpty { break }; first.append(d) }
    guard let port = Int(String(decoding: first, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw ConcordError(.usage, "the local GitHub did not start (make services installs its Python packages)")
    }
    let url = "http://127.0.0.1:\(port)"

    // Stores of the bench's own: a database, Redis db 64, a graph.
    let admin = try PostgresConnection(url: postgresURL)
    try admin.execute("DROP DATABASE IF EXISTS concord_bench_github WITH (FORCE)")
    try admin.execute("CREATE DATABASE concord_bench_github")
    defer { try? admin.execute("DROP DATABASE IF EXISTS concord_bench_github WITH (FORCE)") }
    let pgURL = postgresURL.replacingOccurrences(of: "/concord", with: "/concord_bench_github")
    let pg = try PostgresConnection(url: pgURL)
    for s in PostgresSchema.statements { try pg.execute(s) }
    let redis = try RedisConnection(url: "redis://127.0.0.1:56379/64")
    _ = try redis.run("FLUSHDB")
    let graph = try FalkorDBStore(url: "falkordb://\(falkorHost):\(falkorPort)/bench_github")
    _ = try? graph.command(["GRAPH.DELETE", "bench_github"])
    _ = try GraphSchema.ensure(on: graph)   // the run's index, as `concord setup` makes it
    defer { _ = try? graph.command(["GRAPH.DELETE", "bench_github"]); _ = try? redis.run("FLUSHDB") }

    func client(pace: Double) -> GitHubClient {
        var o = GitHubClient.Options(baseURL: url, userAgent: "concord-bench")
        o.pace = pace
        return GitHubClient(credentials: .token("ghp_bench"), options: o)
    }
    var logger = Logger(label: "bench.publish")
    logger.logLevel = .critical
    let writer = DraftWriter(postgres: pg, redis: redis)
    /// `n` approved comment drafts, each on its own issue (the audit's worst case: one target each).
    func approve(_ prefix: String, _ n: Int, issueBase: Int) throws {
        var rows: [GraphValue] = []
        for i in 0..<n {
            let id = "\(prefix)\(i)", run = "run-\(id)"
            rows.append(.map(["id": .string(run)]))
            try writer.create(Draft(id: id, workflowRunId: run, contentType: .comment, content: "Generated comment \(i) for \(prefix): " + String(repeating: "words ", count: 40),
                                    status: .draft, metadata: ["githubRepo": "acme/widgets", "githubIssueId": .int(Int64(issueBase + i))]), by: "bench")
            try writer.approve(id, by: "bench")
        }
        for start in stride(from: 0, to: rows.count, by: 1000) {
            try graph.run("UNWIND $rows AS row MERGE (:WorkflowRun {id: row.id})", parameters: ["rows": .list(Array(rows[start..<min(start + 1000, rows.count)]))])
        }
    }
    func drain(_ w: PublicationWorker) throws -> Int { try w.drainDue(limit: 500).published }

    var rows: [BenchRow] = []
    // 1. At the default pacing (one content-creating request a second, as GitHub asks).
    try approve("paced", paced, issueBase: 1_000_000)
    let pacedWorker = PublicationWorker(postgres: pg, redis: redis, graph: graph, github: client(pace: 1), logger: logger)
    var published = 0
    let tPaced = try Bench.time { published = try drain(pacedWorker) }
    rows.append(BenchRow(name: "publish at the default pace (1 s between writes): \(String(format: "%.1f", Double(published) / tPaced * 60)) drafts/min",
                         records: published, seconds: tPaced, floorName: "the pace itself (\(paced - 1) s)", floorSeconds: Double(paced - 1)))

    // 2. Unpaced: the protocol's own cost (intent, attempt, GitHub, one transaction, Redis, graph) beside the client posting alone.
    try approve("d", drafts, issueBase: 1)
    let worker = PublicationWorker(postgres: pg, redis: redis, graph: graph, github: client(pace: 0), logger: logger)
    let tPublish = try Bench.time { published = try drain(worker) }
    let bare = client(pace: 0)
    let tBare = try Bench.time { for i in 0..<drafts { _ = try bare.createComment(repo: "acme/bare", number: Int64(i + 1), body: "bare \(i)") } }
    rows.append(BenchRow(name: "publish unpaced, exactly once (\(String(format: "%.0f", Double(published) / tPublish * 60)) drafts/min)", records: published,
                         seconds: tPublish, floorName: "the client's POSTs alone", floorSeconds: tBare))

    // 3. The audit's GitHub read of every published draft: cold, then with the ETags (304s).
    let rules = try RuleSet.load(directory: root.appendingPathComponent("Rules"))
    guard let spec = rules.datasets["github.publications"] else { throw ConcordError(.usage, "Rules/datasets.yaml has no github.publications") }
    final class Count: RecordSink, @unchecked Sendable {
        var n = 0
        func append(_ record: JSON, to dataset: String) throws { n += 1 }
        func finished(_ dataset: String, records: Int) throws {}
    }
    var notes: [String] = []
    for pass in ["cold (no ETags yet)", "again (every page asked with its ETag)"] {
        let reader = LiveReader(postgres: pg, redis: redis, graph: graph)
        reader.github = client(pace: 0)
        let sink = Count()
        var read: [String: LiveReader.StoreRead] = [:]
        let t = try Bench.time { read = try reader.read([spec], into: sink) }
        let w = read["github"]?.watermark ?? .null
        let requests = w["requests"]?.intValue ?? 0, notModified = w["notModified"]?.intValue ?? 0
        rows.append(BenchRow(name: "audit's GitHub read, \(pass): \(requests) requests, \(notModified) answered 304", records: sink.n, seconds: t,
                             floorName: "—", floorSeconds: nil))
        notes.append("\(pass): \(requests) requests, \(notModified) × 304, rate limit charged \(requests - notModified)")
    }
    Bench.printTable("GitHub: publication and the audit's read (local GitHub; \(drafts) drafts on \(drafts) issues; peak RSS \(String(format: "%.0f", Bench.peakRSSMiB())) MiB)", rows)
    for n in notes { print("  " + n) }
}
