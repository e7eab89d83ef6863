import ArgumentParser
import ConcordCore
import ConcordFlow
import ConcordGitHub
import ConcordModel
import ConcordPostgres
import Foundation
import Logging

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
