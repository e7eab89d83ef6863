import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordJSON
import Foundation

/// `concord rules test [DIR]`: every case under DIR/tests/ against the rules of DIR.
struct RulesTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Run the rule cases (DIR/tests/**/*.yaml): the records each gives, the findings each expects.",
        discussion: """
            Exit codes: 0 every case passes, 1 a case failed (a diff of expected and found findings is printed),
            2 a case (or a rule) is broken (file:line:col: message). --update writes each case's current findings as its
            expect: block, for review in the diff of the file.
            """)

    @Argument(help: "The rules directory (default $CONCORD_RULES, else ./Rules); cases are in its tests/ folder.") var directory: String?
    @Option(name: .long, help: "Only the cases of this rule (repeatable).") var rule: [String] = []
    @Option(name: .long, help: "Write a JUnit XML report here.") var junit: String?
    @Flag(name: .long, help: "Rewrite each case's expect: with what the rules find now.") var update = false
    @Option(name: .long, help: "Cases in this directory instead of DIR/tests.") var cases: String?

    func run() throws {
        let dir = RulesOption.resolve(directory)
        let rules = try RulesOption.load(directory)
        let root = URL(fileURLWithPath: cases ?? (dir as NSString).appendingPathComponent("tests"))
        let files = Self.caseFiles(root)
        if files.isEmpty { throw ConcordError(.usage, "no rule cases under \(root.path) (write some with: concord rules new ID --kind KIND)") }
        var outcomes: [RuleCaseRunner.Outcome] = []
        var broken: [Diagnostic] = []
        let cwd = FileManager.default.currentDirectoryPath + "/"
        for file in files {
            // Shown relative to the working directory, as an editor's file:line:col wants it.
            let path = file.path.hasPrefix(cwd) ? String(file.path.dropFirst(cwd.count)) : file.path
            guard let text = try? String(contentsOf: file, encoding: .utf8) else {
                broken.append(Diagnostic(file: path, line: 1, column: 1, message: "cannot read the file as UTF-8"))
                continue
            }
            let (c, problems) = RuleCase.load(file: path, text: text, rules: rules)
            for p in problems where p.severity == .error { broken.append(p) }
            guard let c else { continue }
            if !rule.isEmpty, !c.rules.contains(where: rule.contains) { continue }
            let o = try RuleCaseRunner.run(c, rules: rules)
            if update, !o.passed {
                try Data(RuleCaseRunner.updated(text, c, o).utf8).write(to: file, options: .atomic)
                Output.line("updated \(path): \(o.findings.count) finding(s) expected")
                continue
            }
            outcomes.append(o)
            Output.line("\(o.passed ? "ok  " : "FAIL") \(path)" + (o.description.isEmpty ? "" : " — \(o.description)"))
            if !o.passed { for line in RuleCaseRunner.diff(o) { Output.line("     " + line) } }
        }
        for b in broken { Output.line("BROKEN \(b.description)") }
        if let junit { try Data(RuleCaseRunner.junit(outcomes, broken: broken).utf8).write(to: URL(fileURLWithPath: junit), options: .atomic) }
        let failed = outcomes.filter { !$0.passed }.count
        Output.line("\(outcomes.count) case(s): \(outcomes.count - failed) passed, \(failed) failed" + (broken.isEmpty ? "" : ", \(broken.count) broken"))
        if !broken.isEmpty { throw ExitCode.usage }
        if failed > 0 { throw ExitCode.findings }
    }

    static func caseFiles(_ root: URL) -> [URL] {
        guard let e = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        return e.compactMap { $0 as? URL }.filter { $0.pathExtension == "yaml" || $0.pathExtension == "yml" }.sorted { $0.path < $1.path }
    }
}

/// `concord rules new ID --kind KIND`: a rule file and two cases to start from.
struct RulesNew: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new", abstract: "Write a rule file and two cases (one that finds, one near miss) to start from.")

    enum Kind: String, ExpressibleByArgument, CaseIterable { case missing, compare, duplicate }

    @Argument(help: "The rule's id, e.g. prefs.cache-stale.") var id: String
    @Option(name: .long, help: "The check kind: missing, compare or duplicate.") var kind: Kind
    @Option(name: .long, help: "The rules directory (default $CONCORD_RULES, else ./Rules).") var rules: String?
    @Option(name: .long, help: "The dataset the rule reads first (default: the first one datasets.yaml declares).") var dataset: String?
    @Option(name: .long, help: "The dataset it compares with or looks in (default: the next one).") var other: String?

    func validate() throws {
        guard id.range(of: #"^[a-z0-9][a-z0-9_.-]*$"#, options: .regularExpression) != nil else {
            throw ValidationError("a rule id is lowercase letters, digits, '.', '_' and '-', e.g. prefs.cache-stale")
        }
    }

    func run() throws {
        let dir = RulesOption.resolve(rules)
        let set = try RulesOption.load(rules)
        let names = set.datasets.specs.keys.sorted()
        let a = dataset ?? names.first ?? "dataset"
        let b = other ?? names.first { $0 != a } ?? a
        for d in [a, b] where set.datasets[d] == nil { throw ConcordError(.usage, "no dataset '\(d)' in \(dir)/datasets.yaml (\(names.joined(separator: ", ")))") }
        let keyA = set.datasets[a]?.lookup["id"]?.first ?? "id", keyB = set.datasets[b]?.lookup["id"]?.first ?? "id"
        // What a compare rule starts by comparing: the first declared field of each side that is not its key.
        let fieldA = (set.datasets[a]?.fields.sorted() ?? []).first { $0 != keyA && !$0.contains(".") } ?? keyA
        let fieldB = (set.datasets[b]?.fields.sorted() ?? []).first { $0 != keyB && !$0.contains(".") } ?? keyB
        let ruleFile = URL(fileURLWithPath: dir).appendingPathComponent("\(id).yaml")
        guard !FileManager.default.fileExists(atPath: ruleFile.path) else { throw ConcordError(.usage, "\(ruleFile.path) exists already") }
        var check: String
        switch kind {
        case .missing:
            check = """
                check:
                  kind: missing
                  from: { dataset: \(a), key: \(keyA) }
                  absentFrom: [ { dataset: \(b), key: \(keyB) } ]
                """
        case .compare:
            check = """
                check:
                  kind: compare
                  left: { dataset: \(a), key: \(keyA), values: { value: \(fieldA) } }   # the fields to compare, by name
                  right: { dataset: \(b), key: \(keyB), values: { value: \(fieldB) } }
                  fields: [value]
                """
        case .duplicate:
            check = """
                check:
                  kind: duplicate
                  in: [ { dataset: \(a), key: \(keyA) } ]
                """
        }
        let rule = """
            version: 1
            id: \(id)
            severity: warning
            store: \(set.datasets[a]?.store ?? "postgres")
            description: "TODO: what this rule finds, in one sentence."
            message: "{key}: TODO"
            \(check)
            repair:
              action: manual
              reason: "TODO: what a person does about it"

            """
        try Data(rule.utf8).write(to: ruleFile, options: .withoutOverwriting)
        let tests = URL(fileURLWithPath: dir).appendingPathComponent("tests/\(id)")
        try FileManager.default.createDirectory(at: tests, withIntermediateDirectories: true)
        /// A record holding `value` at `key` (a dotted path becomes nested mappings), and `extra` beside it.
        func record(_ d: String, _ key: String, _ value: String, extra: String = "") -> String {
            let parts = key.split(separator: ".").map(String.init)
            var inner = "\(parts.last!): \(value)"
            for p in parts.dropLast().reversed() { inner = "\(p): { \(inner) }" }
            return "{ \(inner)\(extra.isEmpty ? "" : ", " + extra) }"
        }
        let differ = kind == .compare
        let finds = """
            version: 1
            rule: \(id)
            description: "TODO: the fault this case holds"
            now: 2025-11-24T16:00:00Z
            records:
              \(a):
                - \(record(a, keyA, "k1", extra: differ ? "\(fieldA): same" : ""))
            \(kind == .missing ? "  \(b): []\n" : kind == .duplicate ? "    - \(record(a, keyA, "k1"))\n" : "  \(b):\n    - \(record(b, keyB, "k1", extra: "\(fieldB): other"))\n")expect:
              - { rule: \(id), key: k1 }

            """
        let nearMiss = """
            version: 1
            rule: \(id)
            description: "TODO: almost the fault, but consistent"
            now: 2025-11-24T16:00:00Z
            records:
              \(a):
                - \(record(a, keyA, "k1", extra: differ ? "\(fieldA): same" : ""))
              \(b):
                - \(record(b, keyB, "k1", extra: differ ? "\(fieldB): same" : ""))
            expect: []

            """
        try Data(finds.utf8).write(to: tests.appendingPathComponent("finds.yaml"), options: .withoutOverwriting)
        try Data(nearMiss.utf8).write(to: tests.appendingPathComponent("near-miss.yaml"), options: .withoutOverwriting)
        Output.line("wrote \(ruleFile.path), \(tests.path)/finds.yaml and near-miss.yaml")
        Output.line("edit them (only the fields that matter; the rest is defaulted), then: concord rules test \(dir) --rule \(id)")
    }
}

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
