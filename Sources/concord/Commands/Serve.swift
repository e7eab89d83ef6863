import ArgumentParser
import ConcordCore
import ConcordModel
import ConcordFlow
import ConcordServe
import Foundation
import Logging

/// `concord serve`: the live event stream (SSE), the run API, metrics and the admin console.
struct Serve: AsyncParsableCommand, NotifiesOnFailure {
    @OptionGroup(title: "Notifications") var notification: NotifyOptions
    static let configuration = CommandConfiguration(
        abstract: "Serve the runs' live event streams (SSE), the run API, metrics and the admin console over HTTP.",
        discussion: """
            GET /runs/ID/events   the run's events as Server-Sent Events: history, then live; resumable with Last-Event-ID
            GET /runs/ID          the run in each store;  GET /healthz;  GET /metrics (Prometheus)
            /console/             audits, repair plans (review, approve, apply) and the journal; needs CONCORD_SERVE_TOKEN
            Listens on 127.0.0.1 unless told otherwise. SIGTERM/SIGINT end every stream (clients are told) and stop.
            """)

    @OptionGroup var stores: StoreOptions

    @Option(name: .long, help: "HOST:PORT to listen on (port 0: any free port, printed).") var listen = "127.0.0.1:8080"
    @Option(name: .long, help: "The directory of audit reports the console lists; plans and apply reports are written there.") var reports = "Reports"
    @Option(name: .long, help: "The rules directory plans are made with (default $CONCORD_RULES, else ./Rules).") var rules: String?
    @Flag(name: .long, help: "Also run the live sync (queue → graph) in this process; its metrics join /metrics.") var sync = false
    @Flag(name: .long, help: "Also publish approved drafts to GitHub in this process (as `concord publish run`).") var publish = false
    @OptionGroup(title: "GitHub (with --publish)") var github: GitHubOptions
    @Option(name: .long, help: "Most event-stream clients at once (more are answered 503).") var maxClients = 1_000
    @Option(name: .long, help: "Bytes an event-stream client may have waiting before it is dropped as too slow.") var clientBuffer = 8 << 20
    @Option(name: .long, help: "Seconds between heartbeat comments on event streams.") var heartbeat: Double = 15
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"
    @Option(name: .long, help: "Seconds between samples of the persistence queue for the console's trends.") var sampleSeconds: Double = 60

    func validate() throws {
        guard Self.split(listen) != nil else { throw ValidationError("--listen takes HOST:PORT, e.g. 127.0.0.1:8080") }
        guard maxClients > 0 else { throw ValidationError("--max-clients must be positive") }
        guard clientBuffer >= 4096 else { throw ValidationError("--client-buffer must be at least 4096 bytes") }
        guard heartbeat > 0 else { throw ValidationError("--heartbeat must be positive") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    static func split(_ listen: String) -> (host: String, port: Int)? {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else { return nil }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return host.isEmpty ? nil : (host, port)
    }

    func run() async throws {
        var logger = Logger(label: "concord.serve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let (host, port) = Self.split(listen)!
        let stores = self.stores
        // Fail fast, with the usual message, when a store is unreachable.
        _ = try stores.connectRedis()
        _ = try stores.connectPostgres()
        _ = try stores.connectGraph()
        var config = ServeConfiguration(makeRedis: { try stores.connectRedis() }, makePostgres: { try stores.connectPostgres() },
                                        makeGraph: { try stores.connectGraph() })
        config.host = host
        config.port = port
        config.reportsDirectory = reports
        config.rulesDirectory = RulesOption.resolve(rules)
        config.events.maxClients = maxClients
        config.events.clientQueueLimit = clientBuffer
        config.events.heartbeat = heartbeat
        config.sampleInterval = max(0.1, sampleSeconds)
        if let token = ProcessInfo.processInfo.environment["CONCORD_SERVE_TOKEN"], !token.isEmpty { config.consoleToken = token }

        var engine: SyncEngine?
        if sync {
            let e = SyncEngine(redis: try stores.connectRedis(), graph: try stores.connectGraph(), postgres: try stores.connectPostgres(),
                               logger: Logger(label: "concord.sync"), batchSize: 500)
            let metrics = e.metrics
            config.syncMetrics = { metrics.prometheus() }
            engine = e
        }
        let server = ConcordServer(configuration: config, logger: logger)
        let console = config.consoleToken != nil
        let withSync = engine != nil
        let log = logger
        let syncDone = DispatchSemaphore(value: 0)
        let syncThread = engine.map { e in
            let t = Thread {
                defer { syncDone.signal() }
                do { try e.run() } catch { log.error("the sync stopped: \(error)") }
            }
            t.name = "concord-sync"
            return t
        }
        if let engine {
            engine.shouldStop = { ServeStop.requested.value }
            syncThread?.start()
        }
        // The publisher: its own thread and connections; stops with the server.
        let publishDone = DispatchSemaphore(value: 0)
        if publish {
            let worker = try github.worker(stores, logger: Logger(label: "concord.publish"))
            worker.shouldStop = { ServeStop.requested.value }
            let t = Thread {
                defer { publishDone.signal() }
                do { try worker.run() } catch { log.error("the publisher stopped: \(error)") }
            }
            t.name = "concord-publish"
            t.start()
        }
        try await server.run { bound in
            Output.line("concord serve: http://\(host.contains(":") ? "[\(host)]" : host):\(bound)/"
                + (console ? " (console: /console/)" : " (console off: set CONCORD_SERVE_TOKEN)") + (withSync ? " with the sync" : ""))
        }
        // The sync finishes the batch in hand (it confirms only what the graph committed).
        ServeStop.requested.withLock { $0 = true }
        if engine != nil, syncDone.wait(timeout: .now() + 30) == .timedOut { log.warning("the sync did not stop within 30 s") }
        if publish, publishDone.wait(timeout: .now() + 30) == .timedOut { log.warning("the publisher did not stop within 30 s") }
    }
}

/// Tells the in-process sync to stop once the server has.
enum ServeStop {
    static let requested = Locked(false)
}
