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
    @Option(name: .long, help: "The rules directory, as every other command takes it (instead of the argument).") var rules: String?

    func validate() throws {
        if directory != nil && rules != nil { throw ValidationError("give the rules directory once: as the argument or as --rules") }
    }

    func run() throws {
        let directory = directory ?? rules
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
