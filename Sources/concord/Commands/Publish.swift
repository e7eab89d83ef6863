import ArgumentParser
import ConcordCore
import ConcordFlow
import ConcordGitHub
import ConcordModel
import ConcordPostgres
import Foundation
import Logging

/// `concord publish`: approved drafts to GitHub, exactly once.
struct Publish: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish approved drafts to GitHub, exactly once; approve drafts; list publications.",
        subcommands: [PublishRun.self, PublishApprove.self, PublishList.self],
        defaultSubcommand: PublishRun.self)
}
