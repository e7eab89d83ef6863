import ArgumentParser
import ConcordAudit
import ConcordCore
import ConcordJSON
import Foundation

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
