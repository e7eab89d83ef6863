import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordFlow
import ConcordGitHub
import ConcordJSON
import ConcordPostgres
import Foundation

// Publications: what GitHub holds against what PostgreSQL recorded. GitHub is the evidence of what was
// published (it cannot be taken back quietly); PostgreSQL is what should have been (the draft's content).

/// `adopt-publication`: GitHub holds a comment or pull request with a draft's marker that PostgreSQL
/// does not record as published (a publisher that died between GitHub's answer and its commit):
/// the publication is recorded from GitHub's evidence and the draft published.
struct AdoptPublicationAction: RepairAction {
    let name = "adopt-publication"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        let draft = f.key
        guard let githubId = f.evidence["githubId"]?.intValue, let url = f.evidence["url"]?.stringValue, let target = f.evidence["target"]?.stringValue else {
            return [c.manual(f, "the finding carries no GitHub id, URL and target to adopt")]
        }
        let d = try c.stores.postgres.query("SELECT status, workflow_run_id FROM draft_content WHERE id = $1", [draft])
        guard d.rowCount == 1 else { return [c.manual(f, "GitHub holds a publication of draft \(draft), which draft_content does not have: not Concord's to adopt")] }
        if d[0].string(0) == "discarded" {
            return [c.manual(f, "draft \(draft) was discarded, yet GitHub holds it (\(url)): delete it on GitHub or publish the draft again, by hand")]
        }
        let before = try AdoptPublicationOperation.state(draft, c.stores.postgres)
        if before["state"]?.stringValue == "published" && before["githubId"]?.intValue == githubId && d[0].string(0) == "published" { return [] }
        return [c.op(f, AdoptPublicationOperation(), draft,
                     params: ["draft": .string(draft), "githubId": .int(githubId), "url": .string(url), "target": .string(target),
                              "run": d[0].string(1).map(JSON.string) ?? .null],
                     pre: before, before: before,
                     after: ["state": "published", "githubId": .int(githubId), "url": .string(url), "draftStatus": "published"])]
    }
}

struct AdoptPublicationOperation: SingleOperationKind {
    let name = "adopt-publication"
    let store = RepairStore.postgres
    let order = 60

    /// What the precondition and the undo compare: the publication row (or its absence) and the draft's status.
    static func state(_ draft: String, _ pg: PostgresConnection, lock: Bool = false) throws -> JSON {
        let p = try pg.query("SELECT row_to_json(p)::text FROM github_publication p WHERE draft_id = $1" + (lock ? " FOR UPDATE" : ""), [draft])
        let d = try pg.query("SELECT status, (extract(epoch FROM updated_at) * 1000)::int8 FROM draft_content WHERE id = $1" + (lock ? " FOR UPDATE" : ""), [draft])
        let row = p.rowCount == 1 ? try p[0].json(0) ?? .null : .null
        return ["state": row["state"] ?? .null, "githubId": row["github_id"] ?? .null, "url": row["github_url"] ?? .null,
                "publication": row, "draftStatus": d.rowCount == 1 ? d[0].string(0).map(JSON.string) ?? .null : .null,
                "draftUpdatedAt": d.rowCount == 1 ? d[0].int(1).map(JSON.int) ?? .null : .null]
    }

    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let draft = op.params["draft"]?.stringValue, let githubId = op.params["githubId"]?.intValue, let url = op.params["url"]?.stringValue,
              let target = op.params["target"]?.stringValue else { return .skipped(op, "bad parameters") }
        let pg = c.stores.postgres
        return try pg.transaction {
            let now = try Self.state(draft, pg, lock: true)
            if now["state"]?.stringValue == "published" && now["githubId"]?.intValue == githubId && now["draftStatus"]?.stringValue == "published" {
                return .applied(op, "already recorded")
            }
            guard now == op.precondition else { return .skipped(op, "the publication or the draft changed since the plan was made") }
            try pg.execute("""
                INSERT INTO github_publication (draft_id, workflow_run_id, target, state, attempts, github_id, github_url, requested_by, published_at)
                SELECT id, workflow_run_id, $2, 'published', 0, $3, $4, $5, clock_timestamp() FROM draft_content WHERE id = $1
                ON CONFLICT (draft_id) DO UPDATE SET state = 'published', github_id = $3, github_url = $4, last_error = NULL,
                  published_at = coalesce(github_publication.published_at, clock_timestamp()), synced_at = NULL, updated_at = clock_timestamp()
                """, [draft, target, githubId, url, "concord-repair:\(c.planId)"])
            if now["draftStatus"]?.stringValue != "published" {
                try pg.execute("UPDATE draft_content SET status = 'published', updated_at = clock_timestamp() WHERE id = $1", [draft])
                try DraftWriter.appendHistory(draft, by: "concord-repair:\(c.planId)", on: pg)
            }
            return .applied(op)
        }
    }

    /// The publication back as it was (or gone, if there was none) and the draft's status back, with a history version saying so.
    func inverse(of op: RepairOperation) -> RepairOperation? {
        op.inverse(UnadoptPublicationOperation().name, params: ["draft": op.params["draft"] ?? .null, "was": op.before],
                   precondition: ["state": "published", "githubId": op.params["githubId"] ?? .null])
    }
}

/// The undo of `adopt-publication`.
struct UnadoptPublicationOperation: SingleOperationKind {
    let name = "unadopt-publication"
    let store = RepairStore.postgres
    let order = 61

    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let draft = op.params["draft"]?.stringValue, let was = op.params["was"] else { return .skipped(op, "bad parameters") }
        let pg = c.stores.postgres
        return try pg.transaction {
            let now = try AdoptPublicationOperation.state(draft, pg, lock: true)
            guard now["state"]?.stringValue == "published", now["githubId"] == op.precondition["githubId"] else {
                return .skipped(op, "the publication changed since it was adopted")
            }
            if was["publication"]?.isNull ?? true {
                try pg.execute("DELETE FROM github_publication WHERE draft_id = $1", [draft])
            } else if let row = was["publication"] {
                try pg.execute("DELETE FROM github_publication WHERE draft_id = $1", [draft])
                try pg.execute("INSERT INTO github_publication SELECT * FROM json_populate_record(NULL::github_publication, $1::json)", [row.encoded()])
            }
            if let status = was["draftStatus"]?.stringValue, status != now["draftStatus"]?.stringValue {
                try pg.execute("UPDATE draft_content SET status = $2, updated_at = clock_timestamp() WHERE id = $1", [draft, status])
                try DraftWriter.appendHistory(draft, by: "concord-undo:\(c.planId)", on: pg)
            }
            return .applied(op)
        }
    }
}

/// `republish`: PostgreSQL records a publication that GitHub no longer holds (deleted, or never made):
/// the publication is pending again, and the publisher — which looks for the marker first — publishes it.
struct RepublishAction: RepairAction {
    let name = "republish"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        let r = try c.stores.postgres.query("SELECT state, github_id, github_url FROM github_publication WHERE draft_id = $1", [f.key])
        guard r.rowCount == 1, r[0].string(0) == "published" else { return [] }
        let now: JSON = ["state": "published", "githubId": r[0].int(1).map(JSON.int) ?? .null]
        return [c.op(f, RepublishOperation(), f.key, params: ["draft": .string(f.key), "missing": r[0].string(2).map(JSON.string) ?? .null],
                     pre: now, before: now, after: ["state": "pending"])]
    }
}

struct RepublishOperation: SingleOperationKind {
    let name = "republish"
    let store = RepairStore.postgres
    let order = 62
    func imaged(_ op: RepairOperation) -> [RecordAddress] {
        op.params["draft"]?.stringValue.map { [RecordAddress(place: .postgresRow(table: "github_publication", column: "draft_id", value: $0), dataset: DatasetRole.publications.conventionalName)] } ?? []
    }

    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let draft = op.params["draft"]?.stringValue else { return .skipped(op, "bad parameters") }
        let n = try c.stores.postgres.query("""
            UPDATE github_publication SET state = 'pending', attempts = 1, next_attempt_at = clock_timestamp(), updated_at = clock_timestamp(),
              last_error = $3 WHERE draft_id = $1 AND state = 'published' AND github_id IS NOT DISTINCT FROM $2 RETURNING 1
            """, [draft, op.precondition["githubId"]?.intValue, "republish (plan \(c.planId)): GitHub no longer holds \(op.params["missing"]?.stringValue ?? "it")"]).rowCount
        return n == 1 ? .applied(op) : .skipped(op, "the publication is no longer the published one the plan saw")
    }
}

/// `delete-github-comment`: GitHub holds the same draft more than once: the oldest stays, the others go —
/// a manual step unless the plan was made with `--delete-on-github` (deleting on GitHub cannot be undone).
struct DeleteGitHubCommentAction: RepairAction {
    let name = "delete-github-comment"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard let github = c.stores.github else { return [c.manual(f, "no GitHub is configured to find the duplicates of draft \(f.key) with")] }
        let t = try c.stores.postgres.query("SELECT target FROM github_publication WHERE draft_id = $1", [f.key])
        guard t.rowCount == 1, case .comment(let repo, let number)? = GitHubTarget(parsing: t[0].string(0) ?? "") else {
            return [c.manual(f, "draft \(f.key) is on GitHub more than once; only comments are deleted (a pull request is closed by a person)")]
        }
        let copies = try github.comments(repo: repo, number: number).filter { GitHubMarker.draft(in: $0.body) == f.key }.sorted { $0.id < $1.id }
        guard copies.count > 1 else { return [] }
        let keep = copies[0]
        return copies.dropFirst().map { copy in
            let seen: JSON = ["id": .int(copy.id), "sha256": .string(SHA256.hex(copy.body))]
            guard c.deleteOnGitHub else {
                return c.manual(f, "draft \(f.key) is on \(repo)#\(number) \(copies.count) times: keep \(keep.url), delete \(copy.url) "
                                + "(or plan with --delete-on-github)")
            }
            return RepairOperation(findingId: f.id, rule: f.rule, store: .github, action: DeleteGitHubCommentOperation().name,
                                   key: "\(f.key)#\(copy.id)", params: ["repo": .string(repo), "id": .int(copy.id), "draft": .string(f.key), "keep": .string(keep.url)],
                                   precondition: seen, before: ["url": .string(copy.url), "body": .string(copy.body)], after: .null)
        }
    }
}

struct DeleteGitHubCommentOperation: SingleOperationKind {
    let name = "delete-github-comment"
    let store = RepairStore.github
    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let github = c.stores.github else { return .skipped(op, "no GitHub is configured") }
        guard let repo = op.params["repo"]?.stringValue, let id = op.params["id"]?.intValue, let draft = op.params["draft"]?.stringValue else {
            return .skipped(op, "bad parameters")
        }
        do {
            let now = try github.send(.GET, "/repos/\(repo)/issues/comments/\(id)").json()
            let body = now["body"]?.stringValue ?? ""
            guard GitHubMarker.draft(in: body) == draft, SHA256.hex(body) == op.precondition["sha256"]?.stringValue else {
                return .skipped(op, "the comment changed on GitHub since the plan was made")
            }
            try github.deleteComment(repo: repo, id: id)
            return .applied(op)
        } catch let e as GitHubError where e.kind == .notFound {
            return .applied(op, "already gone from GitHub")
        } catch let e as GitHubError {
            return .failed(op, e.description)
        }
    }
}

/// `update-github-content`: the body on GitHub differs from the published draft's content: GitHub's body
/// is rewritten from PostgreSQL (the marker kept). Undone by writing the body it had back.
struct UpdateGitHubContentAction: RepairAction {
    let name = "update-github-content"
    func plan(_ f: FindingInput, _ c: PlanContext) throws -> [RepairOperation] {
        guard let github = c.stores.github else { return [c.manual(f, "no GitHub is configured")] }
        let d = try c.stores.postgres.query("""
            SELECT d.content, p.target, p.github_id FROM draft_content d JOIN github_publication p ON p.draft_id = d.id WHERE d.id = $1 AND d.status = 'published'
            """, [f.key])
        guard d.rowCount == 1, let content = d[0].string(0), let target = GitHubTarget(parsing: d[0].string(1) ?? "") else { return [] }
        let item: GitHubItem?
        switch target {
        case .comment(let repo, let number): item = try github.comments(repo: repo, number: number).filter { GitHubMarker.draft(in: $0.body) == f.key }.min { $0.id < $1.id }
        case .pullRequest(let repo, let head, _, _): item = try github.pulls(repo: repo, head: head).filter { GitHubMarker.draft(in: $0.body) == f.key }.min { $0.number < $1.number }
        }
        guard let item else { return [] }
        let want = GitHubMarker.body(content, draft: f.key)
        guard item.body != want else { return [] }
        var params: [String: JSON] = ["repo": .string(target.repo), "body": .string(want), "draft": .string(f.key)]
        if case .comment = target { params["comment"] = .int(item.id) } else { params["pull"] = .int(item.number) }
        return [c.op(f, UpdateGitHubContentOperation(), f.key, params: .object(params), pre: ["sha256": .string(SHA256.hex(item.body))],
                     before: ["body": .string(item.body)], after: ["body": .string(want)])]
    }
}

struct UpdateGitHubContentOperation: SingleOperationKind {
    let name = "update-github-content"
    let store = RepairStore.github
    func applyOne(_ op: RepairOperation, _ c: ApplyContext) throws -> Applier.Result {
        guard let github = c.stores.github else { return .skipped(op, "no GitHub is configured") }
        guard let repo = op.params["repo"]?.stringValue, let body = op.params["body"]?.stringValue else { return .skipped(op, "bad parameters") }
        do {
            let path = op.params["comment"]?.intValue.map { "/repos/\(repo)/issues/comments/\($0)" } ?? "/repos/\(repo)/pulls/\(op.params["pull"]?.intValue ?? 0)"
            let now = try github.send(.GET, path).json()["body"]?.stringValue ?? ""
            if now == body { return .applied(op, "already so") }
            guard SHA256.hex(now) == op.precondition["sha256"]?.stringValue else { return .skipped(op, "the body changed on GitHub since the plan was made") }
            if let id = op.params["comment"]?.intValue { try github.updateComment(repo: repo, id: id, body: body) } else {
                try github.updatePull(repo: repo, number: op.params["pull"]?.intValue ?? 0, body: body)
            }
            return .applied(op)
        } catch let e as GitHubError {
            return e.kind == .notFound ? .skipped(op, "gone from GitHub: \(e)") : .failed(op, e.description)
        }
    }

    /// The body it had, if GitHub still holds the one written.
    func inverse(of op: RepairOperation) -> RepairOperation? {
        guard case .object(var params) = op.params, let was = op.before["body"]?.stringValue else { return nil }
        params["body"] = .string(was)
        return op.inverse(name, params: .object(params), precondition: ["sha256": .string(SHA256.hex(op.params["body"]?.stringValue ?? ""))])
    }
}

