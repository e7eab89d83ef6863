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

/// Where the rules are, found the same way by every command: `--rules`,
/// else `CONCORD_RULES`, else `Rules` in the current directory.
struct RulesOption: ParsableArguments {
    @Option(name: .long, help: "The rules directory (rule files and datasets.yaml); default $CONCORD_RULES, else ./Rules.")
    var rules: String?

    var directory: String { Self.resolve(rules) }

    static func resolve(_ flag: String?) -> String {
        if let flag { return flag }
        if let env = ProcessInfo.processInfo.environment["CONCORD_RULES"], !env.isEmpty { return env }
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: "Rules", isDirectory: &isDir), isDir.boolValue { return "Rules" }
        // The installed catalog: PREFIX/share/concord/rules beside PREFIX/bin/concord (make install, the package).
        if let installed = installedCatalog { return installed }
        return "Rules"
    }

    /// `../share/concord/rules` from the running executable, when it holds a datasets.yaml.
    static var installedCatalog: String? {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0].contains("/") ? CommandLine.arguments[0] : "/proc/self/exe").resolvingSymlinksInPath()
        let dir = exe.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("share/concord/rules")
        return FileManager.default.fileExists(atPath: dir.appendingPathComponent("datasets.yaml").path) ? dir.path : nil
    }

    /// Where the directory came from, for an error that says what to change.
    static func origin(_ flag: String?) -> String {
        if flag != nil { return "--rules" }
        if let env = ProcessInfo.processInfo.environment["CONCORD_RULES"], !env.isEmpty { return "CONCORD_RULES" }
        return "the default (./Rules, else the installed catalog; set --rules DIR or CONCORD_RULES)"
    }

    /// Loads the rules; warnings (rules whose findings cannot be rechecked) go to stderr.
    func load() throws -> RuleSet { try Self.load(rules) }

    static func load(_ flag: String?) throws -> RuleSet {
        let dir = resolve(flag)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw ConcordError(.usage, "no rules directory at \(dir) (from \(origin(flag))); point --rules or CONCORD_RULES at the folder holding datasets.yaml and the rule files")
        }
        let set = try RuleSet.load(directory: URL(fileURLWithPath: dir))
        for w in set.warnings { Output.error(w.description) }
        return set
    }
}
