import ArgumentParser
import ConcordCore
import ConcordFlow
import ConcordModel
import ConcordServe
import Foundation
import Logging

/// `concord sync`: the live sync path, until SIGINT/SIGTERM (or `--once`).
struct Sync: ParsableCommand, NotifiesOnFailure {
    @OptionGroup(title: "Notifications") var notification: NotifyOptions
    static let configuration = CommandConfiguration(
        abstract: "Drain persistence:queue into the graph and confirm back to Redis; sync published drafts.",
        discussion: """
            Runs until SIGINT/SIGTERM and finishes the batch in hand; --once drains the queue and exits.
            Entries left in persistence:processing by a crash are recovered on start. Run one sync per queue.
            """)

    @OptionGroup var stores: StoreOptions

    @Flag(name: .long, help: "Drain the queue, sync publications, and exit.")
    var once = false

    @Option(name: .long, help: "Events per graph write (one statement per batch).")
    var batchSize = 500

    @Option(name: .long, help: "Serve Prometheus metrics on 127.0.0.1:PORT.")
    var metricsPort: Int?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    @Flag(name: .long, help: "Also publish approved drafts to GitHub, in this process (as `concord publish run` does).")
    var publish = false

    @OptionGroup(title: "GitHub (with --publish)") var github: GitHubOptions

    func validate() throws {
        guard batchSize > 0 && batchSize <= 100_000 else { throw ValidationError("--batch-size must be between 1 and 100000") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
    }

    func run() throws {
        Signals.install()
        var logger = Logger(label: "concord.sync")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let engine = SyncEngine(
            redis: try stores.connectRedis(), graph: try stores.connectGraph(), postgres: try stores.connectPostgres(),
            logger: logger, batchSize: batchSize)
        engine.shouldStop = { Signals.stopRequested }
        if let metricsPort {
            let metrics = engine.metrics
            do { try MetricsEndpoint.start(port: metricsPort, logger: logger) { metrics.prometheus() } } catch {
                throw ConcordError(.usage, "cannot serve metrics on 127.0.0.1:\(metricsPort): \(error)")
            }
            logger.info("metrics on http://127.0.0.1:\(metricsPort)/metrics")
        }
        // The publisher on a thread of its own, with connections of its own.
        var publisher: Thread?
        let publisherDone = DispatchSemaphore(value: 0)
        if publish {
            var publishLogger = logger
            publishLogger[metadataKey: "part"] = "publish"
            let plog = publishLogger
            let worker = try github.worker(stores, logger: plog)
            worker.shouldStop = { Signals.stopRequested }
            let once = self.once
            publisher = Thread {
                defer { publisherDone.signal() }
                do {
                    if once {
                        _ = try worker.drainDue()
                    } else {
                        try worker.run()
                    }
                } catch { plog.error("the publisher stopped: \(error)") }
            }
            publisher?.start()
        }
        defer { if publisher != nil { publisherDone.wait() } }
        if once {
            let n = try engine.drain()
            let m = engine.metrics
            Output.line("synced \(n) entries: \(m.counter("processed")) written and confirmed, \(m.counter("deadlettered")) dead-lettered, "
                + "\(m.counter("recovered")) recovered from processing, \(m.counter("publications_synced")) publications synced")
        } else {
            logger.info("sync running; SIGINT/SIGTERM to stop")
            try engine.run()
        }
    }
}
