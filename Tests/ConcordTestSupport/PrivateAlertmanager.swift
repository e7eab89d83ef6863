import Foundation

/// A real Alertmanager (Debian's `prometheus-alertmanager`) of a test's own: a free loopback port, its own
/// storage, no cluster; its v2 API is what `concord audit --notify alertmanager+http://…` posts to.
public final class PrivateAlertmanager {
    private let server: PrivateServer
    public let dir: URL
    public static let executable = "/usr/bin/prometheus-alertmanager"

    public init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("alertmanager"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let config = dir.appendingPathComponent("alertmanager.yml")
        try Data("""
            route:
              receiver: "null"
              group_wait: 1s
            receivers:
              - name: "null"

            """.utf8).write(to: config)
        let storage = dir.appendingPathComponent("data").path
        server = try PrivateServer(executable: Self.executable, portRanges: [20_000..<30_000]) { ports in
            ["--config.file=\(config.path)", "--storage.path=\(storage)", "--web.listen-address=127.0.0.1:\(ports[0])", "--cluster.listen-address="]
        }
    }

    public var url: String { "http://127.0.0.1:\(server.ports[0])" }

    /// The alerts Alertmanager holds as active: (alertname, rule or command label, state).
    public func activeAlerts() throws -> [[String: String]] {
        let r = try TestStores.run("/usr/bin/curl", ["-s", url + "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true"])
        let list = try JSONSerialization.jsonObject(with: r.stdout) as? [[String: Any]] ?? []
        return list.map { a in
            var out = (a["labels"] as? [String: String]) ?? [:]
            out["_state"] = (a["status"] as? [String: Any])?["state"] as? String ?? ""
            return out
        }
    }

    public func stop() { server.stop() }
    deinit {
        stop()
        try? FileManager.default.removeItem(at: dir)
    }
}
