import ConcordJSON
import Foundation

/// Where a draft goes on GitHub, from its metadata (docs/data-model.md):
/// a comment on issue or pull request `number` of `repo`, or a pull request
/// from `head` into `base` of `repo`.
public enum GitHubTarget: Sendable, Equatable, CustomStringConvertible {
    case comment(repo: String, number: Int64)
    case pullRequest(repo: String, head: String, base: String, title: String)

    public var repo: String {
        switch self {
        case .comment(let r, _), .pullRequest(let r, _, _, _): return r
        }
    }

    /// Reads a `target` column back (`owner/name#12`, `owner/name:head→base`); nil when it is neither.
    public init?(parsing text: String) {
        if let hash = text.lastIndex(of: "#"), let n = Int64(text[text.index(after: hash)...]) {
            self = .comment(repo: String(text[..<hash]), number: n)
            return
        }
        guard let colon = text.firstIndex(of: ":"), let arrow = text.range(of: "→", options: .backwards), colon < arrow.lowerBound else { return nil }
        self = .pullRequest(repo: String(text[..<colon]), head: String(text[text.index(after: colon)..<arrow.lowerBound]),
                            base: String(text[arrow.upperBound...]), title: "")
    }

    /// `owner/name#12` or `owner/name:head→base`: the publication's `target` column.
    public var description: String {
        switch self {
        case .comment(let r, let n): return "\(r)#\(n)"
        case .pullRequest(let r, let h, let b, _): return "\(r):\(h)→\(b)"
        }
    }
}

/// The hidden line every body Concord publishes ends with; what a retry and
/// the audit find a draft's publication by.
public enum GitHubMarker {
    public static func line(draft: String) -> String { "<!-- concord:draft=\(draft) -->" }

    /// The body as published: the content, a blank line, the marker.
    public static func body(_ content: String, draft: String) -> String { content + "\n\n" + line(draft: draft) }

    /// The draft a body names, or nil. Concord's marker is the body's last line and nothing else: a person who
    /// quotes a published comment in a reply (`> <!-- concord:draft=… -->`, then their own words) is not a copy.
    /// Trailing blank space and CRLF line ends (as an editor or GitHub may leave them) are allowed.
    public static func draft(in body: String) -> String? {
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        let last = trimmed.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).last
            .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard last.hasPrefix("<!-- concord:draft="), last.hasSuffix(" -->") else { return nil }
        let id = String(last.dropFirst("<!-- concord:draft=".count).dropLast(" -->".count))
        return id.isEmpty || id.contains(where: { $0.isWhitespace }) ? nil : id
    }

    /// The body without Concord's marker (and the blank line before it): what is compared with the draft's content.
    public static func content(of body: String, draft: String) -> String {
        let tail = "\n\n" + line(draft: draft)
        if body.hasSuffix(tail) { return String(body.dropLast(tail.count)) }
        if body.hasSuffix(line(draft: draft)) { return String(body.dropLast(line(draft: draft).count)) }
        return body
    }
}

/// What GitHub holds for one publication: a comment or a pull request.
public struct GitHubItem: Sendable, Equatable {
    public var id: Int64
    /// The pull request's number (a comment's is its id).
    public var number: Int64
    public var url: String
    public var body: String
    public var createdAt: String
    public var author: String

    init?(_ j: JSON, number key: String) {
        guard let id = j["id"]?.intValue, let n = j[key]?.intValue else { return nil }
        self.id = id
        number = n
        url = j["html_url"]?.stringValue ?? ""
        body = j["body"]?.stringValue ?? ""
        createdAt = j["created_at"]?.stringValue ?? ""
        author = j["user"]?["login"]?.stringValue ?? ""
    }
}

extension GitHubClient {
    static func split(_ repo: String) -> String {
        repo.split(separator: "/").map { $0.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? String($0) }.joined(separator: "/")
    }

    /// Every comment on issue `number` (optionally only those updated since `since`, an RFC 3339 time).
    public func comments(repo: String, number: Int64, since: String? = nil, cache: GitHubPageCache? = nil) throws -> [GitHubItem] {
        try list("/repos/\(Self.split(repo))/issues/\(number)/comments", query: since.map { [("since", $0)] } ?? [], cache: cache)
            .compactMap { GitHubItem($0, number: "id") }
    }

    public func createComment(repo: String, number: Int64, body: String) throws -> GitHubItem {
        let r = try send(.POST, "/repos/\(Self.split(repo))/issues/\(number)/comments", body: ["body": .string(body)])
        guard let item = GitHubItem(try r.json(), number: "id") else {
            throw GitHubError(.other, status: r.status, message: "the created comment has no id", method: "POST", path: "/repos/\(repo)/issues/\(number)/comments")
        }
        return item
    }

    public func updateComment(repo: String, id: Int64, body: String) throws {
        _ = try send(.PATCH, "/repos/\(Self.split(repo))/issues/comments/\(id)", body: ["body": .string(body)])
    }

    public func deleteComment(repo: String, id: Int64) throws {
        _ = try send(.DELETE, "/repos/\(Self.split(repo))/issues/comments/\(id)")
    }

    /// The pull requests (any state) from `head` (a branch of the repository's owner).
    public func pulls(repo: String, head: String, cache: GitHubPageCache? = nil) throws -> [GitHubItem] {
        let owner = repo.split(separator: "/").first.map(String.init) ?? repo
        return try list("/repos/\(Self.split(repo))/pulls", query: [("head", "\(owner):\(head)"), ("state", "all")], cache: cache)
            .compactMap { GitHubItem($0, number: "number") }
    }

    public func createPull(repo: String, head: String, base: String, title: String, body: String) throws -> GitHubItem {
        let r = try send(.POST, "/repos/\(Self.split(repo))/pulls",
                         body: ["title": .string(title), "head": .string(head), "base": .string(base), "body": .string(body)])
        guard let item = GitHubItem(try r.json(), number: "number") else {
            throw GitHubError(.other, status: r.status, message: "the created pull request has no number", method: "POST", path: "/repos/\(repo)/pulls")
        }
        return item
    }

    public func updatePull(repo: String, number: Int64, body: String) throws {
        _ = try send(.PATCH, "/repos/\(Self.split(repo))/pulls/\(number)", body: ["body": .string(body)])
    }

    /// Who the credentials are, their scopes (a token's `X-OAuth-Scopes`) and the rate budget: `concord doctor`.
    public func identity() throws -> (who: String, scopes: String?, remaining: Int?, limit: Int?) {
        let who: String, scopes: String?
        switch credentials {
        case .app(let id, _, let inst)?:
            let app = try send(.GET, "/app", asApp: true).json()
            who = "GitHub App \(app["slug"]?.stringValue ?? id) (id \(id)), installation \(inst)"
            scopes = (app["permissions"]?.objectValue?.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value.stringValue ?? "?")" })?.joined(separator: ", ")
        case .token?:
            let r = try send(.GET, "/user")
            who = "user " + (try r.json()["login"]?.stringValue ?? "?")
            scopes = r.headers["x-oauth-scopes"]
        case nil:
            who = "anonymous"
            scopes = nil
        }
        let rl = try send(.GET, "/rate_limit").json()
        return (who, scopes, rl["resources"]?["core"]?["remaining"]?.intValue.map(Int.init), rl["resources"]?["core"]?["limit"]?.intValue.map(Int.init))
    }
}
