import ConcordCore
import ConcordFlow
import ConcordGitHub
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import ConcordTestSupport
import Foundation
import Logging
import Testing

/// Stores of a publication test's own: a PostgreSQL database (a worker drains every pending publication
/// of its database), a Redis database, a FalkorDB graph, and a local GitHub.
final class PublicationFixture {
    let database: String
    let postgresURL: String
    let redisURL: String
    let graphURL: String
    let postgres: PostgresConnection
    let redis: RedisConnection
    let graph: FalkorDBStore
    let github: GitHubStandIn
    static var concord: String { TestStores.concord }

    init(redisDB: Int) throws {
        database = TestStores.unique("gh").lowercased().replacingOccurrences(of: "-", with: "_")
        let admin = try PostgresConnection(url: TestStores.postgresURL)
        try admin.execute("CREATE DATABASE \(database)")
        postgresURL = TestStores.postgresURL.replacingOccurrences(of: "/concord_test", with: "/\(database)")
        postgres = try PostgresConnection(url: postgresURL)
        for s in PostgresSchema.statements { try postgres.execute(s) }
        redisURL = TestStores.redisURL(db: redisDB)
        redis = try TestStores.redis(redisURL)
        _ = try redis.run("FLUSHDB")
        graphURL = TestStores.falkorURL + "/" + TestStores.unique("pub")
        graph = try FalkorDBStore(url: graphURL)
        github = try GitHubStandIn()
    }

    deinit {
        github.stop()
        _ = try? redis.run("FLUSHDB")
        _ = try? graph.command(["GRAPH.DELETE", graph.graph])
        if let admin = try? PostgresConnection(url: TestStores.postgresURL) {
            try? admin.execute("DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        }
    }

    func client(timeout: Double = 3, app: Bool = false) throws -> GitHubClient {
        var o = GitHubClient.Options(baseURL: github.url, userAgent: "concord-test")
        o.pace = 0
        o.secondaryWait = 0.2
        o.backoff = 0.05
        o.timeout = timeout
        let credentials = try GitHubCredentials.resolve(token: app ? nil : github.token, appId: app ? github.appId : nil,
                                                        appKeyFile: app ? github.appKey : nil, installation: app ? 3 : nil, environment: [:])
        return GitHubClient(credentials: credentials, options: o)
    }

    func worker(_ client: GitHubClient? = nil) throws -> PublicationWorker {
        var logger = Logger(label: "test.publish")
        logger.logLevel = .critical
        return PublicationWorker(postgres: postgres, redis: redis, graph: graph, github: try client ?? self.client(), logger: logger)
    }

    /// A run (graph node, Redis status) with one draft, approved for publication.
    @discardableResult
    func approvedDraft(_ id: String, comment issue: Int64? = 1, pullHead: String? = nil, repo: String = "acme/widgets") throws -> String {
        let run = "run-" + id
        try graph.run("MERGE (r:WorkflowRun {id: $id}) SET r.contentStatus = 'draft'", parameters: ["id": .string(run)])
        var metadata: [String: JSON] = ["githubRepo": .string(repo), "userId": "u1"]
        if let pullHead { metadata["headBranch"] = .string(pullHead); metadata["title"] = .string("PR for \(id)") } else if let issue { metadata["githubIssueId"] = .int(issue) }
        let writer = DraftWriter(postgres: postgres, redis: redis)
        try writer.create(Draft(id: id, workflowRunId: run, contentType: pullHead == nil ? .comment : .pullRequest, content: "Content of \(id).\nSecond line.",
                                status: .draft, metadata: .object(metadata)), by: "author")
        try writer.approve(id, by: "reviewer")
        return run
    }

    func publication(_ id: String) throws -> (state: String, attempts: Int64, error: String?, githubId: Int64?, url: String?) {
        let r = try postgres.query("SELECT state, attempts, last_error, github_id, github_url FROM github_publication WHERE draft_id = $1", [id])
        return (r[0].string(0)!, r[0].int(1)!, r[0].string(2), r[0].int(3), r[0].string(4))
    }

    /// Makes every deferred publication due now (instead of waiting out its backoff).
    func makeDue() throws { try postgres.execute("UPDATE github_publication SET next_attempt_at = clock_timestamp() WHERE state = 'pending'") }

    /// The draft is published in all three stores and on GitHub exactly once, with its marker.
    func expectPublishedEverywhere(_ id: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let p = try publication(id)
        #expect(p.state == "published" && p.githubId != nil && p.url != nil, "\(id): \(p)", sourceLocation: sourceLocation)
        let d = try postgres.query("SELECT status, workflow_run_id FROM draft_content WHERE id = $1", [id])
        #expect(d[0].string(0) == "published", "\(id) draft status", sourceLocation: sourceLocation)
        let run = d[0].string(1)!
        #expect(try redis.run("HGET", RedisKeys.status(run), "contentStatus").string == "published", "\(id) Redis", sourceLocation: sourceLocation)
        let g = try graph.run("MATCH (r:WorkflowRun {id: $id}) RETURN r.contentStatus, r.publishedAt", parameters: ["id": .string(run)])
        #expect(g.records.first?[0].stringValue == "published" && g.records.first?[1].intValue != nil, "\(id) graph", sourceLocation: sourceLocation)
        let marker = GitHubMarker.line(draft: id)
        let onGitHub = try github.comments().filter { $0.body.hasSuffix(marker) }.count + github.pulls().filter { $0.body.hasSuffix(marker) }.count
        #expect(onGitHub == 1, "\(id) is on GitHub \(onGitHub) times", sourceLocation: sourceLocation)
    }
}

@Suite struct PublicationTests {
    @Test func commentsAndPullRequestsArePublishedEverywhere() throws {
        let f = try PublicationFixture(redisDB: 112)
        for i in 0..<3 { try f.approvedDraft("c\(i)", comment: Int64(10 + i)) }
        try f.approvedDraft("p0", pullHead: "feature/p0")
        let pass = try f.worker().drainOnce()
        #expect(pass.published == 4 && pass.failed == 0 && pass.deferred == 0)
        for id in ["c0", "c1", "c2", "p0"] { try f.expectPublishedEverywhere(id) }
        let body = try f.github.comments().first { $0.issue == 10 }!.body
        #expect(body == "Content of c0.\nSecond line.\n\n<!-- concord:draft=c0 -->")
        #expect(try f.postgres.query("SELECT max(version) FROM draft_content_history WHERE draft_id = 'c0'")[0].int(0) == 2)
        // Nothing more to do; approving a published draft is refused.
        #expect(try f.worker().drainOnce().worked == 0)
        #expect(throws: ConcordError.self) { try DraftWriter(postgres: f.postgres, redis: f.redis).approve("c0", by: "x") }
        // As a GitHub App: the comment is the bot's.
        try f.approvedDraft("a0", comment: 20)
        #expect(try f.worker(f.client(app: true)).drainOnce().published == 1)
        try f.expectPublishedEverywhere("a0")
    }

    @Test func draftsThatNameNoTargetAreRefusedAtApproval() throws {
        let f = try PublicationFixture(redisDB: 113)
        let w = DraftWriter(postgres: f.postgres, redis: f.redis)
        try w.create(Draft(id: "nohead", workflowRunId: "r", contentType: .pullRequest, content: "x", status: .draft, metadata: ["githubRepo": "a/b"]), by: "u")
        try w.create(Draft(id: "noissue", workflowRunId: "r", contentType: .comment, content: "x", status: .draft, metadata: ["githubRepo": "a/b"]), by: "u")
        try w.create(Draft(id: "norepo", workflowRunId: "r", contentType: .comment, content: "x", status: .draft, metadata: ["githubIssueId": 3]), by: "u")
        for (id, words) in [("nohead", "head branch"), ("noissue", "names no issue"), ("norepo", "names no repository")] {
            do { try w.approve(id, by: "u"); Issue.record("\(id) approved") } catch let e as ConcordError { #expect(e.message.contains(words), "\(e)") }
        }
    }

    @Test func anUnknownOutcomeIsAdoptedNeverPostedTwice() throws {
        let f = try PublicationFixture(redisDB: 114)
        try f.approvedDraft("five", comment: 5)
        try f.approvedDraft("slow", comment: 6)
        try f.approvedDraft("pr", pullHead: "feature/pr")
        try f.github.fault("500-after-write", path: "/issues/5/comments")
        try f.github.fault("timeout-after-write", path: "/issues/6/comments", seconds: 4)
        try f.github.fault("500-after-write", path: "/pulls$")
        let w = try f.worker(f.client(timeout: 1))
        let first = try w.drainOnce()
        #expect(first.deferred == 3 && first.published == 0, "\(first)")
        #expect(try f.publication("five").error?.contains("502") == true)
        try f.makeDue()
        let second = try w.drainOnce()
        #expect(second.adopted == 3 && second.published == 0, "\(second)")
        for id in ["five", "slow", "pr"] { try f.expectPublishedEverywhere(id) }
        #expect(try f.github.comments().count == 2 && f.github.pulls().count == 1)
    }

    @Test func rateLimitsAndServerErrorsStillPublishOnce() throws {
        let f = try PublicationFixture(redisDB: 115)
        for i in 0..<4 { try f.approvedDraft("r\(i)", comment: Int64(30 + i)) }
        try f.github.fault("secondary", path: "/issues/30/comments")
        try f.github.fault("secondary-retry-after", path: "/issues/31/comments", seconds: 1)
        try f.github.fault("429", path: "/issues/32/comments", seconds: 0)
        try f.github.fault("502", path: "/issues/33/comments")   // refused before writing, but the client cannot know
        let w = try f.worker()
        let first = try w.drainOnce()
        #expect(first.published == 3 && first.deferred == 1, "\(first)")
        try f.makeDue()
        #expect(try w.drainOnce().published == 1, "looked first, found nothing, posted")
        for i in 0..<4 { try f.expectPublishedEverywhere("r\(i)") }
        #expect(try f.publication("r3").attempts == 2)
    }

    @Test func finalFailuresAreRecordedNotRetried() throws {
        let f = try PublicationFixture(redisDB: 116)
        try f.github.repo("acme/gone", ["missing": true])
        try f.github.repo("acme/widgets", ["locked": [40], "gone": [41]])
        try f.approvedDraft("norepo", comment: 1, repo: "acme/gone")
        try f.approvedDraft("locked", comment: 40)
        try f.approvedDraft("deleted", comment: 41)
        try f.approvedDraft("foreign", pullHead: "taken")
        _ = try f.client().createPull(repo: "acme/widgets", head: "taken", base: "main", title: "someone else's", body: "not ours")
        let pass = try f.worker().drainOnce()
        #expect(pass.failed == 4, "\(pass)")
        #expect(try f.publication("norepo").error?.contains("404") == true)
        #expect(try f.publication("locked").error?.contains("locked") == true)
        #expect(try f.publication("deleted").error?.contains("410") == true)
        #expect(try f.publication("foreign").error?.contains("does not carry this draft's marker") == true)
        try f.makeDue()
        #expect(try f.worker().drainOnce().worked == 0, "a failed publication is not retried")
        // Bad credentials: failed, with the reason.
        try f.approvedDraft("creds", comment: 2)
        let bad = PublicationWorker(postgres: f.postgres, redis: f.redis, graph: f.graph,
                                    github: GitHubClient(credentials: .token("ghp_revoked"), options: .init(baseURL: f.github.url)), logger: Logger(label: "t"))
        #expect(try bad.drainOnce().failed == 1)
        #expect(try f.publication("creds").error?.contains("Bad credentials") == true)
        // Approving a failed publication again is the operator's retry.
        try f.github.repo("acme/widgets", ["gone": []])
        try DraftWriter(postgres: f.postgres, redis: f.redis).approve("creds", by: "operator")
        #expect(try f.worker().drainOnce().published == 1)
        try f.expectPublishedEverywhere("creds")
        // Transient failures give up after maxAttempts.
        try f.approvedDraft("flaky", comment: 3)
        let w = try f.worker()
        w.maxAttempts = 2
        try f.github.fault("502", path: "/issues/3/comments", count: 2)
        _ = try w.drainOnce()
        try f.makeDue()
        #expect(try w.drainOnce().failed == 1)
        #expect(try f.publication("flaky").error?.hasPrefix("gave up after 2 attempts") == true)
        // The model's counterexample (Models/publication.pml, MUT_NO_LAST_LOOK): the last attempt's write lands but
        // its answer is lost; giving up then must look once more and adopt it, not leave it on GitHub unrecorded.
        try f.approvedDraft("last", comment: 4)
        try f.github.fault("502", path: "/issues/4/comments")
        try f.github.fault("500-after-write", path: "/issues/4/comments")
        _ = try w.drainOnce()
        try f.makeDue()
        #expect(try w.drainOnce().adopted == 1)
        try f.expectPublishedEverywhere("last")
    }

    /// The publisher in-process with the sync (`concord sync --once --publish`), and what `maintain publications` lists.
    @Test func syncPublishesInProcessAndMaintainListsFailures() throws {
        let f = try PublicationFixture(redisDB: 121)
        try f.approvedDraft("inproc", comment: 70)
        try f.github.repo("acme/widgets", ["locked": [71]])
        try f.approvedDraft("refused", comment: 71)
        let env = ["CONCORD_GITHUB_TOKEN": f.github.token]
        let stores = ["--postgres", f.postgresURL, "--redis", f.redisURL, "--graph", f.graphURL]
        let r = try TestStores.run(PublicationFixture.concord, ["sync", "--once", "--publish", "--github-url", f.github.url, "--github-pace", "0"] + stores,
                                   environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        try f.expectPublishedEverywhere("inproc")
        let m = try TestStores.run(PublicationFixture.concord, ["maintain", "publications"] + stores)
        let out = String(decoding: m.stdout, as: UTF8.self)
        #expect(m.status == 0 && out.contains("refused  failed") && out.contains("locked") && !out.contains("inproc"), "\(out)\(m.stderr)")
    }

    /// GitHub unreachable (nothing listens): the pass defers one publication and stops, without waiting for each of the others.
    @Test func anUnreachableGitHubStopsThePassAtOnce() throws {
        let f = try PublicationFixture(redisDB: 125)
        for i in 0..<3 { try f.approvedDraft("u\(i)", comment: Int64(90 + i)) }
        var o = GitHubClient.Options(baseURL: "http://127.0.0.1:1", userAgent: "concord-test")
        o.timeout = 2
        let w = PublicationWorker(postgres: f.postgres, redis: f.redis, graph: f.graph, github: GitHubClient(credentials: .token("t"), options: o),
                                  logger: Logger(label: "t"))
        let t0 = Date()
        let pass = try w.drainOnce()
        #expect(pass.unreachable && pass.deferred == 1 && pass.failed == 0, "\(pass)")
        // One connection attempt's time (AsyncHTTPClient keeps trying to connect until the request's deadline), not three.
        #expect(Date().timeIntervalSince(t0) < 4)
        #expect(try f.publication("u0").error?.contains("cannot connect") == true)
        for id in ["u1", "u2"] { #expect(try f.publication(id).attempts == 0, "not tried in a pass that found GitHub unreachable") }
    }

    @Test func aPullRequestThatAlreadyExistsWithTheMarkerIsAdopted() throws {
        let f = try PublicationFixture(redisDB: 117)
        try f.approvedDraft("mine", pullHead: "feature/mine")
        // The crash window: GitHub has the pull request, PostgreSQL's attempt count was never written.
        _ = try f.client().createPull(repo: "acme/widgets", head: "feature/mine", base: "main", title: "t", body: GitHubMarker.body("x", draft: "mine"))
        #expect(try f.worker().drainOnce().adopted == 1)
        try f.expectPublishedEverywhere("mine")
    }

    /// SIGKILL `concord publish` at random moments, 20 times, while 500 drafts publish: every draft on
    /// GitHub exactly once, every one published in PostgreSQL, Redis and the graph.
    @Test func killedTwentyTimesEveryDraftIsPublishedExactlyOnce() throws {
        let f = try PublicationFixture(redisDB: 118)
        let writer = DraftWriter(postgres: f.postgres, redis: f.redis)
        var rows: [GraphValue] = []
        for i in 0..<500 {
            let id = String(format: "k%03d", i), run = "run-" + id
            rows.append(.map(["id": .string(run)]))
            var metadata: [String: JSON] = ["githubRepo": "acme/widgets"]
            if i % 10 == 0 { metadata["headBranch"] = .string("feature/\(id)") } else { metadata["githubIssueId"] = .int(Int64(1 + i % 37)) }
            try writer.create(Draft(id: id, workflowRunId: run, contentType: i % 10 == 0 ? .pullRequest : .comment, content: "Body \(id)",
                                    status: .draft, metadata: .object(metadata)), by: "author")
            try writer.approve(id, by: "reviewer")
        }
        try f.graph.run("UNWIND $rows AS row MERGE (:WorkflowRun {id: row.id})", parameters: ["rows": .list(rows)])
        let args = ["publish", "run", "--postgres", f.postgresURL, "--redis", f.redisURL, "--graph", f.graphURL,
                    "--github-url", f.github.url, "--github-pace", "0.01", "--github-timeout", "2", "--log-level", "error"]
        let env = ["CONCORD_GITHUB_TOKEN": f.github.token]
        // Every write answered 40 ms late: most kills land between GitHub's write and the PostgreSQL commit.
        try f.github.fault("slow-after-write", path: "/comments$", count: 1000, seconds: 0.04)
        try f.github.fault("slow-after-write", path: "/pulls$", count: 1000, seconds: 0.04)
        var kills = 0
        for _ in 0..<20 {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: PublicationFixture.concord)
            p.arguments = args
            p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            // 500 drafts at 10 ms apart take about 5 s of the 20 runs' ~6 s: most kills land mid-publication.
            Thread.sleep(forTimeInterval: Double.random(in: 0.1...0.5))
            if p.isRunning { kill(p.processIdentifier, SIGKILL); kills += 1 }
            p.waitUntilExit()
        }
        #expect(kills == 20)
        let midway = try f.postgres.query("SELECT count(*) FILTER (WHERE state = 'published'), count(*) FILTER (WHERE attempts > 1) FROM github_publication")
        // Drafts GitHub holds while PostgreSQL still says pending: a kill landed in the window; the last run must adopt them.
        let pendingIds = Set(try f.postgres.query("SELECT draft_id FROM github_publication WHERE state = 'pending'").rows.map { $0.string(0)! })
        let inWindow = (try f.github.comments().map(\.body) + f.github.pulls().map(\.body)).compactMap(GitHubMarker.draft(in:)).filter(pendingIds.contains).count
        // Deferred ones (a kill during a write leaves attempts counted) are made due; then one run to the end.
        try f.makeDue()
        let r = try TestStores.run(PublicationFixture.concord, ["publish", "run", "--once", "--postgres", f.postgresURL, "--redis", f.redisURL,
                                                                "--graph", f.graphURL, "--github-url", f.github.url, "--github-pace", "0"], environment: env)
        #expect(r.status == 0, "\(r.stderr)")
        let states = try f.postgres.query("SELECT state, count(*) FROM github_publication GROUP BY state")
        #expect(states.rowCount == 1 && states[0].string(0) == "published" && states[0].int(1) == 500, "\(states.rows.map { "\($0.string(0)!)=\($0.int(1)!)" })")
        let comments = try f.github.comments(), pulls = try f.github.pulls()
        var seen: [String: Int] = [:]
        for body in comments.map(\.body) + pulls.map(\.body) { if let d = GitHubMarker.draft(in: body) { seen[d, default: 0] += 1 } }
        #expect(seen.count == 500 && seen.values.allSatisfy { $0 == 1 }, "duplicates: \(seen.filter { $0.value > 1 })")
        let notPublished = try f.postgres.query("SELECT count(*) FROM draft_content WHERE status <> 'published'")[0].int(0)
        #expect(notPublished == 0)
        var redisPublished = 0
        for i in 0..<500 where try f.redis.run("HGET", RedisKeys.status("run-" + String(format: "k%03d", i)), "contentStatus").string == "published" { redisPublished += 1 }
        #expect(redisPublished == 500)
        let graphPublished = try f.graph.run("MATCH (r:WorkflowRun) WHERE r.contentStatus = 'published' AND r.publishedAt IS NOT NULL RETURN count(r)").records[0][0].intValue
        #expect(graphPublished == 500)
        print("publish under SIGKILL: \(kills) kills; published before the last run \(midway[0].int(0)!), retried after a kill \(midway[0].int(1)!), "
              + "on GitHub but pending (killed between the write and the commit) \(inWindow); "
              + "the last run: \(String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")
    }
}
