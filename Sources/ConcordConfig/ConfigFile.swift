import ConcordCore
import Foundation
import Yams

/// A place in a configuration file, for messages: `file:line:col`.
public struct ConfigPosition: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
    public var description: String { "\(file):\(line):\(column)" }
}

/// One problem in a configuration file, printed `file:line:col: message`.
public struct ConfigDiagnostic: Error, Sendable, CustomStringConvertible {
    public var position: ConfigPosition
    public var message: String
    public init(_ position: ConfigPosition, _ message: String) {
        self.position = position
        self.message = message
    }
    public var description: String { "\(position): \(message)" }
}

/// Where a secret comes from: never written inline when it need not be.
public enum SecretSource: Sendable, Hashable, CustomStringConvertible {
    case file(String)
    case env(String)

    public var description: String {
        switch self {
        case .file(let path): "file \(path)"
        case .env(let name): "env \(name)"
        }
    }

    /// The secret's text (a file's content without its final line break).
    public func read(at position: ConfigPosition) throws -> String {
        switch self {
        case .file(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
                throw ConfigDiagnostic(position, "the secret's file \(path) \(reason)")
            }
            var text = String(decoding: data, as: UTF8.self)
            while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
            return text
        case .env(let name):
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw ConfigDiagnostic(position, "the secret's environment variable \(name) is not set")
            }
            return value
        }
    }
}

/// A setting's value as written.
public enum ConfigValue: Sendable, Hashable {
    case text(String)
    case bool(Bool)
    case list([String])
    /// `{file: PATH}` or `{env: NAME}`: the whole value is a secret.
    case secret(SecretSource)
    /// `{url: URL, password_file: PATH}` or `{url: URL, password_env: NAME}`: a URL whose password is a secret.
    case urlWithPassword(url: String, password: SecretSource)
}

/// One `key: value` line of a section.
public struct ConfigSetting: Sendable, Hashable {
    /// The option's long name, as on the command line (`output-dir`; `output_dir` is read the same).
    public var key: String
    public var value: ConfigValue
    public var position: ConfigPosition
    /// The profile it comes from, nil for the file's base.
    public var profile: String?
}

/// A mapping of settings and, under a command's name, that command's own section (`audit:`, `maintain: {deadletter: {purge: …}}`).
public struct ConfigSection: Sendable {
    public var settings: [ConfigSetting] = []
    public var sections: [String: ConfigSection] = [:]
    public var position: ConfigPosition

    public init(settings: [ConfigSetting] = [], sections: [String: ConfigSection] = [:], position: ConfigPosition) {
        self.settings = settings
        self.sections = sections
        self.position = position
    }
}

/// A parsed configuration file: the base section and the named profiles, each laid over the base.
public struct ConfigFile: Sendable {
    public var path: String
    public var base: ConfigSection
    public var profiles: [String: ConfigSection]

    public init(path: String, base: ConfigSection, profiles: [String: ConfigSection]) {
        self.path = path
        self.base = base
        self.profiles = profiles
    }

    /// Reads `path`; every problem found is returned at once (`ConfigErrors`).
    public static func load(_ path: String) throws -> ConfigFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw ConcordError(.usage, "the configuration file \(path) \(reason)")
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    public static func parse(_ text: String, path: String) throws -> ConfigFile {
        var reader = Reader(file: path)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            switch e {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
                throw ConfigErrors([ConfigDiagnostic(ConfigPosition(file: path, line: mark.line, column: mark.column), "YAML: \(problem)")])
            case .duplicatedKeysInMapping(let duplicates, let context):
                throw ConfigErrors([ConfigDiagnostic(ConfigPosition(file: path, line: context.mark.line, column: context.mark.column),
                                                     "duplicate key(s): \(duplicates.joined(separator: ", "))")])
            default:
                throw ConfigErrors([ConfigDiagnostic(ConfigPosition(file: path, line: 1, column: 1), "YAML: \(e)")])
            }
        }
        let start = ConfigPosition(file: path, line: 1, column: 1)
        guard let root else { return ConfigFile(path: path, base: ConfigSection(position: start), profiles: [:]) }
        guard case .mapping(let mapping) = root else {
            throw ConfigErrors([ConfigDiagnostic(reader.position(root), "the configuration is a mapping of settings (key: value)")])
        }
        var base = ConfigSection(position: start)
        var profiles: [String: ConfigSection] = [:]
        for (k, v) in mapping {
            guard let key = k.string else { reader.error(k, "a key must be text"); continue }
            if key == "profiles" {
                guard case .mapping(let named) = v else { reader.error(v, "profiles: a mapping of profile names to settings"); continue }
                for (pk, pv) in named {
                    guard let name = pk.string else { reader.error(pk, "a profile's name must be text"); continue }
                    profiles[name] = reader.section(pv, profile: name)
                }
            } else {
                reader.entry(key: key, keyNode: k, value: v, into: &base, profile: nil)
            }
        }
        if !reader.diagnostics.isEmpty { throw ConfigErrors(reader.diagnostics) }
        return ConfigFile(path: path, base: base, profiles: profiles)
    }

    private struct Reader {
        let file: String
        var diagnostics: [ConfigDiagnostic] = []

        init(file: String) { self.file = file }

        func position(_ node: Node) -> ConfigPosition {
            ConfigPosition(file: file, line: node.mark?.line ?? 1, column: node.mark?.column ?? 1)
        }

        mutating func error(_ node: Node, _ message: String) { diagnostics.append(ConfigDiagnostic(position(node), message)) }

        mutating func section(_ node: Node, profile: String?) -> ConfigSection {
            var section = ConfigSection(position: position(node))
            guard case .mapping(let mapping) = node else {
                error(node, "a mapping of settings (key: value) was expected")
                return section
            }
            for (k, v) in mapping {
                guard let key = k.string else { error(k, "a key must be text"); continue }
                entry(key: key, keyNode: k, value: v, into: &section, profile: profile)
            }
            return section
        }

        static let referenceKeys: Set<String> = ["file", "env", "url", "password-file", "password-env"]

        mutating func entry(key raw: String, keyNode: Node, value: Node, into section: inout ConfigSection, profile: String?) {
            let key = raw.replacingOccurrences(of: "_", with: "-")
            switch value {
            case .scalar(let s):
                let v: ConfigValue
                if s.style == .plain, ["true", "false"].contains(s.string.lowercased()) {
                    v = .bool(s.string.lowercased() == "true")
                } else {
                    v = .text(s.string)
                }
                section.settings.append(ConfigSetting(key: key, value: v, position: position(keyNode), profile: profile))
            case .sequence(let items):
                var list: [String] = []
                for item in items {
                    guard case .scalar(let s) = item else { error(item, "\(raw): a list of plain values was expected"); continue }
                    list.append(s.string)
                }
                section.settings.append(ConfigSetting(key: key, value: .list(list), position: position(keyNode), profile: profile))
            case .mapping(let m):
                let keys: [String] = m.keys.compactMap(\.string).map { $0.replacingOccurrences(of: "_", with: "-") }
                if !keys.isEmpty, Set(keys).isSubset(of: Self.referenceKeys) {
                    if let v = reference(m, keys: keys, node: value, name: raw) {
                        section.settings.append(ConfigSetting(key: key, value: v, position: position(keyNode), profile: profile))
                    }
                } else {
                    if section.sections[key] != nil { error(keyNode, "\(raw): a second section of that name") }
                    var sub = self.section(value, profile: profile)
                    sub.position = position(keyNode)
                    section.sections[key] = sub
                }
            default:
                error(value, "\(raw): an unsupported YAML value")
            }
        }

        /// `{file: P}`, `{env: N}`, `{url: U, password_file: P}`, `{url: U, password_env: N}`.
        mutating func reference(_ m: Node.Mapping, keys: [String], node: Node, name: String) -> ConfigValue? {
            var fields: [String: String] = [:]
            for (k, v) in m {
                guard let s = v.string, let key = k.string else { error(v, "\(name): \(k.string ?? "?") takes a plain value"); return nil }
                fields[key.replacingOccurrences(of: "_", with: "-")] = s
            }
            if let url = fields["url"] {
                let secrets = [fields["password-file"].map(SecretSource.file), fields["password-env"].map(SecretSource.env)].compactMap { $0 }
                guard secrets.count == 1, fields.count == 2 else {
                    error(node, "\(name): url takes one of password_file or password_env beside it")
                    return nil
                }
                guard url.contains("://") else {
                    error(node, "\(name): password_file and password_env go with a URL (scheme://user@host/…), not a conninfo string")
                    return nil
                }
                return .urlWithPassword(url: url, password: secrets[0])
            }
            if fields.count == 1, let path = fields["file"] { return .secret(.file(path)) }
            if fields.count == 1, let env = fields["env"] { return .secret(.env(env)) }
            error(node, "\(name): a secret is {file: PATH}, {env: NAME}, or {url: URL, password_file: PATH | password_env: NAME}")
            return nil
        }
    }
}

/// Every problem of a configuration file (a usage error: exit 2).
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [ConfigDiagnostic]
    public init(_ diagnostics: [ConfigDiagnostic]) { self.diagnostics = diagnostics }
    public var description: String { diagnostics.map(\.description).joined(separator: "\n") }
}

extension ConfigValue {
    /// The value as it goes on the command line (secrets read now).
    public func resolved(at position: ConfigPosition) throws -> [String] {
        switch self {
        case .text(let s): return [s]
        case .bool(let b): return [b ? "true" : "false"]
        case .list(let l): return l
        case .secret(let source): return [try source.read(at: position)]
        case .urlWithPassword(let url, let source): return [URLPassword.insert(try source.read(at: position), into: url)]
        }
    }

    /// The value as `config show` prints it: secrets never, URLs' passwords masked.
    public var shown: String {
        switch self {
        case .text(let s): return Redaction.mask(s)
        case .bool(let b): return b ? "true" : "false"
        case .list(let l): return l.map(Redaction.mask).joined(separator: ", ")
        case .secret(let source): return "*** (\(source))"
        case .urlWithPassword(let url, let source): return Redaction.mask(URLPassword.insert("***", into: url)) + " (password from \(source))"
        }
    }

    public var isSecret: Bool {
        switch self {
        case .secret, .urlWithPassword: true
        default: false
        }
    }
}

/// A password put into a URL's user information, percent-encoded (`scheme://user:PASSWORD@host…`).
public enum URLPassword {
    public static func insert(_ password: String, into url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[rest.startIndex..<authorityEnd]
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        let encoded = password.addingPercentEncoding(withAllowedCharacters: allowed) ?? password
        let user: Substring
        let hostPart: Substring
        if let at = authority.lastIndex(of: "@") {
            let userinfo = authority[authority.startIndex..<at]
            user = userinfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            hostPart = authority[authority.index(after: at)...]
        } else {
            user = ""
            hostPart = authority
        }
        return String(url[..<schemeEnd.upperBound]) + user + ":" + encoded + "@" + hostPart + rest[authorityEnd...]
    }
}
