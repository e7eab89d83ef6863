import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordJSON
import ConcordModel
import ConcordLive
import ConcordRedis
import ConcordRepair
import Foundation

extension Maintain {
    /// The publications to GitHub that need a person: failed ones with GitHub's reason, and pending ones that keep being deferred.
    struct Publications: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publications to GitHub that failed (with GitHub's reason) or keep being deferred; retry one with `concord publish approve DRAFT`.")
        @OptionGroup var stores: StoreOptions
        @Option(name: .long, help: "Pending publications deferred at least this many times are listed too.") var attempts: Int = 3
        @OptionGroup var printFormat: PrintFormatOption

        func run() throws {
            let pg = try GitHubOptions.publications(stores)
            let r = try pg.query("""
                SELECT draft_id, workflow_run_id, state, attempts, target, coalesce(last_error, ''), updated_at::text FROM github_publication
                WHERE state = 'failed' OR (state = 'pending' AND attempts >= $1) ORDER BY state, updated_at DESC
                """, [Int64(attempts)])
            if printFormat.isJSON {
                Output.line(JSON.array(r.rows.map { row in
                    ["draft": .string(row.string(0)!), "run": .string(row.string(1)!), "state": .string(row.string(2)!), "attempts": .int(row.int(3)!),
                     "target": .string(row.string(4)!), "error": .string(row.string(5)!), "updatedAt": .string(row.string(6)!)]
                }).encoded())
                return
            }
            if r.rowCount == 0 { Output.line("no publication needs a person"); return }
            for row in r.rows {
                Output.line("\(row.string(0)!)  \(row.string(2)!)  attempts=\(row.int(3)!)  \(row.string(4)!)  run \(row.string(1)!)")
                Output.line("    \(row.string(5)!)")
            }
            Output.line("\(r.rowCount) publication(s); after fixing the cause: concord publish approve DRAFT… (a failed one is tried again)")
        }
    }
}
