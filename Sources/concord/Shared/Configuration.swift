import ArgumentParser
import ConcordConfig
import ConcordCore
import ConcordJSON
import Foundation

/// The configuration file (docs/interface.md, "Configuration"): `--config FILE` (anywhere on the command line),
/// else `CONCORD_CONFIG`, else /etc/concord/concord.yaml when it exists (`none` for no file at all); `--profile NAME` (or `CONCORD_PROFILE`)
/// lays a named profile over it. Every option of every command can be set there; a flag given wins, then the
/// option's environment variable, then the file, then the default.
enum Configuration {
    static let defaultPath = "/etc/concord/concord.yaml"

    /// The options that an environment variable also sets (the variable comes before the file).
    static let environment: [String: String] = [
        "postgres": "CONCORD_POSTGRES_URL", "redis": "CONCORD_REDIS_URL", "graph": "CONCORD_GRAPH_URL",
        "redis-ca": "CONCORD_REDIS_CA", "redis-cert": "CONCORD_REDIS_CERT", "redis-key": "CONCORD_REDIS_KEY", "graph-ca": "CONCORD_GRAPH_CA",
        "rules": "CONCORD_RULES", "notify": "CONCORD_NOTIFY", "github-url": "CONCORD_GITHUB_URL", "github-app-id": "CONCORD_GITHUB_APP_ID",
        "github-app-key": "CONCORD_GITHUB_APP_KEY", "github-app-installation": "CONCORD_GITHUB_APP_INSTALLATION",
    ]

    /// What main chose: the file (nil: none), where its path came from, the profile.
    struct Selection {
        var path: String?
        var origin: String
        var profile: String?
        var file: ConfigFile?
    }

    nonisolated(unsafe) static var selection = Selection(path: nil, origin: "none", profile: nil, file: nil)

    /// Takes `--config` and `--profile` out of `arguments` (the command line after the tool's name), loads the file
    /// and returns the command line with the file's settings added for the command it names.
    static func prepare(_ arguments: [String]) throws -> [String] {
        var rest: [String] = []
        var configFlag: String?, profileFlag: String?
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            if a == "--" { rest += arguments[i...]; break }
            if let (name, value) = take(a, next: i + 1 < arguments.count ? arguments[i + 1] : nil, names: ["config", "profile"]) {
                guard let v = value.value else { throw ConcordError(.usage, "--\(name) needs a value") }
                if name == "config" { configFlag = v } else { profileFlag = v }
                i += value.consumedNext ? 2 : 1
                continue
            }
            rest.append(a)
            i += 1
        }
        let env = ProcessInfo.processInfo.environment
        var s = Selection(path: nil, origin: "none", profile: profileFlag ?? env["CONCORD_PROFILE"].flatMap { $0.isEmpty ? nil : $0 }, file: nil)
        if let c = configFlag {
            (s.path, s.origin) = (c, "--config")
        } else if let c = env["CONCORD_CONFIG"], !c.isEmpty {
            (s.path, s.origin) = (c, "CONCORD_CONFIG")
        } else if FileManager.default.fileExists(atPath: defaultPath) {
            (s.path, s.origin) = (defaultPath, "the default location")
        }
        // `none`: no file, not even /etc/concord/concord.yaml (tests, a one-off run beside an installed package).
        if s.path == "none" { (s.path, s.origin) = (nil, "none (\(s.origin) says none)") }
        if let path = s.path {
            do { s.file = try ConfigFile.load(path) } catch let e as ConfigErrors { throw ConcordError(.usage, "the configuration is not valid:\n\(e)") }
        } else if let p = s.profile {
            throw ConcordError(.usage, "--profile \(p) needs a configuration file (--config FILE, CONCORD_CONFIG or \(defaultPath))")
        }
        selection = s
        guard let file = s.file else { return rest }
        // --help and --version need nothing from the file; `config show|check` read it themselves; no command, no settings.
        if rest.contains(where: { ["--help", "-h", "--version", "--experimental-dump-help"].contains($0) }) { return rest }
        let (path, command) = try commandPath(rest)
        if path.isEmpty || path.first == "config" { return rest }
        do {
            return try file.resolve(arguments: rest, path: path, command: command, profile: s.profile).arguments
        } catch let e as ConfigErrors {
            throw ConcordError(.usage, "the configuration is not valid:\n\(e)")
        } catch let e as ConfigDiagnostic {
            throw ConcordError(.usage, "the configuration is not valid:\n\(e)")
        }
    }

    /// `--name VALUE` or `--name=VALUE` for one of `names`.
    private static func take(_ token: String, next: String?, names: [String]) -> (String, (value: String?, consumedNext: Bool))? {
        for name in names {
            if token == "--\(name)" { return (name, (next, true)) }
            if token.hasPrefix("--\(name)=") { return (name, (String(token.dropFirst(name.count + 3)), false)) }
        }
        return nil
    }

    /// The command a command line names (its leading words that are subcommands) and that command's options.
    static func commandPath(_ arguments: [String]) throws -> ([String], CommandSpec) {
        var type: any ParsableCommand.Type = Concord.self
        var path: [String] = []
        for a in arguments {
            guard let sub = type.configuration.subcommands.first(where: { $0._commandName == a }) else { break }
            path.append(a)
            type = sub
        }
        // That command's own help dump: the whole tree's costs about 25 ms at every start (docs/benchmarks.md).
        guard let node = try JSON.parse(type._dumpHelp())["command"] else {
            throw ConcordError(.invalidInput, "the argument parser's help dump has no command")
        }
        return (path, spec(node))
    }

    nonisolated(unsafe) private static var cachedTree: CommandSpec?

    /// Every command and its options, as the argument parser describes them (its help dump).
    static func tree() throws -> CommandSpec {
        if let t = cachedTree { return t }
        let json = try JSON.parse(Concord._dumpHelp())
        guard let root = json["command"] else { throw ConcordError(.invalidInput, "the argument parser's help dump has no command") }
        let t = spec(root)
        cachedTree = t
        return t
    }

    private static func spec(_ node: JSON) -> CommandSpec {
        var options: [OptionSpec] = []
        for arg in node["arguments"]?.arrayValue ?? [] {
            let kind = arg["kind"]?.stringValue
            guard kind == "option" || kind == "flag" else { continue }
            let names = arg["names"]?.arrayValue ?? []
            let long = names.filter { $0["kind"]?.stringValue != "short" }.compactMap { $0["name"]?.stringValue }
            let short = names.filter { $0["kind"]?.stringValue == "short" }.compactMap { $0["name"]?.stringValue }
            guard !long.isEmpty else { continue }
            // An option parsed by a transform has no default in the dump: its help says it ("… (default: json,md,html).").
            let help = arg["abstract"]?.stringValue ?? ""
            let stated = help.range(of: "(default: ").flatMap { r in help[r.upperBound...].firstIndex(of: ")").map { String(help[r.upperBound..<$0]) } }
            options.append(OptionSpec(names: long, shortNames: short, kind: kind == "flag" ? .flag : .option,
                                      repeating: arg["isRepeating"]?.boolValue ?? false, defaultValue: arg["defaultValue"]?.stringValue ?? stated,
                                      env: environment[long[0]]))
        }
        var subs: [String: CommandSpec] = [:]
        for sub in node["subcommands"]?.arrayValue ?? [] {
            let s = spec(sub)
            if s.name != "help" { subs[s.name] = s }  // the parser's own `help`, added to the command a dump starts at
        }
        return CommandSpec(name: node["commandName"]?.stringValue ?? "", options: options, subcommands: subs)
    }
}
