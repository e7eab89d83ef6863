import ConcordAudit
import ConcordCore
import ConcordCrypto
import ConcordJSON
import ConcordRepair
import ConcordReports
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The admin console under `/console/`: audits (each opening as its HTML report), repair plans made from an
/// audit's findings, reviewed as a dry run per store, approved and applied with the operator's name and
/// watched to the end, and the journal as an audit log. Server-rendered HTML, no script of its own.
///
/// Security: off unless `CONCORD_SERVE_TOKEN` is set. A person logs in with the token (and a name for the
/// journal) and gets an HttpOnly, SameSite=Strict session cookie; a script sends `Authorization: Bearer`.
/// The token never travels in a URL and is never logged. Every state-changing form carries the session's
/// CSRF token and is refused from another site. Every value on a page is HTML-escaped.
struct Console: Sendable {
    let configuration: ServeConfiguration
    let stores: ServeStores
    let metrics: ServeMetrics
    let logger: Logger
    let auth: ConsoleAuth?
    let index: ReportIndex
    let jobs = ApplyJobs()

    init(configuration: ServeConfiguration, stores: ServeStores, metrics: ServeMetrics, logger: Logger) {
        self.configuration = configuration
        self.stores = stores
        self.metrics = metrics
        self.logger = logger
        auth = configuration.consoleToken.map(ConsoleAuth.init(token:))
        index = ReportIndex(directory: configuration.reportsDirectory)
    }

    func register(on router: Router<ServeContext>) {
        router.get("/") { _, _ in HTML.redirect("/console/") }
        router.get("console") { request, context in
            guard let s = try session(request) else { return HTML.redirect("/console/login") }
            return await overviewPage(s)
        }
        router.get("console/trends") { request, context in
            guard let s = try session(request) else { return HTML.redirect("/console/login") }
            return try await trendsPage(s)
        }
        router.get("console/runs") { request, _ in
            guard try session(request) != nil else { return HTML.redirect("/console/login") }
            let id = FormData(request.uri.query ?? "")["id"]?.trimmingCharacters(in: .whitespaces) ?? ""
            return HTML.redirect(id.isEmpty ? "/console/" : "/console/runs/" + HTML.segment(id))
        }
        router.get("console/runs/:id") { request, context in
            guard let s = try session(request) else { return HTML.redirect("/console/login") }
            return try await runPage(s, run: context.parameters.get("id") ?? "")
        }
        router.get("console/login") { _, _ in try enabled(); return loginPage(error: nil) }
        router.post("console/login") { request, _ in try await login(request) }
        router.post("console/logout") { request, context in
            let (session, _) = try await change(request, context)
            auth?.logout(session.id)
            return HTML.redirect("/console/login", cookie: ConsoleAuth.clearCookie)
        }
        router.get("console/audits") { request, context in try page(request, context) { s in auditsPage(s) } }
        router.get("console/audits/:file") { request, context in
            try page(request, context) { s in try auditPage(s, file: context.parameters.get("file") ?? "") }
        }
        router.get("console/audits/:file/report") { request, context in
            guard try session(request) != nil else { return HTML.redirect("/console/login") }
            return try htmlReport(file: context.parameters.get("file") ?? "")
        }
        router.post("console/plans") { request, context in try await createPlan(request, context) }
        router.get("console/plans") { request, context in try page(request, context) { s in try plansPage(s) } }
        router.get("console/plans/:plan") { request, context in
            guard let s = try session(request) else { return HTML.redirect("/console/login") }
            return try await planPage(s, planId: context.parameters.get("plan") ?? "")
        }
        router.post("console/plans/:plan/apply") { request, context in try await apply(request, context) }
        router.get("console/plans/:plan/apply") { request, context in
            try page(request, context) { s in try progressPage(s, planId: context.parameters.get("plan") ?? "") }
        }
        router.get("console/publications") { request, context in
            guard let s = try session(request) else { return HTML.redirect("/console/login") }
            return try await publicationsPage(s, query: FormData(request.uri.query ?? ""))
        }
        router.get("console/journal") { request, context in
            guard let s = try session(request) else { return HTML.redirect("/console/login") }
            return try await journalPage(s, query: FormData(request.uri.query ?? ""))
        }
    }

    // MARK: Access

    private func enabled() throws {
        guard auth != nil else {
            throw HTTPError(.serviceUnavailable, message: "the console is off: start concord serve with CONCORD_SERVE_TOKEN set")
        }
    }

    private func session(_ request: Request) throws -> ConsoleSession? {
        try enabled()
        return auth?.session(for: request)
    }

    /// A GET page for a logged-in user (others are sent to the login page).
    private func page(_ request: Request, _ context: ServeContext, _ body: (ConsoleSession) throws -> Response) throws -> Response {
        guard let s = try session(request) else { return HTML.redirect("/console/login") }
        return try body(s)
    }

    /// A state-changing request: logged in, and its CSRF token and origin checked. Returns the session and the form.
    private func change(_ request: Request, _ context: ServeContext) async throws -> (ConsoleSession, FormData) {
        guard let s = try session(request) else { throw HTTPError(.unauthorized, message: "log in first") }
        let form = try await FormData.read(request)
        if let why = auth!.csrfRefusal(request, form: form, session: s) {
            metrics.count("console_csrf_refused")
            logger.warning("refused a console \(request.method) \(request.uri.path) from \(context.remote): \(why)")
            throw HTTPError(.forbidden, message: "refused: this form did not come from this console (CSRF token or origin)")
        }
        return (s, form)
    }

    // MARK: Login

    private func loginPage(error: String?) -> Response {
        var body = "<h1>Log in</h1>"
        if let error { body += "<p class=\"notice refused\">\(HTML.escape(error))</p>" }
        body += """
            <form method="post" action="/console/login">
            <p><label>Your name (for the journal)<br><input type="text" name="operator" required maxlength="80" autocomplete="username"></label></p>
            <p><label>Console token (CONCORD_SERVE_TOKEN)<br><input type="password" name="token" required autocomplete="current-password"></label></p>
            <p><button type="submit">Log in</button></p></form>
            """
        return HTML.response(HTML.page("Log in", session: nil, body), status: error == nil ? .ok : .unauthorized)
    }

    private func login(_ request: Request) async throws -> Response {
        try enabled()
        let form = try await FormData.read(request)
        // A login posted from another site would sign the victim in as the attacker.
        if request.headers[HTTPField.Name("Sec-Fetch-Site")!] == "cross-site" {
            throw HTTPError(.forbidden, message: "refused: a login from another site")
        }
        let name = (form["operator"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard let auth, auth.tokenMatches(form["token"] ?? "") else {
            metrics.count("console_logins", label: ("outcome", "refused"))
            try await Task.sleep(nanoseconds: 300_000_000)  // slows guessing
            return loginPage(error: "Wrong token.")
        }
        guard !name.isEmpty, name.count <= 80 else { return loginPage(error: "Give your name: the journal records who applies a plan.") }
        metrics.count("console_logins", label: ("outcome", "ok"))
        let s = auth.login(operatorName: name)
        return HTML.redirect("/console/audits", cookie: ConsoleAuth.sessionCookie(s))
    }

    // MARK: Audits

    private func auditsPage(_ s: ConsoleSession) -> Response {
        let audits = index.audits
        var body = "<h1>Audits</h1><p class=\"muted\">Audit reports in <code>\(HTML.escape(configuration.reportsDirectory))</code>, newest first.</p>"
        if audits.isEmpty {
            body += "<p class=\"notice\">No audit reports yet: run <code>concord audit --format json,html</code>.</p>"
        } else {
            body += "<table id=\"audits\"><tr><th>audit</th><th>source</th><th>finished</th><th>findings</th><th>errors</th><th>warnings</th><th>report</th></tr>"
            for a in audits {
                body += "<tr><td><a href=\"/console/audits/\(HTML.segment(a.file))\">\(HTML.escape(a.auditId))</a></td><td>\(HTML.escape(a.source))</td>"
                body += "<td>\(HTML.escape(a.finishedAt))</td><td class=\"num\">\(a.findings)</td><td class=\"num error\">\(a.errors)</td>"
                body += "<td class=\"num warning\">\(a.warnings)</td><td>"
                if a.html != nil { body += "<a href=\"/console/audits/\(HTML.segment(a.file))/report\">HTML report</a>" }
                body += "</td></tr>"
            }
            body += "</table>"
        }
        return HTML.response(HTML.page("Audits", session: s, body))
    }

    private func loadAudit(_ file: String) throws -> (ReportIndex.Audit, JSON) {
        guard let a = index.audit(file: file), let data = FileManager.default.contents(atPath: index.path(file)) else {
            throw HTTPError(.notFound, message: "no audit report \(file) in \(configuration.reportsDirectory)")
        }
        return (a, try JSON.parse([UInt8](data)))
    }

    private func auditPage(_ s: ConsoleSession, file: String) throws -> Response {
        let (a, report) = try loadAudit(file)
        let findings = report["findings"]?.arrayValue ?? []
        let byRule = Dictionary(grouping: findings) { $0["rule"]?.stringValue ?? "?" }
        var body = "<h1>Audit \(HTML.escape(a.auditId))</h1>"
        body += "<p>\(a.findings) finding(s): <span class=\"error\">\(a.errors) error(s)</span>, <span class=\"warning\">\(a.warnings) warning(s)</span>"
        body += " · source \(HTML.escape(a.source)) · finished \(HTML.escape(a.finishedAt))"
        if a.html != nil { body += " · <a href=\"/console/audits/\(HTML.segment(file))/report\">open the HTML report</a>" }
        body += "</p>"
        guard !findings.isEmpty else { return HTML.response(HTML.page(a.auditId, session: s, body + "<p class=\"notice done\">Nothing to repair.</p>")) }
        body += "<h2>Create a repair plan</h2><form method=\"post\" action=\"/console/plans\" id=\"plan-form\">\(HTML.csrfField(s))"
        body += "<input type=\"hidden\" name=\"audit\" value=\"\(HTML.escape(file))\">"
        body += "<p class=\"muted\">Every finding of the ticked rules — or, when you tick findings, only those.</p>"
        body += "<table id=\"rules\"><tr><th>rule</th><th>severity</th><th>findings</th></tr>"
        let rules = report["rules"]?.arrayValue ?? []
        let severity = Dictionary(rules.compactMap { r in r["id"]?.stringValue.map { ($0, r["severity"]?.stringValue ?? "") } }, uniquingKeysWith: { a, _ in a })
        for rule in byRule.keys.sorted() {
            let sev = severity[rule] ?? ""
            body += "<tr><td><label><input type=\"checkbox\" name=\"rule\" value=\"\(HTML.escape(rule))\" checked> \(HTML.escape(rule))</label></td>"
            body += "<td class=\"\(HTML.escape(sev))\">\(HTML.escape(sev))</td><td class=\"num\">\(byRule[rule]!.count)</td></tr>"
        }
        body += "</table><p><button type=\"submit\">Create plan</button></p>"
        body += "<h2>Findings</h2><table id=\"findings\"><tr><th></th><th>rule</th><th>key</th><th>store</th><th>message</th></tr>"
        for rule in byRule.keys.sorted() {
            let list = byRule[rule]!
            for f in list.prefix(200) {
                let id = f["id"]?.stringValue ?? ""
                body += "<tr><td><input type=\"checkbox\" name=\"finding\" value=\"\(HTML.escape(id))\" aria-label=\"select finding \(HTML.escape(id))\"></td>"
                body += "<td>\(HTML.escape(rule))</td><td><code>\(HTML.escape(f["key"]?.stringValue ?? ""))</code></td>"
                let run = f["workflowId"]?.stringValue.map { " · <a href=\"/console/runs/\(HTML.segment($0))\">the run</a>" } ?? ""
                body += "<td>\(HTML.escape(f["store"]?.stringValue ?? ""))</td><td>\(HTML.escape(f["message"]?.stringValue ?? ""))\(run)</td></tr>"
            }
            if list.count > 200 { body += "<tr><td></td><td colspan=\"4\" class=\"muted\">… and \(list.count - 200) more of \(HTML.escape(rule))</td></tr>" }
        }
        body += "</table></form>"
        return HTML.response(HTML.page(a.auditId, session: s, body))
    }

    /// The audit's HTML report, as `concord audit --format html` wrote it; its one inline script allowed by hash.
    private func htmlReport(file: String) throws -> Response {
        let (a, _) = try loadAudit(file)
        guard let html = a.html, index.holds(html), let data = FileManager.default.contents(atPath: index.path(html)) else {
            throw HTTPError(.notFound, message: "no HTML report for \(a.auditId)")
        }
        let text = String(decoding: data, as: UTF8.self)
        var scripts: [String] = []
        var rest = text[...]
        while let open = rest.range(of: "<script>"), let close = rest.range(of: "</script>", range: open.upperBound..<rest.endIndex) {
            let body = String(rest[open.upperBound..<close.lowerBound])
            scripts.append("'sha256-" + Data(SHA256.digest(body)).base64EncodedString() + "'")
            rest = rest[close.upperBound...]
        }
        var headers = HTML.securityHeaders
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src \(scripts.isEmpty ? "'none'" : scripts.joined(separator: " ")); frame-ancestors 'none'; base-uri 'none'"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: Plans

    private func createPlan(_ request: Request, _ context: ServeContext) async throws -> Response {
        let (s, form) = try await change(request, context)
        let (a, report) = try loadAudit(form["audit"] ?? "")
        let rules = form.all("rule"), picked = Set(form.all("finding"))
        guard !rules.isEmpty || !picked.isEmpty else { throw HTTPError(.badRequest, message: "tick at least one rule or finding") }
        var scoped = report
        if !picked.isEmpty, case .object(var o) = report {
            o["findings"] = .array((report["findings"]?.arrayValue ?? []).filter { picked.contains($0["id"]?.stringValue ?? "") })
            scoped = .object(o)
        }
        let c = configuration, file = index.path(a.file), dir = configuration.reportsDirectory, remote = context.remote
        let scope = scoped
        let plan: RepairPlan = try await Blocking.run {
            let ruleSet = try RuleSet.load(directory: URL(fileURLWithPath: c.rulesDirectory))
            let repairStores = RepairStores(postgres: try c.makePostgres(), redis: try c.makeRedis(), graph: try c.makeGraph())
            let plan = try Planner(stores: repairStores, rules: ruleSet).plan(report: scope, file: file, only: picked.isEmpty ? rules : [])
            let out = URL(fileURLWithPath: dir).appendingPathComponent("\(plan.planId).json")
            try Data(plan.encoded().utf8).write(to: out, options: .atomic)
            try AuditLog.record(AuditLogEntry(command: "plan", plan: plan, source: plan.sourceAuditId, operator: s.operatorName,
                                              outcome: "written to \(out.path)", counts: plan.storeCounts,
                                              commandLine: ["concord", "serve", "(console: create plan)", "from", remote]), on: repairStores.postgres)
            return plan
        }
        logger.info("console: \(s.operatorName) made plan \(plan.planId) (\(plan.operations.count) operations) from \(a.auditId)")
        return HTML.redirect("/console/plans/\(HTML.segment(plan.planId))")
    }

    private func plansPage(_ s: ConsoleSession) throws -> Response {
        let plans = index.plans
        var body = "<h1>Repair plans</h1>"
        if plans.isEmpty { body += "<p class=\"notice\">No plans yet: open an audit and create one.</p>" }
        else {
            body += "<table id=\"plans\"><tr><th>plan</th><th>from audit</th><th>made</th><th>graph</th><th>redis</th><th>postgres</th><th>github</th><th>manual</th><th>file</th></tr>"
            for p in plans {
                body += "<tr><td><a href=\"/console/plans/\(HTML.segment(p.planId))\">\(HTML.escape(p.planId))</a></td><td>\(HTML.escape(p.sourceAuditId))</td>"
                body += "<td>\(HTML.escape(p.createdAt))</td>"
                for store in RepairStore.allCases.map(\.rawValue) { body += "<td class=\"num\">\(p.byStore[store] ?? 0)</td>" }
                body += "<td><code>\(HTML.escape(p.file))</code></td></tr>"
            }
            body += "</table>"
        }
        return HTML.response(HTML.page("Plans", session: s, body))
    }

    /// Reads and verifies a listed plan; a damaged, unknown or stale plan is a refusal with its reason.
    private func loadPlan(_ planId: String) throws -> (RepairPlan, stale: String?) {
        guard let entry = index.plan(id: planId) else { throw HTTPError(.notFound, message: "no plan \(planId) in \(configuration.reportsDirectory)") }
        let plan: RepairPlan
        do { plan = try RepairPlan(file: index.path(entry.file)) } catch {
            throw HTTPError(.unprocessableContent, message: "refused: plan \(planId) cannot be applied: \(error)")
        }
        let age = Int64(Date().timeIntervalSince(plan.createdAt) * 1000)
        let stale = age > configuration.planMaxAgeMilliseconds
            ? "made \(DurationText.format(milliseconds: age)) ago, more than the \(DurationText.format(milliseconds: configuration.planMaxAgeMilliseconds)) a plan may be old: the stores may have moved on. Audit and plan again, or apply it anyway."
            : nil
        return (plan, stale)
    }

    private func planPage(_ s: ConsoleSession, planId: String) async throws -> Response {
        let plan: RepairPlan, stale: String?
        do { (plan, stale) = try loadPlan(planId) } catch let e as HTTPError where e.status == .unprocessableContent {
            let body = "<h1>Plan \(HTML.escape(planId))</h1><p class=\"notice refused\" id=\"refusal\">\(HTML.escape(e.body ?? "refused"))</p>"
            return HTML.response(HTML.page(planId, session: s, body), status: .unprocessableContent)
        }
        let c = configuration
        let currentDigest = try? await Blocking.run { try RuleSet.load(directory: URL(fileURLWithPath: c.rulesDirectory)).digest }
        let byStore = plan.byStore
        var body = "<h1>Plan \(HTML.escape(plan.planId))</h1>"
        body += "<p>From audit <code>\(HTML.escape(plan.sourceAuditId))</code>, made \(HTML.escape(Timestamp.rfc3339(plan.createdAt)))"
        body += " · sha256 <code>\(HTML.escape(String(plan.checksum.prefix(16))))…</code> (verified) · \(plan.operations.count) operation(s)</p>"
        if let stale { body += "<p class=\"notice refused\" id=\"stale\">This plan was \(HTML.escape(stale))</p>" }
        if let currentDigest, currentDigest != plan.rulesDigest {
            body += "<p class=\"notice\">The plan was made with other rules than <code>\(HTML.escape(c.rulesDirectory))</code> holds now.</p>"
        }
        if let job = jobs.snapshot(plan.planId) {
            body += "<p class=\"notice\">Applied from this console by \(HTML.escape(job.operatorName)) — <a href=\"/console/plans/\(HTML.segment(plan.planId))/apply\">see the outcome</a>.</p>"
        }
        body += "<h2>Dry run: what applying changes, per store</h2><p class=\"muted\">Nothing has changed yet. Each operation runs only if its record is still as the plan saw it.</p>"
        for store in RepairStore.allCases where store != .manual {
            let ops = byStore[store] ?? []
            body += "<h2>\(store.rawValue): \(ops.count) operation(s)</h2>"
            guard !ops.isEmpty else { continue }
            body += "<table class=\"dry-run\" data-store=\"\(store.rawValue)\"><tr><th>rule</th><th>action</th><th>key</th><th>before</th><th>after</th></tr>"
            for op in ops {
                body += "<tr><td>\(HTML.escape(op.rule))</td><td>\(HTML.escape(op.action))</td><td><code>\(HTML.escape(op.key))</code></td>"
                body += "<td>\(HTML.json(op.before.isNull ? "(absent)" : op.before.encodedPretty()))</td><td>\(HTML.json(op.after.isNull ? "(absent)" : op.after.encodedPretty()))</td></tr>"
            }
            body += "</table>"
        }
        let final = RepairPlanText.notUndoable(plan)
        body += "<h2>Undo</h2><p id=\"undo-notes\">\(HTML.escape(RepairPlanText.order(plan))). "
            + (final.isEmpty ? "Every operation can be undone.</p>" : "\(final.count) operation(s) cannot be undone:</p><ul>"
                + final.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul>")
        let manual = byStore[.manual] ?? []
        body += "<h2>manual: \(manual.count) step(s) for a person</h2>"
        if !manual.isEmpty {
            body += "<table id=\"manual\"><tr><th>rule</th><th>key</th><th>why</th></tr>"
            for op in manual {
                body += "<tr><td>\(HTML.escape(op.rule))</td><td><code>\(HTML.escape(op.key))</code></td><td>\(HTML.escape(op.params["reason"]?.stringValue ?? ""))</td></tr>"
            }
            body += "</table>"
        }
        body += "<h2>Approve and apply</h2><form method=\"post\" action=\"/console/plans/\(HTML.segment(plan.planId))/apply\" id=\"apply-form\">\(HTML.csrfField(s))"
        body += "<p><label>Applied by <input type=\"text\" name=\"operator\" value=\"\(HTML.escape(s.operatorName))\" required maxlength=\"80\"></label></p>"
        body += "<p><label><input type=\"checkbox\" name=\"reviewed\" value=\"yes\" required> I reviewed the dry run above</label>"
        if stale != nil { body += "<label><input type=\"checkbox\" name=\"force-stale\" value=\"yes\"> apply although it is old</label>" }
        body += "</p><p><button type=\"submit\">Approve and apply</button></p></form>"
        return HTML.response(HTML.page(plan.planId, session: s, body))
    }

    private func apply(_ request: Request, _ context: ServeContext) async throws -> Response {
        let (s, form) = try await change(request, context)
        let planId = context.parameters.get("plan") ?? ""
        let plan: RepairPlan, stale: String?
        do { (plan, stale) = try loadPlan(planId) } catch let e as HTTPError where e.status == .unprocessableContent {
            return HTML.response(HTML.page(planId, session: s, "<h1>Plan \(HTML.escape(planId))</h1><p class=\"notice refused\" id=\"refusal\">\(HTML.escape(e.body ?? ""))</p>"),
                                 status: .unprocessableContent)
        }
        func refuse(_ why: String) -> Response {
            HTML.response(HTML.page(planId, session: s, "<h1>Plan \(HTML.escape(planId))</h1><p class=\"notice refused\" id=\"refusal\">Refused: \(HTML.escape(why))</p>"
                                    + "<p><a href=\"/console/plans/\(HTML.segment(planId))\">Back to the plan</a></p>"), status: .conflict)
        }
        guard form["reviewed"] == "yes" else { return refuse("tick “I reviewed the dry run” to approve the plan.") }
        let who = (form["operator"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !who.isEmpty, who.count <= 80 else { return refuse("give the name of who applies it, for the journal.") }
        if let stale, form["force-stale"] != "yes" { return refuse("the plan was \(stale)") }
        let from = "\(context.remote) (console session of \(s.operatorName))"
        guard jobs.start(plan, operatorName: who, from: from, configuration: configuration) else { return refuse("it is being applied right now.") }
        logger.notice("console: \(who) approved and is applying \(plan.planId) (\(plan.operations.count) operations) from \(context.remote)")
        return HTML.redirect("/console/plans/\(HTML.segment(planId))/apply")
    }

    private func progressPage(_ s: ConsoleSession, planId: String) throws -> Response {
        guard let job = jobs.snapshot(planId) else {
            // Applied before this server started (or by the CLI): the apply report, if it is here.
            let file = "apply-\(planId).json"
            guard index.holds(file), let data = FileManager.default.contents(atPath: index.path(file)), let json = try? JSON.parse([UInt8](data)) else {
                throw HTTPError(.notFound, message: "plan \(planId) has not been applied from this console")
            }
            let ops = (json["operations"]?.arrayValue ?? []).map { o in
                (o["outcome"]?.stringValue ?? "", o["store"]?.stringValue ?? "", o["action"]?.stringValue ?? "", o["key"]?.stringValue ?? "",
                 o["rule"]?.stringValue ?? "", o["reason"]?.stringValue ?? "")
            }
            let sum = json["summary"]
            let summary = "\(sum?["applied"]?.intValue ?? 0) applied, \(sum?["skipped"]?.intValue ?? 0) skipped, \(sum?["failed"]?.intValue ?? 0) failed, \(sum?["manual"]?.intValue ?? 0) manual"
            return HTML.response(HTML.page(planId, session: s, outcomeBody(planId: planId, who: json["operator"]?.stringValue ?? "?", summary: summary, rows: ops, files: [file])))
        }
        switch job.state {
        case .running:
            let pct = job.total == 0 ? 100 : job.done * 100 / job.total
            let body = "<h1>Applying \(HTML.escape(planId))</h1><p id=\"progress\">\(job.done) of \(job.total) operation(s) done — by \(HTML.escape(job.operatorName))</p>"
                + "<div class=\"bar\"><span style=\"width:\(pct)%\"></span></div><p class=\"muted\">This page refreshes every second.</p>"
            return HTML.response(HTML.page("Applying \(planId)", session: s, refreshSeconds: 1, body))
        case .failed(let why):
            let body = "<h1>Plan \(HTML.escape(planId))</h1><p class=\"notice refused\" id=\"refusal\">Applying stopped: \(HTML.escape(why))</p>"
                + "<p>What was applied before the failure is journaled; applying again resumes after it. <a href=\"/console/journal?plan=\(HTML.query(planId))\">The journal</a></p>"
            return HTML.response(HTML.page(planId, session: s, body))
        case .finished(let outcome):
            let rows = outcome.report.results.map { r in
                (r.outcome.rawValue, r.operation.store.rawValue, r.operation.action, r.operation.key, r.operation.rule,
                 r.reason ?? (r.outcome == .manual ? r.operation.params["reason"]?.stringValue ?? "" : ""))
            }
            let r = outcome.report
            let summary = "\(r.count(.applied)) applied, \(r.count(.skipped)) skipped, \(r.count(.failed)) failed, \(r.count(.manual)) manual"
            return HTML.response(HTML.page(planId, session: s, outcomeBody(planId: planId, who: job.operatorName, summary: summary, rows: rows,
                                                                          files: outcome.files.map { URL(fileURLWithPath: $0).lastPathComponent })))
        }
    }

    private func outcomeBody(planId: String, who: String, summary: String, rows: [(String, String, String, String, String, String)], files: [String]) -> String {
        let refused = rows.filter { $0.0 == "skipped" || $0.0 == "failed" }
        var body = "<h1>Plan \(HTML.escape(planId)) applied</h1>"
        body += "<p class=\"notice \(refused.isEmpty ? "done" : "refused")\" id=\"outcome\">\(HTML.escape(summary)) — by \(HTML.escape(who))</p>"
        body += "<p>The apply report: \(files.map { "<code>\(HTML.escape($0))</code>" }.joined(separator: ", ")) · "
        body += "<a href=\"/console/journal?plan=\(HTML.query(planId))\">the journal of this plan</a></p>"
        typealias Row = (String, String, String, String, String, String)
        func table(_ id: String, _ rows: [Row], last: String, outcomeClass: String) -> String {
            var t = "<table id=\"\(id)\"><tr><th>outcome</th><th>store</th><th>action</th><th>key</th><th>rule</th><th>\(last)</th></tr>"
            for r in rows {
                t += "<tr><td class=\"\(outcomeClass)\">\(HTML.escape(r.0))</td><td>\(HTML.escape(r.1))</td><td>\(HTML.escape(r.2))</td>"
                t += "<td><code>\(HTML.escape(r.3))</code></td><td>\(HTML.escape(r.4))</td><td>\(HTML.escape(r.5))</td></tr>"
            }
            return t + "</table>"
        }
        if !refused.isEmpty {
            body += "<h2>Refused: \(refused.count) operation(s) not applied, and why</h2>" + table("refused", refused, last: "reason", outcomeClass: "error")
        }
        body += "<h2>Every operation</h2>" + table("operations", rows, last: "note", outcomeClass: "")
        return body
    }

    // MARK: Journal

    /// Each draft's publication to GitHub: pending (and when it is tried next, why it waits), published (its URL), failed (GitHub's reason).
    private func publicationsPage(_ s: ConsoleSession, query: FormData) async throws -> Response {
        let state = query["state"].flatMap { ["pending", "published", "failed"].contains($0) ? $0 : nil }
        let (counts, rows) = try await stores.postgres.run { pg -> ([(String, Int64)], [[String]]) in
            guard try pg.query("SELECT to_regclass('github_publication') IS NOT NULL")[0].bool(0) == true else { return ([], []) }
            let c = try pg.query("SELECT state, count(*) FROM github_publication GROUP BY state ORDER BY state").rows.map { ($0.string(0)!, $0.int(1)!) }
            let r = try pg.query("""
                SELECT draft_id, workflow_run_id, state, attempts::text, target, coalesce(github_url, ''), coalesce(last_error, ''),
                       to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), to_char(next_attempt_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
                FROM github_publication WHERE $1::text IS NULL OR state = $1 ORDER BY updated_at DESC LIMIT 200
                """, [state]).rows.map { row in (0..<9).map { row.string($0) ?? "" } }
            return (c, r)
        }
        var body = "<h1>Publications to GitHub</h1><p class=\"muted\">Each approved draft's publication: the intent is recorded before GitHub is called; "
        body += "a retry looks for the draft's marker before it posts. Newest first, at most 200.</p>"
        body += "<p id=\"publication-counts\">" + (counts.isEmpty ? "No publications yet." : counts.map { "<a href=\"/console/publications?state=\(HTML.query($0.0))\">\(HTML.escape($0.0)): \($0.1)</a>" }.joined(separator: " · "))
        body += " · <a href=\"/console/publications\">all</a></p>"
        body += "<table id=\"publications\"><tr><th>draft</th><th>run</th><th>state</th><th>attempts</th><th>target</th><th>on GitHub, or why not</th><th>updated (UTC)</th></tr>"
        for r in rows {
            let detail: String
            switch r[2] {
            case "published": detail = "<a href=\"\(HTML.escape(r[5]))\">\(HTML.escape(r[5]))</a>"
            case "pending": detail = (r[6].isEmpty ? "" : HTML.escape(r[6]) + "<br>") + "<span class=\"muted\">next attempt \(HTML.escape(r[8]))</span>"
            default: detail = HTML.escape(r[6])
            }
            body += "<tr data-state=\"\(HTML.escape(r[2]))\"><td>\(HTML.escape(r[0]))</td><td>\(HTML.escape(r[1]))</td><td>\(HTML.escape(r[2]))</td>"
            body += "<td class=\"num\">\(HTML.escape(r[3]))</td><td>\(HTML.escape(r[4]))</td><td>\(detail)</td><td>\(HTML.escape(r[7]))</td></tr>"
        }
        body += "</table>"
        return HTML.response(HTML.page("Publications", session: s, body))
    }

    private func journalPage(_ s: ConsoleSession, query: FormData) async throws -> Response {
        let plan = query["plan"].flatMap { $0.isEmpty ? nil : $0 }
        let who = query["operator"].flatMap { $0.isEmpty ? nil : $0 }
        let command = query["command"].flatMap { $0.isEmpty ? nil : $0 }
        let outcome = query["outcome"].flatMap { $0.isEmpty ? nil : $0 }
        let (entries, operations) = try await stores.postgres.run { pg in
            (try AuditLog.entries(on: pg, plan: plan), try plan.map { try AuditLog.operations(on: pg, plan: $0) } ?? [])
        }
        let shown = entries.reversed().filter { e in
            (who.map { e.operator.localizedCaseInsensitiveContains($0) } ?? true) && (command.map { e.command == $0 } ?? true)
                && (outcome.map { e.outcome.localizedCaseInsensitiveContains($0) } ?? true)
        }
        var body = "<h1>Journal</h1><p class=\"muted\">Every plan written, applied or undone: who, when, from where, how it ended. Newest first.</p>"
        body += "<form method=\"get\" action=\"/console/journal\" id=\"journal-filter\">"
        body += "<label>plan <input type=\"text\" name=\"plan\" value=\"\(HTML.escape(plan ?? ""))\"></label>"
        body += "<label>operator <input type=\"text\" name=\"operator\" value=\"\(HTML.escape(who ?? ""))\"></label>"
        body += "<label>command <select name=\"command\"><option value=\"\">any</option>"
        for c in ["plan", "apply", "undo"] { body += "<option\(command == c ? " selected" : "")>\(c)</option>" }
        body += "</select></label><label>outcome contains <input type=\"text\" name=\"outcome\" value=\"\(HTML.escape(outcome ?? ""))\"></label>"
        body += "<button type=\"submit\">Filter</button></form>"
        body += "<table id=\"journal\"><tr><th>when</th><th>command</th><th>plan</th><th>operator</th><th>from</th><th>outcome</th></tr>"
        for e in shown {
            body += "<tr><td>\(HTML.escape(Timestamp.rfc3339(e.at)))</td><td>\(HTML.escape(e.command))</td>"
            body += "<td><a href=\"/console/journal?plan=\(HTML.query(e.planId))\">\(HTML.escape(e.planId))</a></td><td>\(HTML.escape(e.operator))</td>"
            body += "<td>\(HTML.escape(e.host))<br><span class=\"muted\">\(HTML.escape(e.commandLine))</span></td><td>\(HTML.escape(e.outcome))</td></tr>"
        }
        body += "</table>"
        if shown.isEmpty { body += "<p class=\"notice\">No entries match.</p>" }
        if let plan, !operations.isEmpty {
            body += "<h2>\(operations.count) journaled operation(s) of \(HTML.escape(plan))</h2><table id=\"journal-operations\"><tr><th>#</th><th>store</th><th>action</th><th>outcome</th><th>reason</th></tr>"
            for op in operations {
                body += "<tr><td class=\"num\">\(HTML.escape(op["position"]?.textValue ?? "-"))</td><td>\(HTML.escape(op["store"]?.textValue ?? ""))</td>"
                body += "<td>\(HTML.escape(op["action"]?.textValue ?? ""))</td><td>\(HTML.escape(op["outcome"]?.textValue ?? ""))</td>"
                body += "<td>\(HTML.escape(op["reason"]?.stringValue ?? ""))</td></tr>"
            }
            body += "</table>"
        }
        return HTML.response(HTML.page("Journal", session: s, body))
    }
}
