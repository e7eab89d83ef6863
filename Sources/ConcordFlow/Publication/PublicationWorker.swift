import ConcordCore
import ConcordGitHub
import ConcordGraph
import ConcordJSON
import ConcordPostgres
import ConcordRedis
import Foundation
import Logging

/// Drains approved drafts to GitHub, exactly once (docs/sync.md, "Publication").
///
/// The protocol, each step safe to die after:
/// 1. `DraftWriter.approve` recorded the intent: a `github_publication` row, pending.
/// 2. A worker takes a due row under a session advisory lock (released by PostgreSQL if the worker
///    dies, so a restart takes it again at once) and counts the attempt, committed before any call.
/// 3. An attempt after the first may follow one whose outcome is unknown, so it first looks for what
///    that attempt may have made: a comment on the issue carrying the draft's marker, a pull request
///    from the draft's head. Found: adopted. Not found: created.
/// 4. One transaction: the publication `published` with GitHub's id and URL, the draft `published`.
/// 5. Redis (status, broadcast) and the graph (`contentStatus`, `publishedAt`), then `synced_at`; a
///    publication committed but not synced is synced again by the next pass.
/// A failure GitHub says is final (credentials, a repository or issue gone, a locked issue) marks the
/// publication `failed` with its reason; a transient one (5xx, timeouts, rate limits) defers it with
/// backoff, and after `maxAttempts` it fails too: never retried forever.
public final class PublicationWorker: @unchecked Sendable {
    // @unchecked: one thread drives a worker (its connections are its own).
    public let postgres: PostgresConnection
    public let redis: RedisConnection
    public let graph: (any GraphStore)?
    public let github: GitHubClient
    public var logger: Logger
    public var maxAttempts = 12
    /// Who the history and the log name as publishing.
    public var actor = "concord-publish"
    /// Checked between publications: a stop request finishes the one in hand.
    public var shouldStop: @Sendable () -> Bool = { false }

    public init(postgres: PostgresConnection, redis: RedisConnection, graph: (any GraphStore)?, github: GitHubClient, logger: Logger) {
        self.postgres = postgres
        self.redis = redis
        self.graph = graph
        self.github = github
        self.logger = logger
    }

    /// What one pass did.
    public struct Pass: Sendable, Equatable {
        public var published = 0
        public var adopted = 0
        public var failed = 0
        public var deferred = 0
        public var synced = 0
        public var busy = 0
        /// GitHub gave no answer (refused, timed out): the pass stopped there.
        public var unreachable = false
        public init() {}
        public var worked: Int { published + adopted + failed + deferred + synced }
    }

    /// Publishes what is due (at most `limit`), syncs what was published but not synced; returns what it did.
    public func drainOnce(limit: Int = 200) throws -> Pass {
        var pass = Pass()
        pass.synced = try syncPublished()
        let due = try postgres.query("""
            SELECT draft_id FROM github_publication
            WHERE state = 'pending' AND next_attempt_at <= clock_timestamp()
            ORDER BY next_attempt_at, draft_id LIMIT $1
            """, [Int64(limit)])
        for row in due.rows {
            if shouldStop() { break }
            let id = row.string(0)!
            guard try lock(id) else { pass.busy += 1; continue }
            defer { try? unlock(id) }
            switch try attempt(id) {
            case .published: pass.published += 1
            case .adopted: pass.adopted += 1
            case .failed: pass.failed += 1
            case .deferred: pass.deferred += 1
            case .unreachable:
                // GitHub did not answer at all: the others would wait as long for nothing. The next pass tries again.
                pass.deferred += 1
                pass.unreachable = true
                return pass
            case .skipped: break
            }
        }
        return pass
    }

    /// Passes until nothing more is published, adopted or failed (what is deferred waits for a later pass), or stopped:
    /// `concord publish run --once`. Returns the passes' sum.
    public func drainDue(limit: Int = 200) throws -> Pass {
        var total = Pass()
        while !shouldStop() {
            let p = try drainOnce(limit: limit)
            total.published += p.published; total.adopted += p.adopted; total.failed += p.failed
            total.deferred += p.deferred; total.synced += p.synced; total.busy += p.busy
            total.unreachable = total.unreachable || p.unreachable
            if p.published + p.adopted + p.failed == 0 { break }
        }
        return total
    }

    /// Drains until stopped, sleeping `idle` seconds when nothing was due.
    public func run(idle: Double = 1) throws {
        while !shouldStop() {
            let p = try drainOnce()
            if p.worked > 0 {
                logger.info("publications", metadata: ["published": "\(p.published)", "adopted": "\(p.adopted)", "failed": "\(p.failed)",
                                                       "deferred": "\(p.deferred)", "synced": "\(p.synced)"])
            }
            if p.worked == 0 {
                var slept = 0.0
                while slept < idle && !shouldStop() { Thread.sleep(forTimeInterval: 0.1); slept += 0.1 }
            }
        }
    }

    enum Outcome { case published, adopted, failed, deferred, unreachable, skipped }

    // MARK: One publication

    func attempt(_ id: String) throws -> Outcome {
        // The attempt is counted (and committed) before GitHub is called.
        let claimed = try postgres.query("""
            UPDATE github_publication SET attempts = attempts + 1, attempted_at = clock_timestamp(), updated_at = clock_timestamp()
            WHERE draft_id = $1 AND state = 'pending' AND next_attempt_at <= clock_timestamp()
            RETURNING attempts, to_char((requested_at - interval '5 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
            """, [id])
        guard claimed.rowCount == 1 else { return .skipped }
        let attempts = Int(claimed[0].int(0) ?? 1)
        let since = claimed[0].string(1)
        let d = try postgres.query("SELECT status, content_type, content, metadata FROM draft_content WHERE id = $1", [id])
        guard d.rowCount == 1 else { return try fail(id, "the draft is gone from draft_content") }
        if d[0].string(0) == "discarded" { return try fail(id, "the draft was discarded after it was approved") }
        let target: GitHubTarget
        do { target = try DraftWriter.target(contentType: d[0].string(1) ?? "", metadata: try d[0].json(3) ?? .null, draft: id) } catch let e as ConcordError {
            return try fail(id, e.message)
        }
        let body = GitHubMarker.body(d[0].string(2) ?? "", draft: id)
        do {
            if attempts > 1, let found = try lookUp(id, target, since: since) {
                try record(id, found)
                logger.info("adopted what an earlier attempt published", metadata: ["draft": "\(id)", "url": "\(found.url)"])
                return .adopted
            }
            let made: GitHubItem
            switch target {
            case .comment(let repo, let number):
                made = try github.createComment(repo: repo, number: number, body: body)
            case .pullRequest(let repo, let head, let base, let title):
                do {
                    made = try github.createPull(repo: repo, head: head, base: base, title: title.isEmpty ? Self.title(d[0].string(2) ?? "") : title, body: body)
                } catch let e as GitHubError where e.kind == .unprocessable && e.message.contains("already exists") {
                    guard let found = try lookUp(id, target, since: nil) else {
                        return try fail(id, "a pull request from \(head) already exists on \(repo) and does not carry this draft's marker")
                    }
                    try record(id, found)
                    return .adopted
                }
            }
            try record(id, made)
            return .published
        } catch let e as GitHubError {
            if e.isTransient && attempts < maxAttempts { return try postpone(id, e, attempts: attempts) }
            guard e.isTransient else { return try fail(id, e.description) }
            // Giving up after an unknown outcome: this attempt's write may have landed (found by the model
            // in Models/publication.pml): a last look, and what it finds is adopted rather than left unrecorded.
            do {
                if let found = try lookUp(id, target, since: since) {
                    try record(id, found)
                    logger.info("adopted what the last attempt published", metadata: ["draft": "\(id)", "url": "\(found.url)"])
                    return .adopted
                }
            } catch let look as GitHubError {
                return try fail(id, "gave up after \(attempts) attempts: \(e); GitHub could not be asked whether the last one landed (\(look)): "
                                + "the audit's github.unrecorded-publication finds it if it did")
            }
            return try fail(id, "gave up after \(attempts) attempts: \(e)")
        }
    }

    /// What an earlier attempt may have made: the oldest comment on the issue carrying this draft's
    /// marker (asked for those updated since shortly before the request), or the pull request from the
    /// draft's head that carries it.
    func lookUp(_ id: String, _ target: GitHubTarget, since: String?) throws -> GitHubItem? {
        switch target {
        case .comment(let repo, let number):
            return try github.comments(repo: repo, number: number, since: since)
                .filter { GitHubMarker.draft(in: $0.body) == id }.min { $0.id < $1.id }
        case .pullRequest(let repo, let head, _, _):
            return try github.pulls(repo: repo, head: head).filter { GitHubMarker.draft(in: $0.body) == id }.min { $0.number < $1.number }
        }
    }

    private func record(_ id: String, _ item: GitHubItem) throws {
        try DraftWriter(postgres: postgres, redis: redis).recordPublished(id, githubId: item.id, url: item.url, by: actor)
        try sync(id)
    }

    private func postpone(_ id: String, _ e: GitHubError, attempts: Int) throws -> Outcome {
        var wait = min(3600, pow(2, Double(attempts))) * Double.random(in: 0.5...1.5)
        if case .rateLimited(let until) = e.kind { wait = max(wait, until - Date().timeIntervalSince1970) }
        // No connection at all: GitHub is unreachable, not this publication at fault.
        let unreachable = e.kind == .unreachable
        try postgres.execute("""
            UPDATE github_publication SET last_error = $2, next_attempt_at = clock_timestamp() + make_interval(secs => $3), updated_at = clock_timestamp()
            WHERE draft_id = $1
            """, [id, e.description, wait])
        logger.warning("publication deferred", metadata: ["draft": "\(id)", "attempt": "\(attempts)", "error": "\(e)", "retry_in_s": "\(Int(wait))"])
        return unreachable ? .unreachable : .deferred
    }

    private func fail(_ id: String, _ reason: String) throws -> Outcome {
        try postgres.execute("""
            UPDATE github_publication SET state = 'failed', last_error = $2, updated_at = clock_timestamp() WHERE draft_id = $1
            """, [id, reason])
        logger.error("publication failed", metadata: ["draft": "\(id)", "reason": "\(reason)"])
        return .failed
    }

    // MARK: The other stores

    /// Syncs every publication committed but not yet carried to Redis and the graph (a worker that died between).
    func syncPublished() throws -> Int {
        let r = try postgres.query("SELECT draft_id FROM github_publication WHERE state = 'published' AND synced_at IS NULL ORDER BY published_at LIMIT 500")
        for row in r.rows { try sync(row.string(0)!) }
        return r.rowCount
    }

    /// Redis's status and broadcast, the graph's run, then `synced_at`.
    private func sync(_ id: String) throws {
        let r = try postgres.query("""
            SELECT workflow_run_id, (extract(epoch FROM updated_at) * 1000)::int8 FROM draft_content WHERE id = $1 AND status = 'published'
            """, [id])
        if r.rowCount == 1, let run = r[0].string(0) {
            try DraftWriter(postgres: postgres, redis: redis).broadcast(run: run)
            if let graph {
                try graph.run("MATCH (r:WorkflowRun {id: $id}) SET r.contentStatus = 'published', r.publishedAt = $t",
                              parameters: ["id": .string(run), "t": .int(r[0].int(1) ?? 0)])
            }
        }
        try postgres.execute("UPDATE github_publication SET synced_at = clock_timestamp() WHERE draft_id = $1", [id])
    }

    // MARK: Locks

    private func lock(_ id: String) throws -> Bool {
        try postgres.query("SELECT pg_try_advisory_lock(hashtext('concord.publish'), hashtext($1))", [id])[0].bool(0) == true
    }

    private func unlock(_ id: String) throws {
        _ = try postgres.query("SELECT pg_advisory_unlock(hashtext('concord.publish'), hashtext($1))", [id])
    }

    /// A pull request's title when the draft names none: its first line, at most 200 characters.
    static func title(_ content: String) -> String {
        let first = content.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
        let t = first.trimmingCharacters(in: .whitespaces)
        return t.isEmpty ? "Concord draft" : String(t.prefix(200))
    }
}
