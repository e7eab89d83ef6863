import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordReports
import ConcordTestSupport
import Foundation
import Testing

/// The report formats: golden files for JSON, Markdown and JUnit, and the
/// HTML page opened in headless Chromium.
@Suite struct ReportTests {
    static let goldenDir = TestStores.repositoryRoot.appendingPathComponent("Tests/Fixtures/golden")

    /// A report with fixed ids and times, so that its renderings are stable.
    func report(_ fixture: String = "event.cycle/finds") throws -> (AuditReport, Snapshot) {
        let rules = try RuleSet.load(directory: TestStores.repositoryRoot.appendingPathComponent("Rules"))
        let snap = try Snapshot(directory: TestStores.repositoryRoot.appendingPathComponent("Tests/Fixtures/rules").appendingPathComponent(fixture))
        var r = try Auditor.audit(snapshot: snap, AuditRequest(rules: rules))
        r.auditId = "audit-golden"
        r.startedAt = Date(timeIntervalSince1970: 1_764_000_000)
        r.finishedAt = Date(timeIntervalSince1970: 1_764_000_001)
        r.timings = ["read": 0.25, "evaluate": 0.125, "total": 0.5]
        r.rulesDigest = "digest"
        return (r, snap)
    }

    @Test(arguments: [ReportFormat.json, .md, .junit])
    func matchesItsGoldenFile(_ format: ReportFormat) throws {
        let (r, _) = try report()
        let text = format.render(r)
        let golden = Self.goldenDir.appendingPathComponent("report.\(format.fileExtension)")
        if ProcessInfo.processInfo.environment["CONCORD_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: Self.goldenDir, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: golden)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(text == expected, "\(format.rawValue) differs from \(golden.path) (CONCORD_UPDATE_GOLDEN=1 rewrites it)")
    }

    @Test func jsonReportHasTheStableFields() throws {
        let (r, _) = try report()
        let j = r.json()
        #expect(j["format"] == "concord.audit/1" && j["source"] == "snapshot")
        for key in ["auditId", "startedAt", "finishedAt", "stores", "rules", "findings", "summary"] { #expect(j[key] != nil, "\(key)") }
        let f = try #require(j["findings"]?[0])
        for key in ["id", "rule", "severity", "store", "key", "workflowId", "message", "evidence"] { #expect(f[key] != nil, "\(key)") }
        #expect(j["summary"]?["findings"]?.intValue == Int64(r.findings.count))
        #expect(j["stores"]?["graph"]?["records"]?["graph.nodes"]?.intValue == 5)
    }

    @Test func prometheusMetrics() throws {
        let (r, _) = try report()
        let text = ReportFormat.prom.render(r)
        #expect(text.contains("concord_findings{rule=\"event.cycle\",severity=\"error\"} 1"))
        #expect(text.contains("concord_findings{rule=\"event.duplicate-node\",severity=\"error\"} 0"))
        #expect(text.contains("concord_audit_records{store=\"graph\",dataset=\"graph.nodes\"} 5"))
        #expect(text.contains("concord_audit_duration_seconds{phase=\"total\"} 0.500"))
    }

    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// The HTML report opened in headless Chromium: the DOM after scripts ran
    /// holds the chart and every finding's row, and a screenshot is a real page.
    @Test func htmlRendersInChromium() throws {
        let browser = try #require(Self.chromium, "Chromium is not installed (make test installs Debian's chromium)")
        let (r, snap) = try report()
        let rules = try RuleSet.load(directory: TestStores.repositoryRoot.appendingPathComponent("Rules"))
        let collector = TreeCollector(runs: Set(r.findings.compactMap(\.workflowId)), source: try #require(rules.datasets.drilldown))
        for d in collector.datasets { try snap.read(d) { try collector.append($0, to: d) } }
        let html = ReportFormat.html.render(r, runTrees: collector.trees)
        #expect(!html.contains("http://") || html.components(separatedBy: "http://").count == 2)  // only the SVG namespace
        #expect(!html.contains("<link") && !html.contains("src="))  // self-contained
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("html"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let page = dir.appendingPathComponent("report.html")
        try Data(html.utf8).write(to: page)
        let common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(dir.path)/profile"]

        let dom = try TestStores.run(browser, common + ["--dump-dom", page.absoluteString])
        #expect(dom.status == 0, "\(dom.stderr)")
        let text = String(decoding: dom.stdout, as: UTF8.self)
        #expect(text.contains("<svg id=\"chart\""))
        #expect(text.components(separatedBy: "<rect").count - 1 == r.rules.count)
        let body = text.components(separatedBy: "<table id=\"findings\"").last ?? ""
        #expect(body.components(separatedBy: "<tr").count - 2 == r.findings.count)  // header row + one per finding
        #expect(text.contains("id=\"run-wr_a\""))  // the drill-down with the run's event tree
        #expect(text.contains("event.cycle"))

        let shot = dir.appendingPathComponent("shot.png")
        let s = try TestStores.run(browser, common + ["--screenshot=\(shot.path)", "--window-size=1200,1600", page.absoluteString])
        #expect(s.status == 0, "\(s.stderr)")
        let png = [UInt8](try Data(contentsOf: shot))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]))
        let width = png[16..<20].reduce(0) { $0 << 8 | Int($1) }
        #expect(width == 1200)
        #expect(png.count > 30_000, "a blank page compresses to a few kB; this one is \(png.count) bytes")
    }
}
