import Foundation
import Hummingbird
import Logging
import NIOCore

/// Prometheus text on 127.0.0.1:PORT for commands that are not `concord serve` (`concord sync --metrics-port`),
/// on Hummingbird like the rest of Concord's HTTP.
public enum MetricsEndpoint {
    /// Starts serving `render()` at `/metrics` (and `/`); returns once the port is bound, or throws why not.
    public static func start(port: Int, logger: Logger, render: @escaping @Sendable () -> String) throws {
        let router = Router()
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: render())))
        }
        router.get("metrics", use: handler)
        router.get("/", use: handler)
        let bound = DispatchSemaphore(value: 0)
        let failure = Locked<(any Error)?>(nil)
        var quiet = logger
        quiet.logLevel = .warning
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "concord"),
                              onServerRunning: { _ in bound.signal() }, logger: quiet)
        Task.detached {
            do { try await app.run() } catch {
                failure.withLock { $0 = error }
                bound.signal()
            }
        }
        bound.wait()
        if let error = failure.value { throw error }
    }
}

import ConcordCore
