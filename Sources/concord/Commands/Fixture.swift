import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordJSON
import Foundation

/// `concord fixture cut SNAPSHOT --runs ID… --output case.yaml`.
struct Fixture: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rule cases from real data.", subcommands: [Cut.self])

    struct Cut: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cut a snapshot down to some runs' records (and what they reference) as a rule case, its findings expected.")
        @OptionGroup var rulesOption: RulesOption
        @Argument(help: "The snapshot directory.") var snapshot: String
        @Option(name: .long, parsing: .upToNextOption, help: "The runs to keep.") var runs: [String]
        @Option(name: .long, help: "Where to write the case (YAML).") var output: String
        @Flag(name: .long, help: "Replace payload and content text by tokens (equal stays equal, different stays different).") var redact = false
        @Option(name: .long, help: "Only this rule (repeatable); its findings are the case's expect.") var rule: [String] = []
        @Option(name: .long, help: "The grace the case evaluates with.") var grace = "5m"

        func run() throws {
            let rules = try rulesOption.load()
            let snap = try Snapshot(directory: URL(fileURLWithPath: snapshot))
            var records = try FixtureCut.cut(snap, rules: rules, runs: Set(runs))
            if redact {
                let r = FixtureCut.Redactor()
                records = Dictionary(uniqueKeysWithValues: records.map { name, list in (name, list.map { r.record($0, dataset: name) }) })
            }
            let now = snap.createdAtMs ?? nowMilliseconds()
            let graceMs = try DurationText.milliseconds(grace)
            let c = RuleCase(file: output, description: "cut from \(snapshot): runs \(runs.joined(separator: ", "))" + (redact ? ", redacted" : ""),
                             rules: rule, now: now, graceMs: graceMs, records: records, expect: [])
            let o = try RuleCaseRunner.run(c, rules: rules)
            let text = FixtureCut.yaml(records: records, now: now, grace: graceMs, description: c.description, rules: rule, expect: o.findings)
            try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            let n = records.values.map(\.count).reduce(0, +)
            Output.line("wrote \(output): \(n) record(s) from \(records.filter { !$0.value.isEmpty }.count) dataset(s); the rules find \(o.findings.count) there: "
                + o.findings.map { "\($0.rule) \($0.key)" }.prefix(8).joined(separator: ", "))
        }
    }
}
