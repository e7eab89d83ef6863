import ConcordCore
import Foundation

/// One option of a command, as the argument parser declares it.
public struct OptionSpec: Sendable {
    public enum Kind: Sendable { case option, flag }
    /// Long names without the dashes (`output-dir`); the first is the one written.
    public var names: [String]
    public var shortNames: [String]
    public var kind: Kind
    public var repeating: Bool
    public var defaultValue: String?
    /// The environment variable that sets it (between the flag and the file in precedence).
    public var env: String?

    public init(names: [String], shortNames: [String] = [], kind: Kind, repeating: Bool = false, defaultValue: String? = nil, env: String? = nil) {
        self.names = names
        self.shortNames = shortNames
        self.kind = kind
        self.repeating = repeating
        self.defaultValue = defaultValue
        self.env = env
    }
}

/// A command of the tool and its options; its subcommands by name.
public struct CommandSpec: Sendable {
    public var name: String
    public var options: [OptionSpec]
    public var subcommands: [String: CommandSpec]

    public init(name: String, options: [OptionSpec], subcommands: [String: CommandSpec]) {
        self.name = name
        self.options = options
        self.subcommands = subcommands
    }

    public func option(_ key: String) -> OptionSpec? { options.first { $0.names.contains(key) } }

    /// Every long option name of this command and the commands under it.
    public var allOptionNames: Set<String> {
        subcommands.values.reduce(into: Set(options.flatMap(\.names))) { $0.formUnion($1.allOptionNames) }
    }
}

/// Where an option's effective value comes from, highest first: flag > environment > file > default.
public enum SettingSource: Sendable, CustomStringConvertible {
    case flag
    case env(String)
    case file(ConfigSetting)
    case defaultValue

    public var description: String {
        switch self {
        case .flag: "command line"
        case .env(let name): "env \(name)"
        case .file(let s): "\(s.position)" + (s.profile.map { " (profile \($0))" } ?? "")
        case .defaultValue: "default"
        }
    }
}

/// The configuration applied to one command line.
public struct Resolution: Sendable {
    public struct Entry: Sendable {
        public var option: OptionSpec
        public var source: SettingSource
        /// What `config show` prints (secrets masked).
        public var shown: String
    }

    /// The command line with the file's settings added (right after the command's name).
    public var arguments: [String]
    /// Every option of the command with its effective value and where it came from.
    public var entries: [Entry]
}

extension ConfigFile {
    /// The sections that apply to `path` (e.g. ["maintain", "deadletter", "purge"]), lowest precedence first:
    /// the base's top level, then its section for each command level, then the profile's likewise.
    public func layers(for path: [String], profile: String?) throws -> [(section: ConfigSection, topLevel: Bool)] {
        var result: [(section: ConfigSection, topLevel: Bool)] = []
        var roots = [base]
        if let profile {
            guard let p = profiles[profile] else {
                let known = profiles.keys.sorted()
                throw ConcordError(.usage, "no profile '\(profile)' in \(self.path)" + (known.isEmpty ? " (it has none)" : " (it has: \(known.joined(separator: ", ")))"))
            }
            roots.append(p)
        }
        for root in roots {
            var section: ConfigSection? = root
            var level = 0
            while let s = section {
                result.append((s, level == 0))
                guard level < path.count else { break }
                section = s.sections[path[level]]
                level += 1
            }
        }
        return result
    }

    /// Applies the file to `arguments` (the command line after the tool's name): `path` is the command's names,
    /// `command` its options. A flag given wins, then an environment variable, then the file, then the default.
    /// A setting in the command's own section that is not one of its options is an error; one at the top level
    /// applies to the commands that have that option and is ignored by the others.
    public func resolve(arguments: [String], path: [String], command: CommandSpec, profile: String?,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Resolution {
        let layers = try layers(for: path, profile: profile)
        var chosen: [String: ConfigSetting] = [:]  // option's first name → the setting of the highest layer
        var problems: [ConfigDiagnostic] = []
        for (layer, topLevel) in layers {
            for setting in layer.settings {
                guard let option = command.option(setting.key) else {
                    if !topLevel { problems.append(ConfigDiagnostic(setting.position, "\((path).joined(separator: " ")) has no option --\(setting.key)")) }
                    continue
                }
                // `no-recheck: true` and `recheck: false` are the same choice: one key per option pair.
                chosen[option.names[0]] = setting
            }
        }
        if !problems.isEmpty { throw ConfigErrors(problems) }

        let commandEnd = min(path.count, arguments.count)
        let given = Self.givenNames(Array(arguments[commandEnd...]))
        var added: [String] = []
        var entries: [Resolution.Entry] = []
        for option in command.options where !option.names.contains("help") && !option.names.contains("version") {
            let isGiven = option.names.contains { given.long.contains($0) } || option.shortNames.contains { given.short.contains($0) }
                || Self.inverse(of: option, in: command).map { inv in inv.names.contains { given.long.contains($0) } } == true
            if isGiven {
                let tokens = Array(arguments[commandEnd...])
                entries.append(.init(option: option, source: .flag, shown: Self.givenValue(of: option, in: tokens, command: command)))
                continue
            }
            if let env = option.env, let value = environment[env], !value.isEmpty {
                entries.append(.init(option: option, source: .env(env), shown: Redaction.mask(value)))
                continue
            }
            if let setting = chosen[option.names[0]] {
                added += try Self.arguments(for: setting, option: option, command: command)
                entries.append(.init(option: option, source: .file(setting), shown: setting.value.shown))
                continue
            }
            entries.append(.init(option: option, source: .defaultValue, shown: option.defaultValue ?? (option.kind == .flag ? "off" : "(none)")))
        }
        var result = Array(arguments[..<commandEnd])
        result += added
        result += arguments[commandEnd...]
        return Resolution(arguments: result, entries: entries)
    }

    /// The `--no-x` of `--x` (or the reverse), when the command declares both.
    static func inverse(of option: OptionSpec, in command: CommandSpec) -> OptionSpec? {
        guard option.kind == .flag, let name = option.names.first else { return nil }
        let other = name.hasPrefix("no-") ? String(name.dropFirst(3)) : "no-" + name
        return command.option(other)
    }

    static func arguments(for setting: ConfigSetting, option: OptionSpec, command: CommandSpec) throws -> [String] {
        let name = option.names[0]
        switch option.kind {
        case .flag:
            let on: Bool
            switch setting.value {
            case .bool(let b): on = b
            case .text(let t) where ["true", "false", "yes", "no"].contains(t.lowercased()): on = ["true", "yes"].contains(t.lowercased())
            default: throw ConfigErrors([ConfigDiagnostic(setting.position, "\(setting.key) is a flag: true or false")])
            }
            if on { return ["--\(name)"] }
            if let inverse = inverse(of: option, in: command) { return ["--\(inverse.names[0])"] }
            return []
        case .option:
            if case .bool = setting.value, option.kind == .option {
                throw ConfigErrors([ConfigDiagnostic(setting.position, "\(setting.key) takes a value, not true or false (quote it: \"true\")")])
            }
            let values = try setting.value.resolved(at: setting.position)
            if case .list = setting.value, !option.repeating, values.count != 1 {
                throw ConfigErrors([ConfigDiagnostic(setting.position, "\(setting.key) takes one value, not a list")])
            }
            return values.map { "--\(name)=\($0)" }
        }
    }

    /// What a command line gives an option, as `config show` prints it (passwords in URLs masked).
    static func givenValue(of option: OptionSpec, in tokens: [String], command: CommandSpec) -> String {
        if option.kind == .flag {
            if let inverse = inverse(of: option, in: command), tokens.contains(where: { t in inverse.names.contains { t == "--\($0)" } }) { return "false" }
            return "true"
        }
        var values: [String] = []
        var i = 0
        while i < tokens.count, tokens[i] != "--" {
            let t = tokens[i]
            for name in option.names {
                if t == "--\(name)", i + 1 < tokens.count { values.append(tokens[i + 1]); i += 1 } else if t.hasPrefix("--\(name)=") { values.append(String(t.dropFirst(name.count + 3))) }
            }
            for short in option.shortNames where t == "-\(short)" && i + 1 < tokens.count {
                values.append(tokens[i + 1])
                i += 1
            }
            i += 1
        }
        return values.isEmpty ? "(given)" : values.map(Redaction.mask).joined(separator: ", ")
    }

    /// The option names a command line gives (before a `--`).
    static func givenNames(_ tokens: [String]) -> (long: Set<String>, short: Set<String>) {
        var long: Set<String> = [], short: Set<String> = []
        for t in tokens {
            if t == "--" { break }
            if t.hasPrefix("--") {
                long.insert(String(t.dropFirst(2).split(separator: "=", maxSplits: 1).first ?? ""))
            } else if t.hasPrefix("-"), t.count >= 2, !t.dropFirst().first!.isNumber {
                short.insert(String(t.dropFirst().prefix(1)))
            }
        }
        return (long, short)
    }
}
