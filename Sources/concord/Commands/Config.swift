import ArgumentParser
import ConcordConfig
import ConcordCore
import Foundation

/// `concord config show|check`: the configuration file as a command will see it.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Show the effective settings of a command, or check a configuration file.",
        discussion: """
            The file: --config FILE (anywhere on a command line), else $CONCORD_CONFIG, else /etc/concord/concord.yaml \
            when it exists; --profile NAME (or $CONCORD_PROFILE) lays a profile over it. Precedence: a flag given, \
            then the option's environment variable, then the file, then the default.
            """,
        subcommands: [Show.self, Check.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every option of a command with its effective value and where it comes from (secrets masked).",
            discussion: "e.g. concord config show audit --profile prod; concord --config ./concord.yaml config show maintain deadletter purge")

        @Argument(parsing: .captureForPassthrough, help: "The command (and any flags you would give it).")
        var command: [String] = []

        func run() throws {
            let s = Configuration.selection
            let (path, spec) = try Configuration.commandPath(command)
            guard !path.isEmpty else { throw ConcordError(.usage, "name a command: concord config show audit (or sync, serve, maintain deadletter purge, …)") }
            guard spec.subcommands.isEmpty else {
                throw ConcordError(.usage, "concord \(path.joined(separator: " ")) has subcommands: \(spec.subcommands.keys.sorted().joined(separator: ", "))")
            }
            Output.line("configuration  " + (s.path.map { "\($0) (from \(s.origin))" }
                                             ?? (s.origin == "none" ? "none (no --config, CONCORD_CONFIG or \(Configuration.defaultPath))" : s.origin))
                        + (s.profile.map { ", profile \($0)" } ?? ""))
            let entries: [Resolution.Entry]
            if let file = s.file {
                do {
                    entries = try file.resolve(arguments: command, path: path, command: spec, profile: s.profile).entries
                } catch let e as ConfigErrors {
                    throw ConcordError(.usage, "the configuration is not valid:\n\(e)")
                } catch let e as ConfigDiagnostic {
                    throw ConcordError(.usage, "the configuration is not valid:\n\(e)")
                }
            } else {
                entries = try ConfigFile(path: "-", base: ConfigSection(position: ConfigPosition(file: "-", line: 1, column: 1)), profiles: [:])
                    .resolve(arguments: command, path: path, command: spec, profile: nil).entries
            }
            Output.line("concord \(path.joined(separator: " "))")
            let width = entries.map { $0.option.names[0].count }.max() ?? 0
            for e in entries {
                let name = "--" + e.option.names[0] + String(repeating: " ", count: width - e.option.names[0].count)
                Output.line("  \(name)  \(e.shown)    [\(e.source)]")
            }
        }
    }

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration file: every problem as file:line:col: message (exit 2 if any).",
            discussion: "Checks the YAML, that every key is an option of a command (of its section's command), the values the options take, and that every secret's file or variable is there.")

        @Argument(help: "The file (default: --config, $CONCORD_CONFIG, else /etc/concord/concord.yaml).")
        var file: String?

        func run() throws {
            guard let path = file ?? Configuration.selection.path else {
                throw ConcordError(.usage, "no configuration file to check: name one, or set --config, CONCORD_CONFIG or \(Configuration.defaultPath)")
            }
            let config: ConfigFile
            do { config = try ConfigFile.load(path) } catch let e as ConfigErrors { return try fail(e.diagnostics) }
            let tree = try Configuration.tree()
            var problems: [ConfigDiagnostic] = []
            var settings = 0
            let roots = [(config.base, nil as String?)] + config.profiles.sorted { $0.key < $1.key }.map { ($0.value, $0.key as String?) }
            for (root, profile) in roots {
                check(root, path: [], command: tree, topLevel: true, profile: profile, into: &problems, count: &settings)
            }
            if !problems.isEmpty { return try fail(problems) }
            let profiles = config.profiles.keys.sorted()
            Output.line("\(path): ok (\(settings) setting(s)" + (profiles.isEmpty ? "" : "; profiles: \(profiles.joined(separator: ", "))") + ")")
        }

        private func fail(_ problems: [ConfigDiagnostic]) throws {
            for p in problems.sorted(by: { ($0.position.line, $0.position.column) < ($1.position.line, $1.position.column) }) { Output.line(p.description) }
            throw ExitCode.usage
        }

        /// Checks one section against the command it configures; the top level against every command.
        private func check(_ section: ConfigSection, path: [String], command: CommandSpec, topLevel: Bool, profile: String?,
                           into problems: inout [ConfigDiagnostic], count: inout Int) {
            let where_ = path.isEmpty ? "no command" : "concord \(path.joined(separator: " "))"
            for setting in section.settings {
                count += 1
                if let secretProblem = secretProblem(setting) { problems.append(secretProblem) }
                if topLevel {
                    // A top-level setting applies to every command with that option: check it against each of them.
                    let commands = Self.leaves(command, path: []).filter { $0.1.option(setting.key) != nil }
                    if commands.isEmpty { problems.append(ConfigDiagnostic(setting.position, "no command has an option --\(setting.key)")) }
                    if let (p, c) = commands.first, let problem = valueProblem(setting, path: p, command: c) { problems.append(problem) }
                } else if command.option(setting.key) == nil {
                    problems.append(ConfigDiagnostic(setting.position, "\(where_) has no option --\(setting.key)"
                                                     + (command.subcommands.isEmpty ? "" : " (its subcommands: \(command.subcommands.keys.sorted().joined(separator: ", ")))")))
                } else if let problem = valueProblem(setting, path: path, command: command) {
                    problems.append(problem)
                }
            }
            for (name, sub) in section.sections.sorted(by: { $0.key < $1.key }) {
                guard let subcommand = command.subcommands[name] else {
                    problems.append(ConfigDiagnostic(sub.position, "\(where_ == "no command" ? "concord" : where_) has no subcommand \(name)"
                                                     + " (a section names a command: \(command.subcommands.keys.sorted().joined(separator: ", ")))"))
                    continue
                }
                check(sub, path: path + [name], command: subcommand, topLevel: false, profile: profile, into: &problems, count: &count)
            }
        }

        /// Every command without subcommands, with its path.
        static func leaves(_ command: CommandSpec, path: [String]) -> [([String], CommandSpec)] {
            if command.subcommands.isEmpty { return path.isEmpty ? [] : [(path, command)] }
            return command.subcommands.sorted { $0.key < $1.key }.flatMap { leaves($0.value, path: path + [$0.key]) }
        }

        private func secretProblem(_ setting: ConfigSetting) -> ConfigDiagnostic? {
            do { _ = try setting.value.resolved(at: setting.position) } catch let d as ConfigDiagnostic { return d } catch { return nil }
            return nil
        }

        /// The value given to the command's parser alone: a value it refuses (`--format bogus`) is this line's problem.
        private func valueProblem(_ setting: ConfigSetting, path: [String], command: CommandSpec) -> ConfigDiagnostic? {
            guard command.option(setting.key) != nil, !setting.value.isSecret else { return nil }
            let file = ConfigFile(path: setting.position.file, base: ConfigSection(settings: [setting], position: setting.position), profiles: [:])
            do {
                let args = try file.resolve(arguments: path, path: path, command: command, profile: nil, environment: [:]).arguments
                do {
                    _ = try Concord.parseAsRoot(args)
                } catch {
                    let message = Concord.message(for: error)
                    // Only what the parser says of this option's value; a command that needs other options too is not this line's problem.
                    if message.contains("--\(setting.key)") || message.contains("'\(setting.key)'") || message.lowercased().contains("value") {
                        return ConfigDiagnostic(setting.position, message.split(separator: "\n").first.map(String.init) ?? message)
                    }
                }
            } catch let e as ConfigErrors {
                return e.diagnostics.first
            } catch {
                return ConfigDiagnostic(setting.position, "\(error)")
            }
            return nil
        }
    }
}
