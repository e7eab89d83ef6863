import ConcordCore
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// `concord serve`: one Hummingbird application holding the event stream,
/// the run API, health and metrics, and the admin console.
public struct ConcordServer: Sendable {
    public let configuration: ServeConfiguration
    public let metrics = ServeMetrics()
    let logger: Logger

    public init(configuration: ServeConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT, then ends every event stream (each client is told why), finishes
    /// the requests in hand and returns. `onRunning` gets the bound address's port.
    public func run(onRunning: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let stores = ServeStores(configuration)
        let hubs = EventHubs(options: configuration.events, metrics: metrics, logger: logger, makeRedis: configuration.makeRedis)
        let router = Router(context: ServeContext.self)
        router.add(middleware: RequestMetricsMiddleware(metrics: metrics))
        router.add(middleware: SecurityHeadersMiddleware())
        EventRoutes(hubs: hubs, history: History(redis: stores.redis, graph: stores.graph, batch: configuration.events.readBatch), metrics: metrics)
            .register(on: router)
        RunRoutes(stores: stores, hubs: hubs, metrics: metrics, syncMetrics: configuration.syncMetrics).register(on: router)
        Console(configuration: configuration, stores: stores, metrics: metrics, logger: logger).register(on: router)

        let app = Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "concord"),
            onServerRunning: { channel in onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
        // A group's graceful shutdown runs from its last service to its first, each finished before the next:
        // the streams end first, then the server stops accepting and finishes what is in flight.
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: QueueSampler(stores: stores, interval: configuration.sampleInterval, logger: logger), successTerminationBehavior: .ignore,
                             failureTerminationBehavior: .ignore),
                       .init(service: app), .init(service: StreamShutdown(hubs: hubs), successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }
}

/// Ends every event stream when a graceful shutdown begins (SIGTERM/SIGINT):
/// the server waits for responses in flight, and an SSE response never ends by itself.
struct StreamShutdown: Service {
    let hubs: EventHubs
    func run() async throws {
        try? await gracefulShutdown()
        hubs.shutdown()
    }
}

/// Counts requests by route (the matched pattern, never the raw path: ids stay out of the labels).
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = ServeContext
    let metrics: ServeMetrics
    func handle(_ request: Request, context: ServeContext, next: (Request, ServeContext) async throws -> Response) async throws -> Response {
        defer { metrics.count("http_requests", label: ("route", context.endpointPath ?? "unmatched")) }
        return try await next(request, context)
    }
}

/// Headers every response carries: nothing framed, sniffed or cached by a shared proxy.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = ServeContext
    func handle(_ request: Request, context: ServeContext, next: (Request, ServeContext) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        // same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on form posts, which the CSRF check refuses.
        response.headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return response
    }
}
