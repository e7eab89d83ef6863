import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage, the connection (to close a
/// stalled SSE client, and to know where a console action came from) and the
/// console session once authenticated.
public struct ServeContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    public var session: ConsoleSession?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The peer's address, as the audit log records it.
    public var remote: String {
        guard let a = channel.remoteAddress else { return "unknown" }
        return "\(a.ipAddress ?? "?"):\(a.port ?? 0)"
    }
}
