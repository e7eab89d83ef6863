import AsyncHTTPClient
import ConcordCore
import ConcordJSON
import Foundation
import NIOCore
import NIOHTTP1

/// GitHub's REST API (version 2022-11-28, sent explicitly), blocking: the
/// rest of Concord is threads over blocking store clients, so each call waits
/// on AsyncHTTPClient's future from the caller's own thread.
///
/// What GitHub documents for integrators, done here once for every caller:
/// content-creating requests one at a time and paced (`pace`, default 1 s);
/// the primary rate limit (`x-ratelimit-remaining` 0 → wait for
/// `x-ratelimit-reset`); secondary limits (403/429: `Retry-After` when
/// given, else at least `secondaryWait` (60 s), doubling); 5xx and timeouts
/// of reads retried with exponential backoff and jitter; a write whose
/// outcome is unknown is never repeated blindly (`GitHubError.unknownOutcome`:
/// the caller looks first). An App's installation token is renewed five
/// minutes before it expires and once on a 401.
public final class GitHubClient: @unchecked Sendable {
    // @unchecked: mutable state (token cache, pacing, counters) is behind `lock`/`writeLock`.
    public struct Options: Sendable {
        /// `https://api.github.com`, or a GitHub Enterprise Server's `https://HOST/api/v3`.
        public var baseURL: String
        public var userAgent: String
        /// Per request, seconds.
        public var timeout: Double = 30
        /// Seconds between content-creating requests (POST, PATCH, DELETE).
        public var pace: Double = 1
        /// The least wait after a secondary rate limit that names no `Retry-After`, seconds.
        public var secondaryWait: Double = 60
        /// Retries of a read after a 5xx or a timeout; waits for rate limits, each.
        public var retries: Int = 4
        /// The first backoff, seconds (doubled per retry, with ±50 % jitter, at most 60 s).
        public var backoff: Double = 1
        /// A rate-limit wait longer than this is not waited out: the call throws `rateLimited`.
        public var longestWait: Double = 900

        public init(baseURL: String = "https://api.github.com", userAgent: String = "concord") {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.userAgent = userAgent
        }
    }

    /// What the client has done: requests sent, 304s, the rate budget last seen, waits.
    public struct Counters: Sendable {
        public var requests = 0
        public var notModified = 0
        public var rateLimitWaits = 0
        public var retries = 0
        public var rateRemaining: Int?
        public var rateLimit: Int?
        public var rateReset: Double?
    }

    public let options: Options
    public let credentials: GitHubCredentials?
    private let http: HTTPClient
    private let lock = NSLock()
    private let writeLock = NSLock()
    private var installationToken: InstallationToken?
    private var lastWrite: Date?
    private var counters = Counters()

    public init(credentials: GitHubCredentials?, options: Options) {
        self.credentials = credentials
        self.options = options
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(Int64(max(1, options.timeout))), read: .milliseconds(Int64(options.timeout * 1000)))
        config.decompression = .disabled
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    deinit { try? http.syncShutdown() }

    public var stats: Counters { lock.withLock { counters } }

    /// An answer: its status, headers (names lowercased) and body.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]

        public func json() throws -> JSON {
            guard !body.isEmpty else { return .null }
            return try JSON.parse(String(decoding: body, as: UTF8.self))
        }

        /// The `rel="next"` URL of a paged answer's `Link` header.
        public var next: String? {
            guard let link = headers["link"] else { return nil }
            for part in link.split(separator: ",") {
                let p = part.trimmingCharacters(in: .whitespaces)
                guard p.contains("rel=\"next\""), let open = p.firstIndex(of: "<"), let close = p.firstIndex(of: ">") else { continue }
                return String(p[p.index(after: open)..<close])
            }
            return nil
        }
    }

    // MARK: Requests

    /// Sends one request (`path` relative to the base URL, or an absolute URL from a `Link`), with the
    /// retries and waits above; throws `GitHubError` for anything but 2xx and 304.
    public func send(_ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: JSON? = nil,
                     ifNoneMatch: String? = nil, asApp: Bool = false) throws -> Response {
        // The App's own calls (the token exchange) create no content: not paced, not one-at-a-time.
        let creating = method != .GET && method != .HEAD && !asApp
        if creating { writeLock.lock() }
        defer { if creating { writeLock.unlock() } }
        if creating, let last = lock.withLock({ lastWrite }) {
            let wait = options.pace - Date().timeIntervalSince(last)
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        }
        defer { if creating { lock.withLock { lastWrite = Date() } } }

        var url = path.hasPrefix("http://") || path.hasPrefix("https://") ? path : options.baseURL + path
        if !query.isEmpty {
            if var c = URLComponents(string: url) {
                let items = (c.queryItems ?? []) + query.map { URLQueryItem(name: $0.0, value: $0.1) }
                c.queryItems = items
                url = c.string ?? url
            }
        }
        let shown = Self.display(url, base: options.baseURL)
        var failures = 0, rateWaits = 0, renewed = false
        while true {
            try waitForPrimaryLimit(method: method, path: shown)
            var request = try HTTPClient.Request(url: url, method: method)
            request.headers.add(name: "Accept", value: "application/vnd.github+json")
            request.headers.add(name: "X-GitHub-Api-Version", value: "2022-11-28")
            request.headers.add(name: "User-Agent", value: options.userAgent)
            if let auth = try authorization(asApp: asApp) { request.headers.add(name: "Authorization", value: auth) }
            if let ifNoneMatch { request.headers.add(name: "If-None-Match", value: ifNoneMatch) }
            if let body {
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .string(body.encoded())
            }
            lock.withLock { counters.requests += 1 }
            let response: Response
            do {
                let r = try http.execute(request: request, deadline: .now() + .milliseconds(Int64(options.timeout * 1000))).wait()
                var headers: [String: String] = [:]
                for (k, v) in r.headers { headers[k.lowercased()] = headers[k.lowercased()].map { $0 + ", " + v } ?? v }
                response = Response(status: Int(r.status.code), headers: headers, body: r.body.map { Array($0.readableBytesView) } ?? [])
            } catch {
                // No connection at all: nothing was sent (retrying now would wait as long again).
                if Self.neverConnected(error) {
                    throw GitHubError(.unreachable, status: nil, message: "cannot connect to \(options.baseURL) (\(error))", method: method.rawValue, path: shown)
                }
                // Sent or not, we cannot tell: a write may have landed.
                if creating { throw GitHubError(.unknownOutcome, status: nil, message: "no answer (\(error))", method: method.rawValue, path: shown) }
                failures += 1
                guard failures <= options.retries else {
                    throw GitHubError(.unavailable, status: nil, message: "no answer after \(failures) tries (\(error))", method: method.rawValue, path: shown)
                }
                backoff(failures)
                continue
            }
            observe(response)
            let status = response.status
            if (200..<300).contains(status) { return response }
            if status == 304 {
                lock.withLock { counters.notModified += 1 }
                return response
            }
            let message = Self.message(response)
            switch status {
            case 401:
                if case .app = credentials, !renewed {
                    renewed = true
                    lock.withLock { installationToken = nil }
                    continue
                }
                throw GitHubError(.credentials, status: status, message: message, method: method.rawValue, path: shown)
            case 403, 429:
                guard let wait = rateLimitWait(response, message: message, attempt: rateWaits + 1) else {
                    throw GitHubError(.credentials, status: status, message: message, method: method.rawValue, path: shown)
                }
                rateWaits += 1
                if wait > options.longestWait || rateWaits > options.retries {
                    throw GitHubError(.rateLimited(until: Date().timeIntervalSince1970 + wait), status: status, message: message,
                                      method: method.rawValue, path: shown)
                }
                lock.withLock { counters.rateLimitWaits += 1 }
                Thread.sleep(forTimeInterval: wait)
                continue
            case 404, 410:
                throw GitHubError(.notFound, status: status, message: message, method: method.rawValue, path: shown)
            case 422:
                throw GitHubError(.unprocessable, status: status, message: message, method: method.rawValue, path: shown)
            case 500...599:
                if creating { throw GitHubError(.unknownOutcome, status: status, message: message, method: method.rawValue, path: shown) }
                failures += 1
                guard failures <= options.retries else {
                    throw GitHubError(.unavailable, status: status, message: "\(message) (after \(failures) tries)", method: method.rawValue, path: shown)
                }
                backoff(failures)
                continue
            default:
                throw GitHubError(.other, status: status, message: message, method: method.rawValue, path: shown)
            }
        }
    }

    /// Every item of a paged list (`per_page=100`, following `Link: rel="next"`). With `cache`, each page
    /// is asked with its ETag and a 304 (which costs no rate limit) reuses the page kept from last time.
    public func list(_ path: String, query: [(String, String)] = [], cache: GitHubPageCache? = nil) throws -> [JSON] {
        var items: [JSON] = []
        var next: String? = path
        var q = query + [("per_page", "100")]
        while let url = next {
            let key = url + (q.isEmpty ? "" : "?" + q.map { "\($0.0)=\($0.1)" }.joined(separator: "&"))
            let cached = cache?.get(key)
            let r = try send(.GET, url, query: q, ifNoneMatch: cached?.etag)
            let page: JSON
            if r.status == 304, let cached {
                page = cached.page
                cache?.hit(key)
            } else {
                page = try r.json()
                if let tag = r.headers["etag"] { cache?.put(key, etag: tag, page: page) }
            }
            items += page.arrayValue ?? []
            next = r.status == 304 ? cached?.next : r.next
            if r.status != 304, let n = next { cache?.setNext(key, n) }
            q = []   // the Link URL carries the query
        }
        return items
    }

    // MARK: Auth

    private func authorization(asApp: Bool) throws -> String? {
        switch credentials {
        case nil: return nil
        case .token(let t): return "Bearer " + t
        case .app(let id, let key, let installation):
            if asApp { return "Bearer " + (try GitHubCredentials.jwt(appId: id, key: key)) }
            if let t = lock.withLock({ installationToken }), t.expiresAt.timeIntervalSinceNow > 300 { return "Bearer " + t.token }
            let r = try send(.POST, "/app/installations/\(installation)/access_tokens", asApp: true)
            let j = try r.json()
            guard let token = j["token"]?.stringValue else {
                throw GitHubError(.other, status: r.status, message: "the installation token answer has no token", method: "POST", path: "/app/installations/\(installation)/access_tokens")
            }
            let expires = j["expires_at"]?.stringValue.flatMap(Timestamp.parse) ?? Date().addingTimeInterval(3600)
            lock.withLock { installationToken = InstallationToken(token: token, expiresAt: expires) }
            return "Bearer " + token
        }
    }

    // MARK: Rate limits

    private func observe(_ r: Response) {
        lock.withLock {
            if let v = r.headers["x-ratelimit-remaining"].flatMap({ Int($0) }) { counters.rateRemaining = v }
            if let v = r.headers["x-ratelimit-limit"].flatMap({ Int($0) }) { counters.rateLimit = v }
            if let v = r.headers["x-ratelimit-reset"].flatMap({ Double($0) }) { counters.rateReset = v }
        }
    }

    /// Before a request: when the last answer said the budget is spent, wait for its reset (or throw when that is too long).
    private func waitForPrimaryLimit(method: HTTPMethod, path: String) throws {
        let (remaining, reset) = lock.withLock { (counters.rateRemaining, counters.rateReset) }
        guard remaining == 0, let reset else { return }
        let wait = reset - Date().timeIntervalSince1970 + 1
        guard wait > 0 else { return }
        if wait > options.longestWait {
            throw GitHubError(.rateLimited(until: reset + 1), status: nil, message: "the rate limit is spent until \(Timestamp.rfc3339(Date(timeIntervalSince1970: reset)))",
                              method: method.rawValue, path: path)
        }
        lock.withLock { counters.rateLimitWaits += 1; counters.rateRemaining = nil }
        Thread.sleep(forTimeInterval: wait)
    }

    /// How long to wait before retrying a 403/429, or nil when it is not a rate limit.
    func rateLimitWait(_ r: Response, message: String, attempt: Int) -> Double? {
        if let after = r.headers["retry-after"].flatMap({ Double($0) }) { return max(0, after) }
        if r.headers["x-ratelimit-remaining"] == "0", let reset = r.headers["x-ratelimit-reset"].flatMap({ Double($0) }) {
            return max(0, reset - Date().timeIntervalSince1970) + 1
        }
        if r.status == 429 || message.lowercased().contains("secondary rate limit") || message.lowercased().contains("abuse") {
            return options.secondaryWait * pow(2, Double(attempt - 1))
        }
        return nil
    }

    private func backoff(_ failures: Int) {
        lock.withLock { counters.retries += 1 }
        let base = min(60, options.backoff * pow(2, Double(failures - 1)))
        Thread.sleep(forTimeInterval: base * Double.random(in: 0.5...1.5))
    }

    /// Whether `error` says the connection was never made (so no request left): refused, unreachable, a connect timeout.
    static func neverConnected(_ error: any Error) -> Bool {
        if let e = error as? HTTPClientError, e == .connectTimeout { return true }
        let text = String(describing: error).lowercased()
        return ["connection refused", "connectionrefused", "errno: 111", "no route to host", "network is unreachable", "connecttimeout",
                "name or service not known", "nodename nor servname"].contains { text.contains($0) }
    }

    static func message(_ r: Response) -> String {
        guard let j = try? r.json(), let m = j["message"]?.stringValue else {
            return String(decoding: r.body.prefix(200), as: UTF8.self)
        }
        let details = (j["errors"]?.arrayValue ?? []).compactMap { $0["message"]?.stringValue ?? $0["code"]?.stringValue }
        return details.isEmpty ? m : m + ": " + details.joined(separator: "; ")
    }

    static func display(_ url: String, base: String) -> String {
        guard url.hasPrefix(base) else { return url }
        return String(url.dropFirst(base.count))
    }
}

/// The pages a list read last time, by URL, with their ETags: the next read
/// asks `If-None-Match` and a 304 reuses the page (GitHub charges no rate
/// limit for it). A page is kept reduced to what `GitHubItem` reads. The
/// audit persists the entries between runs (`takeChanged`).
public final class GitHubPageCache: @unchecked Sendable {
    // @unchecked: every access is under `lock`.
    public struct Entry: Sendable {
        public var etag: String
        public var page: JSON
        public var next: String?
        public init(etag: String, page: JSON, next: String?) {
            self.etag = etag
            self.page = page
            self.next = next
        }
    }

    private let lock = NSLock()
    private var entries: [String: Entry]
    private var changed: Set<String> = []
    public private(set) var hits = 0

    public init(_ entries: [String: Entry] = [:]) { self.entries = entries }

    public var count: Int { lock.withLock { entries.count } }
    func get(_ key: String) -> Entry? { lock.withLock { entries[key] } }
    func put(_ key: String, etag: String, page: JSON) {
        let reduced = JSON.array((page.arrayValue ?? []).map { item in
            var o: [String: JSON] = [:]
            for k in ["id", "number", "html_url", "body", "created_at"] { if let v = item[k] { o[k] = v } }
            if let login = item["user"]?["login"] { o["user"] = .object(["login": login]) }
            return .object(o)
        })
        lock.withLock {
            entries[key] = Entry(etag: etag, page: reduced, next: nil)
            changed.insert(key)
        }
    }
    func setNext(_ key: String, _ next: String) { lock.withLock { entries[key]?.next = next } }
    func hit(_ key: String) { lock.withLock { hits += 1 } }

    /// The entries written since the last call.
    public func takeChanged() -> [String: Entry] {
        lock.withLock {
            defer { changed = [] }
            return changed.reduce(into: [:]) { out, k in if let e = entries[k] { out[k] = e } }
        }
    }
}
