import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordNotify
import ConcordGitHub
import ConcordGraph
import ConcordJSON
import ConcordLive
import ConcordRedis
import ConcordReports
import Foundation

/// `concord snapshot --output-dir DIR`: write a snapshot of the live stores.
struct SnapshotCommand: ParsableCommand, NotifiesOnFailure {
    @OptionGroup(title: "Notifications") var notification: NotifyOptions
    static let configuration = CommandConfiguration(commandName: "snapshot", abstract: "Write a snapshot of the live stores (the datasets the rules read) to a directory.")

    @OptionGroup var stores: StoreOptions
    @OptionGroup var rulesOption: RulesOption

    @Option(name: .customLong("output-dir"), help: "The directory to write (must not hold a snapshot yet).")
    var outputDir: String?

    /// The older spelling: `--output` is a file in every other command.
    @Option(name: .customLong("output"), help: .hidden)
    var deprecatedOutput: String?

    var output: String { outputDir ?? deprecatedOutput ?? "" }

    func validate() throws {
        if outputDir != nil && deprecatedOutput != nil { throw ValidationError("give the directory once, as --output-dir DIR") }
        if outputDir == nil && deprecatedOutput == nil { throw ValidationError("Missing expected argument '--output-dir <output-dir>'") }
        if deprecatedOutput != nil { Output.error("concord: snapshot --output is deprecated; use --output-dir (a directory, as in every command)") }
    }

    @OptionGroup(title: "GitHub (its datasets are written when it is configured)") var github: GitHubOptions

    func run() throws {
        let rules = try rulesOption.load()
        let client = try github.clientIfConfigured()
        let specs = rules.datasets.specs.values.filter { client != nil || $0.store != "github" }.sorted { $0.name < $1.name }
        let writer = try SnapshotWriter(directory: URL(fileURLWithPath: output), datasets: specs)
        let reader = LiveReader(postgres: try stores.connectPostgres(), redis: try stores.connectRedis(), graph: try stores.connectGraph())
        reader.github = client
        reader.progress = ReadProgress()
        let started = Date()
        let reads = try reader.read(specs, into: writer)
        let manifest = try writer.finish(reads: reads, createdAt: started, evaluatedAt: Timestamp.milliseconds(started))
        let counts = (manifest["datasets"]?.objectValue ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value["records"]?.textValue ?? "0")" }
        Output.line("snapshot written to \(output) in \(String(format: "%.2f", Date().timeIntervalSince(started))) s: \(counts.joined(separator: ", "))")
    }
}
