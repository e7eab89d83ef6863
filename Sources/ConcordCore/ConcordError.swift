/// The one error type Concord's libraries throw.
///
/// A code says what kind of failure it is (and so which exit code the CLI
/// returns); the message says what went wrong and what to do. Context such as
/// the store, the query or the rule id is added at the boundary where it is
/// known, never the row contents or a password.
public struct ConcordError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. Extensible: new codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        /// The process exit code this failure maps to (see INTERFACE.md).
        public let exitCode: Int32
        public init(_ name: String, exitCode: Int32) {
            self.name = name
            self.exitCode = exitCode
        }
        public var description: String { name }

        /// Bad flags, bad configuration, bad input file.
        public static let usage = Code("usage", exitCode: 2)
        /// Malformed data handed to a parser (JSON, a snapshot, a plan).
        public static let invalidInput = Code("invalid-input", exitCode: 2)
        /// A store could not be reached (refused, timed out, DNS).
        public static let connection = Code("connection", exitCode: 3)
        /// A store refused our credentials.
        public static let authentication = Code("authentication", exitCode: 3)
        /// A store refused a command to the user we authenticated as (Redis ACL `NOPERM`).
        public static let permission = Code("permission", exitCode: 3)
        /// A store answered a command with an error.
        public static let server = Code("server", exitCode: 3)
        /// The wire protocol was violated (a reply we cannot understand).
        public static let protocolViolation = Code("protocol", exitCode: 3)
        /// A transaction was aborted because a watched record changed.
        public static let conflict = Code("conflict", exitCode: 1)
    }

    public var code: Code
    public var message: String
    /// The store this is about: "postgres", "redis", "graph".
    public var store: String?
    /// A server-side error code (SQLSTATE, Neo4j status code, Redis error prefix).
    public var serverCode: String?
    /// The query or command name, never its parameter values.
    public var query: String?
    /// Free-form context (rule id, key, file:line).
    public var context: [String: String]
    /// The error underneath, if any.
    public var underlying: (any Error & Sendable)?

    public init(
        _ code: Code, _ message: String, store: String? = nil, serverCode: String? = nil,
        query: String? = nil, context: [String: String] = [:], underlying: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.store = store
        self.serverCode = serverCode
        self.query = query
        self.context = context
        self.underlying = underlying
    }

    public var description: String {
        var parts: [String] = []
        if let store { parts.append("[\(store)]") }
        parts.append(message)
        if let serverCode { parts.append("(code \(serverCode))") }
        if let query {
            let short = query.count > 200 ? String(query.prefix(200)) + "…" : query
            parts.append("in query: \(short)")
        }
        for (k, v) in context.sorted(by: { $0.key < $1.key }) { parts.append("\(k)=\(v)") }
        // A wrapped ConcordError's message is already part of this one: its own cause is what is left to say.
        var cause = underlying
        while let c = cause as? ConcordError, message.hasSuffix(c.message) { cause = c.underlying }
        if let cause { parts.append("caused by: \(cause)") }
        return parts.joined(separator: " ")
    }
}

extension ConcordError {
    /// This error seen from where it was caught: `what` (a file, a plan, a
    /// line) goes in front of the message, `code` may change (a JSON error in
    /// a plan file is the plan's invalid input), and the original error —
    /// with its store, server code, query and context — stays underneath.
    public func wrapped(in what: String, code: Code? = nil, context extra: [String: String] = [:]) -> ConcordError {
        var e = ConcordError(code ?? self.code, "\(what): \(message)", store: store, serverCode: serverCode, query: query,
                             context: context.merging(extra) { _, new in new }, underlying: self)
        e.underlying = self
        return e
    }

    /// The innermost error of a chain of wrapped ones.
    public var rootCause: any Error {
        var e: any Error = self
        while let c = e as? ConcordError, let u = c.underlying { e = u }
        return e
    }
}
