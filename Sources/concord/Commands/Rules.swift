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

/// `concord rules check [DIR]` / `concord rules list`.
struct Rules: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate or list the rules.", subcommands: [Check.self, List.self, RulesTest.self, RulesNew.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate the rule files; print each problem as file:line:col: message (exit 2 if any).")
        @Argument(help: "The rules directory (default $CONCORD_RULES, else ./Rules).") var directory: String?
        @Option(name: .long, help: "The rules directory, as every other command takes it (instead of the argument).") var rules: String?

        func validate() throws {
            if directory != nil && rules != nil { throw ValidationError("give the rules directory once: as the argument or as --rules") }
        }

        func run() throws {
            let directory = directory ?? rules
            let dir = RulesOption.resolve(directory)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
                throw ConcordError(.usage, "no rules directory at \(dir) (from \(directory == nil ? RulesOption.origin(nil) : "the argument"))")
            }
            let (set, problems) = RuleSet.check(directory: URL(fileURLWithPath: dir))
            for p in problems { Output.line(p.description) }
            let errors = problems.filter { $0.severity == .error }
            if !errors.isEmpty {
                Output.error("\(errors.count) problem(s) in \(dir)")
                throw ExitCode.usage
            }
            let warnings = problems.count - errors.count
            Output.line("\(dir): \(set.rules.count) rules, \(set.datasets.specs.count) datasets, no problems" + (warnings > 0 ? ", \(warnings) warning(s)" : ""))
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the rules: id, severity, kind, description.")
        @Option(name: .long, help: "The rules directory (default $CONCORD_RULES, else ./Rules).") var rules: String?

        func run() throws {
            let set = try RulesOption.load(rules)
            let w = set.rules.map(\.id.count).max() ?? 10
            for r in set.rules {
                Output.line(r.id.padding(toLength: w + 2, withPad: " ", startingAt: 0)
                    + r.severity.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + r.kinds.joined(separator: "+").padding(toLength: 26, withPad: " ", startingAt: 0) + r.description)
            }
        }
    }
}
