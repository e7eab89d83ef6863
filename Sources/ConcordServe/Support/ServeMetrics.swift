import Foundation

/// The server's counters and gauges, as `/metrics` shows them (`concord_serve_*`).
public final class ServeMetrics: @unchecked Sendable {
    // @unchecked: every field is used under `lock`.
    private struct Key: Hashable { var name: String; var label: String? }
    private let lock = NSLock()
    private var counters: [Key: Int64] = [:]
    private var gauges: [String: Int64] = [:]

    static let help: [String: String] = [
        "sse_clients": "SSE clients connected now.",
        "sse_connections_total": "SSE connections accepted.",
        "sse_refused_total": "SSE connections refused because the server was at --max-clients.",
        "sse_disconnects_total": "SSE streams ended, by reason (gone, too_slow, shutdown).",
        "sse_events_sent_total": "Events written to SSE clients (history and live).",
        "sse_history_events_total": "Events sent from history (the stream and the graph) before going live.",
        "hub_read_errors_total": "Failed XREADs of a run's stream (retried).",
        "http_requests_total": "HTTP requests, by route.",
        "console_logins_total": "Console logins, by outcome.",
        "console_csrf_refused_total": "State-changing console requests refused for a missing or wrong CSRF token or a cross-site origin.",
    ]

    public init() {}

    public func count(_ name: String, _ n: Int64 = 1, label: (String, String)? = nil) {
        let key = Key(name: name.hasSuffix("_total") ? name : name + "_total", label: label.map { "\($0.0)=\"\(Self.escape($0.1))\"" })
        lock.withLock { counters[key, default: 0] += n }
    }

    public func set(_ name: String, _ v: Int64) { lock.withLock { gauges[name] = v } }

    public func counter(_ name: String, label: (String, String)? = nil) -> Int64 {
        let key = Key(name: name.hasSuffix("_total") ? name : name + "_total", label: label.map { "\($0.0)=\"\(Self.escape($0.1))\"" })
        return lock.withLock { counters[key] ?? 0 }
    }

    public func gauge(_ name: String) -> Int64 { lock.withLock { gauges[name] ?? 0 } }

    /// Prometheus text exposition.
    public func prometheus() -> String {
        let (c, g) = lock.withLock { (counters, gauges) }
        var out = ""
        for name in Set(c.keys.map(\.name)).sorted() {
            out += "# HELP concord_serve_\(name) \(Self.help[name] ?? name)\n# TYPE concord_serve_\(name) counter\n"
            for (key, v) in c.filter({ $0.key.name == name }).sorted(by: { ($0.key.label ?? "") < ($1.key.label ?? "") }) {
                out += "concord_serve_\(name)\(key.label.map { "{\($0)}" } ?? "") \(v)\n"
            }
        }
        for (name, v) in g.sorted(by: { $0.key < $1.key }) {
            out += "# HELP concord_serve_\(name) \(Self.help[name] ?? name)\n# TYPE concord_serve_\(name) gauge\nconcord_serve_\(name) \(v)\n"
        }
        return out
    }

    private static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}
