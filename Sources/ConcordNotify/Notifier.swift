import AsyncHTTPClient
import ConcordCore
import ConcordJSON
import Foundation
import NIOCore
import NIOHTTP1

/// Where notifications go (`--notify URL`, repeatable; docs/operations.md "Alerts"):
/// - `alertmanager+http://HOST:9093` (or `+https`): Alertmanager's v2 API, one alert per rule with findings,
///   resolved when a later audit no longer finds the rule's findings; `ConcordAuditFailed` when an audit fails.
/// - `slack+https://hooks.slack.com/services/…`: Slack's incoming-webhook message.
/// - `http(s)://…`: a generic JSON webhook (`concord.notification/1`).
public struct NotificationTarget: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case webhook, slack, alertmanager }
    public var kind: Kind
    public var url: String

    public init(parsing text: String) throws {
        for (prefix, kind) in [("alertmanager+", Kind.alertmanager), ("slack+", .slack)] where text.hasPrefix(prefix) {
            self.kind = kind
            url = String(text.dropFirst(prefix.count))
            guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw Self.bad(text) }
            return
        }
        guard text.hasPrefix("http://") || text.hasPrefix("https://") else { throw Self.bad(text) }
        kind = .webhook
        url = text
    }

    static func bad(_ text: String) -> ConcordError {
        ConcordError(.usage, "bad --notify '\(Redaction.mask(text))': http(s)://… (a JSON webhook), slack+https://… or alertmanager+http(s)://HOST:PORT")
    }

    /// The URL with any password or token path masked (never logged whole).
    public var description: String {
        kind == .slack ? "slack " + (URL(string: url)?.host ?? "?") + "/…" : kind.rawValue + " " + Redaction.mask(url)
    }
}

/// A finding as a notification tells it.
public struct NotifiedFinding: Sendable, Hashable {
    public var id: String, rule: String, key: String, severity: String, workflowId: String?, message: String
    public init(id: String, rule: String, key: String, severity: String, workflowId: String?, message: String) {
        self.id = id; self.rule = rule; self.key = key; self.severity = severity; self.workflowId = workflowId; self.message = message
    }

    /// The findings of a `concord.audit/1` JSON report.
    public static func of(report: JSON) -> [NotifiedFinding] {
        (report["findings"]?.arrayValue ?? []).map {
            NotifiedFinding(id: $0["id"]?.stringValue ?? "", rule: $0["rule"]?.stringValue ?? "", key: $0["key"]?.stringValue ?? "",
                            severity: $0["severity"]?.stringValue ?? "", workflowId: $0["workflowId"]?.stringValue, message: $0["message"]?.stringValue ?? "")
        }
    }
}

/// Sends notifications: retried with backoff within a time limit; one that cannot be delivered is reported
/// back (logged and counted by the caller), never thrown — a notification never changes a command's outcome.
public final class Notifier: @unchecked Sendable {
    // @unchecked: the HTTP client is thread-safe; the rest is immutable.
    public let targets: [NotificationTarget]
    public var timeLimit: Double = 30
    public var retries = 3
    private let http: HTTPClient

    public init(targets: [NotificationTarget]) {
        self.targets = targets
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(5), read: .seconds(10))
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    deinit { try? http.syncShutdown() }

    /// What became of one notification.
    public struct Delivery: Sendable {
        public var target: String
        public var delivered: Bool
        public var attempts: Int
        public var error: String?
    }

    /// After an audit: findings at or above the fail level that are new since `previous`, and those that cleared.
    /// Nothing is sent to a webhook or Slack when nothing changed; Alertmanager gets the current state every time
    /// (its alerts expire unless renewed; `resolveAfter` seconds, longer than the audits' interval).
    public func auditFinished(auditId: String, current: [NotifiedFinding], previous: [NotifiedFinding]?, failing: Set<String>, reports: [String],
                              resolveAfter: Double = 26 * 3600, now: Date = Date()) -> [Delivery] {
        let relevant = current.filter { failing.contains($0.severity) }
        let before = Set((previous ?? []).map(\.id))
        let new = relevant.filter { !before.contains($0.id) }
        let nowIds = Set(current.map(\.id))
        let cleared = (previous ?? []).filter { !nowIds.contains($0.id) }
        var out: [Delivery] = []
        for t in targets {
            switch t.kind {
            case .webhook, .slack:
                guard !new.isEmpty || !cleared.isEmpty else { continue }
                let body: JSON = t.kind == .slack
                    ? Self.slack(auditId: auditId, new: new, cleared: cleared, total: current.count, reports: reports)
                    : Self.webhook(auditId: auditId, current: current, new: new, cleared: cleared, reports: reports)
                out.append(post(t, body))
            case .alertmanager:
                out.append(post(t, Self.alerts(current: relevant, previous: (previous ?? []).filter { failing.contains($0.severity) }, auditId: auditId,
                                                reports: reports, now: now, resolveAfter: resolveAfter), path: "/api/v2/alerts"))
            }
        }
        return out
    }

    /// After a command that failed operationally (a store down, a report not writable): the failure, and for
    /// Alertmanager an alert resolved by the next run that succeeds (`commandSucceeded`).
    public func commandFailed(_ command: String, error: String, now: Date = Date()) -> [Delivery] {
        targets.map { t in
            switch t.kind {
            case .webhook:
                return post(t, ["format": "concord.notification/1", "event": "failure", "command": .string(command), "error": .string(error),
                                "at": .string(Timestamp.rfc3339(now))])
            case .slack:
                return post(t, ["text": .string(":rotating_light: `concord \(command)` failed: \(error)")])
            case .alertmanager:
                return post(t, .array([Self.failureAlert(command, error: error, endsAt: now.addingTimeInterval(26 * 3600), now: now)]), path: "/api/v2/alerts")
            }
        }
    }

    /// A command that succeeded resolves its failure alert (Alertmanager only).
    public func commandSucceeded(_ command: String, now: Date = Date()) -> [Delivery] {
        targets.filter { $0.kind == .alertmanager }.map {
            post($0, .array([Self.failureAlert(command, error: "", endsAt: now, now: now)]), path: "/api/v2/alerts")
        }
    }

    // MARK: Payloads

    static func brief(_ f: NotifiedFinding) -> JSON {
        ["id": .string(f.id), "rule": .string(f.rule), "key": .string(f.key), "severity": .string(f.severity),
         "workflowId": f.workflowId.map(JSON.string) ?? .null, "message": .string(f.message)]
    }

    /// `concord.notification/1` (docs/operations.md): the audit, counts, the new and cleared findings (at most 100 each).
    static func webhook(auditId: String, current: [NotifiedFinding], new: [NotifiedFinding], cleared: [NotifiedFinding], reports: [String]) -> JSON {
        var bySeverity: [String: JSON] = [:]
        for f in current { bySeverity[f.severity] = .int((bySeverity[f.severity]?.intValue ?? 0) + 1) }
        return ["format": "concord.notification/1", "event": "audit", "auditId": .string(auditId),
                "summary": ["findings": .int(Int64(current.count)), "new": .int(Int64(new.count)), "cleared": .int(Int64(cleared.count)),
                            "bySeverity": .object(bySeverity)],
                "new": .array(new.prefix(100).map(brief)), "cleared": .array(cleared.prefix(100).map(brief)),
                "reports": .array(reports.map(JSON.string))]
    }

    static func slack(auditId: String, new: [NotifiedFinding], cleared: [NotifiedFinding], total: Int, reports: [String]) -> JSON {
        var lines = ["*Concord audit \(auditId)*: \(new.count) new finding(s), \(cleared.count) cleared, \(total) in all"]
        let byRule = Dictionary(grouping: new, by: \.rule)
        for (rule, list) in byRule.sorted(by: { $0.key < $1.key }).prefix(15) {
            lines.append("• `\(rule)` × \(list.count): " + list.prefix(3).map { $0.key }.joined(separator: ", ") + (list.count > 3 ? ", …" : ""))
        }
        if let r = reports.first { lines.append("Report: \(r)") }
        return ["text": .string(lines.joined(separator: "\n"))]
    }

    /// One alert per rule: firing (endsAt ahead) for the rules with findings now, resolved (endsAt now) for those that had some before.
    static func alerts(current: [NotifiedFinding], previous: [NotifiedFinding], auditId: String, reports: [String], now: Date, resolveAfter: Double) -> JSON {
        let nowText = Timestamp.rfc3339(now)
        let firing = Dictionary(grouping: current, by: \.rule)
        var out: [JSON] = []
        for (rule, list) in firing.sorted(by: { $0.key < $1.key }) {
            out.append(["labels": ["alertname": "ConcordFindings", "rule": .string(rule), "severity": .string(list[0].severity), "service": "concord"],
                        "annotations": ["summary": .string("\(list.count) finding(s) of \(rule)"),
                                        "description": .string(list.prefix(5).map { $0.message }.joined(separator: "\n")),
                                        "audit": .string(auditId), "report": .string(reports.first ?? "")],
                        "startsAt": .string(nowText), "endsAt": .string(Timestamp.rfc3339(now.addingTimeInterval(resolveAfter)))])
        }
        for rule in Set(previous.map(\.rule)).subtracting(firing.keys).sorted() {
            let sev = previous.first { $0.rule == rule }?.severity ?? "error"
            out.append(["labels": ["alertname": "ConcordFindings", "rule": .string(rule), "severity": .string(sev), "service": "concord"],
                        "annotations": ["summary": .string("no finding of \(rule) any more"), "audit": .string(auditId)],
                        "startsAt": .string(nowText), "endsAt": .string(nowText)])
        }
        return .array(out)
    }

    static func failureAlert(_ command: String, error: String, endsAt: Date, now: Date) -> JSON {
        ["labels": ["alertname": "ConcordCommandFailed", "command": .string(command), "severity": "critical", "service": "concord"],
         "annotations": ["summary": .string(error.isEmpty ? "concord \(command) succeeded again" : "concord \(command) failed"), "description": .string(error)],
         "startsAt": .string(Timestamp.rfc3339(now)), "endsAt": .string(Timestamp.rfc3339(endsAt))]
    }

    // MARK: Delivery

    func post(_ t: NotificationTarget, _ body: JSON, path: String = "") -> Delivery {
        let url = path.isEmpty ? t.url : (t.url.hasSuffix("/") ? String(t.url.dropLast()) : t.url) + path
        let deadline = Date().addingTimeInterval(timeLimit)
        var attempt = 0
        var last = ""
        while attempt < retries && Date() < deadline {
            attempt += 1
            do {
                var request = try HTTPClient.Request(url: url, method: .POST)
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "User-Agent", value: "concord")
                request.body = .string(body.encoded())
                let r = try http.execute(request: request, deadline: .now() + .seconds(Int64(max(1, min(10, deadline.timeIntervalSinceNow))))).wait()
                if (200..<300).contains(Int(r.status.code)) { return Delivery(target: t.description, delivered: true, attempts: attempt, error: nil) }
                last = "HTTP \(r.status.code)" + (r.body.map { " " + String(decoding: $0.readableBytesView.prefix(200), as: UTF8.self) } ?? "")
                // A 4xx other than 429 will not get better by retrying.
                if (400..<500).contains(Int(r.status.code)) && r.status.code != 429 { break }
            } catch {
                last = "\(error)"
            }
            if attempt < retries { Thread.sleep(forTimeInterval: min(max(0, deadline.timeIntervalSinceNow), 0.5 * pow(2, Double(attempt - 1)))) }
        }
        return Delivery(target: t.description, delivered: false, attempts: attempt, error: last)
    }
}
