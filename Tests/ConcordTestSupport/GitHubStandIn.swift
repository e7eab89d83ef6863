import Foundation

/// The local GitHub (Tests/ConcordGitHubTests/Python/github_server.py): GitHub's
/// REST dialect, held to it by githubkit and PyGithub, with faults on request.
/// It knows one token (`token`) and one App (`appId`, whose private key is
/// `appKey`, made with openssl for this server).
public final class GitHubStandIn: @unchecked Sendable {
    // @unchecked: its state is the child process, which `stop` signals and waits for.
    public let process: Process
    public let port: Int
    public let token = "ghp_concordTestToken0000000000000000000"
    public let appId = "4242"
    public let dir: URL
    public var appKey: String { dir.appendingPathComponent("app.pem").path }
    public var url: String { "http://127.0.0.1:\(port)" }
    public static var script: String {
        TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordGitHubTests/Python/github_server.py").path
    }

    public init(rateLimit: Int = 5000, installationTokenSeconds: Double = 3600) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent(TestStores.unique("github"))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for args in [["genrsa", "-traditional", "-out", "app.pem", "2048"], ["rsa", "-in", "app.pem", "-pubout", "-out", "app.pub"]] {
            let r = try TestStores.run("/usr/bin/openssl", args, directory: dir)
            guard r.status == 0 else { throw NSError(domain: "GitHubStandIn", code: 1, userInfo: [NSLocalizedDescriptionKey: "openssl: \(r.stderr)"]) }
        }
        let err: Pipe
        (process, port, err) = try TestStores.startServer(Self.script, [
            "--token", token, "--app-id", appId, "--app-key", dir.appendingPathComponent("app.pub").path,
            "--rate-limit", String(rateLimit), "--installation-token-seconds", String(installationTokenSeconds),
        ])
        let handle = err.fileHandleForReading
        Thread.detachNewThread { _ = handle.readDataToEndOfFile() }
    }

    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: dir)
    }

    // MARK: The admin API

    /// Faults for the next matching requests: `kind` one of 500, 502, 500-after-write, timeout-after-write,
    /// secondary, secondary-retry-after, 429, 401, expire-tokens, primary.
    public func fault(_ kind: String, method: String = "POST", path: String = "", count: Int = 1, seconds: Double? = nil) throws {
        var f: [String: Any] = ["kind": kind, "method": method, "path": path, "count": count]
        if let seconds { f["seconds"] = seconds }
        _ = try admin("POST", "/_admin/faults", [f])
    }

    /// `{"full_name": …, "missing": true}`, `{"locked": [n]}`, `{"gone": [n]}`, `{"branches": [...]}`.
    public func repo(_ fullName: String, _ settings: [String: Any]) throws {
        var s = settings
        s["full_name"] = fullName
        _ = try admin("POST", "/_admin/repos", s)
    }

    /// Every comment: `(id, repo, issue, body)`.
    public func comments() throws -> [(id: Int64, repo: String, issue: Int64, body: String)] {
        let state = try admin("GET", "/_admin/state", nil) as? [String: Any] ?? [:]
        return (state["comments"] as? [[String: Any]] ?? []).map {
            (($0["id"] as? NSNumber)?.int64Value ?? 0, $0["repo"] as? String ?? "", ($0["issue"] as? NSNumber)?.int64Value ?? 0, $0["body"] as? String ?? "")
        }
    }

    /// Every pull request: `(number, repo, head, body)`.
    public func pulls() throws -> [(number: Int64, repo: String, head: String, body: String)] {
        let state = try admin("GET", "/_admin/state", nil) as? [String: Any] ?? [:]
        return (state["pulls"] as? [[String: Any]] ?? []).map {
            (($0["number"] as? NSNumber)?.int64Value ?? 0, $0["repo"] as? String ?? "", $0["head"] as? String ?? "", $0["body"] as? String ?? "")
        }
    }

    /// The request log: `(method, path, status)`.
    public func requests() throws -> [(method: String, path: String, status: Int)] {
        (try admin("GET", "/_admin/requests", nil) as? [[String: Any]] ?? []).map {
            ($0["method"] as? String ?? "", $0["path"] as? String ?? "", ($0["status"] as? NSNumber)?.intValue ?? 0)
        }
    }

    /// A request to the admin API with curl (no HTTP client of the project's own in the test support).
    @discardableResult
    public func admin(_ method: String, _ path: String, _ body: Any?) throws -> Any? {
        var args = ["-sS", "-X", method, url + path]
        var input: Data?
        if let body {
            input = try JSONSerialization.data(withJSONObject: body)
            args += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        }
        let r = try TestStores.run("/usr/bin/curl", args, input: input)
        guard r.status == 0 else { throw NSError(domain: "GitHubStandIn", code: 2, userInfo: [NSLocalizedDescriptionKey: "curl: \(r.stderr)"]) }
        return r.stdout.isEmpty ? nil : try JSONSerialization.jsonObject(with: r.stdout)
    }
}
