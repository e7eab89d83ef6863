import Hummingbird
import Logging

/// The admin console (written next).
struct Console: Sendable {
    let configuration: ServeConfiguration
    let stores: ServeStores
    let metrics: ServeMetrics
    let logger: Logger
    func register(on router: Router<ServeContext>) {}
}

public struct ConsoleSession: Sendable {}
