import ConcordCore
import ConcordCrypto
import ConcordGraph
import ConcordJSON
import ConcordModel
import ConcordPostgres
import ConcordRedis
import Foundation
import HTTPTypes
import Hummingbird

/// The console's front page (`/console/`): is the system healthy now — each store and its round trip, the
/// persistence queue, the sync's throughput and lag, the last audit, plans waiting, publications to GitHub —
/// and the way into one run. Every number is one cheap read (LLEN, ZCOUNT, an indexed count): no scan.
extension Console {
    struct Overview {
        var stores: [(name: String, ok: Bool, ms: Double, detail: String)] = []
        var queue: Int64 = 0, processing: Int64 = 0, deadletter: Int64 = 0, confirmed: Int64 = 0
        var confirmedLastMinute: Int64 = 0
        var oldestWaitingMs: Int64?
        var publications: [(String, Int64)] = []
    }

    func overview() async -> Overview {
        var o = Overview()
        func timed(_ name: String, _ body: @Sendable @escaping () async throws -> String) async -> (String, Bool, Double, String) {
            let t0 = Date()
            do { let d = try await body(); return (name, true, Date().timeIntervalSince(t0) * 1000, d) } catch {
                return (name, false, Date().timeIntervalSince(t0) * 1000, "\(error)")
            }
        }
        async let pg = timed("PostgreSQL") { try await stores.postgres.run { p in try p.query("SELECT current_setting('server_version')")[0].string(0) ?? "" } }
        async let redis = timed("Redis") { try await stores.redis.run { r in try r.run("PING").string ?? "" } }
        async let graph = timed("Graph") { try await stores.graph.run { g in _ = try g.store.run("RETURN 1", parameters: [:], readOnly: true); return g.store.engine } }
        for s in await [pg, redis, graph] { o.stores.append((s.0, s.1, s.2, s.3)) }
        if let q = try? await QueueReading.read(stores) {
            o.queue = q.queue; o.processing = q.processing; o.deadletter = q.deadletter; o.confirmed = q.confirmed
            o.confirmedLastMinute = q.confirmedLastMinute; o.oldestWaitingMs = q.oldestWaitingMs
        }
        o.publications = (try? await stores.postgres.run { pg -> [(String, Int64)] in
            guard try pg.query("SELECT to_regclass('github_publication') IS NOT NULL")[0].bool(0) == true else { return [] }
            return try pg.query("SELECT state, count(*) FROM github_publication GROUP BY state ORDER BY state").rows.map { ($0.string(0)!, $0.int(1)!) }
        }) ?? []
        return o
    }

    func overviewPage(_ s: ConsoleSession) async -> Response {
        let o = await overview()
        var body = "<h1>Overview</h1><p class=\"muted\">The system now; every figure one cheap read of the live stores.</p>"
        body += "<form method=\"get\" action=\"/console/runs\" id=\"run-search\"><label>Run id <input type=\"text\" name=\"id\" required></label> <button type=\"submit\">Open the run</button></form>"
        let healthy = o.stores.allSatisfy(\.ok)
        body += "<h2>Stores: \(healthy ? "all reachable" : "<span class=\"refused\">not all reachable</span>")</h2>"
        body += "<table id=\"stores\"><tr><th>store</th><th>state</th><th>round trip</th><th>version / error</th></tr>"
        for st in o.stores {
            body += "<tr data-ok=\"\(st.ok)\"><td>\(st.name)</td><td>\(st.ok ? "ok" : "<b>down</b>")</td><td class=\"num\">\(String(format: "%.1f", st.ms)) ms</td><td>\(HTML.escape(st.detail))</td></tr>"
        }
        body += "</table>"
        let lag = o.oldestWaitingMs.map { DurationText.format(milliseconds: $0) } ?? "none waiting"
        body += "<h2>Persistence queue and sync</h2><table id=\"queue\">"
        for (k, v, id) in [("waiting in persistence:queue", "\(o.queue)", "queue"), ("in persistence:processing", "\(o.processing)", "processing"),
                           ("dead letters", "\(o.deadletter)", "deadletter"), ("oldest waiting (the sync's lag)", lag, "lag"),
                           ("events confirmed in the last minute", "\(o.confirmedLastMinute) (\(String(format: "%.1f", Double(o.confirmedLastMinute) / 60))/s)", "rate"),
                           ("confirmed in all", "\(o.confirmed)", "confirmed")] {
            body += "<tr data-key=\"\(id)\"><th>\(k)</th><td class=\"num\">\(HTML.escape(v))</td></tr>"
        }
        body += "</table>"
        if o.deadletter > 0 { body += "<p class=\"notice refused\">\(o.deadletter) dead letter(s): <code>concord maintain deadletter list</code></p>" }
        body += "<h2>Last audit</h2>"
        if let a = index.audits.first {
            body += "<p id=\"last-audit\"><a href=\"/console/audits/\(HTML.segment(a.file))\">\(HTML.escape(a.auditId))</a> (\(HTML.escape(a.mode)), finished \(HTML.escape(a.finishedAt)) "
            body += "in \(String(format: "%.1f", a.seconds)) s): <b>\(a.findings)</b> finding(s) — \(a.findings - a.known) new, \(a.known) known from the baseline; \(a.errors) error, \(a.warnings) warning</p>"
        } else {
            body += "<p id=\"last-audit\" class=\"muted\">No audit report in the reports directory yet.</p>"
        }
        let applied = Set(index.appliedPlans)
        let waiting = index.plans.filter { !applied.contains($0.planId) }
        body += "<h2>Plans waiting for approval: \(waiting.count)</h2>"
        if !waiting.isEmpty {
            body += "<ul id=\"plans-waiting\">" + waiting.prefix(10).map { "<li><a href=\"/console/plans/\(HTML.segment($0.planId))\">\(HTML.escape($0.planId))</a> from \(HTML.escape($0.sourceAuditId))</li>" }.joined() + "</ul>"
        }
        body += "<h2>Publications to GitHub</h2><p id=\"publications-summary\">"
        body += o.publications.isEmpty ? "None recorded." : o.publications.map { "<a href=\"/console/publications?state=\(HTML.query($0.0))\">\(HTML.escape($0.0)): \($0.1)</a>" }.joined(separator: " · ")
        body += "</p>"
        return HTML.response(HTML.page("Overview", session: s, body))
    }

    // MARK: One run across its stores

    /// The run's events as its stream and the graph hold them, side by side in the stream's order, with what
    /// disagrees marked; its drafts and their versions; the findings of the last audit that name it.
    func runPage(_ s: ConsoleSession, run: String) async throws -> Response {
        let stream: [(entry: String, id: String?, ts: Int64?, type: String?, parent: String?)] = try await stores.redis.run { r in
            var out: [(String, String?, Int64?, String?, String?)] = []
            try r.xrange(RedisKeys.events(run)) { batch in
                for e in batch {
                    let j = e.field("event").flatMap { try? JSON.parse(String(decoding: $0, as: UTF8.self)) }
                    out.append((e.id, j?["id"]?.stringValue, j?["timestamp"]?.intValue, j?["type"]?.stringValue, j?["parentId"]?.stringValue))
                }
            }
            return out
        }
        let nodes: [(id: String, ts: Int64?, type: String?, placeholder: Bool, parents: [String])] = try await stores.graph.run { g in
            var out: [(String, Int64?, String?, Bool, [String])] = []
            try g.store.stream("""
                MATCH (n:Node) WHERE n.workflow_id = $run OPTIONAL MATCH (p)-[:PARENT_OF]->(n)
                RETURN n.id, n.timestamp, n.type, n.placeholder, collect(p.id)
                """, parameters: ["run": .string(run)], readOnly: true, fetchSize: 1000) { rec in
                let parents = (rec[4].listValue ?? []).compactMap(\.stringValue)
                out.append((rec[0].stringValue ?? "?", rec[1].intValue, rec[2].stringValue, rec[3].boolValue == true, parents))
            }
            return out
        }
        let drafts: [[String]] = try await stores.postgres.run { pg in
            try pg.query("""
                SELECT d.id, d.content_type, d.status, to_char(d.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'),
                       coalesce((SELECT string_agg(h.version || ':' || h.status, ' → ' ORDER BY h.version) FROM draft_content_history h WHERE h.draft_id = d.id), '')
                FROM draft_content d WHERE d.workflow_run_id = $1 ORDER BY d.created_at, d.id
                """, [run]).rows.map { row in (0..<5).map { row.string($0) ?? "" } }
        }
        let findings = index.findings(run: run, keys: Set(stream.compactMap(\.id) + nodes.map(\.id) + drafts.map { $0[0] }))
        var body = "<h1>Run \(HTML.escape(run))</h1>"
        body += "<p><a href=\"/runs/\(HTML.segment(run))\">the run as JSON</a> · <a href=\"/runs/\(HTML.segment(run))/events\">its live event stream (SSE)</a></p>"
        if stream.isEmpty && nodes.isEmpty && drafts.isEmpty {
            body += "<p class=\"notice\" id=\"unknown-run\">No store holds a run with this id.</p>"
            return HTML.response(HTML.page("Run", session: s, body), status: .notFound)
        }
        // Side by side: the stream's order first, then what only the graph holds.
        var byId: [String: [(id: String, ts: Int64?, type: String?, placeholder: Bool, parents: [String])]] = [:]
        for n in nodes { byId[n.id, default: []].append(n) }
        var rows: [(id: String, streamCell: String, graphCell: String, marks: [String])] = []
        var seen: Set<String> = []
        var previous: Int64?
        var streamCount: [String: Int] = [:]
        for e in stream { if let id = e.id { streamCount[id, default: 0] += 1 } }
        for e in stream {
            var marks: [String] = []
            guard let id = e.id else {
                rows.append(("(not an event)", HTML.escape(e.entry), "", ["malformed in the stream"]))
                continue
            }
            if let ts = e.ts, let p = previous, ts < p { marks.append("out of order in the stream") }
            previous = e.ts ?? previous
            if streamCount[id, default: 0] > 1 { marks.append("\(streamCount[id]!) times in the stream") }
            let copies = (byId[id] ?? []).filter { !$0.placeholder }
            if copies.isEmpty { marks.append(byId[id]?.isEmpty == false ? "only a placeholder in the graph" : "missing in the graph") }
            if copies.count > 1 { marks.append("\(copies.count) copies in the graph") }
            if let c = copies.first, let ts = e.ts, c.ts != ts { marks.append("timestamps differ") }
            if let c = copies.first, c.parents.count > 1 { marks.append("\(c.parents.count) parents in the graph") }
            if let c = copies.first, c.parents.count == 1, let p = e.parent, c.parents[0] != p { marks.append("parent differs (the stream says \(p))") }
            let graphCell = copies.first.map { "\($0.ts.map(String.init) ?? "?") \(HTML.escape($0.type ?? "?"))" + ($0.parents.isEmpty ? "" : " ← \(HTML.escape($0.parents.joined(separator: ", ")))") } ?? ""
            rows.append((id, "\(HTML.escape(e.entry)) · \(e.ts.map(String.init) ?? "?") \(HTML.escape(e.type ?? "?"))", graphCell, marks))
            seen.insert(id)
        }
        for (id, copies) in byId.sorted(by: { ($0.value.first?.ts ?? 0, $0.key) < ($1.value.first?.ts ?? 0, $1.key) }) where !seen.contains(id) {
            let real = copies.filter { !$0.placeholder }
            guard !real.isEmpty else { continue }
            var marks = ["missing in the stream"]
            if real.count > 1 { marks.append("\(real.count) copies in the graph") }
            rows.append((id, "", "\(real[0].ts.map(String.init) ?? "?") \(HTML.escape(real[0].type ?? "?"))", marks))
        }
        let marked = rows.filter { !$0.marks.isEmpty }.count
        body += "<h2>Events: \(stream.count) in the stream, \(nodes.filter { !$0.placeholder }.count) nodes in the graph, \(marked) marked</h2>"
        body += "<table id=\"events\"><tr><th>event</th><th>stream (entry · timestamp type)</th><th>graph (timestamp type ← parent)</th><th>disagrees</th></tr>"
        for r in rows {
            body += "<tr data-event=\"\(HTML.escape(r.id))\"\(r.marks.isEmpty ? "" : " class=\"marked\"")><td>\(HTML.escape(r.id))</td><td>\(r.streamCell)</td><td>\(r.graphCell)</td>"
            body += "<td>\(r.marks.map(HTML.escape).joined(separator: "; "))</td></tr>"
        }
        body += "</table>"
        body += "<h2>Drafts: \(drafts.count)</h2><table id=\"drafts\"><tr><th>draft</th><th>type</th><th>status</th><th>updated (UTC)</th><th>versions</th></tr>"
        for d in drafts { body += "<tr><td>\(HTML.escape(d[0]))</td><td>\(HTML.escape(d[1]))</td><td>\(HTML.escape(d[2]))</td><td>\(HTML.escape(d[3]))</td><td>\(HTML.escape(d[4]))</td></tr>" }
        body += "</table>"
        body += "<h2>Findings of the last audit that name it: \(findings.count)</h2><table id=\"run-findings\"><tr><th>rule</th><th>key</th><th>message</th></tr>"
        for f in findings {
            body += "<tr><td>\(HTML.escape(f.rule))</td><td>\(HTML.escape(f.key))</td><td><a href=\"/console/audits/\(HTML.segment(f.file))\">\(HTML.escape(f.message))</a></td></tr>"
        }
        body += "</table>"
        // Its live stream while the page is open: the run's SSE from after the last entry shown, one line per event.
        let after = stream.last.map { "?lastEventId=" + HTML.query($0.entry) } ?? ""
        body += "<h2>Live: new events of this run while this page is open</h2>"
        body += "<ol id=\"live\" aria-live=\"polite\" data-src=\"/runs/\(HTML.segment(run))/events\(after)\"></ol>"
        body += "<script>\(Self.liveScript)</script>"
        var response = HTML.response(HTML.page("Run \(run)", session: s, body))
        response.headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-\(Self.liveScriptHash)'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        return response
    }

    /// The run page's one script (allowed by its hash, nothing else runs): reads the run's event stream with fetch
    /// and appends each event as a line of text (never as markup).
    static let liveScript = """
        (async()=>{const l=document.getElementById('live');const r=await fetch(l.dataset.src);const rd=r.body.getReader();const d=new TextDecoder();let b='';\
        for(;;){const x=await rd.read();if(x.done)break;b+=d.decode(x.value,{stream:true});let i;while((i=b.indexOf('\\n\\n'))>=0){const m=b.slice(0,i);b=b.slice(i+2);\
        let ev='message',id='',data='';for(const s of m.split('\\n')){if(s.startsWith('event: '))ev=s.slice(7);else if(s.startsWith('id: '))id=s.slice(4);\
        else if(s.startsWith('data: '))data+=s.slice(6);}if(!data)continue;const li=document.createElement('li');li.textContent=id+' '+ev+' '+data.slice(0,300);\
        l.appendChild(li);}}})();
        """
    static let liveScriptHash = Data(SHA256.digest(liveScript)).base64EncodedString()
}
