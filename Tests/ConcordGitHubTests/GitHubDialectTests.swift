import ConcordCore
import ConcordGitHub
import ConcordJSON
import ConcordTestSupport
import Foundation
import Testing

/// The stand-in held to GitHub's dialect by the real clients, then Concord's client against it.
@Suite struct GitHubDialectTests {
    @Test func realClientsAcceptTheStandIn() throws {
        let gh = try GitHubStandIn()
        let script = TestStores.repositoryRoot.appendingPathComponent("Tests/ConcordGitHubTests/Python/github_dialect.py").path
        let r = try TestStores.run(TestStores.python, [script, gh.url, gh.token, gh.appId, gh.appKey])
        let out = String(decoding: r.stdout, as: UTF8.self)
        #expect(r.status == 0, "github_dialect.py: \(out)\n\(r.stderr.suffix(3000))")
        #expect(out.contains("dialect: all checks passed"))
    }

    func client(_ gh: GitHubStandIn, app: Bool = false, configure: (inout GitHubClient.Options) -> Void = { _ in }) throws -> GitHubClient {
        var o = GitHubClient.Options(baseURL: gh.url, userAgent: "concord-test")
        o.pace = 0
        o.secondaryWait = 0.3
        o.backoff = 0.05
        o.timeout = 3
        configure(&o)
        let credentials = try GitHubCredentials.resolve(token: app ? nil : gh.token, appId: app ? gh.appId : nil, appKeyFile: app ? gh.appKey : nil,
                                                        installation: app ? 7 : nil, environment: [:])
        return GitHubClient(credentials: credentials, options: o)
    }

    @Test func tokenAndAppIdentities() throws {
        let gh = try GitHubStandIn()
        let who = try client(gh).identity()
        #expect(who.who == "user concord-bot" && who.scopes == "repo" && who.limit == 5000)
        // The App: our RS256 JWT is verified by the server (signature, iss, exp - iat <= 600 s); content as the bot.
        let app = try client(gh, app: true)
        #expect(try app.identity().who.contains("GitHub App concord-test"))
        let c = try app.createComment(repo: "o/r", number: 1, body: "from the app")
        #expect(c.author == "concord-test[bot]")
        let bad = GitHubClient(credentials: .token("ghp_wrong"), options: .init(baseURL: gh.url))
        #expect(throws: GitHubError.self) { try bad.identity() }
        do { _ = try bad.identity() } catch let e as GitHubError { #expect(e.kind == .credentials && e.status == 401 && e.message == "Bad credentials") }
    }

    /// GitHub Enterprise Server: the same API under https://HOST/api/v3 (`--github-url`).
    @Test func enterpriseServerBaseURL() throws {
        let gh = try GitHubStandIn()
        let c = try client(gh) { $0 = GitHubClient.Options(baseURL: gh.url + "/api/v3/", userAgent: "concord-test") }
        #expect(try c.identity().who == "user concord-bot")
        _ = try c.createComment(repo: "o/r", number: 2, body: "on GHES")
        #expect(try gh.requests().contains { $0.method == "POST" && $0.path == "/api/v3/repos/o/r/issues/2/comments" && $0.status == 201 })
        #expect(try c.comments(repo: "o/r", number: 2).map(\.body) == ["on GHES"])
    }

    @Test func anExpiredInstallationTokenIsRenewed() throws {
        let gh = try GitHubStandIn()
        let app = try client(gh, app: true)
        _ = try app.createComment(repo: "o/r", number: 1, body: "one")
        try gh.fault("expire-tokens", path: "/issues/1/comments")
        _ = try app.createComment(repo: "o/r", number: 1, body: "two")
        let exchanges = try gh.requests().filter { $0.path.hasSuffix("/access_tokens") }
        #expect(exchanges.count == 2, "a 401 renews the installation token once")
        #expect(try gh.comments().map(\.body) == ["one", "two"])
    }

    @Test func pagesAndETags() throws {
        let gh = try GitHubStandIn()
        let c = try client(gh)
        for i in 0..<250 { _ = try c.createComment(repo: "o/r", number: 3, body: "c\(i)") }
        let cache = GitHubPageCache()
        let before = c.stats.requests
        #expect(try c.comments(repo: "o/r", number: 3, cache: cache).map(\.body) == (0..<250).map { "c\($0)" })
        #expect(c.stats.requests - before == 3, "100 per page, following Link")
        let remaining = c.stats.rateRemaining
        #expect(try c.comments(repo: "o/r", number: 3, cache: cache).count == 250)
        #expect(c.stats.notModified == 3 && c.stats.rateRemaining == remaining, "three 304s, no rate limit spent")
        _ = try c.createComment(repo: "o/r", number: 3, body: "c250")
        #expect(try c.comments(repo: "o/r", number: 3, cache: cache).count == 251, "a changed last page is read again")
    }

    @Test func rateLimitsAreWaitedOut() throws {
        let gh = try GitHubStandIn()
        let c = try client(gh)
        try gh.fault("secondary-retry-after", path: "/comments", seconds: 1)
        try gh.fault("secondary", path: "/comments")
        try gh.fault("429", path: "/comments", seconds: 0)
        let t0 = Date()
        _ = try c.createComment(repo: "o/r", number: 5, body: "x")
        #expect(Date().timeIntervalSince(t0) >= 1.0 + 0.3, "Retry-After 1 s, then at least secondaryWait")
        #expect(c.stats.rateLimitWaits == 3)
        #expect(try gh.comments().count == 1)
        // A wait longer than the client waits: rateLimited with when to come back.
        let impatient = try client(gh) { $0.secondaryWait = 5000 }
        try gh.fault("secondary", path: "/comments")
        do { _ = try impatient.createComment(repo: "o/r", number: 5, body: "y"); Issue.record("no rate limit") } catch let e as GitHubError {
            guard case .rateLimited(let until) = e.kind else { Issue.record("\(e)"); return }
            #expect(until > Date().timeIntervalSince1970 + 4000)
        }
        // The primary limit: x-ratelimit-remaining 0 → wait for x-ratelimit-reset.
        try gh.fault("primary", method: "GET", path: "/comments", seconds: 2)
        let t1 = Date()
        _ = try c.comments(repo: "o/r", number: 5)
        #expect(Date().timeIntervalSince(t1) >= 1)
    }

    @Test func serverErrorsRetryReadsButNeverRepeatAWrite() throws {
        let gh = try GitHubStandIn()
        let c = try client(gh)
        try gh.fault("502", method: "GET", path: "/comments", count: 2)
        #expect(try c.comments(repo: "o/r", number: 9).isEmpty)
        #expect(c.stats.retries == 2)
        try gh.fault("500-after-write", path: "/comments")
        do { _ = try c.createComment(repo: "o/r", number: 9, body: "x"); Issue.record("no error") } catch let e as GitHubError {
            #expect(e.kind == .unknownOutcome && e.status == 502)
        }
        try gh.fault("timeout-after-write", path: "/comments", seconds: 10)
        do { _ = try c.createComment(repo: "o/r", number: 9, body: "y"); Issue.record("no error") } catch let e as GitHubError {
            #expect(e.kind == .unknownOutcome && e.status == nil)
        }
        #expect(try gh.comments().map(\.body) == ["x", "y"], "both landed; the client sent each once")
        try gh.repo("o/gone", ["missing": true])
        #expect(throws: GitHubError.self) { _ = try c.createComment(repo: "o/gone", number: 1, body: "z") }
        try gh.repo("o/r", ["locked": [10]])
        do { _ = try c.createComment(repo: "o/r", number: 10, body: "z") } catch let e as GitHubError {
            #expect(e.kind == .unprocessable && e.message.contains("locked"))
        }
    }

    @Test func contentIsPaced() throws {
        let gh = try GitHubStandIn()
        let c = try client(gh) { $0.pace = 0.25 }
        let t0 = Date()
        for i in 0..<5 { _ = try c.createComment(repo: "o/r", number: 1, body: "\(i)") }
        #expect(Date().timeIntervalSince(t0) >= 1.0, "five writes at least 0.25 s apart")
    }

    @Test func markers() {
        let body = GitHubMarker.body("hello\n<!-- other -->", draft: "dr_1")
        #expect(body == "hello\n<!-- other -->\n\n<!-- concord:draft=dr_1 -->")
        #expect(GitHubMarker.draft(in: body) == "dr_1")
        #expect(GitHubMarker.content(of: body, draft: "dr_1") == "hello\n<!-- other -->")
        #expect(GitHubMarker.draft(in: "no marker") == nil)
        #expect(GitHubMarker.draft(in: "<!-- concord:draft= -->") == nil)
        // Bodies others wrote: a reply quoting a published comment is not a copy; CRLF and trailing space are.
        #expect(GitHubMarker.draft(in: "> hello\n>\n> <!-- concord:draft=dr_1 -->\n\nThanks, merged.") == nil)
        #expect(GitHubMarker.draft(in: "hello\r\n\r\n<!-- concord:draft=dr_1 -->  \r\n") == "dr_1")
        #expect(GitHubMarker.draft(in: "see <!-- concord:draft=dr_1 --> above") == nil)
    }
}
