import ConcordAudit
import ConcordCore
import ConcordGitHub
import ConcordJSON
import ConcordPostgres
import Foundation

/// GitHub read as the audit's fourth store: for every target a recorded
/// publication names (an issue's comments, a head's pull requests), what
/// carries Concord's marker. Pages are asked with their ETags from the last
/// audit (kept in `concord_github_cache`), so an unchanged issue costs a 304
/// and no rate limit; the cache is saved every 200 targets, so an audit
/// stopped by a rate limit resumes where it was.
extension LiveReader {
    /// Where the ETags and the pages they name are kept between audits.
    static let githubCacheTable = """
        CREATE TABLE IF NOT EXISTS concord_github_cache (
          key     text PRIMARY KEY,
          etag    text NOT NULL,
          page    text NOT NULL,
          next    text,
          read_at timestamptz NOT NULL DEFAULT now()
        )
        """

    /// Reads the GitHub datasets of `specs`; with `drafts`/`runs`, only the targets of those drafts' or runs' publications (the recheck).
    func readGitHub(_ specs: [DatasetSpec], _ sink: any RecordSink, drafts: Set<String>? = nil, runs: Set<String>? = nil) throws -> StoreRead {
        let start = Date()
        guard let github else {
            throw ConcordError(.usage, "the rules read GitHub (\(specs.map(\.name).joined(separator: ", "))) but no GitHub is configured (--github-url, CONCORD_GITHUB_TOKEN or an App)",
                               store: "github")
        }
        let before = github.stats
        let cache = try loadGitHubCache()
        // The targets: every recorded publication's (or the recheck's), one read per target.
        var params: [String] = []
        var conds: [String] = []
        if let drafts { params.append(Self.textArray(drafts.sorted())); conds.append("draft_id = ANY($\(params.count)::text[])") }
        if let runs { params.append(Self.textArray(runs.sorted())); conds.append("workflow_run_id = ANY($\(params.count)::text[])") }
        if drafts != nil || runs != nil, conds.isEmpty { conds = ["false"] }
        let rows = try postgres.query("SELECT target, draft_id, workflow_run_id FROM github_publication"
            + (conds.isEmpty ? "" : " WHERE " + conds.joined(separator: " OR ")) + " ORDER BY target, draft_id", params)
        var runOf: [String: String] = [:]
        var targets: [String] = []
        for row in rows.rows {
            let target = row.string(0)!, run = row.string(2)
            if let p = partition, p.count > 1, let run, !p.contains(run: run) { continue }
            runOf[row.string(1)!] = run
            if targets.last != target { targets.append(target) }
        }
        var records: [JSON] = []
        var read = 0
        for target in targets {
            switch GitHubTarget(parsing: target) {
            case .comment(let repo, let number)?:
                for c in try github.comments(repo: repo, number: number, cache: cache) {
                    guard let draft = GitHubMarker.draft(in: c.body) else { continue }
                    records.append(Self.githubRecord("comment", c, number: number, repo: repo, target: target, draft: draft))
                }
            case .pullRequest(let repo, let head, _, _)?:
                for p in try github.pulls(repo: repo, head: head, cache: cache) {
                    guard let draft = GitHubMarker.draft(in: p.body) else { continue }
                    records.append(Self.githubRecord("pull_request", p, number: p.number, repo: repo, target: target, draft: draft))
                }
            case nil:
                continue
            }
            read += 1
            progress?.add("github")
            if read % 200 == 0 { try saveGitHubCache(cache) }
        }
        try saveGitHubCache(cache)
        // A marker that names a draft without a publication: its run from draft_content.
        let unknown = Set(records.compactMap { $0["draft_id"]?.stringValue }.filter { runOf[$0] == nil })
        if !unknown.isEmpty {
            for row in try postgres.query("SELECT id, workflow_run_id FROM draft_content WHERE id = ANY($1::text[])", [Self.textArray(unknown.sorted())]).rows {
                runOf[row.string(0)!] = row.string(1)
            }
        }
        var counts: [String: Int] = [:]
        for spec in specs {
            var n = 0
            for var r in records {
                r = Self.with(r, "workflow_id", r["draft_id"]?.stringValue.flatMap { runOf[$0] }.map(JSON.string) ?? .null)
                if let drafts, let runs, !drafts.contains(r["draft_id"]?.stringValue ?? ""), !runs.contains(r["workflow_id"]?.stringValue ?? "") { continue }
                try sink.append(r, to: spec.name)
                n += 1
            }
            counts[spec.name] = n
            try sink.finished(spec.name, records: n)
        }
        let after = github.stats
        let watermark: JSON = ["targets": .int(Int64(read)), "requests": .int(Int64(after.requests - before.requests)),
                               "notModified": .int(Int64(after.notModified - before.notModified)),
                               "rateRemaining": after.rateRemaining.map { .int(Int64($0)) } ?? .null]
        return StoreRead(readAt: start, finishedAt: Date(), watermark: watermark, records: counts)
    }

    static func githubRecord(_ kind: String, _ item: GitHubItem, number: Int64, repo: String, target: String, draft: String) -> JSON {
        [
            "kind": .string(kind), "id": .int(item.id), "number": .int(number), "repo": .string(repo), "target": .string(target),
            "draft_id": .string(draft), "content": .string(GitHubMarker.content(of: item.body, draft: draft)), "url": .string(item.url),
            "author": .string(item.author), "created_at": Timestamp.parse(item.createdAt).map { .int(Timestamp.milliseconds($0)) } ?? .null,
        ]
    }

    static func with(_ record: JSON, _ key: String, _ value: JSON) -> JSON {
        guard case .object(var o) = record else { return record }
        o[key] = value
        return .object(o)
    }

    func loadGitHubCache() throws -> GitHubPageCache {
        if let c = githubCache { return c }
        try postgres.execute(Self.githubCacheTable)
        var entries: [String: GitHubPageCache.Entry] = [:]
        try postgres.stream("SELECT key, etag, page, next FROM concord_github_cache") { row in
            if let page = try? JSON.parse(row.string(2) ?? "") { entries[row.string(0)!] = .init(etag: row.string(1)!, page: page, next: row.string(3).flatMap { $0.isEmpty ? nil : $0 }) }
        }
        let c = GitHubPageCache(entries)
        githubCache = c
        return c
    }

    func saveGitHubCache(_ cache: GitHubPageCache) throws {
        let changed = cache.takeChanged()
        guard !changed.isEmpty else { return }
        for chunk in changed.sorted(by: { $0.key < $1.key }).chunked(500) {
            try postgres.execute("""
                INSERT INTO concord_github_cache (key, etag, page, next)
                SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
                ON CONFLICT (key) DO UPDATE SET etag = excluded.etag, page = excluded.page, next = excluded.next, read_at = now()
                """, [Self.textArray(chunk.map(\.key)), Self.textArray(chunk.map(\.value.etag)), Self.textArray(chunk.map { $0.value.page.encoded() }),
                      Self.textArray(chunk.map { $0.value.next ?? "" })])
        }
    }
}
