import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordRedis
import ConcordRepair
import ConcordTestSupport
import Foundation
import Testing

/// The admin console: a browser tour in headless Chromium, and its security from the outside (curl).
@Suite struct ConsoleTests {
    static let token = "console-test-token-\(UUID().uuidString)"
    /// Markup in a run id: it reaches the findings, the plan and the HTML report, and must stay text.
    static let xss = "<img src=x onerror=\"window.__xss=1\"><script>window.__xss=2</script>"

    /// Stores with faults of every kind and a run whose id is markup, audited into a reports directory of the test's own.
    static func audited(_ f: ServeFixture) throws -> URL {
        let reports = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("console-reports"))
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        let sim = try TestStores.run(ServeFixture.concord, ["simulate", "--runs", "40", "--events-per-run", "5", "--seed", "77", "--faults", "all=1"] + f.storeArguments)
        #expect(sim.status == 0, "simulate: \(sim.stderr)")
        let event = Event(id: "ev_xss", timestamp: 1_764_393_600_000, type: "message", parentId: xss, payload: .object(["html": .string(xss)]),
                          metadata: EventMetadata(workflowId: xss, userId: "u_x"))
        _ = try f.redis.run("XADD", RedisKeys.events(xss), "*", "event", event.encoded)
        let audit = try TestStores.run(ServeFixture.concord, ["audit", "--format", "json,html", "--output-dir", reports.path, "--grace", "0s"] + f.storeArguments)
        #expect(audit.status == 1, "audit: \(audit.stderr)")
        return reports
    }

    @Test func browserTourLoginAuditPlanApplyJournal() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
            Issue.record("Chromium is not installed (make test installs Debian's chromium)")
            return
        }
        let f = try ServeFixture(db: 59)
        let reports = try Self.audited(f)
        // Two publications to GitHub: one published, one GitHub refused (its reason holds markup).
        try f.postgres.execute("""
            INSERT INTO github_publication (draft_id, workflow_run_id, target, state, attempts, github_id, github_url, last_error, requested_by)
            VALUES ('pub_ok', 'run_p', 'acme/widgets#7', 'published', 1, 42, 'https://github.com/acme/widgets/issues/7#issuecomment-42', NULL, 'ada'),
                   ('pub_bad', 'run_p', 'acme/widgets#8', 'failed', 1, NULL, NULL, $1, 'ada')
            """, ["POST /repos/acme/widgets/issues/8/comments: 422 Validation Failed: " + Self.xss])
        try f.start(["--reports", reports.path, "--sample-seconds", "0.2"], environment: ["CONCORD_SERVE_TOKEN": Self.token])
        let shots = TestStores.repositoryRoot.appendingPathComponent(".build/test-screenshots/console").path
        let r = try TestStores.run(TestStores.python, [TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordServeTests/Python/console_tour.py").path,
                                                       f.base, Self.token, shots, Self.xss, "wr_77_3", f.redisURL])
        try #require(r.status == 0, "the tour failed: \(r.stderr)")
        let o = try JSON.parse([UInt8](r.stdout))
        // Logging in.
        #expect(o["login_url"]?.stringValue == f.base + "/console/login")
        #expect(o["wrong_token_text"]?.stringValue == "Wrong token.")
        #expect(o["after_login_url"]?.stringValue == f.base + "/console/audits")
        #expect(o["cookie_flags"]?.arrayValue?.first == .array([.string("concord_session"), .bool(true), .string("Strict")]))
        #expect(o["audit_rows"]?.intValue == 1)
        // The audit: rules and findings; the markup is text, nothing ran.
        #expect((o["rule_rows"]?.intValue ?? 0) >= 15)
        #expect((o["finding_rows"]?.intValue ?? 0) >= 20)
        #expect(o["xss_as_text_on_audit"] == .bool(true))
        #expect(o["xss_elements_on_audit"]?.intValue == 0)
        #expect(o["xss_ran_audit"]?.intValue == 0)
        #expect(o["report_title"]?.stringValue?.contains("Concord") == true)
        #expect(o["xss_as_text_on_report"] == .bool(true))
        #expect(o["xss_ran_report"]?.intValue == 0)
        // The plan: a dry run per store, written beside the reports.
        let planId = try #require(o["plan_id"]?.stringValue)
        #expect(planId.hasPrefix("plan-"))
        #expect(FileManager.default.fileExists(atPath: reports.appendingPathComponent("\(planId).json").path))
        let stores = (o["dry_run_stores"]?.arrayValue ?? []).compactMap { $0[0]?.stringValue }
        #expect(Set(stores).isSuperset(of: ["graph", "redis"]), "\(stores)")
        #expect((o["manual_rows"]?.intValue ?? 0) > 0)
        #expect(o["xss_as_text_on_plan"] == .bool(true) && o["xss_elements_on_plan"]?.intValue == 0 && o["xss_ran_plan"]?.intValue == 0)
        // Applied: the outcome, every operation, the apply report.
        let outcome = o["outcome_text"]?.stringValue ?? ""
        #expect(outcome.contains("applied") && outcome.contains("by Ada Lovelace"), "\(outcome)")
        #expect((o["operation_rows"]?.intValue ?? 0) > 10)
        #expect(FileManager.default.fileExists(atPath: reports.appendingPathComponent("apply-\(planId).json").path))
        // The journal: plan and apply, by Ada, from the console, with the peer's address.
        let rows = o["journal_rows"]?.arrayValue ?? []
        #expect(rows.contains { $0[1]?.stringValue == "apply" && $0[3]?.stringValue == "Ada Lovelace" && ($0[4]?.stringValue ?? "").contains("127.0.0.1") })
        #expect(rows.contains { $0[1]?.stringValue == "plan" && $0[3]?.stringValue == "Ada Lovelace" })
        #expect((o["journal_operations"]?.intValue ?? 0) > 0)
        #expect(o["journal_filtered_commands"]?.arrayValue?.allSatisfy { $0.stringValue == "apply" } == true)
        // The publications: each state, the published one's link to GitHub, the refused one's reason as text.
        #expect(o["publications_url"]?.stringValue == f.base + "/console/publications")
        #expect(o["publication_counts"]?.stringValue?.contains("failed: 1") == true && o["publication_counts"]?.stringValue?.contains("published: 1") == true)
        let pubs = o["publication_rows"]?.arrayValue ?? []
        #expect(Set(pubs.compactMap { $0[1]?.stringValue }) == ["pub_ok", "pub_bad"])
        #expect(o["publication_links"]?.arrayValue == [.string("https://github.com/acme/widgets/issues/7#issuecomment-42")])
        #expect(o["xss_as_text_on_publications"] == .bool(true) && o["xss_elements_on_publications"]?.intValue == 0 && o["xss_ran_publications"]?.intValue == 0)
        #expect(o["publications_failed_only"]?.arrayValue == [.string("failed")])
        // The front page by keyboard: three stores, the queue as Redis holds it, the run box reached with Tab and labelled.
        #expect(o["overview_url"]?.stringValue == f.base + "/console/")
        #expect(o["overview_stores_ok"]?.intValue == 3)
        #expect(o["overview_queue"]?.stringValue == String(try f.redis.run("LLEN", RedisKeys.queue).int ?? -1))
        #expect(o["overview_last_audit"]?.stringValue?.contains("finding(s)") == true)
        #expect((o["tabs_to_run_box"]?.intValue ?? 99) < 25 && o["run_box_label"]?.stringValue?.contains("Run id") == true)
        #expect(o["run_url"]?.stringValue == f.base + "/console/runs/wr_77_3")
        #expect((o["run_event_rows"]?.intValue ?? 0) >= 5)
        // Its live stream while the page is open: the event written meanwhile, shown as text.
        #expect(o["live_lines"]?.arrayValue?.count == 1 && o["live_lines"]?.arrayValue?.first?.stringValue?.contains("ev_live_1") == true, "\(o["live_lines"]?.encoded() ?? "")")
        #expect(o["live_markup_elements"]?.intValue == 0)
        // Trends: a chart per rule that found something (each bar a link to its audit), duration, records, the sampled queue.
        #expect((o["trends_charts"]?.intValue ?? 0) >= 4 && o["trends_charts"] == o["trends_charts_titled"], "every chart titled")
        #expect((o["trends_rule_charts"]?.intValue ?? 0) >= 5)
        #expect(o["trends_queue_chart"]?.intValue == 1)
        #expect((o["trends_bar_links"]?.intValue ?? 0) > 0)
        // The forged cross-site POST was refused, and nothing was applied a second time.
        #expect(o["forged_status"]?.intValue == 403, "forged POST answered \(o["forged_status"]?.description ?? "nothing")")
        let applies = try AuditLog.entries(on: f.postgres, plan: planId).filter { $0.command == "apply" }
        #expect(applies.count == 1)
        #expect(applies.first?.operator == "Ada Lovelace")
        // Nine screenshots.
        for name in ["1-audits", "2-audit", "3-plan-dry-run", "4-applied", "5-journal", "6-publications", "7-overview", "8-run", "9-trends"] {
            #expect(FileManager.default.fileExists(atPath: shots + "/\(name).png"))
        }
        // The token is in no log line.
        f.stop()
        #expect(!f.stderrText.contains(Self.token))
    }

    /// The front page and a run's page against stores with faults of every kind: the numbers the stores hold (read
    /// directly here), and every injected fault of a run marked on its page.
    @Test func overviewAndRunPagesShowWhatTheStoresHold() throws {
        let f = try ServeFixture(db: 122)
        let reports = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("overview-reports"))
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        let truthFile = reports.appendingPathComponent("truth.json")
        let sim = try TestStores.run(ServeFixture.concord, ["simulate", "--runs", "40", "--events-per-run", "6", "--seed", "91", "--faults", "all=1",
                                                            "--truth", truthFile.path] + f.storeArguments)
        #expect(sim.status == 0, "simulate: \(sim.stderr)")
        _ = try TestStores.run(ServeFixture.concord, ["audit", "--format", "json", "--output-dir", reports.path, "--grace", "0s"] + f.storeArguments)
        try f.start(["--reports", reports.path], environment: ["CONCORD_SERVE_TOKEN": Self.token])
        let auth = ["Authorization: Bearer \(Self.token)"]
        #expect(try curl(f, [f.base + "/"]).location == "/console/")
        let page = try f.get("/console/", headers: auth)
        #expect(page.status == 200)
        func cell(_ key: String) -> String? {
            guard let r = page.body.range(of: "data-key=\"\(key)\">") else { return nil }
            let rest = page.body[r.upperBound...]
            guard let open = rest.range(of: "<td class=\"num\">"), let close = rest.range(of: "</td>", range: open.upperBound..<rest.endIndex) else { return nil }
            return String(rest[open.upperBound..<close.lowerBound])
        }
        let lens = try f.redis.pipeline([["LLEN", RedisKeys.queue], ["LLEN", RedisKeys.processing], ["LLEN", RedisKeys.deadletter], ["ZCARD", RedisKeys.confirmed]])
        #expect(cell("queue") == String(lens[0].int ?? -1) && cell("processing") == String(lens[1].int ?? -1), "\(page.body.prefix(3000))")
        #expect(cell("deadletter") == String(lens[2].int ?? -1) && cell("confirmed") == String(lens[3].int ?? -1))
        #expect(page.body.components(separatedBy: "data-ok=\"true\"").count - 1 == 3, "three stores reachable")
        #expect(page.body.contains("id=\"last-audit\"><a href=\"/console/audits/"))
        // Every injected fault of a run: its run's page lists the finding, and an event's row is marked.
        let truth = try JSON.parse([UInt8](Data(contentsOf: truthFile)))["findings"]?.arrayValue ?? []
        let byRun = Dictionary(grouping: truth.filter { $0["workflowId"]?.stringValue != nil }, by: { $0["workflowId"]!.stringValue! })
        #expect(byRun.count >= 10)
        let rowRules: Set<String> = ["event.missing-in-graph", "event.duplicate-node", "event.out-of-order", "event.wrong-parent"]
        var marked = 0
        for (run, faults) in byRun {
            let r = try f.get("/console/runs/" + (run.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? run), headers: auth)
            #expect(r.status == 200, "\(run)")
            // (A confirmation of an event that no stream or graph holds names no run: no run page can show it.)
            for t in faults where t["rule"]?.stringValue != "event.confirmed-not-persisted" {
                let key = t["key"]!.stringValue!, rule = t["rule"]!.stringValue!
                #expect(r.body.contains("<td>\(rule)</td><td>\(key)</td>"), "\(run): \(rule) \(key) not among the run's findings")
                if rowRules.contains(rule) {
                    #expect(r.body.contains("data-event=\"\(key)\" class=\"marked\""), "\(run): \(rule) \(key) not marked on its row")
                    marked += 1
                }
            }
        }
        #expect(marked >= 4)
        // Trends: each rule's chart holds the count its audit report holds.
        let trends = try f.get("/console/trends", headers: auth)
        #expect(trends.status == 200)
        let report = try JSON.parse([UInt8](Data(contentsOf: reports.appendingPathComponent("latest.json"))))
        var charted = 0
        for r in report["rules"]?.arrayValue ?? [] {
            guard let id = r["id"]?.stringValue, let n = r["findings"]?.intValue, n > 0 else { continue }
            guard let start = trends.body.range(of: "id=\"rule-\(id)\""), let end = trends.body.range(of: "</svg>", range: start.upperBound..<trends.body.endIndex) else {
                Issue.record("no chart for \(id)"); continue
            }
            #expect(trends.body[start.upperBound..<end.lowerBound].contains(": \(n)</title>"), "\(id): \(n)")
            charted += 1
        }
        #expect(charted >= 10)
        // Entries other producers wrote into a run's stream: not JSON, and an ISO-string timestamp — shown, marked, no failure.
        let foreignRun = byRun.keys.sorted()[0]
        try f.redis.run("XADD", RedisKeys.events(foreignRun), "*", "event", "not json {")
        try f.redis.run("XADD", RedisKeys.events(foreignRun), "*", "event", #"{ "id" : "ev_iso", "timestamp" : "2025-11-24T15:00:00Z", "type": "message", "parentId": "x" }"#)
        let foreignPage = try f.get("/console/runs/" + foreignRun, headers: auth)
        #expect(foreignPage.status == 200 && foreignPage.body.contains("malformed in the stream") && foreignPage.body.contains("data-event=\"ev_iso\" class=\"marked\""))
        // The search box's redirect, and a run no store knows.
        #expect(try curl(f, ["-H", auth[0], f.base + "/console/runs?id=wr_nobody"]).location == "/console/runs/wr_nobody")
        let unknown = try f.get("/console/runs/wr_nobody", headers: auth)
        #expect(unknown.status == 404 && unknown.body.contains("id=\"unknown-run\""))
    }

    /// From outside a browser: what needs a login, what needs the CSRF token and the origin, the bearer token
    /// for scripts, and the console off without a token.
    @Test func accessAndCSRFFromOutside() throws {
        let f = try ServeFixture(db: 62)
        let reports = try Self.audited(f)
        try f.start(["--reports", reports.path], environment: ["CONCORD_SERVE_TOKEN": Self.token])
        // Not logged in: pages redirect to the login, forms are refused.
        #expect(try f.get("/console/audits").status == 303)
        #expect(try curl(f, ["-X", "POST", "-d", "audit=latest.json&rule=run.missing", f.base + "/console/plans"]).status == 401)
        // A token in the URL is not a login.
        #expect(try f.get("/console/audits?token=\(Self.token)").status == 303)
        // Logged in with a cookie: a form without the CSRF token, or from another origin, is refused.
        let jar = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("jar")).path
        let login = try curl(f, ["-c", jar, "-d", "operator=Grace&token=\(Self.token)", f.base + "/console/login"])
        #expect(login.status == 303)
        let auditPage = try curl(f, ["-b", jar, f.base + "/console/audits/latest.json"])
        let csrf = try #require(auditPage.body.range(of: #"name="csrf" value="([0-9a-f]{64})""#, options: .regularExpression)
            .map { String(auditPage.body[$0].dropFirst(#"name="csrf" value=""#.count).dropLast()) })
        let form = "audit=latest.json&rule=run.missing"
        #expect(try curl(f, ["-b", jar, "-d", form, f.base + "/console/plans"]).status == 403)
        #expect(try curl(f, ["-b", jar, "-d", form + "&csrf=" + String(repeating: "0", count: 64), f.base + "/console/plans"]).status == 403)
        #expect(try curl(f, ["-b", jar, "-H", "Origin: http://evil.example", "-d", form + "&csrf=\(csrf)", f.base + "/console/plans"]).status == 403)
        #expect(try curl(f, ["-b", jar, "-H", "Sec-Fetch-Site: cross-site", "-d", form + "&csrf=\(csrf)", f.base + "/console/plans"]).status == 403)
        let made = try curl(f, ["-b", jar, "-H", "Origin: \(f.base)", "-d", form + "&csrf=\(csrf)", f.base + "/console/plans"])
        #expect(made.status == 303 && made.location.hasPrefix("/console/plans/plan-"))
        #expect(try f.metric("concord_serve_console_csrf_refused_total") == 4)
        // A script with the bearer token: no cookie, no CSRF token needed.
        let bearer = try curl(f, ["-H", "Authorization: Bearer \(Self.token)", "-H", "X-Concord-Operator: nightly-bot", "-d", form, f.base + "/console/plans"])
        #expect(bearer.status == 303)
        #expect(try curl(f, ["-H", "Authorization: Bearer wrong", f.base + "/console/plans"]).status == 303)
        let entries = try AuditLog.entries(on: f.postgres).filter { $0.command == "plan" }
        #expect(Set(entries.map(\.operator)) == ["Grace", "nightly-bot"])
        // A damaged plan is refused with its reason.
        let planId = String(made.location.split(separator: "/").last!)
        let file = reports.appendingPathComponent("\(planId).json")
        var text = try String(contentsOf: file, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"run.missing\"", with: "\"run.missinG\"")
        try text.write(to: file, atomically: true, encoding: .utf8)
        let damaged = try curl(f, ["-b", jar, f.base + "/console/plans/\(planId)"])
        #expect(damaged.status == 422 && damaged.body.contains("refusal"))
        // Logged out: the session is gone.
        _ = try curl(f, ["-b", jar, "-H", "Origin: \(f.base)", "-d", "csrf=\(csrf)", f.base + "/console/logout"])
        #expect(try curl(f, ["-b", jar, f.base + "/console/audits"]).status == 303)
        f.stop()
        #expect(!f.stderrText.contains(Self.token))

        // Without CONCORD_SERVE_TOKEN the console is off; the event stream and the run API are not.
        let g = try ServeFixture(db: 63)
        try g.start()
        #expect(try g.get("/console/audits").status == 503)
        #expect(try g.get("/healthz").status == 200)
    }

    func curl(_ f: ServeFixture, _ args: [String]) throws -> (status: Int, body: String, location: String) {
        let r = try TestStores.run("/usr/bin/curl", ["-s", "-o", "-", "-D", "/dev/stderr", "-w", "\n%{http_code}", "--max-time", "60"] + args)
        var text = String(decoding: r.stdout, as: UTF8.self)
        let nl = text.lastIndex(of: "\n")!
        let code = Int(text[text.index(after: nl)...]) ?? 0
        text = String(text[..<nl])
        let location = r.stderr.split(separator: "\r\n").first { $0.lowercased().hasPrefix("location:") }.map { String($0.dropFirst(9)).trimmingCharacters(in: .whitespaces) } ?? ""
        return (code, text, location)
    }
}
