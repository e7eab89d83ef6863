import ConcordCore

/// Why a GitHub request did not give what was asked, classified the way a
/// publisher must act on it.
public struct GitHubError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A content-creating request whose outcome is unknown (a timeout, a dropped connection or a 5xx
        /// after it was sent): it may have been written. Look before writing again.
        case unknownOutcome
        /// A read that kept failing (5xx, timeouts) after its retries: try again later.
        case unavailable
        /// No connection could be made (refused, no route, DNS, connect timeout): nothing was sent.
        case unreachable
        /// Over a rate limit longer than this client waits: try again at `until`.
        case rateLimited(until: Double)
        /// 401, or a 403 that is not a rate limit: the credentials, their scope or the App's permissions.
        case credentials
        /// 404 or 410: the repository, the issue or the resource is not there (or not visible to us).
        case notFound
        /// 422: GitHub refused the content (a locked issue, an invalid head, an existing pull request).
        case unprocessable
        /// Anything else GitHub answered that is none of the above.
        case other
    }

    public var kind: Kind
    public var status: Int?
    public var message: String
    public var method: String
    public var path: String

    public init(_ kind: Kind, status: Int?, message: String, method: String, path: String) {
        self.kind = kind
        self.status = status
        self.message = message
        self.method = method
        self.path = path
    }

    /// Whether trying again later can succeed (and so the publication stays pending).
    public var isTransient: Bool {
        switch kind {
        case .unknownOutcome, .unavailable, .unreachable, .rateLimited: return true
        default: return false
        }
    }

    public var description: String {
        "\(method) \(path): " + (status.map { "\($0) " } ?? "") + message
    }

    /// The same failure as the CLI reports it (exit 3: a store's error).
    public var concordError: ConcordError {
        let code: ConcordError.Code
        switch kind {
        case .credentials: code = .authentication
        case .unknownOutcome, .unavailable, .unreachable: code = .connection
        default: code = .server
        }
        return ConcordError(code, description, store: "github", serverCode: status.map(String.init))
    }
}
