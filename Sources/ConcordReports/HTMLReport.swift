import ConcordAudit
import ConcordCore
import ConcordJSON
import Foundation

/// One event of a run's tree, for the HTML drill-down.
public struct TreeNode: Sendable, Hashable {
    public var id: String
    public var parent: String?
    public var type: String
    public var timestamp: Int64?
    public init(id: String, parent: String?, type: String, timestamp: Int64?) {
        self.id = id
        self.parent = parent
        self.type = type
        self.timestamp = timestamp
    }
}

/// Collects the event trees of some runs from the datasets the rules'
/// `drilldown` names (fed from a snapshot or by live lookups).
public final class TreeCollector: RecordSink, @unchecked Sendable {
    /// A collector for the runs an HTML report of `report` draws — those with the most findings, at most
    /// 50 — or nil when the catalog names no drilldown or no finding names a run.
    public static func forReport(_ report: AuditReport, catalog: DatasetCatalog) -> TreeCollector? {
        let counts = Dictionary(grouping: report.findings.compactMap(\.workflowId), by: { $0 }).mapValues(\.count)
        let runs = Set(counts.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.prefix(50).map(\.key))
        guard let source = catalog.drilldown, !runs.isEmpty else { return nil }
        return TreeCollector(runs: runs, source: source)
    }

    public let runs: Set<String>
    public let source: Drilldown
    private let lock = NSLock()
    private var nodes: [String: (run: String, type: String, ts: Int64?)] = [:]
    private var parents: [String: [String]] = [:]
    private var tape = JSONTape()

    /// What the trees read of a node's and an edge's record.
    private let nodeFields: JSONProjection, edgeFields: JSONProjection

    public init(runs: Set<String>, source: Drilldown) {
        self.runs = runs
        self.source = source
        func fields(_ paths: [String]) -> JSONProjection {
            paths.reduce(JSONProjection.members([:])) { $0.merged(with: .path($1.split(separator: ".").map(String.init)[...], .whole)) }
        }
        nodeFields = fields([source.run, source.id, source.type, source.time, "placeholder"])
        edgeFields = fields([source.to, source.from, source.edgeRun])
    }

    /// The datasets it reads.
    public var datasets: [String] { [source.nodes, source.edges] }

    public func append(_ record: JSON, to dataset: String) throws {
        lock.lock(); defer { lock.unlock() }
        func text(_ path: String) -> String? { record.value(atPath: path)?.stringValue }
        if dataset == source.nodes, let run = text(source.run), runs.contains(run), let id = text(source.id) {
            let type = text(source.type) ?? (record["placeholder"]?.boolValue == true ? "(placeholder)" : "?")
            nodes[id] = (run, type, record.value(atPath: source.time)?.intValue)
        } else if dataset == source.edges, let to = text(source.to), let from = text(source.from), let run = text(source.edgeRun), runs.contains(run) {
            parents[to, default: []].append(from)
        }
    }

    public func finished(_ dataset: String, records: Int) throws {}

    /// A snapshot line: only the fields the trees show are parsed.
    public func append(line: UnsafeRawBufferPointer, to dataset: String) throws {
        let projection = dataset == source.nodes ? nodeFields : dataset == source.edges ? edgeFields : .members([:])
        let record = lock.withLock { JSON.parse(line, projection: projection, tape: &tape) }
        guard let record else { return try append(JSON.parse(line), to: dataset) }
        try append(record, to: dataset)
    }

    /// Per run, its nodes (a node with several parents appears under each).
    public var trees: [String: [TreeNode]] {
        lock.lock(); defer { lock.unlock() }
        var out: [String: [TreeNode]] = [:]
        for (id, n) in nodes {
            let ps = parents[id] ?? []
            if ps.isEmpty { out[n.run, default: []].append(TreeNode(id: id, parent: nil, type: n.type, timestamp: n.ts)) }
            for p in Set(ps) { out[n.run, default: []].append(TreeNode(id: id, parent: p, type: n.type, timestamp: n.ts)) }
        }
        return out
    }
}

/// A self-contained HTML page: summary, an inline SVG bar chart, a sortable
/// findings table and a drill-down per run with its event tree. No external assets.
enum HTMLReport: AuditReporter {
    static let maxRows = 5_000
    static let severityColor: [Rule.Severity: String] = [.error: "#c62828", .warning: "#ef6c00", .info: "#1565c0"]

    static func render(_ r: AuditReport, _ context: ReportContext) -> String {
        let runTrees = context.runTrees
        let e = Escape.xml
        var s = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Concord audit \(e(r.auditId))</title>
        <style>
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#222;background:#fafafa}
        h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem}
        .meta{color:#555;font-size:.9rem}
        .cards{display:flex;gap:1rem;margin:1rem 0;flex-wrap:wrap}
        .card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.8rem 1.2rem;min-width:8rem}
        .card b{display:block;font-size:1.6rem}
        table{border-collapse:collapse;width:100%;background:#fff;font-size:.88rem}
        th,td{border:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
        th{background:#eee;cursor:pointer;user-select:none} th.sorted-asc::after{content:" ▲"} th.sorted-desc::after{content:" ▼"}
        .sev-error{color:#c62828;font-weight:600}.sev-warning{color:#ef6c00;font-weight:600}.sev-info{color:#1565c0}
        code{font-size:.85em;word-break:break-all}
        details{background:#fff;border:1px solid #ddd;border-radius:6px;margin:.4rem 0;padding:.4rem .8rem}
        summary{cursor:pointer;font-weight:600}
        ul.tree{list-style:none;padding-left:1.2rem;border-left:1px dashed #bbb;margin:.2rem 0}
        .flag{background:#ffebee;border-radius:4px;padding:0 .3rem}
        .known{opacity:.6}
        </style></head><body>
        <h1>Concord audit</h1>
        <div class="meta">\(e(r.auditId)) · source: \(e(r.source)) · started \(e(Timestamp.rfc3339(r.startedAt))) · grace \(e(DurationText.format(milliseconds: r.graceMs)))\(r.partition.map { " · partition \($0)" } ?? "")</div>

        """
        // Summary cards.
        s += "<div class=\"cards\" id=\"summary\"><div class=\"card\"><b>\(r.findings.count)</b>findings</div>"
        for sev in Rule.Severity.allCases.reversed() {
            let n = r.findings.filter { $0.severity == sev }.count
            s += "<div class=\"card\"><b class=\"sev-\(sev.rawValue)\">\(n)</b>\(sev.rawValue)</div>"
        }
        s += "<div class=\"card\"><b>\(r.findings.count - r.newFindings.count)</b>known (baseline)</div></div>\n"

        // Bar chart: findings per rule.
        s += "<h2>Findings by rule</h2>\n" + chart(r)

        // Rules table.
        s += "<h2>Rules</h2>\n<table id=\"rules\"><thead><tr><th>rule</th><th>severity</th><th>kind</th><th>checked</th><th>findings</th></tr></thead><tbody>\n"
        for rule in r.rules {
            s += "<tr><td>\(e(rule.id))</td><td class=\"sev-\(rule.severity.rawValue)\">\(rule.severity.rawValue)</td><td>\(e(rule.kind))</td><td>\(rule.checked)</td><td>\(rule.findings)</td></tr>\n"
        }
        s += "</tbody></table>\n"

        // Findings table, sortable.
        s += "<h2>Findings</h2>\n"
        if r.findings.isEmpty {
            s += "<p id=\"clean\">No findings: the stores agree.</p>\n"
        }
        // A browser stays usable with a few thousand rows; the JSON report has them all.
        let shown = r.findings.count > maxRows ? Array(r.findings.sorted { ($1.severity.rank, $0.rule, $0.key) < ($0.severity.rank, $1.rule, $1.key) }.prefix(maxRows)) : r.findings
        if shown.count < r.findings.count {
            s += "<p id=\"truncated\">Showing \(shown.count) of \(r.findings.count) findings, most severe first; the JSON report lists them all.</p>\n"
        }
        s += "<table id=\"findings\" class=\"sortable\"><thead><tr><th>severity</th><th>rule</th><th>key</th><th>run</th><th>message</th></tr></thead><tbody>\n"
        for f in shown {
            let known = r.known.contains(f.id)
            s += "<tr class=\"\(known ? "known" : "")\" data-severity=\"\(f.severity.rank)\"><td class=\"sev-\(f.severity.rawValue)\">\(f.severity.rawValue)\(known ? " (known)" : "")</td><td>\(e(f.rule))</td><td><code>\(e(f.key))</code></td>"
            s += "<td>\(f.workflowId.map { runTrees[$0] != nil ? "<a href=\"#run-\(e(anchor($0)))\">\(e($0))</a>" : e($0) } ?? "")</td><td>\(e(f.message))\(f.recheckUnavailable.map { " <em title=\"\(e($0))\">(not rechecked)</em>" } ?? "")</td></tr>\n"
        }
        s += "</tbody></table>\n"

        // Drill-down per run.
        if !runTrees.isEmpty {
            s += "<h2>Runs with findings</h2>\n"
            let flagged = Dictionary(grouping: r.findings, by: \.key)
            for run in runTrees.keys.sorted() {
                let count = r.findings.filter { $0.workflowId == run }.count
                s += "<details id=\"run-\(e(anchor(run)))\"><summary>\(e(run)) — \(count) finding(s)</summary>\n"
                s += tree(run, runTrees[run] ?? [], flagged)
                s += "</details>\n"
            }
        }
        s += script
        s += "</body></html>\n"
        return s
    }

    static func anchor(_ s: String) -> String { String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" }) }

    static func chart(_ r: AuditReport) -> String {
        let rules = r.rules
        let maxCount = max(rules.map(\.findings).max() ?? 0, 1)
        let rowH = 22, labelW = 290, barW = 420
        let h = rules.count * rowH + 10
        var s = "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(labelW + barW + 60)\" height=\"\(h)\" role=\"img\" aria-label=\"findings per rule\">\n"
        for (i, rule) in rules.enumerated() {
            let y = i * rowH + 5
            let w = rule.findings == 0 ? 1 : max(3, rule.findings * barW / maxCount)
            s += "<text x=\"\(labelW - 6)\" y=\"\(y + 15)\" text-anchor=\"end\" font-size=\"12\">\(Escape.xml(rule.id))</text>"
            s += "<rect x=\"\(labelW)\" y=\"\(y + 3)\" width=\"\(w)\" height=\"\(rowH - 6)\" fill=\"\(severityColor[rule.severity] ?? "#888")\"><title>\(Escape.xml(rule.id)): \(rule.findings)</title></rect>"
            s += "<text x=\"\(labelW + w + 5)\" y=\"\(y + 15)\" font-size=\"12\">\(rule.findings)</text>\n"
        }
        return s + "</svg>\n"
    }

    static func tree(_ run: String, _ nodes: [TreeNode], _ flagged: [String: [Finding]]) -> String {
        let children = Dictionary(grouping: nodes, by: { $0.parent ?? "" })
        let ids = Set(nodes.map(\.id))
        // Roots: the run's own children, nodes with no parent, and nodes whose parent is outside the run.
        var roots = nodes.filter { $0.parent == nil || $0.parent == run || !ids.contains($0.parent!) }
        roots.sort { ($0.timestamp ?? 0, $0.id) < ($1.timestamp ?? 0, $1.id) }
        var seen: Set<String> = []
        var budget = 2_000
        func render(_ n: TreeNode, depth: Int) -> String {
            budget -= 1
            let marks = (flagged[n.id] ?? []).map(\.rule)
            var line = "<li><code>\(Escape.xml(n.id))</code> \(Escape.xml(n.type))"
            if let ts = n.timestamp { line += " · \(ts)" }
            if let p = n.parent, p != run, !ids.contains(p) { line += " · parent <code>\(Escape.xml(p))</code> (not in this run)" }
            if n.parent == nil { line += " · no parent" }
            if !marks.isEmpty { line = line.replacingOccurrences(of: "<li>", with: "<li><span class=\"flag\">") + " — " + Escape.xml(marks.joined(separator: ", ")) + "</span>" }
            guard !seen.contains(n.id), depth < 200, budget > 0 else { return line + " (cycle or repeat: not expanded)</li>" }
            seen.insert(n.id)
            let kids = (children[n.id] ?? []).sorted { ($0.timestamp ?? 0, $0.id) < ($1.timestamp ?? 0, $1.id) }
            if !kids.isEmpty { line += "<ul class=\"tree\">" + kids.map { render($0, depth: depth + 1) }.joined() + "</ul>" }
            return line + "</li>"
        }
        var out = "<ul class=\"tree\"><li><b>\(Escape.xml(run))</b> (run)<ul class=\"tree\">"
        out += roots.map { render($0, depth: 0) }.joined()
        let unreached = nodes.filter { !seen.contains($0.id) }
        if !unreached.isEmpty {
            out += "<li>only on a cycle:<ul class=\"tree\">" + unreached.filter { !seen.contains($0.id) }.map { render($0, depth: 0) }.joined() + "</ul></li>"
        }
        return out + "</ul></li></ul>\n"
    }

    static let script = """
    <script>
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("th").forEach(function (th, col) {
        th.addEventListener("click", function () {
          var asc = !th.classList.contains("sorted-asc");
          table.querySelectorAll("th").forEach(function (h) { h.classList.remove("sorted-asc", "sorted-desc"); });
          th.classList.add(asc ? "sorted-asc" : "sorted-desc");
          var body = table.tBodies[0];
          var rows = Array.prototype.slice.call(body.rows);
          rows.sort(function (a, b) {
            var x = col === 0 ? a.dataset.severity : a.cells[col].textContent;
            var y = col === 0 ? b.dataset.severity : b.cells[col].textContent;
            return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1);
          });
          rows.forEach(function (r) { body.appendChild(r); });
        });
      });
    });
    </script>

    """
}
