import ArgumentParser
import ConcordCore
import ConcordFlow
import ConcordGitHub
import ConcordModel
import ConcordPostgres
import Foundation
import Logging

struct PublishRun: ParsableCommand, NotifiesOnFailure {
    @OptionGroup(title: "Notifications") var notification: NotifyOptions
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Drain approved drafts to GitHub until SIGINT/SIGTERM (or --once).",
        discussion: """
            Each publication's intent is in PostgreSQL (github_publication) before GitHub is called; a retry after an
            unknown outcome first looks for the draft's marker (<!-- concord:draft=ID -->) and adopts what it finds.
            Then the draft is published in PostgreSQL, Redis and the graph. Safe to kill at any point; run as many as you like.
            """)

    @OptionGroup var stores: StoreOptions
    @OptionGroup var github: GitHubOptions

    @Flag(name: .long, help: "Publish what is due now, then exit.")
    var once = false

    @Option(name: .long, help: "Give up on a publication after this many transient failures.")
    var maxAttempts = 12

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
        guard maxAttempts > 0 else { throw ValidationError("--max-attempts must be at least 1") }
    }

    func run() throws {
        Signals.install()
        var logger = Logger(label: "concord.publish")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let worker = try github.worker(stores, logger: logger)
        worker.maxAttempts = maxAttempts
        worker.shouldStop = { Signals.stopRequested }
        if once {
            let total = try worker.drainDue()
            let s = worker.github.stats
            var line = "publications: \(total.published) published, \(total.adopted) adopted (found on GitHub after an unknown outcome), "
                + "\(total.failed) failed, \(total.deferred) deferred"
            if total.synced > 0 { line += ", \(total.synced) carried to Redis and the graph after an interruption" }
            Output.line(line + "; \(s.requests) GitHub requests, rate limit left \(s.rateRemaining.map(String.init) ?? "?")")
            if total.failed > 0 || total.deferred > 0 { throw ExitCode.findings }
        } else {
            logger.info("publishing to \(github.url); SIGINT/SIGTERM to stop")
            try worker.run()
        }
    }
}
