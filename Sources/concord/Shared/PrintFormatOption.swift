import ArgumentParser
import ConcordCore

/// How a command that prints a listing or a report on stdout prints it: `--format text` (the default, for
/// people) or `--format json` (for scripts; the JSON each command's docs give). `--json`, the older spelling,
/// still works, with a note on stderr (stdout stays what a script reads).
struct PrintFormatOption: ParsableArguments {
    enum PrintFormat: String, ExpressibleByArgument, CaseIterable, Sendable { case text, json }

    @Option(name: .long, help: "How to print: text or json.")
    var format: PrintFormat = .text

    @Flag(name: .long, help: .hidden)
    var json = false

    /// Whether to print JSON.
    var isJSON: Bool { json || format == .json }

    func validate() throws {
        if json { Output.error("concord: --json is deprecated; use --format json") }
    }
}
