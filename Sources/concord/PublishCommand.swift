import ArgumentParser
import ConcordCore
import ConcordFlow
import ConcordGitHub
import ConcordModel
import ConcordPostgres
import Foundation
import Logging

/// How Concord reaches GitHub: the API's URL, the credentials, the pacing.
struct GitHubOptions: ParsableArguments {
    @Option(name: .long, help: "GitHub's API: https://api.github.com, or a GitHub Enterprise Server's https://HOST/api/v3 (env CONCORD_GITHUB_URL).")
    var githubUrl: String?

    @Option(name: .long, help: "A file holding the token (default: env CONCORD_GITHUB_TOKEN). Never pass a token on the command line.")
    var githubTokenFile: String?

    @Option(name: .long, help: "A GitHub App's id, to act as the App (env CONCORD_GITHUB_APP_ID).")
    var githubAppId: String?

    @Option(name: .long, help: "The App's private key, a PEM file (env CONCORD_GITHUB_APP_KEY).")
    var githubAppKey: String?

    @Option(name: .long, help: "The App installation to act as (env CONCORD_GITHUB_APP_INSTALLATION).")
    var githubAppInstallation: Int64?

    @Option(name: .long, help: "Seconds between requests that create content (GitHub asks for at least 1).")
    var githubPace: Double = 1

    @Option(name: .long, help: "Seconds to wait after a secondary rate limit that names no Retry-After (GitHub asks for at least 60; doubled per repeat).")
    var githubSecondaryWait: Double = 60

    @Option(name: .long, help: "Seconds per request to GitHub.")
    var githubTimeout: Double = 30

    var url: String { githubUrl ?? ProcessInfo.processInfo.environment["CONCORD_GITHUB_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://api.github.com" }

    /// Whether GitHub is configured at all (a URL, a token or an App): the audit reads it, plans repair it.
    var configured: Bool {
        let env = ProcessInfo.processInfo.environment
        return githubUrl != nil || githubTokenFile != nil || githubAppId != nil
            || ["CONCORD_GITHUB_URL", "CONCORD_GITHUB_TOKEN", "CONCORD_GITHUB_APP_ID"].contains { !(env[$0] ?? "").isEmpty }
    }

    /// A publisher with connections of its own (the publication table made sure of first).
    func worker(_ stores: StoreOptions, logger: Logger) throws -> PublicationWorker {
        PublicationWorker(postgres: try Self.publications(stores), redis: try stores.connectRedis(), graph: try stores.connectGraph(),
                          github: try client(), logger: logger)
    }

    /// A PostgreSQL connection with the publication table made sure of (older deployments lack it).
    static func publications(_ stores: StoreOptions) throws -> PostgresConnection {
        let pg = try stores.connectPostgres()
        for s in PostgresSchema.publication { try pg.execute(s) }
        return pg
    }

    /// The client when GitHub is configured, nil otherwise.
    func clientIfConfigured() throws -> GitHubClient? { configured ? try client() : nil }

    func client() throws -> GitHubClient {
        var token: String?
        if let file = githubTokenFile {
            do { token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) } catch {
                throw ConcordError(.usage, "cannot read the GitHub token file \(file): \(error.localizedDescription)", store: "github")
            }
        }
        let credentials = try GitHubCredentials.resolve(token: token, appId: githubAppId, appKeyFile: githubAppKey, installation: githubAppInstallation)
        var options = GitHubClient.Options(baseURL: url, userAgent: "concord/\(Concord.configuration.version) (+https://github.com/concord)")
        options.pace = githubPace
        options.secondaryWait = githubSecondaryWait
        options.timeout = githubTimeout
        return GitHubClient(credentials: credentials, options: options)
    }
}

/// `concord publish`: approved drafts to GitHub, exactly once.
struct Publish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish approved drafts to GitHub, exactly once; approve drafts; list publications.",
        subcommands: [PublishRun.self, PublishApprove.self, PublishList.self],
        defaultSubcommand: PublishRun.self)
}

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

struct PublishApprove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "approve", abstract: "Approve drafts for publication (a failed one is tried again).")

    @OptionGroup var stores: StoreOptions

    @Argument(help: "Draft ids.")
    var drafts: [String]

    @Option(name: .long, help: "Who approves (the drafts' history names them).")
    var by = ProcessInfo.processInfo.environment["USER"] ?? "operator"

    func run() throws {
        let pg = try GitHubOptions.publications(stores)
        let writer = DraftWriter(postgres: pg, redis: try stores.connectRedis())
        for d in drafts { Output.line("\(d): approved for \(try writer.approve(d, by: by))") }
    }
}

struct PublishList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List publications: state, attempts, GitHub URL or last error.")

    @OptionGroup var stores: StoreOptions

    @Option(name: .long, help: "Only this state: pending, published, failed.")
    var state: String?

    @Option(name: .long, help: "At most this many, newest first.")
    var limit = 50

    func run() throws {
        let pg = try GitHubOptions.publications(stores)
        let r = try pg.query("""
            SELECT draft_id, state, attempts, target, coalesce(github_url, ''), coalesce(last_error, '') FROM github_publication
            WHERE $1::text IS NULL OR state = $1 ORDER BY updated_at DESC LIMIT $2
            """, [state, Int64(limit)])
        let counts = try pg.query("SELECT state, count(*) FROM github_publication GROUP BY state ORDER BY state")
        Output.line(counts.rows.map { "\($0.string(0)!): \($0.int(1)!)" }.joined(separator: ", ").ifEmpty("no publications"))
        for row in r.rows {
            let detail = row.string(1) == "published" ? row.string(4)! : row.string(5)!
            Output.line("\(row.string(0)!)  \(row.string(1)!)  attempts=\(row.int(2)!)  \(row.string(3)!)  \(detail)")
        }
    }
}

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}
