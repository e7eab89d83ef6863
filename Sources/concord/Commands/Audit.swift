import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordNotify
import ConcordGitHub
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordRedis
import ConcordReports
import Foundation

/// `concord audit`: snapshot the live stores (or read `--snapshot DIR`), run the rules, write reports.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Audit the stores (or a snapshot) against the rules and write reports.",
        discussion: """
            Exit codes: 0 no finding at or above --fail-on (baseline findings do not count), 1 findings,
            2 usage / rule / input error, 3 a store could not be reached or failed.
            --partition I/N reads about 1/N of each store (the runs whose id hashes to I; queues and sets
            whole) and reports the findings of those runs, plus the findings of no run it meets;
            `concord report merge` of the N reports is the full report.
            --incremental reads only what changed since the saved audit state (--state FILE, else the
            concord_audit_state table) plus what must be judged again; --full reads everything and saves
            the state. Run a full audit weekly: see docs/scale.md.
            """)

    @OptionGroup var stores: StoreOptions
    @OptionGroup var rulesOption: RulesOption

    @Option(name: .long, help: "Audit this snapshot directory instead of the live stores (no store is touched).")
    var snapshot: String?

    @OptionGroup var output: ReportOutputOptions

    @Option(name: .long, help: "Records younger than this are in flight, not missing or stuck (e.g. 5m, 30s, 0s).")
    var grace: String = "5m"

    @Flag(name: .long, inversion: .prefixedNo, help: "Re-read each candidate finding from the live stores and drop those that healed (live audits).")
    var recheck = true

    enum RedisRead: String, ExpressibleByArgument, CaseIterable { case primary, replica }
    @Option(name: .long, help: "Read Redis's datasets from the primary or from its most caught-up replica (the recheck always reads the primary; the report says which was read and the replica's lag).")
    var redisRead: RedisRead = .primary

    @Option(name: .long, help: "Findings in this baseline (or earlier report) are reported as known and do not fail the run.")
    var baseline: String?

    @Option(name: .long, help: "Write the current findings to this file as a baseline.")
    var writeBaseline: String?

    @Option(name: .long, help: "Audit partition I of N (I/N), e.g. 0/4.")
    var partition: String?

    @Option(name: .long, help: "Run only this rule (repeatable).")
    var rule: [String] = []

    @Option(name: .long, help: "Evaluate as of this time (epoch ms or RFC 3339); default now, or the snapshot's time.")
    var now: String?

    @Option(name: .long, help: "While auditing the live stores, also save what was read as a snapshot in this directory.")
    var saveSnapshot: String?

    @Flag(name: .long, help: "Read only what changed since the last audit's state (and what must be judged again); a full audit when the state cannot vouch for the rest.")
    var incremental = false

    @Flag(name: .long, help: "Read every record and save the state the next --incremental audit starts from.")
    var full = false

    @Option(name: .long, help: "Keep the audit state in this file instead of the concord_audit_state table (implies --full unless --incremental).")
    var state: String?

    @OptionGroup(title: "GitHub (the fourth store; its rules run when it is configured)") var github: GitHubOptions

    @Option(name: .long, help: "Notify here of new findings at or above --fail-on, of findings that cleared, and of a failed audit (repeatable; env CONCORD_NOTIFY, comma-separated): http(s)://… (JSON), slack+https://…, alertmanager+http(s)://HOST:PORT.")
    var notify: [String] = []

    func validate() throws {
        if incremental && full { throw ValidationError("--incremental and --full exclude each other") }
        if snapshot != nil, incremental || full || state != nil {
            throw ValidationError("--incremental, --full and --state audit the live stores; a snapshot is always read whole")
        }
    }

    /// The audit, then the notifications: what it found, or that it failed. A notification never changes the exit code.
    func run() throws {
        let notifier = try NotifyOptions.notifier(notify)
        do {
            try audit(notifier)
            if let notifier { Self.report(notifier.commandSucceeded("audit")) }
        } catch let e as ExitCode {
            // Exit 1 is findings: the audit ran (its failure alert resolves); anything else is a failure.
            if let notifier {
                Self.report(e == ExitCode.findings ? notifier.commandSucceeded("audit") : notifier.commandFailed("audit", error: "exit \(e.rawValue)"))
            }
            throw e
        } catch {
            if let notifier { Self.report(notifier.commandFailed("audit", error: (error as? ConcordError)?.description ?? Concord.fileProblem(error) ?? "\(error)")) }
            throw error
        }
    }

    /// Each delivery that failed, on stderr (the exit code is the audit's).
    static func report(_ deliveries: [Notifier.Delivery]) {
        for d in deliveries where !d.delivered { Output.error("notification to \(d.target) failed after \(d.attempts) attempt(s): \(d.error ?? "?")") }
        if !deliveries.isEmpty { Output.progress("notifications: \(deliveries.filter(\.delivered).count) delivered, \(deliveries.filter { !$0.delivered }.count) failed") }
    }

    func audit(_ notifier: Notifier?) throws {
        let rules = try rulesOption.load().selecting(rule)
        let formats = try output.formats()
        let failLevel = try output.failLevel()
        var request = AuditRequest(rules: rules, graceMs: try DurationText.milliseconds(grace))
        request.partition = try partition.map(Partition.init(parsing:))
        request.baseline = try baseline.map(Baseline.init(file:))
        request.nowMs = try now.map(Self.parseTime)

        var report: AuditReport
        var trees: [String: [TreeNode]] = [:]
        if let snapshot {
            let snap = try Snapshot(directory: URL(fileURLWithPath: snapshot))
            report = try Auditor.audit(snapshot: snap, request)
            // The HTML report's event trees: read again, only what they show.
            if formats.contains(.html), let collector = TreeCollector.forReport(report, catalog: rules.datasets) {
                for d in collector.datasets where snap.datasets.contains(d) {
                    try snap.readLines(d) { try collector.append(line: $0, to: d) }
                }
                trees = collector.trees
            }
        } else {
            // Without GitHub, its rules are left out (and the report says so) rather than finding every publication missing.
            let client = try github.clientIfConfigured()
            var notRun: JSON?
            if client == nil { (request, notRun) = Auditor.leavingOut(stores: ["github"], from: request, because: "no GitHub is configured") }
            let graph = try stores.connectGraph()
            let primary = try stores.connectRedis()
            var readFrom: JSON = ["server": .string(primary.server), "role": "primary"]
            var replica: RedisConnection?
            if redisRead == .replica {
                let found = try primary.replica()
                replica = found.connection
                if let r = found.connection {
                    readFrom = ["server": .string(r.server), "role": "replica", "lagBytes": .int(found.lagBytes), "primary": .string(primary.server)]
                } else {
                    readFrom = ["server": .string(primary.server), "role": "primary", "replicaUnavailable": .string(found.why)]
                    Output.error("no replica to read from (\(found.why)); reading the primary")
                }
            }
            let reader = LiveReader(postgres: try stores.connectPostgres(), redis: replica ?? primary, graph: graph)
            if replica != nil { reader.primaryRedis = primary }
            reader.github = client
            reader.progress = ReadProgress()
            let writer = try saveSnapshot.map { try SnapshotWriter(directory: URL(fileURLWithPath: $0), datasets: request.datasets) }
            let graphURL = stores.graphURL, timeout = stores.connectTimeout, ca = stores.graphCAFile
            reader.openGraph = { try Graph.another(graph, url: graphURL, connectTimeout: timeout, caFile: ca) }
            if incremental || full || state != nil {
                let store: AuditStateStore = try state.map { .file(URL(fileURLWithPath: $0)) } ?? .table(try stores.connectPostgres())
                report = try Auditor.audit(live: reader, request, recheck: recheck, mode: incremental ? .incremental : .full, state: store, snapshot: writer)
            } else {
                report = try Auditor.audit(live: reader, request, recheck: recheck, snapshot: writer)
            }
            if let notRun { report.extra["rulesNotRun"] = notRun }
            if case .object(var redis) = report.stores["redis"] {
                redis["readFrom"] = readFrom
                report.stores["redis"] = .object(redis)
            }
            if formats.contains(.html), let collector = TreeCollector.forReport(report, catalog: rules.datasets) {
                try reader.lookup(collector.datasets.compactMap { rules.datasets[$0] }, runs: collector.runs, ids: [], into: collector)
                trees = collector.trees
            }
        }

        // Every report says which rules it ran (the directory as resolved: flag, CONCORD_RULES, ./Rules or the installed catalog).
        report.extra["rulesDirectory"] = .string(URL(fileURLWithPath: rulesOption.directory).standardizedFileURL.path)
        // The last audit of this report directory: what the notifications compare with (read before it is replaced).
        let previous = notifier == nil ? nil : FileManager.default.contents(atPath: URL(fileURLWithPath: output.outputDir).appendingPathComponent("latest.json").path)
            .flatMap { try? JSON.parse([UInt8]($0)) }.flatMap { $0["format"]?.stringValue == "concord.audit/1" ? NotifiedFinding.of(report: $0) : nil }
        let written = try output.write(report, formats: formats, runTrees: trees)
        if let notifier {
            let failing = Set(Rule.Severity.allCases.filter { s in failLevel.map { s.rank >= $0.rank } ?? false }.map(\.rawValue))
            Self.report(notifier.auditFinished(auditId: report.auditId, current: NotifiedFinding.of(report: report.json()), previous: previous,
                                               failing: failing, reports: written))
        }
        if let writeBaseline {
            try Data((Baseline.json(report.findings).encodedPretty() + "\n").utf8).write(to: URL(fileURLWithPath: writeBaseline), options: .atomic)
        }
        Output.line(Self.summary(report))
        for path in written { Output.line("  \(path)") }
        if report.fails(at: failLevel) { throw ExitCode.findings }
    }

    static func summary(_ r: AuditReport) -> String {
        let sev = Rule.Severity.allCases.reversed().map { s in "\(r.findings.filter { $0.severity == s }.count) \(s.rawValue)" }.joined(separator: ", ")
        var line = "\(r.auditId): \(r.findings.count) finding(s) (\(sev))"
        if !r.known.isEmpty { line += ", \(r.known.count) known from the baseline" }
        if r.recheck["performed"]?.boolValue == true, let healed = r.recheck["healed"]?.intValue, healed > 0 { line += ", \(healed) healed on recheck" }
        if let n = r.recheck["unavailable"]?.intValue, n > 0 { line += ", \(n) could not be rechecked (kept)" }
        if let inc = r.extra["incremental"] {
            if let why = inc["fullBecause"]?.stringValue {
                line += "; full audit (\(why))"
            } else {
                line += "; incremental: \(inc["reaudited"]?.intValue ?? 0) of \(inc["runs"]?.intValue ?? 0) runs read again"
            }
        }
        return line + " in \(String(format: "%.2f", r.timings["total"] ?? 0)) s"
    }

    static func parseTime(_ text: String) throws -> Int64 {
        if let ms = Int64(text) { return ms }
        if let d = Timestamp.parse(text) { return Timestamp.milliseconds(d) }
        throw ConcordError(.usage, "bad time '\(text)': epoch milliseconds or RFC 3339")
    }
}
