import ArgumentParser
import ConcordCore
import ConcordFlow
import ConcordGitHub
import ConcordModel
import ConcordPostgres
import Foundation
import Logging

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
