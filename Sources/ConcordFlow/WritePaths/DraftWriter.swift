import ConcordCore
import ConcordGitHub
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis

/// The draft lifecycle in PostgreSQL: create, revise, publish, discard. Each
/// step is one transaction that writes `draft_content` and a new
/// `draft_content_history` version; after it commits, the run's newest draft
/// is broadcast to Redis (`contentStatus`, `draftId`) for the UI.
public struct DraftWriter: Sendable {
    public let postgres: PostgresConnection
    public let redis: RedisConnection
    public let publisher: any Publisher

    public init(postgres: PostgresConnection, redis: RedisConnection, publisher: any Publisher = RecordingPublisher()) {
        self.postgres = postgres
        self.redis = redis
        self.publisher = publisher
    }

    /// Creates a draft (status `draft`, history version 1).
    public func create(_ draft: Draft, by user: String) throws {
        try postgres.transaction {
            try postgres.execute("""
                INSERT INTO draft_content (id, workflow_run_id, content_type, content, status, metadata)
                VALUES ($1, $2, $3, $4, 'draft', $5::jsonb)
                """, [draft.id, draft.workflowRunId, draft.contentType.rawValue, draft.content, draft.metadata])
            try appendHistory(draft.id, by: user)
        }
        try broadcast(run: draft.workflowRunId)
    }

    /// Replaces a draft's content (it must still be a draft).
    public func revise(_ draftId: String, content: String, by user: String) throws {
        let run = try transition(draftId, to: .draft, from: [.draft], content: content, by: user)
        try broadcast(run: run)
    }

    /// Publishes a draft through the publisher, then records it as `published`.
    @discardableResult
    public func publish(_ draftId: String, by user: String) throws -> String {
        guard let draft = try load(draftId) else { throw notFound(draftId) }
        guard draft.status == .draft else {
            throw ConcordError(.usage, "draft \(draftId) is \(draft.status.rawValue), only a draft can be published", store: "postgres")
        }
        let location = try publisher.publish(draft)
        let run = try transition(draftId, to: .published, from: [.draft], content: nil, by: user)
        try broadcast(run: run)
        return location
    }

    /// Approves a draft for publication to GitHub: records the intent (a `github_publication` row, pending)
    /// in one transaction with the draft locked; `concord publish` does the rest. Approving again a
    /// publication that failed makes it pending again (a retry the operator asked for) — its attempts kept at
    /// one if any was made, so the retry looks for the marker before it posts; one that is pending or
    /// published is left as it is.
    @discardableResult
    public func approve(_ draftId: String, by user: String) throws -> GitHubTarget {
        try postgres.transaction {
            let r = try postgres.query("SELECT status, content_type, metadata, workflow_run_id FROM draft_content WHERE id = $1 FOR UPDATE", [draftId])
            guard r.rowCount == 1 else { throw notFound(draftId) }
            guard r[0].string(0) == "draft" else {
                throw ConcordError(.usage, "draft \(draftId) is \(r[0].string(0) ?? "?"), only a draft can be approved for publication", store: "postgres")
            }
            let target = try Self.target(contentType: r[0].string(1) ?? "", metadata: try r[0].json(2) ?? .null, draft: draftId)
            try postgres.execute("""
                INSERT INTO github_publication (draft_id, workflow_run_id, target, requested_by) VALUES ($1, $4, $2, $3)
                ON CONFLICT (draft_id) DO UPDATE SET state = 'pending', attempts = least(github_publication.attempts, 1), last_error = NULL,
                  next_attempt_at = clock_timestamp(), requested_by = $3, updated_at = clock_timestamp()
                WHERE github_publication.state = 'failed'
                """, [draftId, target.description, user, r[0].string(3)])
            return target
        }
    }

    /// Where a draft goes, from its content type and metadata (docs/data-model.md, "Publication").
    public static func target(contentType: String, metadata: JSON, draft: String) throws -> GitHubTarget {
        guard let repo = metadata["githubRepo"]?.stringValue, repo.split(separator: "/").count == 2 else {
            throw ConcordError(.usage, "draft \(draft) names no repository (metadata.githubRepo \"owner/name\")", store: "postgres")
        }
        if contentType == "pull_request" {
            guard let head = metadata["headBranch"]?.stringValue, !head.isEmpty else {
                throw ConcordError(.usage, "pull-request draft \(draft) names no head branch (metadata.headBranch)", store: "postgres")
            }
            return .pullRequest(repo: repo, head: head, base: metadata["baseBranch"]?.stringValue ?? "main",
                                title: metadata["title"]?.stringValue ?? "")
        }
        guard let n = metadata["githubIssueId"]?.intValue ?? metadata["githubIssueId"]?.stringValue.flatMap({ Int64($0) }), n > 0 else {
            throw ConcordError(.usage, "comment draft \(draft) names no issue (metadata.githubIssueId)", store: "postgres")
        }
        return .comment(repo: repo, number: n)
    }

    /// Records a publication GitHub holds (made now, or found by its marker): in one transaction the
    /// publication is `published` with GitHub's id and URL, the draft `published` with a history version
    /// (unless it already is). Returns the draft's run.
    @discardableResult
    public func recordPublished(_ draftId: String, githubId: Int64, url: String, by user: String) throws -> String {
        try postgres.transaction {
            let r = try postgres.query("SELECT workflow_run_id, status FROM draft_content WHERE id = $1 FOR UPDATE", [draftId])
            guard r.rowCount == 1 else { throw notFound(draftId) }
            try postgres.execute("""
                UPDATE github_publication SET state = 'published', github_id = $2, github_url = $3, last_error = NULL,
                  published_at = coalesce(published_at, clock_timestamp()), synced_at = NULL, updated_at = clock_timestamp()
                WHERE draft_id = $1
                """, [draftId, githubId, url])
            if r[0].string(1) != "published" {
                try postgres.execute("UPDATE draft_content SET status = 'published', updated_at = clock_timestamp() WHERE id = $1", [draftId])
                try appendHistory(draftId, by: user)
            }
            return r[0].string(0)!
        }
    }

    /// Discards a draft.
    public func discard(_ draftId: String, by user: String) throws {
        let run = try transition(draftId, to: .discarded, from: [.draft], content: nil, by: user)
        try broadcast(run: run)
    }

    public func load(_ draftId: String) throws -> Draft? {
        let r = try postgres.query(
            "SELECT id, workflow_run_id, content_type, content, status, metadata FROM draft_content WHERE id = $1", [draftId])
        guard r.rowCount == 1 else { return nil }
        let row = r[0]
        return Draft(
            id: row.string(0)!, workflowRunId: row.string(1)!,
            contentType: Draft.ContentType(rawValue: row.string(2)!) ?? .comment, content: row.string(3)!,
            status: Draft.Status(rawValue: row.string(4)!) ?? .draft, metadata: try row.json(5) ?? .null)
    }

    /// Moves a draft to `status` in one transaction (row locked), with a history version.
    private func transition(_ draftId: String, to status: Draft.Status, from allowed: Set<Draft.Status>, content: String?, by user: String) throws -> String {
        try postgres.transaction {
            let r = try postgres.query("SELECT workflow_run_id, status FROM draft_content WHERE id = $1 FOR UPDATE", [draftId])
            guard r.rowCount == 1 else { throw notFound(draftId) }
            let current = Draft.Status(rawValue: r[0].string(1) ?? "") ?? .draft
            guard allowed.contains(current) else {
                throw ConcordError(.usage, "draft \(draftId) is \(current.rawValue); cannot move it to \(status.rawValue)", store: "postgres")
            }
            try postgres.execute("""
                UPDATE draft_content SET status = $2, content = coalesce($3, content), updated_at = clock_timestamp() WHERE id = $1
                """, [draftId, status.rawValue, content])
            try appendHistory(draftId, by: user)
            return r[0].string(0)!
        }
    }

    private func appendHistory(_ draftId: String, by user: String) throws {
        try Self.appendHistory(draftId, by: user, on: postgres)
    }

    /// The draft's next history version: what it holds now, by `user` (every change of a draft writes one).
    public static func appendHistory(_ draftId: String, by user: String, on postgres: PostgresConnection) throws {
        try postgres.execute("""
            INSERT INTO draft_content_history (draft_id, version, status, content, changed_by, changed_at)
            SELECT d.id, coalesce((SELECT max(version) FROM draft_content_history h WHERE h.draft_id = d.id), 0) + 1,
                   d.status, d.content, $2, d.updated_at
            FROM draft_content d WHERE d.id = $1
            """, [draftId, user])
    }

    /// Writes the run's newest draft (greatest created_at, then id) to its Redis status.
    public func broadcast(run: String) throws {
        let r = try postgres.query("""
            SELECT id, status FROM draft_content WHERE workflow_run_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1
            """, [run])
        let now = nowMilliseconds()
        if r.rowCount == 0 {
            _ = try redis.transaction([["HSET", RedisKeys.status(run), "contentStatus", "none", "updatedAt", now],
                                       ["HDEL", RedisKeys.status(run), "draftId"]])
            return
        }
        let id = r[0].string(0)!, status = r[0].string(1)!
        _ = try redis.transaction([
            ["HSET", RedisKeys.status(run), "contentStatus", status, "draftId", id, "updatedAt", now],
            ["PUBLISH", RedisKeys.channel(run), JSON.object(["type": "contentStatus", "draftId": .string(id), "contentStatus": .string(status)]).encoded()],
        ])
    }

    private func notFound(_ id: String) -> ConcordError {
        ConcordError(.usage, "no draft with id \(id)", store: "postgres")
    }
}
