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

extension String {
    func ifEmpty(_ other: String) -> String { isEmpty ? other : self }
}
