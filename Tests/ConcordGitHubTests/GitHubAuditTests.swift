import ConcordAudit
import ConcordCore
import ConcordFlow
import ConcordGitHub
import ConcordJSON
import ConcordLive
import ConcordModel
import ConcordRepair
import ConcordTestSupport
import Foundation
import Testing

/// GitHub as the audit's fourth store: each fault made by hand is found by its rule, planned and repaired.
@Suite struct GitHubAuditTests {
    static let githubRules = ["github.content-mismatch", "github.duplicate-publication", "github.published-not-on-github", "github.unrecorded-publication"]

    func audit(_ f: PublicationFixture, _ client: GitHubClient, partition: Partition? = nil) throws -> AuditReport {
        let rules = try RuleSet.load(directory: TestStores.repositoryRoot.appendingPathComponent("Rules")).selecting(Self.githubRules)
        let reader = LiveReader(postgres: f.postgres, redis: f.redis, graph: f.graph)
        reader.github = client
        return try Auditor.audit(live: reader, AuditRequest(rules: rules, graceMs: 0, partition: partition), recheck: true)
    }

    func stores(_ f: PublicationFixture, _ client: GitHubClient) throws -> RepairStores {
        let s = RepairStores(postgres: f.postgres, redis: f.redis, graph: f.graph)
        s.github = client
        return s
    }

    @Test func eachFaultIsFoundPlannedAndRepaired() throws {
        let f = try PublicationFixture(redisDB: 119)
        let client = try f.client()
        for (i, id) in ["ok", "del", "dup", "edit"].enumerated() { try f.approvedDraft(id, comment: Int64(50 + i)) }
        try f.approvedDraft("pr", pullHead: "feature/pr")
        #expect(try f.worker(client).drainOnce().published == 5)
        // The faults, by hand: a comment deleted on GitHub, a second copy, an edit on GitHub,
        // a draft marked published that never reached GitHub, a comment whose commit was lost.
        let comments = try f.github.comments()
        let del = try #require(comments.first { GitHubMarker.draft(in: $0.body) == "del" })
        try client.deleteComment(repo: del.repo, id: del.id)
        _ = try client.createComment(repo: "acme/widgets", number: 52, body: GitHubMarker.body("Content of dup.\nSecond line.", draft: "dup"))
        let edit = try #require(comments.first { GitHubMarker.draft(in: $0.body) == "edit" })
        try client.updateComment(repo: edit.repo, id: edit.id, body: GitHubMarker.body("Edited on GitHub.", draft: "edit"))
        try f.approvedDraft("nocomment", comment: 60)
        try f.postgres.execute("""
            UPDATE github_publication SET state = 'published', github_id = 999, github_url = 'https://github.com/acme/widgets/issues/60#issuecomment-999',
              published_at = now() - interval '1 hour', synced_at = now() WHERE draft_id = 'nocomment'
            """)
        try f.postgres.execute("UPDATE draft_content SET status = 'published' WHERE id = 'nocomment'")
        try f.approvedDraft("unrec", comment: 61)
        _ = try client.createComment(repo: "acme/widgets", number: 61, body: GitHubMarker.body("Content of unrec.\nSecond line.", draft: "unrec"))

        // What others write on the same issues: a person's comment, and a reply quoting a published one with its marker.
        let ok = try #require(comments.first { GitHubMarker.draft(in: $0.body) == "ok" })
        _ = try client.createComment(repo: "acme/widgets", number: 50, body: "LGTM, thanks!")
        _ = try client.createComment(repo: "acme/widgets", number: 50, body: ok.body.split(separator: "\n").map { "> " + $0 }.joined(separator: "\n") + "\n\nAgreed.")
        let report = try audit(f, client)
        let found = Set(report.findings.map { "\($0.rule) \($0.key)" })
        #expect(found == ["github.published-not-on-github del", "github.published-not-on-github nocomment", "github.duplicate-publication dup",
                          "github.content-mismatch edit", "github.unrecorded-publication unrec"], "\(found.sorted())")
        #expect(report.findings.allSatisfy { $0.workflowId == "run-" + $0.key })
        // Two partitions read the targets of their own runs and find the same, each finding once.
        var union: [String] = []
        for i in 0..<2 { union += try audit(f, client, partition: try Partition(index: i, count: 2)).findings.map { "\($0.rule) \($0.key)" } }
        #expect(union.count == found.count && Set(union) == found, "\(union.sorted())")
        let read = report.stores["github"]
        #expect(read?["records"]?["github.publications"]?.intValue == 6, "\(read?.encoded() ?? "")")

        // Without --delete-on-github the duplicate is a manual step; with it, a GitHub operation.
        let cautious = try Planner(stores: try stores(f, client), rules: try RuleSet.load(directory: TestStores.repositoryRoot.appendingPathComponent("Rules")))
            .plan(report: report.json(), file: "report")
        #expect(cautious.operations.first { $0.key.hasPrefix("dup") }?.store == .manual)
        var planner = Planner(stores: try stores(f, client), rules: try RuleSet.load(directory: TestStores.repositoryRoot.appendingPathComponent("Rules")))
        planner.deleteOnGitHub = true
        let plan = try planner.plan(report: report.json(), file: "report")
        #expect(Set(plan.operations.map(\.action)) == ["republish", "adopt-publication", "delete-github-comment", "update-github-content"], "\(plan.operations.map(\.action))")
        #expect(RepairPlanText.notUndoable(plan).count == 1, "only the delete on GitHub cannot be undone")
        let results = try Applier(stores: try stores(f, client), plan: plan, operator: "test").apply()
        #expect(results.allSatisfy { $0.outcome == .applied }, "\(results.map { "\($0.operation.action) \($0.outcome) \($0.reason ?? "")" })")
        // The publisher republishes what is pending again (looking first) and syncs what was adopted.
        let pass = try f.worker(client).drainOnce()
        #expect(pass.published == 2 && pass.synced >= 1, "\(pass)")

        let again = try audit(f, client)
        #expect(again.findings.isEmpty, "\(again.findings.map { "\($0.rule) \($0.key)" })")
        #expect((again.stores["github"]?["watermark"]?["notModified"]?.intValue ?? 0) > 0, "unchanged issues answered 304")
        for id in ["ok", "del", "dup", "edit", "pr", "nocomment", "unrec"] { try f.expectPublishedEverywhere(id) }
        #expect(try f.github.comments().first { GitHubMarker.draft(in: $0.body) == "edit" }?.body == GitHubMarker.body("Content of edit.\nSecond line.", draft: "edit"))

        // The undo puts GitHub's edited body back and un-adopts (the publication pending again, the draft a draft).
        let undo = try RepairPlan.undo(planId: plan.planId, journal: f.postgres, rulesDigest: "")
        let undone = try Applier(stores: try stores(f, client), plan: undo, operator: "test").apply()
        let byAction = Dictionary(grouping: undone, by: \.operation.action).mapValues { $0.map(\.outcome) }
        #expect(byAction["update-github-content"] == [.applied] && byAction["unadopt-publication"] == [.applied], "\(undone.map { "\($0.operation.action) \($0.outcome) \($0.reason ?? "")" })")
        #expect(try f.github.comments().first { GitHubMarker.draft(in: $0.body) == "edit" }?.body == GitHubMarker.body("Edited on GitHub.", draft: "edit"))
        #expect(try f.publication("unrec").state == "pending")
        #expect(try f.postgres.query("SELECT status FROM draft_content WHERE id = 'unrec'")[0].string(0) == "draft")
    }

    /// Without GitHub configured, its rules are left out and the report says so; a snapshot without GitHub's datasets too.
    @Test func withoutGitHubItsRulesAreLeftOut() throws {
        let f = try PublicationFixture(redisDB: 120)
        try f.approvedDraft("a", comment: 1)
        let rules = try RuleSet.load(directory: TestStores.repositoryRoot.appendingPathComponent("Rules")).selecting(Self.githubRules + ["draft.history-gap"])
        let report = try Auditor.audit(live: LiveReader(postgres: f.postgres, redis: f.redis, graph: f.graph), AuditRequest(rules: rules, graceMs: 0), recheck: false)
        #expect(report.rules.map(\.id) == ["draft.history-gap"])
        #expect(report.extra["rulesNotRun"]?["rules"]?.arrayValue?.count == 4)
        #expect(report.extra["rulesNotRun"]?["reason"]?.stringValue == "no GitHub is configured")
    }
}

/// Incremental audits and GitHub: a run whose publication changed in PostgreSQL is read again, GitHub included;
/// a change made only on GitHub waits for the next full audit (docs/github.md says so).
@Suite struct GitHubIncrementalTests {
    @Test func aChangedPublicationIsReadAgainAGitHubOnlyChangeWaitsForTheFullAudit() throws {
        let f = try PublicationFixture(redisDB: 124)
        let client = try f.client()
        try f.approvedDraft("a", comment: 80)
        try f.approvedDraft("b", comment: 81)
        #expect(try f.worker(client).drainOnce().published == 2)
        let rules = try RuleSet.load(directory: TestStores.repositoryRoot.appendingPathComponent("Rules")).selecting(GitHubAuditTests.githubRules)
        let state = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("ghstate") + ".json")
        defer { try? FileManager.default.removeItem(at: state) }
        func audit(_ mode: AuditMode) throws -> Set<String> {
            let reader = LiveReader(postgres: f.postgres, redis: f.redis, graph: f.graph)
            reader.github = client
            let r = try Auditor.audit(live: reader, AuditRequest(rules: rules, graceMs: 0), recheck: true, mode: mode, state: AuditStateStore.file(state))
            return Set(r.findings.map { "\($0.rule) \($0.key)" })
        }
        // An hour old, everywhere: nothing is still settling.
        try f.postgres.execute("""
            UPDATE github_publication SET requested_at = requested_at - interval '1 hour', published_at = published_at - interval '1 hour',
              synced_at = synced_at - interval '1 hour', updated_at = updated_at - interval '1 hour', attempted_at = attempted_at - interval '1 hour'
            """)
        try f.postgres.execute("UPDATE draft_content SET created_at = created_at - interval '1 hour', updated_at = updated_at - interval '1 hour'")
        try f.postgres.execute("UPDATE draft_content_history SET changed_at = changed_at - interval '1 hour'")
        try f.github.admin("POST", "/_admin/age", ["seconds": 3600])
        let hourAgo = nowMilliseconds() - 3_600_000
        for run in ["run-a", "run-b"] {
            try f.redis.run("HSET", RedisKeys.status(run), "updatedAt", String(hourAgo))
            try f.graph.run("MATCH (r:WorkflowRun {id: $id}) SET r.publishedAt = $t", parameters: ["id": .string(run), "t": .int(hourAgo)])
        }
        #expect(try audit(.full).isEmpty)
        // On GitHub only: a's comment deleted. In PostgreSQL: b's publication now names a comment GitHub never had.
        let a = try #require(try f.github.comments().first { GitHubMarker.draft(in: $0.body) == "a" })
        try client.deleteComment(repo: a.repo, id: a.id)
        let b = try #require(try f.github.comments().first { GitHubMarker.draft(in: $0.body) == "b" })
        try client.deleteComment(repo: b.repo, id: b.id)
        try f.postgres.execute("UPDATE github_publication SET github_id = 999, updated_at = clock_timestamp() WHERE draft_id = 'b'")
        let incremental = try audit(.incremental)
        #expect(incremental == ["github.published-not-on-github b"], "the run whose publication changed is read again: \(incremental.sorted())")
        #expect(try audit(.full) == ["github.published-not-on-github a", "github.published-not-on-github b"])
    }
}
