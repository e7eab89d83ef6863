import ConcordCore
import ConcordCrypto

/// Where Redis is and how to speak to it, parsed from a URL:
///
/// - `redis://[user:password@]host:port[/db]`: plaintext, one server;
/// - `rediss://[user:password@]host:port[/db]`: TLS, one server;
/// - `redis+sentinel://[user:password@]host1:26379,host2:26379/MASTER[/db]` and
///   `rediss+sentinel://…`: the primary that the sentinels name for `MASTER`,
///   found again after a failover. The user and password are the data nodes';
///   sentinels that need their own give them as `?sentinel_user=…&sentinel_password=…`.
public struct RedisAddress: Sendable, CustomStringConvertible {
    public enum Topology: Sendable, Equatable {
        case server(host: String, serverName: String, port: Int)
        case sentinel(sentinels: [Endpoint], master: String)
    }

    public var topology: Topology
    public var tls: Bool
    public var user: String?
    public var password: String?
    public var database: Int
    public var sentinelUser: String?
    public var sentinelPassword: String?

    public static let schemes = ["redis", "rediss", "redis+sentinel", "rediss+sentinel"]

    public init(parsing url: String) throws {
        guard let schemeEnd = url.range(of: "://") else {
            throw ConcordError(.usage, "'\(Redaction.mask(url))' is not a Redis URL: expected redis://host:port[/db], rediss://… or redis+sentinel://…", store: "redis")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        guard Self.schemes.contains(scheme) else {
            throw ConcordError(.usage, "unsupported Redis URL scheme '\(scheme)://' in \(Redaction.mask(url)); expected redis://, rediss:// (TLS), redis+sentinel:// or rediss+sentinel://",
                               store: "redis")
        }
        tls = scheme.hasPrefix("rediss")
        if !scheme.hasSuffix("+sentinel") {
            let e = try Endpoint(parsing: url, defaultPorts: [scheme: 6379])
            topology = .server(host: e.host, serverName: e.serverName, port: e.port)
            user = e.user
            password = e.password
            database = try Self.database(e.path.split(separator: "/").first.map(String.init) ?? "", url)
            return
        }
        // Sentinel: several hosts, so the host list is split before each is parsed as an endpoint.
        var rest = Substring(url[schemeEnd.upperBound...])
        var query: [String: String] = [:]
        if let q = rest.firstIndex(of: "?") {
            query = try Endpoint(parsing: "x://h" + rest[q...], defaultPorts: ["x": 1]).query
            rest = rest[..<q]
        }
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[rest.index(after: slash)...])
            rest = rest[..<slash]
        }
        var userinfo = ""
        if let at = rest.lastIndex(of: "@") {
            userinfo = String(rest[...at])
            rest = rest[rest.index(after: at)...]
        }
        let hosts = rest.split(separator: ",")
        guard !hosts.isEmpty else {
            throw ConcordError(.usage, "no sentinel in \(Redaction.mask(url)): expected \(scheme)://host1:26379,host2:26379/MASTER[/db]", store: "redis")
        }
        let sentinels = try hosts.map { try Endpoint(parsing: "sentinel://\($0)", defaultPorts: ["sentinel": 26379]) }
        let credentials = try Endpoint(parsing: "x://\(userinfo)h", defaultPorts: ["x": 1])
        user = credentials.user
        password = credentials.password
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let master = parts.first, !master.isEmpty else {
            throw ConcordError(.usage, "no master name in \(Redaction.mask(url)): expected \(scheme)://host1:26379,…/MASTER[/db] (the name the sentinels monitor)",
                               store: "redis")
        }
        database = try Self.database(parts.count > 1 ? parts[1] : "", url)
        topology = .sentinel(sentinels: sentinels, master: master)
        sentinelUser = query["sentinel_user"].flatMap { $0.isEmpty ? nil : $0 }
        sentinelPassword = query["sentinel_password"].flatMap { $0.isEmpty ? nil : $0 }
    }

    private static func database(_ text: String, _ url: String) throws -> Int {
        if text.isEmpty { return 0 }
        guard let n = Int(text), n >= 0 else {
            throw ConcordError(.usage, "bad database number '\(text)' in \(Redaction.mask(url))", store: "redis")
        }
        return n
    }

    var scheme: String {
        switch topology {
        case .server: return tls ? "rediss" : "redis"
        case .sentinel: return tls ? "rediss+sentinel" : "redis+sentinel"
        }
    }

    /// The URL with the password masked (safe for messages, logs, reports).
    public var description: String {
        var s = "\(scheme)://"
        if let user { s += user }
        if password != nil { s += ":***" }
        if user != nil || password != nil { s += "@" }
        switch topology {
        case .server(let host, _, let port): s += (host.contains(":") ? "[\(host)]" : host) + ":\(port)"
        case .sentinel(let sentinels, let master):
            s += sentinels.map { ($0.host.contains(":") ? "[\($0.host)]" : $0.host) + ":\($0.port)" }.joined(separator: ",") + "/\(master)"
        }
        if database != 0 { s += "/\(database)" }
        return s
    }
}

/// How to speak TLS to Redis (`rediss://`): whom to trust and who we are.
public struct RedisTLS: Sendable, Equatable {
    /// PEM CA file to trust instead of the system's (`--redis-ca`, `CONCORD_REDIS_CA`).
    public var caFile: String?
    /// Client certificate for servers that require one (`--redis-cert` / `--redis-key`).
    public var identity: TLSIdentity?
    /// Accept any certificate, unverified (`--redis-tls-insecure`): encryption without authentication.
    public var insecure: Bool

    public init(caFile: String? = nil, identity: TLSIdentity? = nil, insecure: Bool = false) {
        self.caFile = caFile
        self.identity = identity
        self.insecure = insecure
    }

    var trust: TLSTrust { insecure ? .anyCertificate : caFile.map { .caFile($0) } ?? .system }

    static let hints = TLSHints(caFlag: "--redis-ca FILE", insecure: "pass --redis-tls-insecure to accept any certificate unverified",
                                plaintext: "use redis:// (or redis+sentinel://) instead of rediss://",
                                clientCertificate: "--redis-cert FILE and --redis-key FILE")
}
